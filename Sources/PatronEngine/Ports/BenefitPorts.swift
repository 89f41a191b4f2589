import Foundation
import PatronCore

/// One recorded use of a benefit's quota.
public struct BenefitUse: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    public var benefit: String
    /// What the use draws on: the quota the member's level or plans carry, or uses granted to them.
    public var source: Source
    /// The start of the quota period the use counts in (the epoch for a granted use).
    public var periodStart: Date
    public var quantity: Int64
    /// The caller's reference (an order, a checkout); one use per member, benefit and reference.
    public var reference: String
    public var actor: String
    public var usedAt: Date

    public enum Source: String, Sendable, Hashable {
        case quota, grant
    }

    public init(id: String, programID: String, memberID: String, benefit: String, source: Source = .quota,
                periodStart: Date, quantity: Int64, reference: String, actor: String, usedAt: Date) {
        self.source = source
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.benefit = benefit
        self.periodStart = periodStart
        self.quantity = quantity
        self.reference = reference
        self.actor = actor
        self.usedAt = usedAt
    }
}

/// Uses of a benefit granted to one member (an upgrade reward), beside what their level and plans
/// carry. Grants of a benefit add up to one allowance that does not renew.
public struct BenefitGrant: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    public var benefit: String
    public var quantity: Int64
    /// Once per member: a grant with a reference already granted grants nothing.
    public var reference: String
    /// Why: `upgrade:<level>`.
    public var cause: String
    public var grantedAt: Date

    public init(id: String, programID: String, memberID: String, benefit: String, quantity: Int64, reference: String,
                cause: String, grantedAt: Date) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.benefit = benefit
        self.quantity = quantity
        self.reference = reference
        self.cause = cause
        self.grantedAt = grantedAt
    }
}

/// What a member was granted of a benefit in all, and used of it.
public struct BenefitAllowance: Sendable, Hashable {
    public var granted: Int64
    public var used: Int64
    public var remaining: Int64 { granted - used }

    public init(granted: Int64, used: Int64) {
        self.granted = granted
        self.used = used
    }
}

/// What a member has used of their benefits' quotas in given periods, and what was granted to them.
public struct BenefitUsage: Sendable, Hashable {
    /// Benefit code → uses in the period asked for.
    public var used: [String: Int64]
    /// Benefit code → the allowance granted.
    public var allowances: [String: BenefitAllowance]

    public init(used: [String: Int64] = [:], allowances: [String: BenefitAllowance] = [:]) {
        self.used = used
        self.allowances = allowances
    }
}

/// What checking a member's entitlements reads of them, in one read: what decides which benefits
/// they have, and their usage.
public struct EntitlementState: Sendable, Hashable {
    public var memberID: String
    public var isActive: Bool
    public var tier: MemberTier?
    /// The end of the paid plan ending last (the member row's `plan_until`).
    public var planUntil: Date?
    public var usage: BenefitUsage

    public init(memberID: String, isActive: Bool, tier: MemberTier?, planUntil: Date?, usage: BenefitUsage) {
        self.memberID = memberID
        self.isActive = isActive
        self.tier = tier
        self.planUntil = planUntil
        self.usage = usage
    }

    /// Whether a paid plan of the member runs past `instant`: only then do their subscriptions
    /// matter (the member row names the plan ending last).
    public func hasPlan(runningAfter instant: Date) -> Bool {
        planUntil.map { $0 > instant } ?? false
    }
}

/// What recording a use did.
public enum BenefitUseOutcome: Sendable, Hashable {
    /// Recorded; the tally is as it stands after it.
    case recorded(BenefitUse, BenefitTally)
    /// The member had already used the benefit with this reference: that use, and its tally.
    case earlier(BenefitUse, BenefitTally)
    /// It would take the tally past its limit; nothing was recorded.
    case exceeded(BenefitTally)
}

/// What a use draws on, as the store holds it: a quota period's total and the quota, or the
/// member's allowance (what they used of it, and the uses granted).
public struct BenefitTally: Sendable, Hashable {
    public var used: Int64
    public var limit: Int64

    public init(used: Int64, limit: Int64) {
        self.used = used
        self.limit = limit
    }
}

/// Benefit quotas: what each member used per benefit and period, with every use.
public protocol BenefitStore: Sendable {
    /// The member's standing for benefits, what they used of each benefit in the period starting
    /// at the given instant (benefit code → period start; benefits without uses are absent), and
    /// their allowances, read together; nil when the program has no such member.
    func entitlementState(programID: String, memberID: String, periods: [String: Date]) async throws -> EntitlementState?
    /// Records `use` unless the member already used the benefit with its reference (`earlier`), or
    /// it would take the period's total past `limit` (`exceeded`); atomic, so concurrent uses never
    /// together pass the limit. A `.grant` use draws on the member's allowance instead (its
    /// `granted` is the limit; `limit` is not read), and the outcome's tally is the allowance's.
    func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome
    /// Adds `grant` to the member's allowance of its benefit; false, and nothing changes, when the
    /// member already has a grant with its reference.
    func grantBenefit(_ grant: BenefitGrant) async throws -> Bool

}

/// A store that opens readers which answer on the calling thread, without suspending. The
/// embedded store does: a read there takes tens of microseconds. The server opens one per event
/// loop and answers entitlement checks (and prepares events) on the loop with it, so that a check
/// is neither handed to another thread and back nor made to wait on a lock another loop holds.
public protocol ImmediateReaderSource: Sendable {
    /// A reader with a connection of its own, for one thread's use.
    func makeImmediateReader() throws -> any ImmediateReader
}

/// Reads on the calling thread, for the requests answered on an event loop; used by one thread at
/// a time.
public protocol ImmediateReader: AnyObject {
    /// What `MemberStore.member(programID:id:)` reads.
    func member(programID: String, id: String) throws -> Member?

    /// What `BenefitStore.entitlementState` reads, and with it the member's subscriptions when
    /// their plans run past `instant` (else none), in one read transaction; nil when the program
    /// has no such member.
    func entitlementState(programID: String, memberID: String, periods: [String: Date], plansAfter instant: Date) throws
        -> (state: EntitlementState, subscriptions: [Subscription])?
}
