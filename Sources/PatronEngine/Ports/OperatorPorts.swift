import Foundation
import PatronCore

/// A person who signs in to the operator console.
public struct OperatorUser: Sendable, Hashable {
    public var id: String
    /// Lowercased; unique.
    public var email: String
    public var name: String
    public var role: StaffRole
    /// bcrypt, with its salt and cost.
    public var passwordHash: String
    /// Wrong passwords since the last sign-in.
    public var failedSignIns: Int
    /// Sign-in is refused until then, whatever the password.
    public var lockedUntil: Date?
    public var createdAt: Date
    /// When an owner removed the person: they sign in no more, and their row stays so that what
    /// they did still names them.
    public var removedAt: Date?

    public init(id: String, email: String, name: String, role: StaffRole, passwordHash: String,
                failedSignIns: Int = 0, lockedUntil: Date? = nil, createdAt: Date, removedAt: Date? = nil) {
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.failedSignIns = failedSignIns
        self.lockedUntil = lockedUntil
        self.createdAt = createdAt
        self.removedAt = removedAt
    }
}

/// What an owner's change to a person came to.
public enum OperatorChange: Sendable, Hashable {
    case changed(OperatorUser)
    /// No such person, or they were removed.
    case notFound
    /// It would leave no owner.
    case lastOwner
}

/// A signed-in browser. Only a hash of the cookie's token is kept.
public struct ConsoleSession: Sendable, Hashable {
    /// SHA-256 of the session token, lowercase hex.
    public var tokenHash: String
    public var userID: String
    /// Sent with every form of this session and checked on every POST.
    public var csrfToken: String
    public var createdAt: Date
    public var expiresAt: Date

    public init(tokenHash: String, userID: String, csrfToken: String, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userID = userID
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public protocol OperatorStore: Sendable {
    /// Throws `StoreError.duplicate` when the email is taken.
    func insertOperator(_ user: OperatorUser) async throws
    func operatorUser(email: String) async throws -> OperatorUser?
    /// Every operator user, by email.
    func operatorUsers() async throws -> [OperatorUser]
    /// Counts a wrong password in one guarded update; when the count reaches `lockAfter`, locks the
    /// user until `lockUntil` and starts the count again. Returns the user as updated.
    func recordFailedSignIn(userID: String, lockAfter: Int, lockUntil: Date) async throws -> OperatorUser?
    /// Clears the count of wrong passwords and the lock.
    func recordSignIn(userID: String) async throws
    /// Gives a person who is not removed a new role (nil keeps theirs), or removes them
    /// (`removedAt`, ending their sessions), unless that leaves no owner; atomic against
    /// concurrent changes.
    func changeOperator(id: String, role: StaffRole?, removedAt: Date?) async throws -> OperatorChange
    func insertSession(_ session: ConsoleSession) async throws
    /// The session with this token hash that has not expired at `date`, and its user.
    func session(tokenHash: String, at date: Date) async throws -> (ConsoleSession, OperatorUser)?
    func deleteSession(tokenHash: String) async throws
    /// Deletes sessions expired before `date`; returns how many.
    func deleteExpiredSessions(before date: Date) async throws -> Int
}
