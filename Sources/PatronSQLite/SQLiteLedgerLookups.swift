import Foundation
import GRDB
import PatronCore
import PatronEngine

// Single ledger records by id, the events awaiting an operator, and the resolution of one of them.

extension SQLiteStore {
    public func transfer(programID: String, id: String) async throws -> Transfer? {
        try await pool.read { db in
            try Self.transfers(db.rows("SELECT * FROM ledger_transfers WHERE id = ? AND program_id = ?", [id, programID]),
                               db).first
        }
    }

    public func event(programID: String, clientID: String) async throws -> StoredEvent? {
        try await pool.read { db in
            try db.row("SELECT * FROM ledger_events WHERE program_id = ? AND client_id = ?", [programID, clientID])
                .map(Self.event)
        }
    }

    public func events(programID: String, status: String, after: String?, limit: Int) async throws -> [StoredEvent] {
        try await pool.read { db in
            try db.rows("""
                SELECT * FROM ledger_events
                WHERE program_id = ? AND status = ? AND status IN ('review', 'rejected') AND id > ?
                ORDER BY id LIMIT ?
                """, [programID, status, after ?? "", limit]).map(Self.event)
        }
    }

    /// Gives an event held for review its outcome, provided it is still in review.
    static func resolveEvent(_ event: StoredEvent, _ db: Database) throws {
        try db.run("UPDATE ledger_events SET status = ?, receipt = ? WHERE id = ? AND status = 'review'",
                   [event.status, String(decoding: event.receipt, as: UTF8.self), event.id])
        guard db.changesCount == 1 else { throw StoreError.concurrentUpdate }
        try db.run("""
            UPDATE ledger_member_activity SET status = ?
            WHERE member_number = (SELECT number FROM ledger_members WHERE member_id = ?)
                AND occurred_at = (SELECT occurred_at FROM ledger_events WHERE id = ?) AND kind = 'event' AND event_id = ?
            """, [event.status, event.memberID, event.id, event.id])
        guard db.changesCount == 1 else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "the event is not in its member's activity")
        }
    }
}
