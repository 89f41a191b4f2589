import Foundation
import PatronCore

/// A review instant a program has been through, and what it did.
public struct TierReviewRecord: Sendable, Hashable {
    public var programID: String
    public var instant: Date
    /// Members above the base level (or manually assigned) that the review looked at.
    public var members: Int
    public var downgraded: Int
    public var completedAt: Date

    public init(programID: String, instant: Date, members: Int, downgraded: Int, completedAt: Date) {
        self.programID = programID
        self.instant = instant
        self.members = members
        self.downgraded = downgraded
        self.completedAt = completedAt
    }
}

/// What the tier model keeps: each member's recorded level (on the member), its history, and the
/// reviews done. The qualifying value is computed from the ledger the store already holds.
public protocol TierStore: Sendable {
    /// The member's qualifying value: `metric` summed over what the member's ledger records with a
    /// time in `from...through` (both ends included; `from` nil: since the beginning). See
    /// `TierPolicy.Metric` for what each metric counts.
    func qualifyingValue(programID: String, memberID: String, metric: TierPolicy.Metric, from: Date?, through: Date)
        async throws -> Int64
    /// Appends `change` to the member's history and sets their tier to `tier` (its `version` one more
    /// than the version read), provided the stored version is still `tier.version - 1`; else
    /// `concurrentUpdate`, and nothing is written.
    func recordTierChange(_ change: TierChange, tier: MemberTier) async throws
    /// The member's tier changes, newest first, before `cursor` (a change id), at most `limit`.
    func tierChanges(memberID: String, before cursor: String?, limit: Int) async throws -> [TierChange]
    /// Active members with a recorded tier, in id order after `cursor`, at most `limit`: those a
    /// review can move. With `assignmentEndsBy`, only those whose manual assignment ends by then.
    func tieredMembers(programID: String, assignmentEndsBy: Date?, after cursor: String?, limit: Int) async throws
        -> [Member]
    /// The latest review instant the program has been through, if any.
    func lastTierReview(programID: String) async throws -> Date?
    /// Records that the program has been through a review instant; running it again changes nothing.
    func recordTierReview(_ review: TierReviewRecord) async throws
    /// The program's posted events that occurred before `before`, as a history to replay: member id,
    /// time, type, amount, order id and channel. Events held for review are left out (they have had
    /// no effect).
    func eventHistory(programID: String, before: Date) async throws -> SimulationHistory
}
