import Foundation
import GRDB
import PatronCore
import PatronEngine

// Benefit quotas: a counter per member, benefit and period, raised only while it stays within the
// limit, and a row per use.

extension SQLiteStore {
    public func entitlementState(programID: String, memberID: String, periods: [String: Date]) async throws
        -> EntitlementState? {
        try await pool.read { db in try Self.entitlementState(programID: programID, memberID: memberID, periods: periods, db) }
    }

    /// The member's standing (`part` 0), their usage in the given periods (1, from a JSON object of
    /// benefit code → period start) and their allowances (2), in one statement: of one moment
    /// without a transaction of its own, and one step instead of one per quota (an entitlement
    /// check answered on the event loop reads with it, where each statement was a measured cost).
    private static let standingSQL = """
        SELECT 0 AS part, status, tier, tier_since, tier_until, tier_version, plan_until,
               NULL AS benefit, NULL AS used, NULL AS granted
          FROM members WHERE id = ?1 AND program_id = ?2
        UNION ALL
        SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, benefit, used, NULL FROM benefit_usage
         WHERE member_id = ?1 AND (benefit, period_start) IN (SELECT key, value FROM json_each(?3))
        UNION ALL
        SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, benefit, used, granted FROM benefit_allowances WHERE member_id = ?1
        """

    /// What `entitlementState` answers, read on `db`.
    static func entitlementState(programID: String, memberID: String, periods: [String: Date], _ db: Database)
        throws -> EntitlementState? {
        let periodStarts = JSONValue.object(periods.mapValues { .int(Timestamp.milliseconds($0)) }).canonicalString()
        var member: Row?
        var usage = BenefitUsage()
        for row in try db.rows(standingSQL, [memberID, programID, periodStarts]) {
            switch row["part"] as Int {
            case 0: member = row
            case 1: usage.used[row["benefit"]] = row["used"]
            default: usage.allowances[row["benefit"]] = BenefitAllowance(granted: row["granted"], used: row["used"])
            }
        }
        guard let member else { return nil }
        return EntitlementState(
            memberID: memberID, isActive: (member["status"] as String) == MemberStatus.active.rawValue,
            tier: try memberTier(member),
            planUntil: (member["plan_until"] as Int64?).map(Timestamp.date(milliseconds:)), usage: usage)
    }

    public func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome {
        try await pool.write { db in
            /// What the member has used of the quota period, or of their allowance, that `use` draws on.
            func tally(_ use: BenefitUse) throws -> BenefitTally {
                switch use.source {
                case .quota:
                    let used = try db.value("SELECT used FROM benefit_usage WHERE member_id = ? AND benefit = ? AND period_start = ?",
                                            [use.memberID, use.benefit, Timestamp.milliseconds(use.periodStart)], as: Int64.self)
                    return BenefitTally(used: used ?? 0, limit: limit)
                case .grant:
                    let row = try db.row("SELECT used, granted FROM benefit_allowances WHERE member_id = ? AND benefit = ?",
                                         [use.memberID, use.benefit])
                    return BenefitTally(used: row?["used"] ?? 0, limit: row?["granted"] ?? 0)
                }
            }
            if let row = try db.row("SELECT * FROM benefit_uses WHERE member_id = ? AND benefit = ? AND reference = ?",
                                    [use.memberID, use.benefit, use.reference]) {
                let earlier = Self.benefitUse(row)
                return .earlier(earlier, try tally(earlier))
            }
            switch use.source {
            case .quota:
                guard use.quantity <= limit else { return .exceeded(try tally(use)) }
                try db.run("""
                    INSERT INTO benefit_usage (member_id, benefit, period_start, used) VALUES (?, ?, ?, ?)
                    ON CONFLICT (member_id, benefit, period_start) DO UPDATE SET used = used + excluded.used
                    WHERE used + excluded.used <= ?
                    """, [use.memberID, use.benefit, Timestamp.milliseconds(use.periodStart), use.quantity, limit])
            case .grant:
                try db.run("""
                    UPDATE benefit_allowances SET used = used + ?
                    WHERE member_id = ? AND benefit = ? AND used + ? <= granted
                    """, [use.quantity, use.memberID, use.benefit, use.quantity])
            }
            guard db.changesCount == 1 else { return .exceeded(try tally(use)) }
            try db.run("""
                INSERT INTO benefit_uses (id, program_id, member_id, benefit, source, period_start, quantity, reference, actor,
                    used_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [use.id, use.programID, use.memberID, use.benefit, use.source.rawValue,
                      Timestamp.milliseconds(use.periodStart), use.quantity, use.reference, use.actor,
                      Timestamp.milliseconds(use.usedAt)])
            return .recorded(use, try tally(use))
        }
    }

    public func grantBenefit(_ grant: BenefitGrant) async throws -> Bool {
        try await pool.write { db in
            try db.run("""
                INSERT INTO benefit_grants (id, program_id, member_id, benefit, quantity, reference, cause, granted_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (member_id, reference) DO NOTHING
                """, [grant.id, grant.programID, grant.memberID, grant.benefit, grant.quantity, grant.reference, grant.cause,
                      Timestamp.milliseconds(grant.grantedAt)])
            guard db.changesCount == 1 else { return false }
            try db.run("""
                INSERT INTO benefit_allowances (member_id, benefit, granted, used) VALUES (?, ?, ?, 0)
                ON CONFLICT (member_id, benefit) DO UPDATE SET granted = granted + excluded.granted
                """, [grant.memberID, grant.benefit, grant.quantity])
            return true
        }
    }

    static func benefitUse(_ row: Row) -> BenefitUse {
        BenefitUse(id: row["id"], programID: row["program_id"], memberID: row["member_id"], benefit: row["benefit"],
                   source: BenefitUse.Source(rawValue: row["source"]) ?? .quota, periodStart: Timestamp.date(milliseconds: row["period_start"]), quantity: row["quantity"],
                   reference: row["reference"], actor: row["actor"], usedAt: Timestamp.date(milliseconds: row["used_at"]))
    }
}
