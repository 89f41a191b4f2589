import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// MARK: - Operator users and console sessions

extension PostgresStore {
    public func insertOperator(_ user: OperatorUser) async throws {
        _ = try await translatingConstraints {
            try await client.query("""
                INSERT INTO operator_users (id, email, name, role, password_hash, failed_sign_ins, locked_until, created_at)
                VALUES (\(user.id), \(user.email), \(user.name), \(user.role.rawValue), \(user.passwordHash),
                        \(user.failedSignIns), \(user.lockedUntil), \(user.createdAt))
                """, logger: logger)
        }
    }

    public func operatorUser(email: String) async throws -> OperatorUser? {
        try await rows("SELECT * FROM operator_users WHERE email = \(email)").first.map(Self.operatorUser)
    }

    public func operatorUsers() async throws -> [OperatorUser] {
        try await rows("SELECT * FROM operator_users ORDER BY email").map(Self.operatorUser)
    }

    public func recordFailedSignIn(userID: String, lockAfter: Int, lockUntil: Date) async throws -> OperatorUser? {
        try await rows("""
            UPDATE operator_users
            SET failed_sign_ins = CASE WHEN failed_sign_ins + 1 >= \(lockAfter) THEN 0 ELSE failed_sign_ins + 1 END,
                locked_until = CASE WHEN failed_sign_ins + 1 >= \(lockAfter) THEN \(lockUntil) ELSE locked_until END
            WHERE id = \(userID)
            RETURNING *
            """).first.map(Self.operatorUser)
    }

    public func recordSignIn(userID: String) async throws {
        _ = try await rows("UPDATE operator_users SET failed_sign_ins = 0, locked_until = NULL WHERE id = \(userID)")
    }

    public func changeOperator(id: String, role: StaffRole?, removedAt: Date?) async throws -> OperatorChange {
        try await transaction { connection in
            // Every owner's row is locked first, so two owners demoting each other one at a time
            // cannot both see the other still there.
            let owners = try await rows("""
                SELECT id FROM operator_users WHERE role = 'owner' AND removed_at IS NULL ORDER BY id FOR UPDATE
                """, on: connection).count
            guard let user = try await rows("""
                SELECT * FROM operator_users WHERE id = \(id) AND removed_at IS NULL FOR UPDATE
                """, on: connection).first.map(Self.operatorUser) else { return .notFound }
            let role = role ?? user.role
            if user.role == .owner, role != .owner || removedAt != nil, owners <= 1 { return .lastOwner }
            guard let changed = try await rows("""
                UPDATE operator_users SET role = \(role.rawValue), removed_at = \(removedAt) WHERE id = \(id) RETURNING *
                """, on: connection).first.map(Self.operatorUser) else { return .notFound }
            if removedAt != nil { _ = try await rows("DELETE FROM console_sessions WHERE user_id = \(id)", on: connection) }
            return .changed(changed)
        }
    }

    public func insertSession(_ session: ConsoleSession) async throws {
        _ = try await rows("""
            INSERT INTO console_sessions (token_hash, user_id, csrf_token, created_at, expires_at)
            VALUES (\(session.tokenHash), \(session.userID), \(session.csrfToken), \(session.createdAt), \(session.expiresAt))
            """)
    }

    public func session(tokenHash: String, at date: Date) async throws -> (ConsoleSession, OperatorUser)? {
        guard let row = try await rows("""
            SELECT s.token_hash, s.csrf_token, s.created_at AS session_created_at, s.expires_at, u.*
            FROM console_sessions s JOIN operator_users u ON u.id = s.user_id
            WHERE s.token_hash = \(tokenHash) AND s.expires_at > \(date) AND u.removed_at IS NULL
            """).first else { return nil }
        let user = try Self.operatorUser(row)
        let session = ConsoleSession(tokenHash: try row["token_hash"].decode(String.self), userID: user.id,
                                     csrfToken: try row["csrf_token"].decode(String.self),
                                     createdAt: try row["session_created_at"].decode(Date.self),
                                     expiresAt: try row["expires_at"].decode(Date.self))
        return (session, user)
    }

    public func deleteSession(tokenHash: String) async throws {
        _ = try await rows("DELETE FROM console_sessions WHERE token_hash = \(tokenHash)")
    }

    public func deleteExpiredSessions(before date: Date) async throws -> Int {
        try await rows("DELETE FROM console_sessions WHERE expires_at <= \(date) RETURNING token_hash").count
    }

    static func operatorUser(_ row: PostgresRandomAccessRow) throws -> OperatorUser {
        OperatorUser(id: try row["id"].decode(String.self), email: try row["email"].decode(String.self),
                     name: try row["name"].decode(String.self), role: try decode(StaffRole.self, row["role"]),
                     passwordHash: try row["password_hash"].decode(String.self),
                     failedSignIns: try row["failed_sign_ins"].decode(Int.self),
                     lockedUntil: try row["locked_until"].decode(Date?.self),
                     createdAt: try row["created_at"].decode(Date.self),
                     removedAt: try row["removed_at"].decode(Date?.self))
    }
}
