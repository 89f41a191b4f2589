import Foundation
import GRDB
import PatronCore
import PatronEngine

// Benefit quotas: a counter per member, benefit and period, raised only while it stays within the
// limit, and a row per use.

extension SQLiteStore {
    public func benefitUsage(memberID: String, periods: [String: Date]) async throws -> [String: Int64] {
        guard !periods.isEmpty else { return [:] }
        return try await pool.read { db in
            var usage: [String: Int64] = [:]
            for (benefit, start) in periods {
                if let used = try db.value("""
                    SELECT used FROM benefit_usage WHERE member_id = ? AND benefit = ? AND period_start = ?
                    """, [memberID, benefit, Timestamp.milliseconds(start)], as: Int64.self) {
                    usage[benefit] = used
                }
            }
            return usage
        }
    }

    public func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome {
        try await pool.write { db in
            let start = Timestamp.milliseconds(use.periodStart)
            func used(_ start: Int64) throws -> Int64 {
                try db.value("SELECT used FROM benefit_usage WHERE member_id = ? AND benefit = ? AND period_start = ?",
                             [use.memberID, use.benefit, start], as: Int64.self) ?? 0
            }
            if let row = try db.row("SELECT * FROM benefit_uses WHERE member_id = ? AND benefit = ? AND reference = ?",
                                    [use.memberID, use.benefit, use.reference]) {
                let earlier = Self.benefitUse(row)
                return .earlier(earlier, used: try used(Timestamp.milliseconds(earlier.periodStart)))
            }
            guard use.quantity <= limit else { return .exceeded(used: try used(start)) }
            try db.run("""
                INSERT INTO benefit_usage (member_id, benefit, period_start, used) VALUES (?, ?, ?, ?)
                ON CONFLICT (member_id, benefit, period_start) DO UPDATE SET used = used + excluded.used
                WHERE used + excluded.used <= ?
                """, [use.memberID, use.benefit, start, use.quantity, limit])
            guard db.changesCount == 1 else { return .exceeded(used: try used(start)) }
            try db.run("""
                INSERT INTO benefit_uses (id, program_id, member_id, benefit, period_start, quantity, reference, actor, used_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [use.id, use.programID, use.memberID, use.benefit, start, use.quantity, use.reference, use.actor,
                      Timestamp.milliseconds(use.usedAt)])
            return .recorded(use, used: try used(start))
        }
    }

    static func benefitUse(_ row: Row) -> BenefitUse {
        BenefitUse(id: row["id"], programID: row["program_id"], memberID: row["member_id"], benefit: row["benefit"],
                   periodStart: Timestamp.date(milliseconds: row["period_start"]), quantity: row["quantity"],
                   reference: row["reference"], actor: row["actor"], usedAt: Timestamp.date(milliseconds: row["used_at"]))
    }
}
