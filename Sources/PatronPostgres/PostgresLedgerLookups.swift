import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// Single ledger records by id, and the events awaiting an operator.

extension PostgresStore {
    public func transfer(programID: String, id: String) async throws -> Transfer? {
        try await rows("""
            SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
            WHERE t.id = \(id) AND t.program_id = \(programID)
            """).first.map { try Self.transfer($0) }
    }

    public func event(programID: String, clientID: String) async throws -> StoredEvent? {
        try await rows("SELECT * FROM ledger_events WHERE program_id = \(programID) AND client_id = \(clientID)")
            .first.map { try Self.event($0) }
    }

    public func events(programID: String, status: String, after: String?, limit: Int) async throws -> [StoredEvent] {
        try await rows("""
            SELECT * FROM ledger_events
            WHERE program_id = \(programID) AND status = \(status) AND status IN ('review', 'rejected')
              AND id > \(after ?? "")
            ORDER BY id LIMIT \(limit)
            """).map { try Self.event($0) }
    }
}
