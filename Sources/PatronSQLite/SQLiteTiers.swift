import Foundation
import GRDB
import PatronCore
import PatronEngine

// The tier model's records: qualifying values computed from the ledger, members' recorded levels,
// their history and the reviews done.

extension SQLiteStore {
    public func qualifyingValue(programID: String, memberID: String, metric: TierPolicy.Metric, from: Date?,
                                through: Date) async throws -> Int64 {
        let from = from.map(Timestamp.milliseconds) ?? Int64.min
        let through = Timestamp.milliseconds(through)
        return try await pool.read { db in
            switch metric {
            case .growth, .pointsEarned:
                // What the program gave (rules, and for growth operators) less what it took back: the
                // member's side of transfers to and from those system accounts, reversals included.
                var counted = metric.countedAccounts.map { LedgerAccount.system($0).code }
                while counted.count < 3 { counted.append(counted[0]) }
                return try db.value("""
                    SELECT COALESCE(SUM(CASE WHEN credit LIKE 'member:%' THEN amount ELSE -amount END), 0)
                    FROM ledger_transfers
                    WHERE member_id = ? AND program_id = ? AND unit = ? AND occurred_at BETWEEN ? AND ?
                      AND (debit IN (?, ?, ?) OR credit IN (?, ?, ?))
                    """, StatementArguments([memberID, programID, metric.unit!.rawValue] as [any DatabaseValueConvertible])
                        + [from, through] + StatementArguments(counted + counted),
                    as: Int64.self) ?? 0
            case .spend:
                return try db.value("""
                    SELECT COALESCE(SUM(CASE code WHEN 'purchase' THEN amount ELSE -amount END), 0)
                    FROM ledger_member_activity
                    WHERE member_number = (SELECT number FROM ledger_members WHERE member_id = ? AND program_id = ?)
                      AND occurred_at BETWEEN ? AND ? AND kind = 'event' AND status = 'posted' AND code IN ('purchase', 'refund')
                    """, [memberID, programID, from, through], as: Int64.self) ?? 0
            case .orders:
                return try db.value("""
                    SELECT COUNT(*) FROM ledger_member_activity a JOIN ledger_events p ON p.id = a.event_id
                    WHERE a.member_number = (SELECT number FROM ledger_members WHERE member_id = ? AND program_id = ?)
                      AND a.occurred_at BETWEEN ? AND ? AND a.kind = 'event' AND a.status = 'posted' AND a.code = 'purchase'
                      AND NOT (p.order_id IS NOT NULL AND p.amount > 0 AND p.amount <= (
                          SELECT COALESCE(SUM(r.amount), 0) FROM ledger_events r
                          WHERE r.program_id = p.program_id AND r.order_id = p.order_id AND r.type = 'refund'
                            AND r.status = 'posted' AND r.occurred_at <= ?))
                    """, [memberID, programID, from, through, through], as: Int64.self) ?? 0
            }
        }
    }

    public func eventHistory(programID: String, before: Date) async throws -> SimulationHistory {
        try await pool.read { db in
            var builder = SimulationHistory.Builder()
            let rows = try Row.fetchCursor(db, sql: """
                SELECT member_id, occurred_at, type, amount, order_id,
                       channel
                FROM ledger_events
                WHERE program_id = ? AND status = 'posted' AND occurred_at < ?
                ORDER BY occurred_at, id
                """, arguments: [programID, Timestamp.milliseconds(before)])
            while let row = try rows.next() {
                let channel: String? = row[5]
                if let overflow = builder.append(member: row[0], at: row[1], type: row[2], amount: row[3],
                                                 order: SimulationHistory.orderHash(row[4] as String?),
                                                 channel: channel) {
                    throw SimulationHistory.Overflow(overflow)
                }
            }
            return builder.history
        }
    }

    public func recordTierChange(_ change: TierChange, tier: MemberTier) async throws {
        try await pool.write { db in
            try db.run("""
                UPDATE members SET tier = ?, tier_since = ?, tier_until = ?, tier_version = ?
                WHERE id = ? AND program_id = ? AND tier_version = ?
                """, [tier.level, Timestamp.milliseconds(tier.since), tier.manualUntil.map(Timestamp.milliseconds),
                      tier.version, change.memberID, change.programID, tier.version - 1])
            guard db.changesCount == 1 else { throw StoreError.concurrentUpdate }
            try db.run("""
                INSERT INTO tier_changes (id, program_id, member_id, from_level, to_level, at, cause, qualifying_value,
                    event_id, actor, reason, until, recorded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [change.id, change.programID, change.memberID, change.from, change.to,
                      Timestamp.milliseconds(change.at), change.cause.rawValue, change.qualifyingValue, change.eventID,
                      change.actor, change.reason, change.until.map(Timestamp.milliseconds),
                      Timestamp.milliseconds(change.recordedAt)])
        }
    }

    public func tierChanges(memberID: String, before cursor: String?, limit: Int) async throws -> [TierChange] {
        try await pool.read { db in
            try db.rows("""
                SELECT * FROM tier_changes WHERE member_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?
                """, [memberID, cursor, cursor, limit]).map { row in
                TierChange(id: row["id"], programID: row["program_id"], memberID: row["member_id"], from: row["from_level"],
                           to: row["to_level"], at: Timestamp.date(milliseconds: row["at"]),
                           cause: try decode(TierChangeCause.self, row["cause"]), qualifyingValue: row["qualifying_value"],
                           eventID: row["event_id"], actor: row["actor"], reason: row["reason"],
                           until: (row["until"] as Int64?).map(Timestamp.date(milliseconds:)),
                           recordedAt: Timestamp.date(milliseconds: row["recorded_at"]))
            }
        }
    }

    public func tieredMembers(programID: String, assignmentEndsBy: Date?, after cursor: String?, limit: Int) async throws
        -> [Member] {
        let endsBy = assignmentEndsBy.map(Timestamp.milliseconds)
        return try await pool.read { db in
            try Self.members(db, """
                SELECT \(Self.memberColumns) FROM members
                WHERE program_id = ? AND tier IS NOT NULL AND id > ? AND status = 'active'
                  AND (? IS NULL OR tier_until <= ?)
                ORDER BY id LIMIT ?
                """, programID, cursor ?? "", endsBy, endsBy, limit)
        }
    }

    public func lastTierReview(programID: String) async throws -> Date? {
        try await pool.read { db in
            try db.value("SELECT MAX(instant) FROM tier_reviews WHERE program_id = ?", [programID], as: Int64.self)
                .map(Timestamp.date(milliseconds:))
        }
    }

    public func recordTierReview(_ review: TierReviewRecord) async throws {
        try await pool.write { db in
            try db.run("""
                INSERT INTO tier_reviews (program_id, instant, members, downgraded, completed_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (program_id, instant) DO NOTHING
                """, [review.programID, Timestamp.milliseconds(review.instant), review.members, review.downgraded,
                      Timestamp.milliseconds(review.completedAt)])
        }
    }
}
