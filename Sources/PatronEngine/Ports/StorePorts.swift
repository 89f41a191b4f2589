import Foundation
import PatronCore

/// Everything Patron keeps, behind one contract that the SQLite and PostgreSQL stores both meet
/// (PatronTestSupport's contract suite runs against each).
public protocol PatronStore: APIKeyStore, ProgramStore, MemberStore, IdempotencyStore, LedgerStore, TierStore,
    BenefitStore, PlanStore, OperatorStore, AnalyticsStore, PortalStore {
    /// Brings the schema up to date; safe to run on every start and from several nodes at once.
    func migrate() async throws
    /// Runs a trivial query; throws when the database cannot be reached.
    func checkHealth() async throws
    /// A short description for logs, without credentials (`sqlite:/path`, `postgres://host:5432/db`).
    var displayName: String { get }
}

/// Errors a store reports in terms of the contract, whatever the database.
public enum StoreError: Error, Sendable, Hashable {
    /// A unique constraint refused the write; `constraint` names what was duplicated.
    case duplicate(constraint: String)
    /// A guarded update found the row changed since it was read.
    case concurrentUpdate
    /// The row to update does not exist.
    case missing
}

/// A page of results and the cursor of the next page (nil on the last page).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

// MARK: - API keys

/// An API key as stored: only a hash of its secret is kept.
public struct APIKey: Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: Role
    /// The program the key is limited to, if any.
    public var programID: String?
    /// SHA-256 of the secret, lowercase hex.
    public var secretHash: String
    /// The first characters of the secret, to recognise a key in a list.
    public var prefix: String
    /// `api` for keys created over the API, `bootstrap` for the owner key set at start.
    public var origin: String
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, name: String, role: Role, programID: String?, secretHash: String, prefix: String,
                origin: String, createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.name = name
        self.role = role
        self.programID = programID
        self.secretHash = secretHash
        self.prefix = prefix
        self.origin = origin
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

public protocol APIKeyStore: Sendable {
    func insertAPIKey(_ key: APIKey) async throws
    /// The key with this secret hash, revoked or not.
    func apiKey(secretHash: String) async throws -> APIKey?
    func apiKey(id: String) async throws -> APIKey?
    /// Keys in id order after `cursor` (an id), at most `limit`.
    func apiKeys(after cursor: String?, limit: Int) async throws -> [APIKey]
    /// Marks the key revoked; false when it does not exist or was already revoked.
    func revokeAPIKey(id: String, at: Date) async throws -> Bool
    /// The number of keys with the owner role that are not revoked.
    func activeOwnerKeyCount() async throws -> Int
}

// MARK: - Programs

/// A configuration version without its document, as listed.
public struct ConfigVersionSummary: Sendable, Hashable {
    public var number: Int
    public var createdBy: String
    public var createdAt: Date

    public init(number: Int, createdBy: String, createdAt: Date) {
        self.number = number
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

public protocol ProgramStore: Sendable {
    /// Creates the program with its first configuration version; `duplicate(constraint: "program_code")`
    /// when the code is taken.
    func insertProgram(_ program: Program, firstConfig: ConfigVersion) async throws
    func program(code: String) async throws -> Program?
    func program(id: String) async throws -> Program?
    /// Programs in id order after `cursor` (an id), at most `limit`; only `onlyID` when given.
    func programs(after cursor: String?, limit: Int, onlyID: String?) async throws -> [Program]
    /// Stores `version` as the program's new current configuration, provided the current one is still
    /// `version.number - 1` (else `concurrentUpdate`); also sets the program's time zone.
    func appendConfigVersion(_ version: ConfigVersion, timeZone: String) async throws
    func configVersion(programID: String, number: Int) async throws -> ConfigVersion?
    /// Versions newest first, below `before` when given, at most `limit`.
    func configVersions(programID: String, before: Int?, limit: Int) async throws -> [ConfigVersionSummary]
}

// MARK: - Members

/// Exact-match filters of the member list; nil matches everything.
public struct MemberQuery: Sendable, Hashable {
    public var externalID: String?
    public var phone: String?
    public var email: String?
    /// Members whose name contains this text, ignoring case.
    public var nameContains: String?
    public var kind: MemberKind?
    /// The operator persons of this organisation.
    public var organisationID: String?
    /// Whether erased (anonymised) members are listed too.
    public var includeErased: Bool

    public init(externalID: String? = nil, phone: String? = nil, email: String? = nil, nameContains: String? = nil,
                kind: MemberKind? = nil, organisationID: String? = nil, includeErased: Bool = false) {
        self.externalID = externalID
        self.phone = phone
        self.email = email
        self.nameContains = nameContains
        self.kind = kind
        self.organisationID = organisationID
        self.includeErased = includeErased
    }
}

public protocol MemberStore: Sendable {
    /// `duplicate(constraint: "member_external_id")` when the external id is taken in the program.
    func insertMember(_ member: Member, consentEvents: [ConsentEvent]) async throws
    func member(programID: String, id: String) async throws -> Member?
    /// Members in id order after `cursor` (an id), at most `limit`.
    func members(programID: String, matching query: MemberQuery, after cursor: String?, limit: Int) async throws -> [Member]
    /// Replaces the member, provided its stored revision is `member.revision - 1` (else
    /// `concurrentUpdate`), and appends the consent events, in one transaction.
    func updateMember(_ member: Member, consentEvents: [ConsentEvent]) async throws
    /// The member's consent history, oldest first.
    func consentEvents(memberID: String) async throws -> [ConsentEvent]
}

// MARK: - Idempotency

/// A response kept for an idempotency key, replayed to a retry.
public struct StoredResponse: Sendable, Hashable {
    public var status: Int
    public var contentType: String?
    public var location: String?
    public var body: Data

    public init(status: Int, contentType: String?, location: String?, body: Data) {
        self.status = status
        self.contentType = contentType
        self.location = location
        self.body = body
    }
}

/// What a store says when a request claims an idempotency key.
public enum IdempotencyClaim: Sendable, Hashable {
    /// The key is new (or its earlier claim was abandoned): go ahead, then complete or release it.
    case claimed
    /// The same request completed before: answer with its response.
    case replay(StoredResponse)
    /// The same request is being processed right now.
    case inProgress
    /// The key was used with a different request.
    case mismatch
}

public protocol IdempotencyStore: Sendable {
    /// Claims `key` in `scope` (the caller's API key) for a request with `fingerprint` (a hash of
    /// method, path and body). A claim older than `staleBefore` that never completed is taken over.
    func claimIdempotencyKey(scope: String, key: String, fingerprint: String, at: Date, staleBefore: Date) async throws
        -> IdempotencyClaim
    func completeIdempotencyKey(scope: String, key: String, response: StoredResponse) async throws
    /// Forgets a claim whose request failed without a response worth keeping.
    func releaseIdempotencyKey(scope: String, key: String) async throws
    /// Deletes records created before `date`; returns how many.
    func purgeIdempotencyKeys(createdBefore date: Date) async throws -> Int
}
