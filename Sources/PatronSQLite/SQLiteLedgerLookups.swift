import Foundation
import GRDB
import PatronCore
import PatronEngine

// Single ledger records by id.

extension SQLiteStore {
    public func transfer(programID: String, id: String) async throws -> Transfer? {
        try await pool.read { db in
            try Self.transfers(db.rows("SELECT * FROM ledger_transfers WHERE id = ? AND program_id = ?", [id, programID]),
                               db).first
        }
    }
}
