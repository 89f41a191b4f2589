import Foundation
import GRDB
import PatronCore
import PatronEngine

// Subscriptions and their payments. Each write also sets the member's `plan` columns in the same
// transaction.

extension SQLiteStore {
    public func insertSubscription(_ subscription: Subscription, payment: SubscriptionPayment) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    INSERT INTO subscriptions (id, program_id, member_id, plan, status, started_at, trial_ends_at,
                        period_start, period_end, paid_amount, auto_renew, cancel_at_period_end, cancelled_at, ended_at,
                        refund_amount, created_at, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, Self.subscriptionColumns(subscription))
                try Self.insert(payment, programID: subscription.programID, db)
                try Self.refreshPlan(memberID: subscription.memberID, db)
            }
        }
    }

    public func updateSubscription(_ subscription: Subscription, payment: SubscriptionPayment?) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    UPDATE subscriptions SET status = ?, period_start = ?, period_end = ?, paid_amount = ?, auto_renew = ?,
                        cancel_at_period_end = ?, cancelled_at = ?, ended_at = ?, refund_amount = ?, version = ?
                    WHERE id = ? AND version = ?
                    """, [subscription.status.rawValue, Timestamp.milliseconds(subscription.periodStart),
                          Timestamp.milliseconds(subscription.periodEnd), subscription.paidAmount, subscription.autoRenew,
                          subscription.cancelAtPeriodEnd, subscription.cancelledAt.map(Timestamp.milliseconds),
                          subscription.endedAt.map(Timestamp.milliseconds), subscription.refundAmount, subscription.version,
                          subscription.id, subscription.version - 1])
                guard db.changesCount == 1 else { throw StoreError.concurrentUpdate }
                if let payment { try Self.insert(payment, programID: subscription.programID, db) }
                try Self.refreshPlan(memberID: subscription.memberID, db)
            }
        }
    }

    public func subscription(programID: String, id: String) async throws -> Subscription? {
        try await pool.read { db in
            try db.row("SELECT * FROM subscriptions WHERE program_id = ? AND id = ?", [programID, id]).map(Self.subscription)
        }
    }

    public func subscriptions(memberID: String) async throws -> [Subscription] {
        try await pool.read { db in try Self.subscriptions(memberID: memberID, db) }
    }

    static func subscriptions(memberID: String, _ db: Database) throws -> [Subscription] {
        try db.rows("SELECT * FROM subscriptions WHERE member_id = ? ORDER BY id DESC", [memberID]).map(subscription)
    }

    public func subscriptionPayment(programID: String, paymentRef: String) async throws
        -> (SubscriptionPayment, Subscription)? {
        try await pool.read { db in
            guard let row = try db.row("SELECT * FROM subscription_payments WHERE program_id = ? AND payment_ref = ?",
                                       [programID, paymentRef]),
                  let subscription = try db.row("SELECT * FROM subscriptions WHERE id = ?", [row["subscription_id"] as String])
            else { return nil }
            return (Self.payment(row), try Self.subscription(subscription))
        }
    }

    public func unpaidPlanRewards(programID: String, recordedIn window: Range<Date>, limit: Int) async throws
        -> [(payment: SubscriptionPayment, memberID: String)] {
        try await pool.read { db in
            try db.rows("""
                SELECT p.*, s.member_id AS member_id FROM subscription_payments p JOIN subscriptions s ON s.id = p.subscription_id
                WHERE p.program_id = ? AND p.reward_amount > 0 AND p.recorded_at >= ? AND p.recorded_at < ?
                  AND NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.program_id = p.program_id AND t.request_key = ? || p.id)
                ORDER BY p.recorded_at, p.id LIMIT ?
                """, [programID, Timestamp.milliseconds(window.lowerBound), Timestamp.milliseconds(window.upperBound),
                      SubscriptionPayment.rewardKeyPrefix, limit])
            .map { (Self.payment($0), $0["member_id"]) }
        }
    }

    public func subscriptionPayments(subscriptionID: String) async throws -> [SubscriptionPayment] {
        try await pool.read { db in
            try db.rows("SELECT * FROM subscription_payments WHERE subscription_id = ? ORDER BY id", [subscriptionID])
                .map(Self.payment)
        }
    }

    private static func payment(_ row: Row) -> SubscriptionPayment {
        var reward: PlanReward?
        if let from = row["reward_from"] as Int64?, let to = row["reward_to"] as Int64? {
            reward = PlanReward(from: Timestamp.date(milliseconds: from), to: Timestamp.date(milliseconds: to),
                                spend: row["reward_spend"], computed: row["reward_computed"], amount: row["reward_amount"],
                                planYear: row["reward_year"])
        }
        return SubscriptionPayment(id: row["id"], subscriptionID: row["subscription_id"], paymentRef: row["payment_ref"],
                                   paidAmount: row["paid_amount"], periodStart: Timestamp.date(milliseconds: row["period_start"]),
                                   periodEnd: Timestamp.date(milliseconds: row["period_end"]),
                                   recordedAt: Timestamp.date(milliseconds: row["recorded_at"]), reward: reward)
    }

    public func qualifyingSpend(memberID: String, in spans: [DateInterval]) async throws -> Int64 {
        try await pool.read { db in
            try spans.reduce(Int64(0)) { total, span in
                total + (try db.value("""
                    SELECT COALESCE(SUM(CASE code WHEN 'purchase' THEN amount ELSE -amount END), 0) FROM ledger_member_activity
                    WHERE member_number = (SELECT number FROM ledger_members WHERE member_id = ?)
                        AND occurred_at >= ? AND occurred_at < ? AND kind = 'event' AND status = 'posted'
                        AND code IN ('purchase', 'refund')
                    """, [memberID, Timestamp.milliseconds(span.start), Timestamp.milliseconds(span.end)], as: Int64.self) ?? 0)
            }
        }
    }

    public func subscriptionsEnded(programID: String, asOf: Date, after cursor: String?, limit: Int) async throws
        -> [Subscription] {
        try await pool.read { db in
            try db.rows("""
                SELECT * FROM subscriptions
                WHERE program_id = ? AND status = 'active' AND period_end <= ? AND id > ?
                ORDER BY id LIMIT ?
                """, [programID, Timestamp.milliseconds(asOf), cursor ?? "", limit]).map(Self.subscription)
        }
    }

    private static func insert(_ payment: SubscriptionPayment, programID: String, _ db: Database) throws {
        let reward = payment.reward
        try db.run("""
            INSERT INTO subscription_payments (id, program_id, subscription_id, payment_ref, paid_amount, period_start,
                period_end, recorded_at, reward_from, reward_to, reward_spend, reward_computed, reward_amount, reward_year)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [payment.id, programID, payment.subscriptionID, payment.paymentRef, payment.paidAmount,
                  Timestamp.milliseconds(payment.periodStart), Timestamp.milliseconds(payment.periodEnd),
                  Timestamp.milliseconds(payment.recordedAt), reward.map { Timestamp.milliseconds($0.from) },
                  reward.map { Timestamp.milliseconds($0.to) }, reward?.spend, reward?.computed, reward?.amount,
                  reward?.planYear])
    }

    /// The member's active subscription whose period ends last, on their row.
    private static func refreshPlan(memberID: String, _ db: Database) throws {
        try db.run("""
            UPDATE members SET (plan, plan_until) = (
                SELECT plan, period_end FROM subscriptions WHERE member_id = ? AND status = 'active'
                ORDER BY period_end DESC, id DESC LIMIT 1)
            WHERE id = ?
            """, [memberID, memberID])
    }

    private static func subscriptionColumns(_ subscription: Subscription) -> StatementArguments {
        [subscription.id, subscription.programID, subscription.memberID, subscription.plan, subscription.status.rawValue,
         Timestamp.milliseconds(subscription.startedAt), subscription.trialEndsAt.map(Timestamp.milliseconds),
         Timestamp.milliseconds(subscription.periodStart), Timestamp.milliseconds(subscription.periodEnd),
         subscription.paidAmount, subscription.autoRenew, subscription.cancelAtPeriodEnd,
         subscription.cancelledAt.map(Timestamp.milliseconds), subscription.endedAt.map(Timestamp.milliseconds),
         subscription.refundAmount, Timestamp.milliseconds(subscription.createdAt), subscription.version]
    }

    static func subscription(_ row: Row) throws -> Subscription {
        Subscription(id: row["id"], programID: row["program_id"], memberID: row["member_id"], plan: row["plan"],
                     status: try decode(Subscription.Status.self, row["status"]),
                     startedAt: Timestamp.date(milliseconds: row["started_at"]),
                     trialEndsAt: (row["trial_ends_at"] as Int64?).map(Timestamp.date(milliseconds:)),
                     periodStart: Timestamp.date(milliseconds: row["period_start"]),
                     periodEnd: Timestamp.date(milliseconds: row["period_end"]), paidAmount: row["paid_amount"],
                     autoRenew: row["auto_renew"], cancelAtPeriodEnd: row["cancel_at_period_end"],
                     cancelledAt: (row["cancelled_at"] as Int64?).map(Timestamp.date(milliseconds:)),
                     endedAt: (row["ended_at"] as Int64?).map(Timestamp.date(milliseconds:)),
                     refundAmount: row["refund_amount"], createdAt: Timestamp.date(milliseconds: row["created_at"]),
                     version: row["version"])
    }
}
