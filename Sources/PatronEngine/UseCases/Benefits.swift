import Foundation
import PatronCore

/// A benefit a member enjoys now, with what is left of its quota.
public struct Entitlement: Sendable, Hashable {
    public struct Quota: Sendable, Hashable {
        public var quantity: Int64
        public var per: BenefitQuota.Per
        public var used: Int64
        public var remaining: Int64
        public var periodStart: Date
        /// When the quota renews; nil for `lifetime`.
        public var resetsAt: Date?
    }

    public var benefit: Benefit
    /// Why the member has it: their level, and the paid plans that carry it.
    public var viaLevel: String?
    public var viaPlans: [String]
    public var quota: Quota?
    /// Uses granted to the member (upgrade rewards), which do not renew.
    public var granted: BenefitAllowance?
}

/// The member's effective set of benefits.
public struct Entitlements: Sendable, Hashable {
    public var asOf: Date
    /// The member's level when the program has tiers.
    public var level: String?
    /// The paid plans active now.
    public var plans: [String]
    public var items: [Entitlement]
}

/// What a use of a benefit did, as `POST …/entitlements/{benefit}/use` answers.
public struct BenefitUseReceipt: Sendable, Hashable {
    public var use: BenefitUse
    /// The quota the use drew on, as it stands after it; nil for a use of granted uses.
    public var quota: Entitlement.Quota?
    /// The allowance a use of granted uses drew on, as it stands after it.
    public var granted: BenefitAllowance?
}

extension Engine {
    /// The benefits the member enjoys now (by their level and their running paid plans), with
    /// the remaining quotas.
    public func entitlements(programCode: String, memberID: String, by principal: Principal) async throws -> Entitlements {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let runtime = try await runtime(program)
        let now = now()
        // Every quota's current period, so that the member and their usage are read at once.
        let periods = runtime.quotaPeriods(at: now)
        let state = try await entitlementState(program: program, memberID: memberID, periods: periods.mapValues(\.start))
        return Self.entitlements(state, subscriptions: try await subscriptions(of: state, runningAfter: now),
                                 runtime: runtime, periods: periods, at: now)
    }

    /// The member's entitlements computed on the calling thread with `reader`, without
    /// suspending, for a caller that must not wait (the server's event loop). Nil when something
    /// it needs is not at hand — the API key, the program or its compiled configuration not cached
    /// on this node — and when the answer would be a refusal: the caller then takes the ordinary
    /// path (`authenticate`, then `entitlements`), which loads what was missing and words every
    /// refusal. What it answers is what that path answers.
    public func entitlementsAtHand(secret: String, programCode: String, memberID: String,
                                   reader: any ImmediateReader) throws -> Entitlements? {
        guard let (_, program, runtime) = programAtHand(secret: secret, programCode: programCode, needs: [.readMembers]),
              Identifier.isWellFormed(memberID) else { return nil }
        let now = now()
        let periods = runtime.quotaPeriods(at: now)
        guard let (state, subscriptions) = try reader.entitlementState(programID: program.id, memberID: memberID,
                                                                       periods: periods.mapValues(\.start), plansAfter: now),
              state.isActive else { return nil }
        return Self.entitlements(state, subscriptions: subscriptions, runtime: runtime, periods: periods, at: now)
    }

    /// The effective set, from the member's standing and usage and their subscriptions.
    private static func entitlements(_ state: EntitlementState, subscriptions: [Subscription], runtime: ProgramRuntime,
                                     periods: [String: (start: Date, end: Date?)], at now: Date) -> Entitlements {
        let usage = state.usage
        let (level, plans) = benefitSources(state, subscriptions: subscriptions, runtime: runtime, at: now)
        let carried = runtime.benefits.entitled(level: level, plans: plans)
        // Catalogue order: what the level and plans carry, and what was granted.
        let items = runtime.benefits.benefits.compactMap { benefit -> Entitlement? in
            let isCarried = carried.contains(benefit), allowance = usage.allowances[benefit.code]
            guard isCarried || allowance != nil else { return nil }
            return Entitlement(benefit: benefit, viaLevel: isCarried ? level.flatMap { benefit.levels.contains($0) ? $0 : nil } : nil,
                               viaPlans: isCarried ? benefit.plans.filter(plans.contains) : [],
                               quota: isCarried ? benefit.quota.map {
                                   Self.quota($0, used: usage.used[benefit.code] ?? 0, period: periods[benefit.code]!)
                               } : nil,
                               granted: allowance)
        }
        return Entitlements(asOf: now, level: runtime.tiers?.levelCode(of: state.tier),
                            plans: plans.sorted(), items: items)
    }

