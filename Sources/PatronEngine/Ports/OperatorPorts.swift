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

    public init(id: String, email: String, name: String, role: StaffRole, passwordHash: String,
                failedSignIns: Int = 0, lockedUntil: Date? = nil, createdAt: Date) {
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.failedSignIns = failedSignIns
        self.lockedUntil = lockedUntil
        self.createdAt = createdAt
    }
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
    func insertSession(_ session: ConsoleSession) async throws
    /// The session with this token hash that has not expired at `date`, and its user.
    func session(tokenHash: String, at date: Date) async throws -> (ConsoleSession, OperatorUser)?
    func deleteSession(tokenHash: String) async throws
    /// Deletes sessions expired before `date`; returns how many.
    func deleteExpiredSessions(before date: Date) async throws -> Int
}
