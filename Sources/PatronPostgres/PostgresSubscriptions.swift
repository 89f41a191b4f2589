import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// Subscriptions and their payments, as SQLiteSubscriptions.swift keeps them.

extension PostgresStore {
    public func insertSubscription(_ subscription: Subscription, payment: SubscriptionPayment) async throws {
        try await transaction { connection in
            let s = subscription
            _ = try await execute("""
                INSERT INTO subscriptions (id, program_id, member_id, plan, status, started_at, trial_ends_at,
                    period_start, period_end, paid_amount, auto_renew, cancel_at_period_end, cancelled_at, ended_at,
                    refund_amount, created_at, version)
                VALUES (\(s.id), \(s.programID), \(s.memberID), \(s.plan), \(s.status.rawValue), \(s.startedAt),
                        \(s.trialEndsAt), \(s.periodStart), \(s.periodEnd), \(s.paidAmount), \(s.autoRenew),
                        \(s.cancelAtPeriodEnd), \(s.cancelledAt), \(s.endedAt), \(s.refundAmount), \(s.createdAt),
                        \(s.version))
                """, on: connection)
            try await insert(payment, programID: s.programID, on: connection)
            try await refreshPlan(memberID: s.memberID, on: connection)
        }
    }

    public func updateSubscription(_ subscription: Subscription, payment: SubscriptionPayment?) async throws {
        try await transaction { connection in
            let s = subscription
            let updated = try await execute("""
                UPDATE subscriptions SET status = \(s.status.rawValue), period_start = \(s.periodStart),
                    period_end = \(s.periodEnd), paid_amount = \(s.paidAmount), auto_renew = \(s.autoRenew),
                    cancel_at_period_end = \(s.cancelAtPeriodEnd), cancelled_at = \(s.cancelledAt), ended_at = \(s.endedAt),
                    refund_amount = \(s.refundAmount), version = \(s.version)
                WHERE id = \(s.id) AND version = \(s.version - 1)
                RETURNING id
                """, on: connection)
            guard updated == 1 else { throw StoreError.concurrentUpdate }
            if let payment { try await insert(payment, programID: s.programID, on: connection) }
            try await refreshPlan(memberID: s.memberID, on: connection)
        }
    }

    public func subscription(programID: String, id: String) async throws -> Subscription? {
        try await rows("SELECT * FROM subscriptions WHERE program_id = \(programID) AND id = \(id)").first
            .map(Self.subscription)
    }

    public func subscriptions(memberID: String) async throws -> [Subscription] {
        try await rows("SELECT * FROM subscriptions WHERE member_id = \(memberID) ORDER BY id DESC").map(Self.subscription)
    }

    public func subscriptionPayment(programID: String, paymentRef: String) async throws
        -> (SubscriptionPayment, Subscription)? {
        guard let row = try await rows("""
            SELECT * FROM subscription_payments WHERE program_id = \(programID) AND payment_ref = \(paymentRef)
            """).first else { return nil }
        let payment = try Self.payment(row)
        guard let subscription = try await subscription(programID: programID, id: payment.subscriptionID) else { return nil }
        return (payment, subscription)
    }

    public func unpaidPlanRewards(programID: String, recordedIn window: Range<Date>, limit: Int) async throws
        -> [(payment: SubscriptionPayment, memberID: String)] {
        try await rows("""
            SELECT p.*, s.member_id AS member_id FROM subscription_payments p JOIN subscriptions s ON s.id = p.subscription_id
            WHERE p.program_id = \(programID) AND p.reward_amount > 0
              AND p.recorded_at >= \(window.lowerBound) AND p.recorded_at < \(window.upperBound)
              AND NOT EXISTS (SELECT 1 FROM ledger_transfers t
                              WHERE t.program_id = p.program_id AND t.request_key = \(SubscriptionPayment.rewardKeyPrefix) || p.id)
            ORDER BY p.recorded_at, p.id LIMIT \(limit)
            """).map { (try Self.payment($0), try $0["member_id"].decode(String.self)) }
    }

    public func subscriptionPayments(subscriptionID: String) async throws -> [SubscriptionPayment] {
        try await rows("SELECT * FROM subscription_payments WHERE subscription_id = \(subscriptionID) ORDER BY id")
            .map(Self.payment)
    }

