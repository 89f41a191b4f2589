import Foundation
import GRDB
import PatronCore
import PatronEngine

// MARK: - The dashboard's counts

extension SQLiteStore {
    /// `CASE WHEN column < ? THEN 0 … ELSE n END` and its arguments: the bucket of each row.
    private static func bucket(_ column: String, _ boundaries: [Date]) -> (sql: String, arguments: [Int64]) {
        let cases = boundaries.indices.map { "WHEN \(column) < ? THEN \($0)" }.joined(separator: " ")
        return ("CASE \(cases) ELSE \(boundaries.count) END", boundaries.map(Timestamp.milliseconds))
    }

    public func enrolments(programID: String, boundaries: [Date]) async throws -> [Int: Int] {
        let bucket = Self.bucket("enrolled_at", boundaries)
        return try await pool.read { db in
            var counts: [Int: Int] = [:]
            for row in try db.rows("""
                SELECT \(bucket.sql) AS bucket, count(*) AS members FROM members WHERE program_id = ? GROUP BY bucket
                """, StatementArguments(bucket.arguments) + [programID]) {
                counts[row["bucket"]] = row["members"]
            }
            return counts
        }
    }

    public func memberCount(programID: String) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM members WHERE program_id = ? AND status = 'active'",
                             arguments: [programID]) ?? 0
        }
    }

    public func activeMembers(programID: String, since: Date) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT count(DISTINCT e.member_id) FROM ledger_events e JOIN members m ON m.id = e.member_id
                WHERE e.program_id = ? AND e.occurred_at >= ? AND m.status = 'active'
                """, arguments: [programID, Timestamp.milliseconds(since)]) ?? 0
        }
    }

    public func membersPerLevel(programID: String) async throws -> [String?: Int] {
        try await pool.read { db in
            var counts: [String?: Int] = [:]
            for row in try db.rows("""
                SELECT tier, count(*) AS members FROM members WHERE program_id = ? AND status = 'active' GROUP BY tier
                """, [programID]) {
                counts[row["tier"] as String?] = row["members"]
            }
            return counts
        }
    }

    public func pointFlows(programID: String, boundaries: [Date]) async throws -> [PointFlow] {
        let bucket = Self.bucket("occurred_at", boundaries)
        return try await pool.read { db in
            try db.rows("""
                SELECT \(bucket.sql) AS bucket, debit, credit, sum(amount) AS amount FROM ledger_transfers
                WHERE program_id = ? AND unit = 'points' GROUP BY bucket, debit, credit
                """, StatementArguments(bucket.arguments) + [programID]).compactMap { row in
                guard let debit = LedgerAccount(code: row["debit"]), let credit = LedgerAccount(code: row["credit"]) else {
                    return nil
                }
                return PointFlow(bucket: row["bucket"], debit: debit, credit: credit, amount: row["amount"])
            }
        }
    }

    public func activeSubscriptions(programID: String, at instant: Date) async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = [:]
            for row in try db.rows("""
                SELECT plan, count(*) AS members FROM subscriptions
                WHERE program_id = ? AND status = 'active' AND period_start <= ? AND period_end > ? GROUP BY plan
                """, [programID, Timestamp.milliseconds(instant), Timestamp.milliseconds(instant)]) {
                counts[row["plan"]] = row["members"]
            }
            return counts
        }
    }
}
