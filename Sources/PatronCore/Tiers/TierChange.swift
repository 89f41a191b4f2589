import Foundation

/// A member's recorded place in the tier model.
public struct MemberTier: Sendable, Hashable {
    /// The level's code.
    public var level: String
    /// When the member reached it.
    public var since: Date
    /// The end of a manual assignment: until then reviews leave the member where they are; at it
    /// they go to the level their qualifying value reaches. Nil when the level was not assigned, or
    /// was assigned without an end (reviews then apply as usual).
    public var manualUntil: Date?
    /// Incremented by every change; a change is recorded only if it is still the version read, so
    /// that two concurrent evaluations never both move the member.
    public var version: Int

    public init(level: String, since: Date, manualUntil: Date? = nil, version: Int) {
        self.level = level
        self.since = since
        self.manualUntil = manualUntil
        self.version = version
    }
}

/// Why a member's level changed.
public enum TierChangeCause: String, Sendable, Hashable, CaseIterable, Codable {
    /// The upgrade rule, after an event: the qualifying value reached a higher level's threshold.
    case upgrade
    /// A review found the qualifying value below the level's `retain`.
    case review
    /// An operator assigned the level.
    case manual
    /// A manual assignment reached its end.
    case manualEnded = "manual_ended"
}

/// One change of a member's level, kept for the member's tier history.
public struct TierChange: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    /// The level before; nil when the member had none recorded (the base level).
    public var from: String?
    public var to: String
    /// When the change took effect: the instant the upgrade was evaluated, the review instant, the
    /// assignment, or the assignment's end.
    public var at: Date
    public var cause: TierChangeCause
    /// The qualifying value the decision was made on; nil for a manual assignment.
    public var qualifyingValue: Int64?
    /// The event after which an upgrade happened.
    public var eventID: String?
    /// Who made the change: an API key id, or `system` for the upgrade rule and the jobs.
    public var actor: String
    /// The operator's reason for a manual assignment.
    public var reason: String?
    /// The end of a manual assignment made by this change.
    public var until: Date?
    public var recordedAt: Date

    public init(id: String, programID: String, memberID: String, from: String?, to: String, at: Date,
                cause: TierChangeCause, qualifyingValue: Int64?, eventID: String? = nil, actor: String,
                reason: String? = nil, until: Date? = nil, recordedAt: Date) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.from = from
        self.to = to
        self.at = at
        self.cause = cause
        self.qualifyingValue = qualifyingValue
        self.eventID = eventID
        self.actor = actor
        self.reason = reason
        self.until = until
        self.recordedAt = recordedAt
    }
}
