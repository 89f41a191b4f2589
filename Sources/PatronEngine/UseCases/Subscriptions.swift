import Foundation
import PatronCore

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
    /// A plan with `reward_percent` pays its cash-back for the spend since the previous renewal (see
    /// `planReward`): the answer's payment carries it.
    public func renewSubscription(programCode: String, memberID: String, subscriptionID: String, body: JSONValue,
                                  by principal: Principal) async throws
        -> (subscription: Subscription, payment: SubscriptionPayment, created: Bool) {
        try require(.writeMembers, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["payment_ref", "paid_amount"], faults: &faults)
        let paymentRef = reader?.string("payment_ref", required: true, maxLength: 200, faults: &faults)
        let paid = reader?.integer("paid_amount", in: 0...Int64(Int32.max) * 100, required: true, faults: &faults)
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let renewal: (subscription: Subscription, payment: SubscriptionPayment, created: Bool)
        if let earlier = try await recordedRenewal(program: program, subscriptionID: subscriptionID, paymentRef: paymentRef!) {
            renewal = earlier
        } else {
            do {
                let (subscription, payment) = try await renew(program: program, memberID: memberID,
                                                              subscriptionID: subscriptionID, paymentRef: paymentRef!,
                                                              paid: paid!)
                renewal = (subscription, payment, true)
            } catch StoreError.duplicate {
                // The same payment, reported twice at once.
                guard let earlier = try await recordedRenewal(program: program, subscriptionID: subscriptionID,
                                                              paymentRef: paymentRef!) else {
                    throw EngineError.conflict(code: "payment_ref_reused", detail: "The payment '\(paymentRef!)' was recorded before.")
                }
                renewal = earlier
            }
        }
        // Paid once, by its key, whether this is the first answer or a retry after a lost one.
        try await payPlanReward(renewal.payment, memberID: renewal.subscription.memberID, program: program)
        return renewal
    }

    /// The renewal the payment `paymentRef` recorded for the subscription, if it was recorded.
    private func recordedRenewal(program: Program, subscriptionID: String, paymentRef: String) async throws
        -> (subscription: Subscription, payment: SubscriptionPayment, created: Bool)? {
        guard let (payment, earlier) = try await store.subscriptionPayment(programID: program.id, paymentRef: paymentRef)
        else { return nil }
        guard payment.subscriptionID == subscriptionID else {
            throw EngineError.conflict(code: "payment_ref_reused",
                                       detail: "The payment '\(paymentRef)' was recorded for another subscription.")
        }
        return (earlier, payment, false)
    }

    private func renew(program: Program, memberID: String, subscriptionID: String, paymentRef: String, paid: Int64)
        async throws -> (Subscription, SubscriptionPayment) {
        let (subscription, payment) = try await changeSubscription(program: program, memberID: memberID, id: subscriptionID) {
            subscription, runtime, now in
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
            let reward = plan.givesReward
                ? try await planReward(plan, of: subscription, at: now, calendar: runtime.policy.calendar) : nil
            let payment = SubscriptionPayment(id: newID(at: now), subscriptionID: subscription.id, paymentRef: paymentRef,
                                              paidAmount: paid, periodStart: start, periodEnd: renewed.periodEnd,
                                              recordedAt: now, reward: reward)
            return (renewed, payment)
        }
        return (subscription, payment!)
    }

    /// The cash-back a renewal at `now` gives: `reward_percent` of the purchases less refunds that
    /// occurred while the member was subscribed, from where the previous renewal's span ended (or,
    /// at the first, the start of the period being closed) to now or the end of what was paid for,
    /// whichever is sooner. Every subscribed instant is so rewarded once, whether a renewal comes
    /// early or late, and a lapse between periods earns nothing. What one plan year gives is capped
    /// by `reward_cap`; a renewal counts against the plan year in which the period it closes began.
    /// The spend after the last renewal earns nothing until the next one (cash-back is issued at
    /// renewal).
    private func planReward(_ plan: PaidPlan, of subscription: Subscription, at now: Date, calendar: Calendar) async throws
        -> PlanReward {
        let payments = try await store.subscriptionPayments(subscriptionID: subscription.id)
        let closing = payments.max { $0.periodStart < $1.periodStart }?.periodStart ?? subscription.periodStart
        let to = min(now, payments.map(\.periodEnd).max() ?? subscription.periodEnd)
        let from = min(to, payments.compactMap(\.reward?.to).max() ?? closing)
        let periods = payments.map { DateInterval(start: $0.periodStart, end: $0.periodEnd) }
        let spans = PaidPlan.rewardSpans(from: from, to: to, periods: periods)
        let spend = spans.isEmpty ? 0 : try await store.qualifyingSpend(memberID: subscription.memberID, in: spans)
        let year = PaidPlan.planYear(of: closing, startedAt: subscription.startedAt, calendar: calendar)
        let given = payments.compactMap(\.reward).filter { $0.planYear == year }.reduce(Int64(0)) { $0 + $1.amount }
        return plan.reward(from: from, to: to, spend: spend, planYear: year, givenInYear: given)
    }

    /// Pays a renewal's cash-back into the member's cash-back account from `system:issued`, once:
    /// the transfer carries the payment's reward key, so a retried renewal (or one that raced
    /// another) finds it paid.
    private func payPlanReward(_ payment: SubscriptionPayment, memberID: String, program: Program) async throws {
        guard let reward = payment.reward, reward.amount > 0 else { return }
        try await issueOnce(.cashback, reward.amount, to: memberID, programID: program.id, source: "plan_reward",
                            at: payment.recordedAt, expiresAt: nil, reference: "subscription:\(payment.subscriptionID)",
                            key: payment.rewardKey)
    }

    /// How far back `payPlanRewards` looks: renewals recorded within this long before its `as_of`.
    /// The provider's retry of a renewal pays its reward too; the job covers a renewal whose
    /// answer was lost and never retried. An older one is reached by running the job with an
    /// earlier `as_of`.
    public static let planRewardSweepWindow: TimeInterval = 2 * 86_400

    /// Pays the cash-back of renewals recorded in the `planRewardSweepWindow` up to `asOf` that a
    /// renewal recorded and did not pay (it stopped between the two). Each is paid once, by its
    /// payment's key, so running it again, or beside a retried renewal, pays nothing twice.
    public func payPlanRewards(program: Program, asOf: Date) async throws -> (payments: Int, amount: Int64) {
        // Up to and including `asOf`, at the stores' millisecond.
        let window = asOf.addingTimeInterval(-Self.planRewardSweepWindow)..<asOf.addingTimeInterval(0.001)
        var paid = (payments: 0, amount: Int64(0))
        while true {
            let unpaid = try await store.unpaidPlanRewards(programID: program.id, recordedIn: window, limit: Self.jobRoundSize)
            for (payment, memberID) in unpaid {
                try await payPlanReward(payment, memberID: memberID, program: program)
                paid.payments += 1
                paid.amount += payment.reward?.amount ?? 0
            }
            // Paid ones drop out of the next round.
            if unpaid.count < Self.jobRoundSize { return paid }
        }
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
        let (cancelled, _) = try await changeSubscription(program: program, memberID: memberID, id: subscriptionID) {
            subscription, _, now in
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
        return cancelled
    }

    /// The member's subscriptions, newest first.
    public func subscriptions(programCode: String, memberID: String, by principal: Principal) async throws -> [Subscription] {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        return try await store.subscriptions(memberID: member.id)
    }

    /// A subscription's payments, oldest first, each renewal's with the cash-back it gave.
    public func subscriptionPayments(programCode: String, memberID: String, subscriptionID: String,
                                     by principal: Principal) async throws -> [SubscriptionPayment] {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        guard Identifier.isWellFormed(subscriptionID),
              let subscription = try await store.subscription(programID: program.id, id: subscriptionID),
              subscription.memberID == member.id else {
            throw EngineError.notFound(resource: "subscription", id: subscriptionID)
        }
        return try await store.subscriptionPayments(subscriptionID: subscription.id)
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
        _ change: (Subscription, ProgramRuntime, Date) async throws -> (Subscription, SubscriptionPayment?)
    ) async throws -> (Subscription, SubscriptionPayment?) {
        let member = try await heldMember(program: program, id: memberID)
        let runtime = try await runtime(program)
        for attempt in 1... {
            guard Identifier.isWellFormed(id), let current = try await store.subscription(programID: program.id, id: id),
                  current.memberID == member.id else {
                throw EngineError.notFound(resource: "subscription", id: id)
            }
            var (changed, payment) = try await change(current, runtime, now())
            changed.version = current.version + 1
            do {
                try await store.updateSubscription(changed, payment: payment)
                return (changed, payment)
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