    private static func payment(_ row: PostgresRandomAccessRow) throws -> SubscriptionPayment {
        var reward: PlanReward?
        if let from = try row["reward_from"].decode(Date?.self), let to = try row["reward_to"].decode(Date?.self) {
            reward = PlanReward(from: from, to: to, spend: try row["reward_spend"].decode(Int64.self),
                                computed: try row["reward_computed"].decode(Int64.self),
                                amount: try row["reward_amount"].decode(Int64.self),
                                planYear: try row["reward_year"].decode(Int.self))
        }
        return SubscriptionPayment(id: try row["id"].decode(String.self),
                                   subscriptionID: try row["subscription_id"].decode(String.self),
                                   paymentRef: try row["payment_ref"].decode(String.self),
                                   paidAmount: try row["paid_amount"].decode(Int64.self),
                                   periodStart: try row["period_start"].decode(Date.self),
                                   periodEnd: try row["period_end"].decode(Date.self),
                                   recordedAt: try row["recorded_at"].decode(Date.self), reward: reward)
    }

    public func qualifyingSpend(memberID: String, in spans: [DateInterval]) async throws -> Int64 {
        var total: Int64 = 0
        for span in spans {
            let row = try await rows("""
                SELECT COALESCE(SUM(CASE type WHEN 'purchase' THEN amount ELSE -amount END), 0)::bigint AS spend
                FROM ledger_events
                WHERE member_id = \(memberID) AND occurred_at >= \(span.start) AND occurred_at < \(span.end)
                    AND status = 'posted' AND type IN ('purchase', 'refund')
                """).first
            total += try row?["spend"].decode(Int64.self) ?? 0
        }
        return total
    }

    public func subscriptionsEnded(programID: String, asOf: Date, after cursor: String?, limit: Int) async throws
        -> [Subscription] {
        try await rows("""
            SELECT * FROM subscriptions
            WHERE program_id = \(programID) AND status = 'active' AND period_end <= \(asOf) AND id > \(cursor ?? "")
            ORDER BY id LIMIT \(limit)
            """).map(Self.subscription)
    }

    private func insert(_ payment: SubscriptionPayment, programID: String, on connection: PostgresConnection) async throws {
        let reward = payment.reward
        _ = try await execute("""
            INSERT INTO subscription_payments (id, program_id, subscription_id, payment_ref, paid_amount, period_start,
                period_end, recorded_at, reward_from, reward_to, reward_spend, reward_computed, reward_amount, reward_year)
            VALUES (\(payment.id), \(programID), \(payment.subscriptionID), \(payment.paymentRef), \(payment.paidAmount),
                    \(payment.periodStart), \(payment.periodEnd), \(payment.recordedAt), \(reward?.from), \(reward?.to),
                    \(reward?.spend), \(reward?.computed), \(reward?.amount), \(reward.map { Int64($0.planYear) }))
            """, on: connection)
    }

    private func refreshPlan(memberID: String, on connection: PostgresConnection) async throws {
        _ = try await execute("""
            UPDATE members SET (plan, plan_until) = (
                SELECT plan, period_end FROM subscriptions WHERE member_id = \(memberID) AND status = 'active'
                ORDER BY period_end DESC, id DESC LIMIT 1)
            WHERE id = \(memberID)
            RETURNING id
            """, on: connection)
    }

    static func subscription(_ row: PostgresRandomAccessRow) throws -> Subscription {
        Subscription(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                     memberID: try row["member_id"].decode(String.self), plan: try row["plan"].decode(String.self),
                     status: try decode(Subscription.Status.self, row["status"]),
                     startedAt: try row["started_at"].decode(Date.self), trialEndsAt: try row["trial_ends_at"].decode(Date?.self),
                     periodStart: try row["period_start"].decode(Date.self), periodEnd: try row["period_end"].decode(Date.self),
                     paidAmount: try row["paid_amount"].decode(Int64.self), autoRenew: try row["auto_renew"].decode(Bool.self),
                     cancelAtPeriodEnd: try row["cancel_at_period_end"].decode(Bool.self),
                     cancelledAt: try row["cancelled_at"].decode(Date?.self), endedAt: try row["ended_at"].decode(Date?.self),
                     refundAmount: try row["refund_amount"].decode(Int64?.self), createdAt: try row["created_at"].decode(Date.self),
                     version: try row["version"].decode(Int.self))
    }
}
