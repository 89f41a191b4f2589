/// What an API key may do. Checked on every call.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
    /// Everything, including API keys and creating programs.
    case owner
    /// Runs programs: configuration, members (including erasure), jobs.
    case `operator`
    /// A shop, app or POS backend: enrols and updates members, reads what it needs.
    case integration
    /// Reads, never writes.
    case readOnly = "read_only"
}

/// The kinds of action a request performs, each granted to some roles.
public enum Permission: Sendable, Hashable, CaseIterable {
    case manageKeys
    case createPrograms
    case readPrograms
    case writeConfig
    case readMembers
    case writeMembers
    case eraseMembers
    case exportMembers
    /// Posting events and spending points (redemptions, holds).
    case postEvents
    /// Adding or removing points by hand.
    case adjustPoints
    /// Running the ledger's time-driven jobs.
    case runJobs

    /// The roles that hold this permission.
    public var roles: Set<Role> {
        switch self {
        case .manageKeys, .createPrograms: [.owner]
        case .writeConfig, .eraseMembers, .adjustPoints, .runJobs: [.owner, .operator]
        case .writeMembers, .exportMembers, .postEvents: [.owner, .operator, .integration]
        case .readPrograms, .readMembers: Set(Role.allCases)
        }
    }
}

/// The caller of a request, as established from its API key.
public struct Principal: Sendable, Hashable {
    /// The API key's id.
    public var keyID: String
    public var role: Role
    /// The only program this key may reach, or nil for every program.
    public var programID: String?

    public init(keyID: String, role: Role, programID: String?) {
        self.keyID = keyID
        self.role = role
        self.programID = programID
    }

    /// Whether the caller's role grants `permission`.
    public func has(_ permission: Permission) -> Bool {
        permission.roles.contains(role)
    }

    /// Whether the caller may reach the program with this id.
    public func canReach(programID: String) -> Bool {
        self.programID == nil || self.programID == programID
    }
}
