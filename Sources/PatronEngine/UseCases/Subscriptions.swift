import Foundation
import PatronCore

/// The job that ends subscriptions whose last paid period is over.
public let expireSubscriptionsJob = "expire-subscriptions"

extension Engine {
    /// Records a paid subscription the provider reports: the plan, its payment reference (unique in
    /// the program: the same payment reported again answers the subscription it started, `created`
    /// false), what was paid, and when it started (now by default; back-dating is allowed). A plan
    /// with trial days starts with the trial and its first paid period follows it.
    public func subscribe(programCode: String, memberID: String, body: JSONValue, by principal: Principal) async throws
        -> (subscription: Subscription, created: Bool) {
        try require(.writeMembers, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["plan", "payment_ref", "paid_amount", "started_at",
                                                                    "auto_renew"], faults: &faults)
        let code = reader?.string("plan", required: true, maxLength: 64, faults: &faults)
        let paymentRef = reader?.string("payment_ref", required: true, maxLength: 200, faults: &faults)
        let paid = reader?.integer("paid_amount", in: 0...Int64(Int32.max) * 100, required: true, faults: &faults)
        let startedAt = reader?.timestamp("started_at", faults: &faults)
        let autoRenew = reader?.boolean("auto_renew", faults: &faults)
        let now = now()
        if let startedAt, startedAt > now.addingTimeInterval(Self.futureTolerance) {
            faults.add(.root / "started_at", "in_future", "A subscription is recorded once it has started.")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let runtime = try await runtime(program)
        guard let plan = runtime.plans.plan(code!) else {
            throw EngineError.invalid(ValidationError(pointer: "/plan", code: "unknown_plan",
                                                      message: "The program has no plan '\(code!)'."))
        }
        if let (_, earlier) = try await store.subscriptionPayment(programID: program.id, paymentRef: paymentRef!) {
            return (try replay(earlier, memberID: memberID, paymentRef: paymentRef!), false)
        }
        let member = try await heldMember(program: program, id: memberID)
        let start = Timestamp.truncated(startedAt ?? now)
        let calendar = runtime.policy.calendar
        if try await store.subscriptions(memberID: member.id).contains(where: { $0.plan == plan.code && $0.isActive(at: start) }) {
            throw EngineError.conflict(code: "already_subscribed",
                                       detail: "The member already has '\(plan.code)' running; renew it instead.")
        }
        let trialEnd = plan.trialEnd(from: start, calendar: calendar)
        let periodEnd = plan.periodEnd(from: trialEnd, calendar: calendar)
        let subscription = Subscription(
            id: newID(at: now), programID: program.id, memberID: member.id, plan: plan.code, status: .active,
            startedAt: start, trialEndsAt: plan.trialDays > 0 ? trialEnd : nil, periodStart: start, periodEnd: periodEnd,
            paidAmount: paid!, autoRenew: autoRenew ?? plan.autoRenew, cancelAtPeriodEnd: false, cancelledAt: nil,
            endedAt: nil, refundAmount: nil, createdAt: now, version: 1)
        let payment = SubscriptionPayment(id: newID(at: now), subscriptionID: subscription.id, paymentRef: paymentRef!,
                                          paidAmount: paid!, periodStart: start, periodEnd: periodEnd, recordedAt: now)
        do {
            try await store.insertSubscription(subscription, payment: payment)
            return (subscription, true)
        } catch StoreError.duplicate {
            // The same payment, reported twice at once.
            guard let (_, earlier) = try await store.subscriptionPayment(programID: program.id, paymentRef: paymentRef!) else {
                throw EngineError.conflict(code: "concurrent_update", detail: "The request raced with another; retry it.")
            }
            return (try replay(earlier, memberID: memberID, paymentRef: paymentRef!), false)
        }
    }

    /// Extends a running (or just lapsed, not cancelled) subscription by one period from the end of
    /// the current one, for a payment the provider reports; the same payment again changes nothing.
    public func renewSubscription(programCode: String, memberID: String, subscriptionID: String, body: JSONValue,
                                  by principal: Principal) async throws -> (subscription: Subscription, created: Bool) {
        try require(.writeMembers, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["payment_ref", "paid_amount"], faults: &faults)
        let paymentRef = reader?.string("payment_ref", required: true, maxLength: 200, faults: &faults)
        let paid = reader?.integer("paid_amount", in: 0...Int64(Int32.max) * 100, required: true, faults: &faults)
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        if let (payment, earlier) = try await store.subscriptionPayment(programID: program.id, paymentRef: paymentRef!) {
            guard payment.subscriptionID == subscriptionID else {
                throw EngineError.conflict(code: "payment_ref_reused",
                                           detail: "The payment '\(paymentRef!)' was recorded for another subscription.")
            }
            return (earlier, false)
        }
        do {
            return try await renew(program: program, memberID: memberID, subscriptionID: subscriptionID,
                                   paymentRef: paymentRef!, paid: paid!)
        } catch StoreError.duplicate {
            // The same payment, reported twice at once.
            guard let (_, earlier) = try await store.subscriptionPayment(programID: program.id, paymentRef: paymentRef!),
                  earlier.id == subscriptionID else {
                throw EngineError.conflict(code: "payment_ref_reused", detail: "The payment '\(paymentRef!)' was recorded before.")
            }
            return (earlier, false)
        }
    }

    private func renew(program: Program, memberID: String, subscriptionID: String, paymentRef: String, paid: Int64)
        async throws -> (subscription: Subscription, created: Bool) {
        (try await changeSubscription(program: program, memberID: memberID, id: subscriptionID) { subscription, runtime, now in
            guard subscription.status != .cancelled else {
                throw EngineError.conflict(code: "subscription_cancelled", detail: "A cancelled subscription cannot be renewed.")
            }
            guard let plan = runtime.plans.plan(subscription.plan) else {
                throw EngineError.conflict(code: "unknown_plan",
                                           detail: "The plan '\(subscription.plan)' is no longer in the configuration.")
            }
            var renewed = subscription
            // A lapsed subscription restarts now; a running one continues from its period's end.
            let start = subscription.status == .expired ? now : subscription.periodEnd
            renewed.status = .active
            renewed.endedAt = nil
            renewed.periodStart = start
            renewed.periodEnd = plan.periodEnd(from: start, calendar: runtime.policy.calendar)
            renewed.paidAmount = paid
            renewed.cancelAtPeriodEnd = false
            let payment = SubscriptionPayment(id: newID(at: now), subscriptionID: subscription.id, paymentRef: paymentRef,
                                              paidAmount: paid, periodStart: start, periodEnd: renewed.periodEnd,
                                              recordedAt: now)
            return (renewed, payment)
        }, true)
    }

    /// Cancels a subscription: `at: "now"` ends it at once with the unused share of the current
    /// period's payment as `refund_amount` (what the business owes back through its provider);
    /// `at: "period_end"` lets it run to the end of what was paid and stops renewal.
    public func cancelSubscription(programCode: String, memberID: String, subscriptionID: String, body: JSONValue,
                                   by principal: Principal) async throws -> Subscription {
        try require(.writeMembers, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["at"], faults: &faults)
        let at = reader?.choice("at", ["now", "period_end"], required: true, faults: &faults)
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let payments = Identifier.isWellFormed(subscriptionID)
            ? try await store.subscriptionPayments(subscriptionID: subscriptionID) : []
        return try await changeSubscription(program: program, memberID: memberID, id: subscriptionID) { subscription, _, now in
            guard subscription.status == .active, now < subscription.periodEnd else {
                throw EngineError.conflict(code: "subscription_ended", detail: "The subscription has already ended.")
            }
            var cancelled = subscription
            cancelled.autoRenew = false
            if at == "now" {
                cancelled.status = .cancelled
                cancelled.cancelledAt = now
                cancelled.endedAt = now
                // Every payment returns the unused share of the period it paid for (a renewal paid
                // ahead returns all of it). The trial is free: a period's use starts after it.
                cancelled.refundAmount = payments.reduce(0) { total, payment in
                    let paidFrom = subscription.trialEndsAt.map { max($0, payment.periodStart) } ?? payment.periodStart
                    return total + PaidPlan.proratedRefund(paid: payment.paidAmount, start: paidFrom, end: payment.periodEnd,
                                                           cancelledAt: now)
                }
            } else {
                cancelled.cancelAtPeriodEnd = true
                cancelled.cancelledAt = now
            }
            return (cancelled, nil)
        }
    }

    /// The member's subscriptions, newest first.
    public func subscriptions(programCode: String, memberID: String, by principal: Principal) async throws -> [Subscription] {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        return try await store.subscriptions(memberID: member.id)
    }

    /// Ends the subscriptions whose period is over by `asOf`. Running it again does nothing new;
    /// whether a member enjoys a plan never waits for it.
    public func expireSubscriptions(program: Program, asOf: Date) async throws -> Int {
        var ended = 0
        var after: String?
        while true {
            let due = try await store.subscriptionsEnded(programID: program.id, asOf: asOf, after: after,
                                                         limit: Self.jobRoundSize)
            guard let last = due.last else { return ended }
            after = last.id
            for subscription in due {
                var expired = subscription
                expired.status = .expired
                expired.endedAt = subscription.periodEnd
                expired.version += 1
                do {
                    try await store.updateSubscription(expired, payment: nil)
                    ended += 1
                } catch StoreError.concurrentUpdate {
                    // Renewed or cancelled meanwhile.
                }
            }
        }
    }

    /// Applies `change` to the member's subscription (with the renewal's payment, if any), guarded by
    /// its version: a concurrent change is read again and `change` decides anew.
    private func changeSubscription(
        program: Program, memberID: String, id: String,
        _ change: (Subscription, ProgramRuntime, Date) throws -> (Subscription, SubscriptionPayment?)
    ) async throws -> Subscription {
        let member = try await heldMember(program: program, id: memberID)
        let runtime = try await runtime(program)
        for attempt in 1... {
            guard Identifier.isWellFormed(id), let current = try await store.subscription(programID: program.id, id: id),
                  current.memberID == member.id else {
                throw EngineError.notFound(resource: "subscription", id: id)
            }
            var (changed, payment) = try change(current, runtime, now())
            changed.version = current.version + 1
            do {
                try await store.updateSubscription(changed, payment: payment)
                return changed
            } catch StoreError.concurrentUpdate where attempt < 5 {
                continue
            }
        }
        fatalError("unreachable")
    }

    private func replay(_ earlier: Subscription, memberID: String, paymentRef: String) throws -> Subscription {
        guard earlier.memberID == memberID else {
            throw EngineError.conflict(code: "payment_ref_reused",
                                       detail: "The payment '\(paymentRef)' was recorded for another member.")
        }
        return earlier
    }
}
