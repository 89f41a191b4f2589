import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// Benefit quotas, as SQLiteBenefits.swift keeps them. The counter's row lock orders concurrent uses
// of one benefit in one period.

extension PostgresStore {
    public func benefitUsage(memberID: String, periods: [String: Date]) async throws -> [String: Int64] {
        guard !periods.isEmpty else { return [:] }
        let benefits = Array(periods.keys)
        let starts = benefits.map { periods[$0]! }
        var usage: [String: Int64] = [:]
        for row in try await rows("""
            SELECT u.benefit, u.used FROM benefit_usage u
            JOIN unnest(\(benefits)::text[], \(starts)::timestamptz[]) AS p(benefit, period_start)
              ON u.benefit = p.benefit AND u.period_start = p.period_start
            WHERE u.member_id = \(memberID)
            """) {
            usage[try row["benefit"].decode(String.self)] = try row["used"].decode(Int64.self)
        }
        return usage
    }

    public func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome {
        try await transaction { connection in
            func used(_ start: Date) async throws -> Int64 {
                try await rows("""
                    SELECT used FROM benefit_usage
                    WHERE member_id = \(use.memberID) AND benefit = \(use.benefit) AND period_start = \(start)
                    """, on: connection).first?["used"].decode(Int64.self) ?? 0
            }
            if let row = try await rows("""
                SELECT * FROM benefit_uses WHERE member_id = \(use.memberID) AND benefit = \(use.benefit)
                  AND reference = \(use.reference)
                """, on: connection).first {
                let earlier = try Self.benefitUse(row)
                return .earlier(earlier, used: try await used(earlier.periodStart))
            }
            guard use.quantity <= limit else { return .exceeded(used: try await used(use.periodStart)) }
            let raised = try await rows("""
                INSERT INTO benefit_usage (member_id, benefit, period_start, used)
                VALUES (\(use.memberID), \(use.benefit), \(use.periodStart), \(use.quantity))
                ON CONFLICT (member_id, benefit, period_start) DO UPDATE SET used = benefit_usage.used + excluded.used
                WHERE benefit_usage.used + excluded.used <= \(limit)
                RETURNING used
                """, on: connection)
            guard let total = try raised.first?["used"].decode(Int64.self) else {
                return .exceeded(used: try await used(use.periodStart))
            }
            _ = try await execute("""
                INSERT INTO benefit_uses (id, program_id, member_id, benefit, period_start, quantity, reference, actor, used_at)
                VALUES (\(use.id), \(use.programID), \(use.memberID), \(use.benefit), \(use.periodStart), \(use.quantity),
                        \(use.reference), \(use.actor), \(use.usedAt))
                """, on: connection)
            return .recorded(use, used: total)
        }
    }

    static func benefitUse(_ row: PostgresRandomAccessRow) throws -> BenefitUse {
        BenefitUse(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                   memberID: try row["member_id"].decode(String.self), benefit: try row["benefit"].decode(String.self),
                   periodStart: try row["period_start"].decode(Date.self), quantity: try row["quantity"].decode(Int64.self),
                   reference: try row["reference"].decode(String.self), actor: try row["actor"].decode(String.self),
                   usedAt: try row["used_at"].decode(Date.self))
    }
}
