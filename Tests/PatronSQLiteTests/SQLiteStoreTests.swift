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

    @Test("the event-review migration rebuilds the events table and keeps every event and what refers to it")
    func eventReviewMigration() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("patron-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("patron.sqlite").path)

        // Given a database at the ledger's first schema, with a posted event, one held for review,
        // and a lot and a transfer that refer to the posted one
        try SQLiteMigrations.migrator.migrate(store.pool, upTo: "2026-11-23-ledger")
        try await store.pool.write { db in
            try db.execute(sql: """
                INSERT INTO programs VALUES ('p1', 'shop', 'Shop', 'CNY', 'Asia/Shanghai', 1, 0);
                INSERT INTO members (id, program_id, external_id, status, channel, attributes, consents, enrolled_at,
                    updated_at, revision) VALUES ('m1', 'p1', 'C-1', 'active', 'app', '{}', '{}', 0, 0, 0);
                INSERT INTO ledger_members VALUES ('m1', 'p1', 1);
                INSERT INTO ledger_events VALUES ('e1', 'p1', 'm1', 'evt-1', 'purchase', 5, 6, 1000, 'o-1', 'f1', 'posted', '{}');
                INSERT INTO ledger_events VALUES ('e2', 'p1', 'm1', 'evt-2', 'purchase', 7, 8, 2000, 'o-2', 'f2', 'review', '{}');
                INSERT INTO ledger_lots VALUES ('l1', 'p1', 'm1', 'e1', 'o-1', 'base', 10, 10, 'available', 5, 5, NULL);
                INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason, event_id,
                    lot_id, actor, occurred_at, posted_at)
                    VALUES ('t1', 'p1', 'm1', 'points', 'system:issued', 'member:available', 10, 'earn', 'base', 'e1', 'l1',
                        'k', 5, 6);
                """)
        }

        // When the rest of the migrations run (foreign keys are checked after each)
        try await store.migrate()

        // Then the events are all there, held bodies are empty, and `rejected` is a status
        let rows = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, status, body FROM ledger_events ORDER BY id")
        }
        #expect(rows.map { $0["id"] as String } == ["e1", "e2"])
        #expect(rows.map { $0["status"] as String } == ["posted", "review"])
        #expect(rows.allSatisfy { ($0["body"] as String?) == nil })
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE ledger_events SET status = 'rejected' WHERE id = 'e2'")
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE ledger_events SET status = 'lost' WHERE id = 'e2'")
            }
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "DELETE FROM ledger_events WHERE id = 'e1'")
            }
        }
        let event = try await store.event(programID: "p1", clientID: "evt-1")
        #expect(event?.id == "e1")
        #expect(event?.orderID == "o-1")
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
