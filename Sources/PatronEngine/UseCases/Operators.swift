import Dispatch
import Foundation
import HummingbirdBcrypt
import PatronCore

/// What a sign-in to the console came to.
public enum SignInOutcome: Sendable {
    /// `token` goes in the session cookie; only its hash is stored.
    case signedIn(token: String, session: ConsoleSession, user: OperatorUser)
    /// The email or the password is not right (which of the two is not said).
    case refused
    /// Too many wrong passwords: refused until then, whatever the password.
    case locked(until: Date)
}

extension Engine {
    /// Wrong passwords in a row that lock a user out.
    public static let signInAttemptsBeforeLock = 5
    /// How long a lock lasts.
    public static let signInLockSeconds: TimeInterval = 15 * 60
    /// How long a console session lasts from sign-in.
    public static let consoleSessionSeconds: TimeInterval = 12 * 3600
    /// The shortest password accepted. bcrypt reads at most 72 bytes, so longer ones are refused
    /// rather than silently cut.
    public static let passwordLengths = 12...72
    /// The lengths of an email address, in bytes (RFC 5321's path limit less its brackets).
    public static let emailLengths = 3...254
    /// bcrypt's cost (log2 of its rounds): about a quarter of a second per hash on this project's machines.
    static let bcryptCost: UInt8 = 12

    /// Creates an operator user who signs in with this email and password.
    public func createOperator(email: String, name: String, role: StaffRole, password: String) async throws -> OperatorUser {
        let typed = email.trimmingCharacters(in: .whitespaces).lowercased()
        let name = name.trimmingCharacters(in: .whitespaces)
        var faults: [ValidationFault] = []
        // Members' addresses and operators' follow one rule; an operator's is also counted in bytes.
        let normalised = MemberRules.email(typed).flatMap { Self.emailLengths.contains($0.utf8.count) ? $0 : nil }
        if normalised == nil {
            faults.append(ValidationFault(pointer: "/email", code: "invalid_email", message: "'\(typed)' is not an email address."))
        }
        let email = normalised ?? typed
        if name.isEmpty || name.count > 200 {
            faults.append(ValidationFault(pointer: "/name", code: "invalid_name", message: "A name is 1 to 200 characters."))
        }
        if !Self.passwordLengths.contains(password.utf8.count) {
            faults.append(ValidationFault(pointer: "/password", code: "weak_password",
                message: "A password is \(Self.passwordLengths.lowerBound) to \(Self.passwordLengths.upperBound) bytes long."))
        }
        guard faults.isEmpty else { throw EngineError.invalid(ValidationError(faults)) }
        let now = now()
        let user = OperatorUser(id: newID(at: now), email: email, name: name, role: role,
                                passwordHash: await Self.bcryptHash(password), createdAt: now)
        do {
            try await store.insertOperator(user)
        } catch StoreError.duplicate {
            throw EngineError.conflict(code: "operator_exists", detail: "An operator user with the email '\(email)' exists.")
        }
        return user
    }

    /// Checks an email and password and, when both are right, opens a session.
    public func signIn(email: String, password: String) async throws -> SignInOutcome {
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        let now = now()
        guard Self.emailLengths.contains(email.utf8.count), password.utf8.count <= Self.passwordLengths.upperBound,
              let user = try await store.operatorUser(email: email), user.removedAt == nil else {
            // As long as a real check, so that the time taken does not tell which emails exist.
            _ = await Self.bcryptVerify(password, hash: Self.decoyHash)
            return .refused
        }
        if let lockedUntil = user.lockedUntil, lockedUntil > now {
            return .locked(until: lockedUntil)
        }
        guard await Self.bcryptVerify(password, hash: user.passwordHash) else {
            let updated = try await store.recordFailedSignIn(userID: user.id, lockAfter: Self.signInAttemptsBeforeLock,
                                                             lockUntil: now.addingTimeInterval(Self.signInLockSeconds))
            if let lockedUntil = updated?.lockedUntil, lockedUntil > now {
                logger.notice("operator locked out after wrong passwords", metadata: ["operator": "\(user.id)"])
                return .locked(until: lockedUntil)
            }
            return .refused
        }
        if user.failedSignIns > 0 || user.lockedUntil != nil { try await store.recordSignIn(userID: user.id) }
        let token = Self.randomToken()
        let session = ConsoleSession(tokenHash: Self.hash(secret: token), userID: user.id, csrfToken: Self.randomToken(),
                                     createdAt: now, expiresAt: now.addingTimeInterval(Self.consoleSessionSeconds))
        try await store.insertSession(session)
        return .signedIn(token: token, session: session, user: user)
    }

    /// The session behind a cookie's token, and its user, while it lasts.
    public func consoleSession(token: String) async throws -> (ConsoleSession, OperatorUser)? {
        guard (20...100).contains(token.utf8.count) else { return nil }
        return try await store.session(tokenHash: Self.hash(secret: token), at: now())
    }

    /// Ends the session behind a cookie's token.
    public func signOut(token: String) async throws {
        try await store.deleteSession(tokenHash: Self.hash(secret: token))
    }

    /// Gives a person another role, by an owner (`actor`). The last owner stays an owner.
    public func changeOperatorRole(id: String, to role: StaffRole, by actor: OperatorUser) async throws -> OperatorUser {
        try await changeOperator(id: id, role: role, removing: false, by: actor)
    }

    /// Removes a person, by an owner (`actor`): they can no longer sign in, their sessions end at
    /// once, and they stay listed as removed so that what they did still names them. Nobody
    /// removes themselves, and the last owner stays.
    public func removeOperator(id: String, by actor: OperatorUser) async throws -> OperatorUser {
        guard id != actor.id else {
            throw EngineError.conflict(code: "cannot_remove_self", detail: "Another owner must remove you.")
        }
        return try await changeOperator(id: id, role: nil, removing: true, by: actor)
    }

    private func changeOperator(id: String, role: StaffRole?, removing: Bool, by actor: OperatorUser) async throws
        -> OperatorUser {
        guard actor.role.may(.manageOperators) else {
            throw EngineError.forbidden(code: "insufficient_role", detail: "Only an owner changes operator users.")
        }
        switch try await store.changeOperator(id: id, role: role, removedAt: removing ? now() : nil) {
        case .changed(let user):
            logger.notice(removing ? "operator removed" : "operator role changed", metadata: [
                "operator": "\(id)", "role": "\(user.role.rawValue)", "by": "\(actor.id)",
            ])
            return user
        case .notFound:
            throw EngineError.notFound(resource: "operator", id: id)
        case .lastOwner:
            throw EngineError.conflict(code: "last_owner", detail: "Someone must stay an owner; make another person an owner first.")
        }
    }

    /// Every operator user, by email.
    public func operatorUsers() async throws -> [OperatorUser] {
        try await store.operatorUsers()
    }

    /// 32 random bytes, base64url without padding: session and form tokens.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A hash of a password nobody has, checked against when the email is unknown.
    static let decoyHash = Bcrypt.hash(randomToken(), cost: bcryptCost)

    /// bcrypt is deliberately slow: it runs on a Dispatch thread, not on the cooperative pool that
    /// serves every other request.
    static func bcryptHash(_ password: String) async -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Bcrypt.hash(password, cost: bcryptCost)) }
        }
    }

    static func bcryptVerify(_ password: String, hash: String) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Bcrypt.verify(password, hash: hash)) }
        }
    }
}
