import PatronEngine
import PatronPostgres
import PatronTestSupport
import Testing

@Suite("PostgreSQL store", .enabled(if: PostgresTestServer.isConfigured || PostgresTestServer.isRequired,
                                    "No PostgreSQL: run the tests through scripts/test."))
struct PostgresStoreTests {
    @Test("meets the store contract", arguments: StoreContract.cases)
    func contract(_ contractCase: StoreContractCase) async throws {
        try await TestStoreKind.postgres.withStore { store in try await contractCase.run(store) }
    }

    @Test("meets the ledger contract", arguments: LedgerContract.cases)
    func ledgerContract(_ contractCase: StoreContractCase) async throws {
        try await TestStoreKind.postgres.withStore { store in try await contractCase.run(store) }
    }
}

@Suite("PostgreSQL URLs")
struct PostgresURLTests {
    @Test("reads database URLs", arguments: [
        ("postgres://u:p%40ss@db.internal:6543/patron?sslmode=require", "postgres://u@db.internal:6543/patron"),
        ("postgresql://u@localhost/patron", "postgres://u@localhost:5432/patron"),
        ("postgres://u@/patron?host=/var/run/postgresql", "postgres://u@/var/run/postgresql:5432/patron"),
    ])
    func urls(_ text: String, _ display: String) throws {
        let url = try PostgresURL(text)
        #expect(url.displayName == display)
        #expect(url.configuration.password == (text.contains("p%40ss") ? "p@ss" : nil))
    }

    @Test("refuses unusable database URLs", arguments: [
        "mysql://u@h/db", "postgres://u@h/", "postgres://h/db", "postgres://u@h/db?sslmode=sometimes",
    ])
    func badURLs(_ text: String) {
        #expect(throws: PostgresURL.Problem.self) { try PostgresURL(text) }
    }
}
