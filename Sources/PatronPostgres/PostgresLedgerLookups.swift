import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// Single ledger records by id.

extension PostgresStore {
    public func transfer(programID: String, id: String) async throws -> Transfer? {
        try await rows("""
            SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
            WHERE t.id = \(id) AND t.program_id = \(programID)
            """).first.map { try Self.transfer($0) }
    }
}
