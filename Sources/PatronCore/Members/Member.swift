import Foundation

/// A member of a program: the profile the member gave, their consents, and how they joined.
/// An erased member keeps their row (so ledgers still add up) with every personal field cleared.
public struct Member: Sendable, Hashable {
    public var id: String
    public var programID: String
    /// The business's own identifier for the member; unique in the program. Cleared on erasure.
    public var externalID: String?
    public var status: MemberStatus
    /// A person, or an organisation (a business customer, B2B) whose operators are persons.
    public var kind: MemberKind
    /// For a person: the organisation (a member of kind `organisation`) they buy for, as one of its
    /// operator persons. Nil for organisations and for persons who buy for themselves.
    public var organisationID: String?
    public var profile: MemberProfile
    /// How the member joined.
    public var channel: EnrolmentChannel
    /// Program-defined fields (config `member_fields`).
    public var attributes: [String: JSONValue]
    /// The member's current answer per purpose.
    public var consents: [String: Consent]
    public var enrolledAt: Date
    public var updatedAt: Date
    public var erasedAt: Date?
    /// Incremented by every change; updates are guarded by it so that concurrent edits never
    /// silently overwrite each other.
    public var revision: Int
    /// The member's level in the program's tier model as last recorded; nil until their first tier
    /// change (they are then at the base level since enrolment). Not part of the profile: tier
    /// changes neither need nor change `revision`.
    public var tier: MemberTier?
    /// The member's active paid plan whose period ends last, as recorded with their subscriptions,
    /// and the end of the period paid for; nil when they have none.
    public var planCode: String?
    public var planUntil: Date?

    public init(id: String, programID: String, externalID: String?, status: MemberStatus, kind: MemberKind = .person,
                organisationID: String? = nil, profile: MemberProfile, channel: EnrolmentChannel,
                attributes: [String: JSONValue], consents: [String: Consent], enrolledAt: Date, updatedAt: Date,
                erasedAt: Date?, revision: Int, tier: MemberTier? = nil, planCode: String? = nil, planUntil: Date? = nil) {
        self.id = id
        self.programID = programID
        self.externalID = externalID
        self.status = status
        self.kind = kind
        self.organisationID = organisationID
        self.profile = profile
        self.channel = channel
        self.attributes = attributes
        self.consents = consents
        self.enrolledAt = enrolledAt
        self.updatedAt = updatedAt
        self.erasedAt = erasedAt
        self.revision = revision
        self.tier = tier
        self.planCode = planCode
        self.planUntil = planUntil
    }
}

/// Whether the member's personal data is still held.
public enum MemberStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case active
    case erased
}

/// Whether a member is a person or an organisation. An organisation is a member like any other — it
/// has a ledger, earns and spends — whose purchases are made by its operator persons.
public enum MemberKind: String, Sendable, Hashable, Codable, CaseIterable {
    case person
    case organisation
}

/// Where a member enrolled.
public enum EnrolmentChannel: String, Sendable, Hashable, Codable, CaseIterable {
    /// An e-commerce platform's store (Tmall, JD, …).
    case ecommerce
    /// The business's own app, mini-program or web site.
    case app
    /// An offline store or POS.
    case store
    /// A referral link from another member.
    case referral
}

/// The member's gender as they chose to give it.
public enum Gender: String, Sendable, Hashable, Codable, CaseIterable {
    case female
    case male
    case other
    case undisclosed
}

/// The basic profile. Every field is personal data and optional.
public struct MemberProfile: Sendable, Hashable {
    public var name: String?
    /// Normalised: digits with an optional leading `+`.
    public var phone: String?
    /// Normalised to lowercase.
    public var email: String?
    /// `YYYY-MM-DD`, or `MM-DD` when the member gave no year.
    public var birthday: String?
    public var gender: Gender?
    /// Free text such as an ISO 3166-2 code (`CN-31`) or a city.
    public var region: String?

    public init(name: String? = nil, phone: String? = nil, email: String? = nil, birthday: String? = nil,
                gender: Gender? = nil, region: String? = nil) {
        self.name = name
        self.phone = phone
        self.email = email
        self.birthday = birthday
        self.gender = gender
        self.region = region
    }
}

/// A member's answer for one purpose of processing.
public struct Consent: Sendable, Hashable {
    public var granted: Bool
    public var updatedAt: Date

    public init(granted: Bool, updatedAt: Date) {
        self.granted = granted
        self.updatedAt = updatedAt
    }
}

/// One entry of a member's consent history, kept for as long as the member row exists.
public struct ConsentEvent: Sendable, Hashable {
    public var memberID: String
    public var purpose: String
    public var granted: Bool
    public var at: Date
    /// What recorded it: `enrolment`, `update` or `erasure`.
    public var source: String

    public init(memberID: String, purpose: String, granted: Bool, at: Date, source: String) {
        self.memberID = memberID
        self.purpose = purpose
        self.granted = granted
        self.at = at
        self.source = source
    }
}