    /// Uses `quantity` of a benefit's quota for the member, all or nothing, once per `reference`: a
    /// retry with the same reference answers the first use (`created` false) and uses nothing more.
    public func useBenefit(programCode: String, memberID: String, benefitCode: String, body: JSONValue,
                           by principal: Principal) async throws -> (receipt: BenefitUseReceipt, created: Bool) {
        try require(.postEvents, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["quantity", "reference"], faults: &faults)
        let quantity = reader?.integer("quantity", in: 1...1_000_000, faults: &faults) ?? 1
        let reference = reader?.string("reference", required: true, maxLength: 200, faults: &faults)
        if let reference, reference.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            faults.add(.root / "reference", "blank", "Name what the benefit is used for (an order, a checkout).")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let runtime = try await runtime(program)
        guard let benefit = runtime.benefits.benefit(benefitCode) else {
            throw EngineError.notFound(resource: "benefit", id: benefitCode)
        }
        let now = now()
        let calendar = runtime.policy.calendar
        let period = benefit.quota.map { $0.period(containing: now, calendar: calendar) }
        let state = try await entitlementState(program: program, memberID: memberID,
                                               periods: period.map { [benefit.code: $0.start] } ?? [:])
        let usage = state.usage
        let (level, plans) = Self.benefitSources(state, subscriptions: try await subscriptions(of: state, runningAfter: now),
                                                 runtime: runtime, at: now)
        let carried = runtime.benefits.entitled(level: level, plans: plans).contains(benefit)
        let allowance = usage.allowances[benefit.code]
        guard carried || allowance != nil else {
            throw EngineError.conflict(code: "not_entitled",
                                       detail: "The member does not have '\(benefitCode)' at their level, by a plan or by a grant.")
        }
        let quota = carried ? benefit.quota : nil
        guard quota != nil || allowance != nil else {
            throw EngineError.conflict(code: "no_quota", detail: "'\(benefitCode)' has no quota to use: it is always on.")
        }
        // The quota the level or plans carry first; granted uses when it is not enough.
        var sources: [BenefitUse.Source] = []
        if let quota, quota.quantity - (usage.used[benefit.code] ?? 0) >= quantity || allowance == nil { sources.append(.quota) }
        if allowance != nil { sources.append(.grant) }
        var exceeded: [Int64] = []
        for source in sources {
            let use = BenefitUse(id: newID(at: now), programID: program.id, memberID: state.memberID, benefit: benefit.code,
                                 source: source, periodStart: source == .quota ? period!.start : Date(timeIntervalSince1970: 0),
                                 quantity: quantity, reference: reference!, actor: principal.keyID, usedAt: now)
            let limit = source == .quota ? quota!.quantity : 0
            let outcome: BenefitUseOutcome
            do {
                outcome = try await store.useBenefit(use, limit: limit)
            } catch StoreError.duplicate {
                // The same reference was used by a racing request: answer as a retry.
                outcome = try await store.useBenefit(use, limit: limit)
            }
            func receipt(_ use: BenefitUse, _ tally: BenefitTally) -> BenefitUseReceipt {
                switch use.source {
                case .quota:
                    BenefitUseReceipt(use: use, quota: benefit.quota.map {
                        Self.quota($0, used: tally.used, period: $0.period(containing: use.usedAt, calendar: calendar))
                    })
                case .grant:
                    // As the store holds the allowance after the use, grants made meanwhile included.
                    BenefitUseReceipt(use: use, granted: BenefitAllowance(granted: tally.limit, used: tally.used))
                }
            }
            switch outcome {
            case .recorded(let recorded, let tally):
                return (receipt(recorded, tally), true)
            case .earlier(let earlier, let tally):
                guard earlier.quantity == quantity else {
                    throw EngineError.conflict(code: "reference_reused",
                                               detail: "'\(earlier.reference)' was used for \(earlier.quantity), not \(quantity).")
                }
                return (receipt(earlier, tally), false)
            case .exceeded(let tally):
                exceeded.append(max(0, tally.limit - tally.used))
            }
        }
        throw EngineError.quotaExceeded(benefit: benefit.code, remaining: exceeded.max() ?? 0, requested: quantity)
    }

    /// The member's subscriptions when one of their plans runs past `instant`, else none.
    func subscriptions(of state: EntitlementState, runningAfter instant: Date) async throws -> [Subscription] {
        state.hasPlan(runningAfter: instant) ? try await store.subscriptions(memberID: state.memberID) : []
    }

    /// Where a member's benefits come from at `instant`: their level (nil when the program has no
    /// tiers, or while a plan that does not stack with the tier is active) and their active plans.
    static func benefitSources(_ state: EntitlementState, subscriptions: [Subscription], runtime: ProgramRuntime,
                               at instant: Date) -> (level: String?, plans: Set<String>) {
        var level = runtime.tiers?.levelCode(of: state.tier)
        var plans: Set<String> = []
        for subscription in subscriptions where subscription.isActive(at: instant) {
            plans.insert(subscription.plan)
            if runtime.plans.plan(subscription.plan)?.stacksWithTier == false { level = nil }
        }
        return (level, plans)
    }

    /// The member's standing for benefits and their usage in `periods`: 404 for no such member,
    /// 410 for an erased one.
    private func entitlementState(program: Program, memberID: String, periods: [String: Date]) async throws
        -> EntitlementState {
        guard Identifier.isWellFormed(memberID),
              let state = try await store.entitlementState(programID: program.id, memberID: memberID, periods: periods) else {
            throw EngineError.notFound(resource: "member", id: memberID)
        }
        guard state.isActive else { throw Self.erased(memberID) }
        return state
    }

    private static func quota(_ quota: BenefitQuota, used: Int64, period: (start: Date, end: Date?)) -> Entitlement.Quota {
        Entitlement.Quota(quantity: quota.quantity, per: quota.per, used: used,
                                 remaining: max(0, quota.quantity - used), periodStart: period.start, resetsAt: period.end)
    }
}
