/// What a person signed in to the operator console may do. API keys have their own roles
/// (`Role`); these are for people.
public enum StaffRole: String, Sendable, Hashable, Codable, CaseIterable {
    /// Everything, including operator users and API keys.
    case owner
    /// Designs the program: configuration, back-tests, campaigns; reads members.
    case marketer
    /// Helps members: reads them, adjusts points, erases on request.
    case support
    /// Reads members, the dashboard and the configuration; changes nothing.
    case analyst
}

/// The kinds of thing a person does in the console, each allowed to some staff roles.
public enum ConsoleAction: Sendable, Hashable, CaseIterable {
    case viewDashboard
    case viewMembers
    case adjustPoints
    case eraseMembers
    case editConfig
    case runBacktests
    case manageKeys
    case manageOperators

    /// The staff roles allowed to do this.
    public var roles: Set<StaffRole> {
        switch self {
        case .viewDashboard, .viewMembers: Set(StaffRole.allCases)
        case .adjustPoints, .eraseMembers: [.owner, .support]
        case .editConfig: [.owner, .marketer]
        // A replay keeps the server's cores busy, so the API keeps it to the roles that may change
        // the configuration; the console does the same.
        case .runBacktests: [.owner, .marketer]
        case .manageKeys, .manageOperators: [.owner]
        }
    }
}

extension StaffRole {
    /// Whether this role may do `action`.
    public func may(_ action: ConsoleAction) -> Bool {
        action.roles.contains(self)
    }
}
