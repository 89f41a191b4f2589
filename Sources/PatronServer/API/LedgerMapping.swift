import Foundation
import OpenAPIRuntime
import PatronAPI
import PatronCore
import PatronEngine

// The points ledger's domain values to and from the generated API types.

extension Components.Schemas.EventReceipt {
    init(_ receipt: EventReceipt) throws {
        self.init(
            id: receipt.id, event: receipt.event, member: receipt.member, buyer: receipt.buyer, executor: receipt.executor,
            _type: receipt.type, occurredAt: receipt.occurredAt, recordedAt: receipt.recordedAt,
            status: try .init(known: receipt.status),
            awards: try receipt.awards.map { try Components.Schemas.EventAward($0, member: receipt.member) },
            failures: receipt.failures.map { Components.Schemas.EventFailure(rule: $0.rule, error: $0.error) },
            clawbacks: try receipt.clawbacks.map { try Components.Schemas.EventClawback($0, member: receipt.member) },
            review: try receipt.review.map(Components.Schemas.EventReview.init))
    }
}

extension Components.Schemas.EventReview {
    init(_ review: EventReceipt.Review) throws {
        self.init(heldFor: review.heldFor, outcome: try review.outcome.map { try .init(known: $0) }, by: review.by,
                  at: review.at, reason: review.reason)
    }
}

extension Components.Schemas.EventAward {
    /// `member` is the receipt's, for receipts stored before awards named their recipient.
    init(_ award: EventReceipt.Award, member: String) throws {
        self.init(rule: award.rule, member: award.member ?? member, unit: try .init(known: award.unit.rawValue), amount: award.amount,
                  computed: award.computed, cappedBy: award.cappedBy, state: try .init(known: award.state),
                  availableAt: award.availableAt, expiresAt: award.expiresAt)
    }
}

extension Components.Schemas.EventClawback {
    init(_ clawback: EventReceipt.Clawback, member: String) throws {
        self.init(member: clawback.member ?? member, unit: try .init(known: clawback.unit.rawValue), requested: clawback.requested,
                  fromPending: clawback.fromPending, fromAvailable: clawback.fromAvailable,
                  intoDebt: clawback.intoDebt, notRecovered: clawback.notRecovered)
    }
}

extension Components.Schemas.PointsBalance {
    init(_ balance: PointsBalance) {
        let dated = { (entry: PointsBalance.Dated) in Components.Schemas.DatedPoints(at: entry.at, points: entry.points) }
        self.init(asOf: balance.asOf, available: balance.available, pending: balance.pending,
                  maturing: balance.maturing.map(dated), onHold: balance.onHold, expiring: balance.expiring.map(dated),
                  lifetimeEarned: balance.lifetimeEarned, redeemed: balance.redeemed, expired: balance.expired,
                  growth: balance.growth,
                  cashback: .init(available: balance.cashback.available, earned: balance.cashback.earned,
                                  redeemed: balance.cashback.redeemed))
    }
}

extension Components.Schemas.Transfer {
    init(_ transfer: Transfer) throws {
        self.init(
            id: transfer.id, unit: try .init(known: transfer.unit.rawValue), from: transfer.debit.code,
            to: transfer.credit.code, amount: transfer.amount, kind: try .init(known: transfer.kind.rawValue),
            reason: transfer.reason, reference: transfer.reference, event: transfer.eventID, lot: transfer.lotID,
            hold: transfer.holdID, reverses: transfer.reverses, actor: transfer.actor, occurredAt: transfer.occurredAt,
            postedAt: transfer.postedAt,
            allocations: transfer.allocations.map { Components.Schemas.LotAllocation(lot: $0.lotID, amount: $0.amount) })
    }
}

extension Components.Schemas.Hold {
    init(_ hold: Hold) throws {
        self.init(id: hold.id, member: hold.memberID, points: hold.amount, captured: hold.captured,
                  status: try .init(known: hold.status.rawValue), reference: hold.reference, createdAt: hold.createdAt,
                  expiresAt: hold.expiresAt, resolvedAt: hold.resolvedAt)
    }
}

extension Components.Schemas.JobReport {
    init(_ report: JobReport) throws {
        self.init(job: try .init(known: report.job), asOf: report.asOf, members: report.members,
                  transfers: report.transfers, points: report.points, reviews: report.tierReview?.reviews,
                  downgraded: report.tierReview?.downgraded, assignmentsEnded: report.tierReview?.assignmentsEnded,
                  subscriptionsEnded: report.subscriptionsEnded)
    }
}

extension Components.Schemas.TierLevel {
    init(_ level: PatronCore.TierLevel) {
        self.init(code: level.code, name: level.name, threshold: level.threshold, retain: level.retain,
                  invitationOnly: level.invitationOnly)
    }
}

extension Components.Schemas.TierStanding {
    init(_ standing: TierStanding) throws {
        self.init(asOf: standing.asOf, level: .init(standing.level), since: standing.since,
                  manualUntil: standing.manualUntil, validUntil: standing.validUntil,
                  metric: try .init(known: standing.metric.rawValue), qualifyingValue: standing.qualifyingValue,
                  window: .init(from: standing.windowFrom, through: standing.windowThrough),
                  next: standing.next.map { .init(level: .init($0.level), needed: $0.needed) },
                  keep: standing.keep.map { .init(at: $0.at, retain: $0.retain, projected: $0.projected, needed: $0.needed) })
    }
}

