import Foundation
import PatronCore

/// One recorded use of a benefit's quota.
public struct BenefitUse: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    public var benefit: String
    /// The start of the quota period the use counts in.
    public var periodStart: Date
    public var quantity: Int64
    /// The caller's reference (an order, a checkout); one use per member, benefit and reference.
    public var reference: String
    public var actor: String
    public var usedAt: Date

    public init(id: String, programID: String, memberID: String, benefit: String, periodStart: Date, quantity: Int64,
                reference: String, actor: String, usedAt: Date) {
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

/// What recording a use did.
public enum BenefitUseOutcome: Sendable, Hashable {
    /// Recorded; `used` is the period's total after it.
    case recorded(BenefitUse, used: Int64)
    /// The member had already used the benefit with this reference: that use, and its period's total.
    case earlier(BenefitUse, used: Int64)
    /// It would take the period past the limit; nothing was recorded.
    case exceeded(used: Int64)
}

/// Benefit quotas: what each member used per benefit and period, with every use.
public protocol BenefitStore: Sendable {
    /// What the member used of each benefit in the period starting at the given instant
    /// (benefit code → period start); benefits without uses are absent.
    func benefitUsage(memberID: String, periods: [String: Date]) async throws -> [String: Int64]
    /// Records `use` unless the member already used the benefit with its reference (`earlier`), or
    /// it would take the period's total past `limit` (`exceeded`); atomic, so concurrent uses never
    /// together pass the limit.
    func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome
}
