import Foundation
import PatronCore

/// A member's paid subscription to a plan. Payments happen at an external provider; Patron records
/// what it is told (each payment with the provider's reference) and what follows from it.
public struct Subscription: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// Running: in its trial or in a paid period.
        case active
        /// Ended early by a cancellation; `refundAmount` says what is owed back.
        case cancelled
        /// Reached the end of its last period without a renewal.
        case expired
    }

    public var id: String
    public var programID: String
    public var memberID: String
    public var plan: String
    public var status: Status
    public var startedAt: Date
    /// The end of the free trial, when the plan has one; the first paid period starts there.
    public var trialEndsAt: Date?
    /// The period now paid for (or the trial, then the first paid period after it).
    public var periodStart: Date
    public var periodEnd: Date
    /// What was paid for the current period, in minor units.
    public var paidAmount: Int64
    public var autoRenew: Bool
    /// Cancelled to end at `periodEnd` rather than at once.
    public var cancelAtPeriodEnd: Bool
    public var cancelledAt: Date?
    public var endedAt: Date?
    /// For a cancellation at once: the unused share of the current period's payment.
    public var refundAmount: Int64?
    public var createdAt: Date
    /// Incremented by every change; updates are guarded by it.
    public var version: Int

    public init(id: String, programID: String, memberID: String, plan: String, status: Status, startedAt: Date,
                trialEndsAt: Date?, periodStart: Date, periodEnd: Date, paidAmount: Int64, autoRenew: Bool,
                cancelAtPeriodEnd: Bool, cancelledAt: Date?, endedAt: Date?, refundAmount: Int64?, createdAt: Date,
                version: Int) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.plan = plan
        self.status = status
        self.startedAt = startedAt
        self.trialEndsAt = trialEndsAt
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.paidAmount = paidAmount
        self.autoRenew = autoRenew
        self.cancelAtPeriodEnd = cancelAtPeriodEnd
        self.cancelledAt = cancelledAt
        self.endedAt = endedAt
        self.refundAmount = refundAmount
        self.createdAt = createdAt
        self.version = version
    }

    /// Whether the member enjoys the plan at `instant`: running, and within what was paid for (or
    /// the trial). Exact whether or not the expiry job has run.
    public func isActive(at instant: Date) -> Bool {
        status == .active && startedAt <= instant && instant < periodEnd
    }
}

/// One payment the provider reported for a subscription: its start or a renewal.
public struct SubscriptionPayment: Sendable, Hashable {
    public var id: String
    public var subscriptionID: String
    /// The provider's reference; unique in the program, so a payment reported twice counts once.
    public var paymentRef: String
    public var paidAmount: Int64
    /// The period it paid for.
    public var periodStart: Date
    public var periodEnd: Date
    public var recordedAt: Date
    /// For a renewal of a plan with `reward_percent`: the cash-back it gave for the spend since the
    /// previous renewal. The ledger transfer that pays it has the request key `rewardKey`.
    public var reward: PlanReward?

    public init(id: String, subscriptionID: String, paymentRef: String, paidAmount: Int64, periodStart: Date,
                periodEnd: Date, recordedAt: Date, reward: PlanReward? = nil) {
        self.id = id
        self.subscriptionID = subscriptionID
        self.paymentRef = paymentRef
        self.paidAmount = paidAmount
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.recordedAt = recordedAt
        self.reward = reward
    }

    /// The request key of the cash-back transfer of this payment's reward.
    public var rewardKey: String { Self.rewardKeyPrefix + id }

    /// What every reward key starts with; the payment's id follows.
    public static let rewardKeyPrefix = "plan-reward:"
}

/// Subscriptions and their payments. Every write also sets the member's `plan` (the active plan
/// whose period ends last) so that the event path reads it with the member.
public protocol PlanStore: Sendable {
    /// `duplicate(constraint: "subscription_payment_ref")` when the payment was recorded before.
    func insertSubscription(_ subscription: Subscription, payment: SubscriptionPayment) async throws
    /// Replaces the subscription, provided its stored version is `subscription.version - 1` (else
    /// `concurrentUpdate`), with the renewal's payment if there is one.
    func updateSubscription(_ subscription: Subscription, payment: SubscriptionPayment?) async throws
    func subscription(programID: String, id: String) async throws -> Subscription?
    /// The member's subscriptions, newest first.
    func subscriptions(memberID: String) async throws -> [Subscription]
    /// The subscription's payments, oldest first.
    func subscriptionPayments(subscriptionID: String) async throws -> [SubscriptionPayment]
    /// Payments recorded in `window` with a cash-back (`reward.amount` > 0) that no ledger transfer
    /// with the payment's `rewardKey` has paid — a renewal that stopped between recording and
    /// paying — oldest first, at most `limit`, each with its subscription's member.
    func unpaidPlanRewards(programID: String, recordedIn window: Range<Date>, limit: Int) async throws
        -> [(payment: SubscriptionPayment, memberID: String)]
    /// The payment with this provider reference, and its subscription.
    func subscriptionPayment(programID: String, paymentRef: String) async throws -> (SubscriptionPayment, Subscription)?
    /// The member's qualifying spend in `spans`: posted purchases less posted refunds that occurred
    /// in them (a span's end excluded), in minor units.
    func qualifyingSpend(memberID: String, in spans: [DateInterval]) async throws -> Int64
    /// Active subscriptions whose period ended by `asOf`, in id order after `cursor`, at most `limit`.
    func subscriptionsEnded(programID: String, asOf: Date, after cursor: String?, limit: Int) async throws -> [Subscription]
}