extension Components.Schemas.TierChange {
    init(_ change: PatronCore.TierChange) throws {
        self.init(id: change.id, member: change.memberID, from: change.from, to: change.to, at: change.at,
                  cause: try .init(known: change.cause.rawValue), qualifyingValue: change.qualifyingValue,
                  event: change.eventID, actor: change.actor, reason: change.reason, until: change.until,
                  recordedAt: change.recordedAt)
    }
}

extension Date {
    /// An instant the client sent as RFC 3339 text, read as the engine reads the times in the bodies
    /// it validates itself, so a malformed one is a 422 fault at `/<field>` there as here.
    init(clientTime text: String, field: String) throws(ValidationError) {
        var faults = FaultCollector()
        let reader = ObjectValidator(.object([field: .string(text)]), at: .root, allowedKeys: [field], faults: &faults)
        let date = reader?.timestamp(field, required: true, faults: &faults)
        try faults.check()
        // No fault was recorded, so the reader read a date.
        self = date!
    }
}

/// A value the engine produced that the spec does not list: a fault on Patron's side, answered 500.
struct UnmappedValue: Error, CustomStringConvertible {
    var value: String
    var type: String

    var description: String { "'\(value)' is not a value of \(type) in the spec" }
}

extension RawRepresentable where RawValue == String {
    /// The generated enum case with the domain value's raw value.
    init(known rawValue: String) throws {
        guard let value = Self(rawValue: rawValue) else { throw UnmappedValue(value: rawValue, type: "\(Self.self)") }
        self = value
    }
}

extension Components.Schemas.QuotaState {
    init(_ quota: Entitlement.Quota) throws {
        self.init(quantity: quota.quantity, per: try .init(known: quota.per.rawValue), used: quota.used,
                  remaining: quota.remaining, periodStart: quota.periodStart, resetsAt: quota.resetsAt)
    }
}

extension Components.Schemas.Entitlements {
    init(_ entitlements: Entitlements) throws {
        self.init(asOf: entitlements.asOf, level: entitlements.level, plans: entitlements.plans,
                  items: try entitlements.items.map { item in
            let benefit = item.benefit
            return Components.Schemas.Entitlement(
                benefit: benefit.code, name: benefit.name, label: benefit.label, description: benefit.description,
                kind: try .init(known: benefit.kind.rawValue), value: benefit.value, partner: benefit.partner,
                via: .init(level: item.viaLevel, plans: item.viaPlans.isEmpty ? nil : item.viaPlans),
                quota: try item.quota.map(Components.Schemas.QuotaState.init),
                granted: item.granted.map(Components.Schemas.GrantState.init))
        })
    }
}

extension Components.Schemas.BenefitUse {
    init(_ receipt: BenefitUseReceipt) throws {
        let use = receipt.use
        self.init(id: use.id, member: use.memberID, benefit: use.benefit, source: try .init(known: use.source.rawValue),
                  quantity: use.quantity, reference: use.reference, actor: use.actor, usedAt: use.usedAt,
                  quota: try receipt.quota.map(Components.Schemas.QuotaState.init),
                  granted: receipt.granted.map(Components.Schemas.GrantState.init))
    }
}

extension Components.Schemas.GrantState {
    init(_ allowance: BenefitAllowance) {
        self.init(granted: allowance.granted, used: allowance.used, remaining: allowance.remaining)
    }
}

extension Components.Schemas.Subscription {
    /// `reward` is a renewal's cash-back, in the renewal's answer.
    init(_ subscription: PatronEngine.Subscription, now: Date, reward: PlanReward? = nil) throws {
        let s = subscription
        self.init(id: s.id, member: s.memberID, plan: s.plan, status: try .init(known: s.status.rawValue),
                  inTrial: s.status == .active && (s.trialEndsAt.map { now < $0 } ?? false), startedAt: s.startedAt,
                  trialEndsAt: s.trialEndsAt, periodStart: s.periodStart, periodEnd: s.periodEnd, paidAmount: s.paidAmount,
                  autoRenew: s.autoRenew, cancelAtPeriodEnd: s.cancelAtPeriodEnd, cancelledAt: s.cancelledAt,
                  endedAt: s.endedAt, refundAmount: s.refundAmount, createdAt: s.createdAt, reward: reward.map(Components.Schemas.PlanReward.init))
    }
}

extension Components.Schemas.PlanReward {
    init(_ reward: PlanReward) {
        self.init(from: reward.from, to: reward.to, spend: reward.spend, computed: reward.computed, amount: reward.amount,
                  planYear: reward.planYear)
    }
}

extension Components.Schemas.SubscriptionPayment {
    init(_ payment: SubscriptionPayment) {
        self.init(id: payment.id, paymentRef: payment.paymentRef, paidAmount: payment.paidAmount,
                  periodStart: payment.periodStart, periodEnd: payment.periodEnd, recordedAt: payment.recordedAt,
                  reward: payment.reward.map(Components.Schemas.PlanReward.init))
    }
}
