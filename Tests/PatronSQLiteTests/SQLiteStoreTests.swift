import Foundation
import GRDB
import PatronEngine
@testable import PatronSQLite
import PatronTestSupport
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("meets the store contract", arguments: StoreContract.cases)
    func contract(_ contractCase: StoreContractCase) async throws {
        try await TestStoreKind.sqlite.withStore { store in try await contractCase.run(store) }
    }

    @Test("meets the ledger contract", arguments: LedgerContract.cases)
    func ledgerContract(_ contractCase: StoreContractCase) async throws {
        try await TestStoreKind.sqlite.withStore { store in try await contractCase.run(store) }
    }

    @Test("opens the file in WAL mode with synchronous=FULL and foreign keys on")
    func durabilitySettings() async throws {
        try await TestStoreKind.sqlite.withStore { store in
            let sqlite = try #require(store as? SQLiteStore)
            let (journal, synchronous, foreignKeys) = try await sqlite.pool.read { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                 try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
            }
            #expect(journal == "wal")
            #expect(synchronous == 2)  // FULL
            #expect(foreignKeys == 1)
        }
    }
}
