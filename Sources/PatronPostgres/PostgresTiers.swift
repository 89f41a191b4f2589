import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// The tier model's records, as SQLiteTiers.swift keeps them.

extension PostgresStore {
    public func qualifyingValue(programID: String, memberID: String, metric: TierPolicy.Metric, from: Date?,
                                through: Date) async throws -> Int64 {
        let query: PostgresQuery
        switch metric {
        case .growth, .pointsEarned:
            // What the program gave less what it took back (TierPolicy.Metric.countedAccounts).
            let counted = metric.countedAccounts.map { LedgerAccount.system($0).code }
            query = """
                SELECT COALESCE(SUM(CASE WHEN credit LIKE 'member:%' THEN amount ELSE -amount END), 0)::bigint
                FROM ledger_transfers
                WHERE member_id = \(memberID) AND program_id = \(programID) AND unit = \(metric.unit!.rawValue)
                  AND (\(from)::timestamptz IS NULL OR occurred_at >= \(from)) AND occurred_at <= \(through)
                  AND (debit = ANY(\(counted)) OR credit = ANY(\(counted)))
                """
        case .spend:
            query = """
                SELECT COALESCE(SUM(CASE type WHEN 'purchase' THEN amount ELSE -amount END), 0)::bigint
                FROM ledger_events
                WHERE member_id = \(memberID) AND program_id = \(programID) AND status = 'posted'
                  AND type IN ('purchase', 'refund')
                  AND (\(from)::timestamptz IS NULL OR occurred_at >= \(from)) AND occurred_at <= \(through)
                """
        case .orders:
            query = """
                SELECT COUNT(*)::bigint FROM ledger_events p
                WHERE p.member_id = \(memberID) AND p.program_id = \(programID) AND p.status = 'posted'
                  AND p.type = 'purchase'
                  AND (\(from)::timestamptz IS NULL OR p.occurred_at >= \(from)) AND p.occurred_at <= \(through)
                  AND NOT (p.order_id IS NOT NULL AND p.amount > 0 AND p.amount <= (
                      SELECT COALESCE(SUM(r.amount), 0) FROM ledger_events r
                      WHERE r.program_id = p.program_id AND r.order_id = p.order_id AND r.type = 'refund'
                        AND r.status = 'posted' AND r.occurred_at <= \(through)))
                """
        }
        return try await rows(query).first?[0].decode(Int64.self) ?? 0
    }

    public func recordTierChange(_ change: TierChange, tier: MemberTier) async throws {
        try await transaction { connection in
            let updated = try await execute("""
                UPDATE members SET tier = \(tier.level), tier_since = \(tier.since), tier_until = \(tier.manualUntil),
                    tier_version = \(tier.version)
                WHERE id = \(change.memberID) AND program_id = \(change.programID) AND tier_version = \(tier.version - 1)
                RETURNING id
                """, on: connection)
            guard updated == 1 else { throw StoreError.concurrentUpdate }
            _ = try await execute("""
                INSERT INTO tier_changes (id, program_id, member_id, from_level, to_level, at, cause, qualifying_value,
                    event_id, actor, reason, until, recorded_at)
                VALUES (\(change.id), \(change.programID), \(change.memberID), \(change.from), \(change.to), \(change.at),
                        \(change.cause.rawValue), \(change.qualifyingValue), \(change.eventID), \(change.actor),
                        \(change.reason), \(change.until), \(change.recordedAt))
                """, on: connection)
        }
    }

    public func tierChanges(memberID: String, before cursor: String?, limit: Int) async throws -> [TierChange] {
        try await rows("""
            SELECT * FROM tier_changes WHERE member_id = \(memberID) AND (\(cursor)::text IS NULL OR id < \(cursor))
            ORDER BY id DESC LIMIT \(limit)
            """).map { row in
            TierChange(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                       memberID: try row["member_id"].decode(String.self), from: try row["from_level"].decode(String?.self),
                       to: try row["to_level"].decode(String.self), at: try row["at"].decode(Date.self),
                       cause: try decode(TierChangeCause.self, row["cause"]),
                       qualifyingValue: try row["qualifying_value"].decode(Int64?.self),
                       eventID: try row["event_id"].decode(String?.self), actor: try row["actor"].decode(String.self),
                       reason: try row["reason"].decode(String?.self), until: try row["until"].decode(Date?.self),
                       recordedAt: try row["recorded_at"].decode(Date.self))
        }
    }

    public func tieredMembers(programID: String, assignmentEndsBy: Date?, after cursor: String?, limit: Int) async throws
        -> [Member] {
        try await rows("""
            SELECT * FROM members
            WHERE program_id = \(programID) AND tier IS NOT NULL AND id > \(cursor ?? "") AND status = 'active'
              AND (\(assignmentEndsBy)::timestamptz IS NULL OR tier_until <= \(assignmentEndsBy))
            ORDER BY id LIMIT \(limit)
            """).map(Self.member)
    }

    public func lastTierReview(programID: String) async throws -> Date? {
        try await rows("SELECT MAX(instant) FROM tier_reviews WHERE program_id = \(programID)").first?[0].decode(Date?.self)
    }

    public func eventHistory(programID: String, before: Date) async throws -> SimulationHistory {
        var builder = SimulationHistory.Builder()
        let rows = try await client.query("""
            SELECT member_id, occurred_at, type, amount, order_id,
                   channel
            FROM ledger_events
            WHERE program_id = \(programID) AND status = 'posted' AND occurred_at < \(before)
            ORDER BY occurred_at, id
            """, logger: logger)
        for try await (member, occurredAt, type, amount, orderID, channel)
            in rows.decode((String, Date, String, Int64, String?, String?).self) {
            if let overflow = builder.append(member: member, at: Timestamp.milliseconds(occurredAt), type: type,
                                             amount: amount, order: SimulationHistory.orderHash(orderID),
                                             channel: channel) {
                throw SimulationHistory.Overflow(overflow)
            }
        }
        return builder.history
    }

    public func recordTierReview(_ review: TierReviewRecord) async throws {
        _ = try await translatingConstraints {
            try await client.query("""
                INSERT INTO tier_reviews (program_id, instant, members, downgraded, completed_at)
                VALUES (\(review.programID), \(review.instant), \(review.members), \(review.downgraded), \(review.completedAt))
                ON CONFLICT (program_id, instant) DO NOTHING
                """, logger: logger)
        }
    }
}
