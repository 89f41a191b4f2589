import Logging
import PatronEngine
import PatronPostgres
import PatronTestSupport
import PostgresNIO
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

    @Test("a batch whose write statement failed to be prepared leaves no connection that fails every later batch")
    func failedPrepare() async throws {
        // Given a store of one connection, and a member
        try await Self.withOneConnection { fixture, member, holder, logger in
            // When another session holds `ledger_holds`, which of a purchase's statements only the
            // batch's write names, and the first purchase's batch, preparing that statement for the
            // first time on the connection, waits for it and is cancelled
            try await holder.query("BEGIN", logger: logger)
            try await holder.query("LOCK TABLE ledger_holds IN ACCESS EXCLUSIVE MODE", logger: logger)
            let first = Task { try await fixture.purchase(member, amount: 1_000, order: "P-1") }
            var cancelled = false
            if let waiter = try await Self.lockWaiter(on: holder, logger: logger) {
                let rows = try await holder.query("SELECT pg_cancel_backend(\(Int32(waiter)))", logger: logger)
                for try await done in rows.decode(Bool.self) { cancelled = done }
            }
            // (Released before the purchase is awaited, so that a cancel that never came fails the
            // test rather than hanging it.)
            try await holder.query("ROLLBACK", logger: logger)
            let firstFailed = await first.result.isFailure
            #expect(cancelled && firstFailed)

            // Then the next purchases are recorded: the connection that kept the failed
            // preparation was closed, not left to fail each batch with it
            for order in 2...4 {
                try await fixture.purchase(member, amount: 1_000, order: "P-\(order)")
            }
            #expect(try await fixture.available(member) == 30)
            #expect(try await fixture.audit() == [])
        }
    }

    @Test("a batch whose first write on a connection breaks a unique index keeps the connection")
    func uniqueViolationOnFirstWrite() async throws {
        // Given a store of one connection, and a member
        try await Self.withOneConnection { fixture, member, holder, logger in
            let before = try await Self.otherBackends(on: holder, logger: logger)
            // When another session records event E-1 without committing, so that the store, not
            // seeing it, writes its own E-1 in the first write on its connection, waits on the
            // unique index, and breaks it once the other session commits
            try await holder.query("BEGIN", logger: logger)
            try await holder.query("""
                INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at,
                    amount, order_id, fingerprint, status, receipt)
                VALUES ('held-E-1', \(fixture.program.id), \(member), 'E-1', 'check_in', now(), now(),
                    0, NULL, 'other', 'posted', '{}')
                """, logger: logger)
            let first = Task { try await fixture.purchase(member, amount: 1_000, order: "P-1", id: "E-1") }
            let waited = try await Self.lockWaiter(on: holder, logger: logger) != nil
            try await holder.query("COMMIT", logger: logger)
            _ = await first.result
            #expect(waited)

            // Then the purchases after it are recorded on the same connection: a constraint's
            // failure comes from running the statement, which was therefore prepared
            for order in 2...3 {
                try await fixture.purchase(member, amount: 1_000, order: "P-\(order)")
            }
            #expect(try await fixture.available(member) == 20)
            #expect(try await Self.otherBackends(on: holder, logger: logger) == before)
        }
    }

    /// A store of one connection with one member (the fixture's), and `holder`, another session on
    /// its database, closed when `body` ends.
    static func withOneConnection(
        _ body: @Sendable @escaping (LedgerFixture, String, PostgresConnection, Logger) async throws -> Void
    ) async throws {
        try await TestStoreKind.withPostgresStore(maximumConnections: 1) { store, database in
            let fixture = try await LedgerFixture.make(store: store, members: 1, pendingDays: 0)
            let logger = Logger(label: "patron.test.postgres.holder")
            let holder = try await PostgresTestServer.fromEnvironment().connect(to: database)
            do {
                try await body(fixture, fixture.members[0], holder, logger)
                try await holder.close()
            } catch {
                try? await holder.close()
                throw error
            }
        }
    }

    /// The process id of another session of the database that waits for a lock, asked every 10 ms
    /// for up to 5 s; nil if none came.
    static func lockWaiter(on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        for _ in 0..<500 {
            try await Task.sleep(for: .milliseconds(10))
            let rows = try await connection.query("""
                SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                """, logger: logger)
            var waiter: Int?
            for try await pid in rows.decode(Int.self) where waiter == nil { waiter = pid }
            if let waiter { return waiter }
        }
        return nil
    }

    /// The process ids of the database's other sessions: here, the store's one connection.
    static func otherBackends(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        let rows = try await connection.query("""
            SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY pid
            """, logger: logger)
        var pids: [Int] = []
        for try await pid in rows.decode(Int.self) { pids.append(pid) }
        return pids
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

private extension Result {
    var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}
