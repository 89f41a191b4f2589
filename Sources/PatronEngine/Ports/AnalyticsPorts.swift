import Foundation
import PatronCore

/// What moved between one pair of accounts, for the points unit, in one time bucket.
public struct PointFlow: Sendable, Hashable {
    public var bucket: Int
    public var debit: LedgerAccount
    public var credit: LedgerAccount
    public var amount: Int64

    public init(bucket: Int, debit: LedgerAccount, credit: LedgerAccount, amount: Int64) {
        self.bucket = bucket
        self.debit = debit
        self.credit = credit
        self.amount = amount
    }
}

/// The counts behind the console's dashboard, each read in one query whatever the program's size.
///
/// Time buckets: given ascending `boundaries`, bucket 0 holds what came before `boundaries[0]`,
/// bucket `i` what came from `boundaries[i-1]` up to (not including) `boundaries[i]`, and bucket
/// `boundaries.count` what came from the last boundary on.
public protocol AnalyticsStore: Sendable {
    /// Members enrolled per bucket (erased members too: they did join), by `enrolled_at`.
    func enrolments(programID: String, boundaries: [Date]) async throws -> [Int: Int]
    /// Members not erased.
    func memberCount(programID: String) async throws -> Int
    /// Members not erased with an event (a purchase, a refund, an activity) that occurred at or
    /// after `since`.
    func activeMembers(programID: String, since: Date) async throws -> Int
    /// Members not erased, by their recorded level; nil: never changed level (the base level).
    func membersPerLevel(programID: String) async throws -> [String?: Int]
    /// Points moved per bucket (by `occurred_at`) and pair of accounts.
    func pointFlows(programID: String, boundaries: [Date]) async throws -> [PointFlow]
    /// Subscriptions active at `instant` (their period paid for covers it), per plan.
    func activeSubscriptions(programID: String, at instant: Date) async throws -> [String: Int]
}
