import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// Benefit quotas, as SQLiteBenefits.swift keeps them. The counter's row lock orders concurrent uses
// of one benefit in one period.

extension PostgresStore {
    private func benefitUsage(memberID: String, periods: [String: Date]) async throws -> BenefitUsage {
        let benefits = Array(periods.keys)
        let starts = benefits.map { periods[$0]! }
        var usage = BenefitUsage()
        // One round trip: the periods' counters (granted null), then the allowances.
        for row in try await rows("""
            SELECT u.benefit, u.used, NULL::bigint AS granted FROM benefit_usage u
            JOIN unnest(\(benefits)::text[], \(starts)::timestamptz[]) AS p(benefit, period_start)
              ON u.benefit = p.benefit AND u.period_start = p.period_start
            WHERE u.member_id = \(memberID)
            UNION ALL
            SELECT benefit, used, granted FROM benefit_allowances WHERE member_id = \(memberID)
            """) {
            let benefit = try row["benefit"].decode(String.self), used = try row["used"].decode(Int64.self)
            if let granted = try row["granted"].decode(Int64?.self) {
                usage.allowances[benefit] = BenefitAllowance(granted: granted, used: used)
            } else {
                usage.used[benefit] = used
            }
        }
        return usage
    }

    public func entitlementState(programID: String, memberID: String, periods: [String: Date]) async throws
        -> EntitlementState? {
        // The member and the usage are read apart: a member's level and plan change in their own
        // transactions, and the usage is a snapshot of counters either way.
        guard let row = try await rows("""
            SELECT status, tier, tier_since, tier_until, tier_version, plan_until FROM members
            WHERE id = \(memberID) AND program_id = \(programID)
            """).first else { return nil }
        return EntitlementState(
            memberID: memberID, isActive: try row["status"].decode(String.self) == MemberStatus.active.rawValue,
            tier: try Self.memberTier(row),
            planUntil: try row["plan_until"].decode(Date?.self),
            usage: try await benefitUsage(memberID: memberID, periods: periods))
    }

    public func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome {
        try await transaction { connection in
            /// What the member has used of the quota period, or of their allowance, that `use` draws on.
            func tally(_ use: BenefitUse) async throws -> BenefitTally {
                switch use.source {
                case .quota:
                    let used = try await rows("""
                        SELECT used FROM benefit_usage
                        WHERE member_id = \(use.memberID) AND benefit = \(use.benefit) AND period_start = \(use.periodStart)
                        """, on: connection).first?["used"].decode(Int64.self)
                    return BenefitTally(used: used ?? 0, limit: limit)
                case .grant:
                    let row = try await rows("""
                        SELECT used, granted FROM benefit_allowances WHERE member_id = \(use.memberID) AND benefit = \(use.benefit)
                        """, on: connection).first
                    return BenefitTally(used: try row?["used"].decode(Int64.self) ?? 0,
                                        limit: try row?["granted"].decode(Int64.self) ?? 0)
                }
            }
            if let row = try await rows("""
                SELECT * FROM benefit_uses WHERE member_id = \(use.memberID) AND benefit = \(use.benefit)
                  AND reference = \(use.reference)
                """, on: connection).first {
                let earlier = try Self.benefitUse(row)
                return .earlier(earlier, try await tally(earlier))
            }
            let raised: [PostgresRandomAccessRow]
            switch use.source {
            case .quota:
                guard use.quantity <= limit else { return .exceeded(try await tally(use)) }
                raised = try await rows("""
                    INSERT INTO benefit_usage (member_id, benefit, period_start, used)
                    VALUES (\(use.memberID), \(use.benefit), \(use.periodStart), \(use.quantity))
                    ON CONFLICT (member_id, benefit, period_start) DO UPDATE SET used = benefit_usage.used + excluded.used
                    WHERE benefit_usage.used + excluded.used <= \(limit)
                    RETURNING used, \(limit)::bigint AS "limit"
                    """, on: connection)
            case .grant:
                raised = try await rows("""
                    UPDATE benefit_allowances SET used = used + \(use.quantity)
                    WHERE member_id = \(use.memberID) AND benefit = \(use.benefit) AND used + \(use.quantity) <= granted
                    RETURNING used, granted AS "limit"
                    """, on: connection)
            }
            guard let row = raised.first else {
                return .exceeded(try await tally(use))
            }
            _ = try await execute("""
                INSERT INTO benefit_uses (id, program_id, member_id, benefit, source, period_start, quantity, reference, actor,
                    used_at)
                VALUES (\(use.id), \(use.programID), \(use.memberID), \(use.benefit), \(use.source.rawValue),
                        \(use.periodStart), \(use.quantity), \(use.reference), \(use.actor), \(use.usedAt))
                """, on: connection)
            return .recorded(use, BenefitTally(used: try row["used"].decode(Int64.self), limit: try row["limit"].decode(Int64.self)))
        }
    }

    public func grantBenefit(_ grant: BenefitGrant) async throws -> Bool {
        try await transaction { connection in
            let inserted = try await execute("""
                INSERT INTO benefit_grants (id, program_id, member_id, benefit, quantity, reference, cause, granted_at)
                VALUES (\(grant.id), \(grant.programID), \(grant.memberID), \(grant.benefit), \(grant.quantity),
                        \(grant.reference), \(grant.cause), \(grant.grantedAt))
                ON CONFLICT (member_id, reference) DO NOTHING
                RETURNING id
                """, on: connection)
            guard inserted == 1 else { return false }
            _ = try await execute("""
                INSERT INTO benefit_allowances (member_id, benefit, granted, used)
                VALUES (\(grant.memberID), \(grant.benefit), \(grant.quantity), 0)
                ON CONFLICT (member_id, benefit) DO UPDATE SET granted = benefit_allowances.granted + excluded.granted
                """, on: connection)
            return true
        }
    }

    static func benefitUse(_ row: PostgresRandomAccessRow) throws -> BenefitUse {
        BenefitUse(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                   memberID: try row["member_id"].decode(String.self), benefit: try row["benefit"].decode(String.self),
                   source: BenefitUse.Source(rawValue: try row["source"].decode(String.self)) ?? .quota,
                   periodStart: try row["period_start"].decode(Date.self), quantity: try row["quantity"].decode(Int64.self),
                   reference: try row["reference"].decode(String.self), actor: try row["actor"].decode(String.self),
                   usedAt: try row["used_at"].decode(Date.self))
    }
}
