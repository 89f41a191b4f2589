import Foundation
import GRDB
import PatronCore
import PatronEngine

// MARK: - Operator users and console sessions

extension SQLiteStore {
    public func insertOperator(_ user: OperatorUser) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    INSERT INTO operator_users (id, email, name, role, password_hash, failed_sign_ins, locked_until, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, [user.id, user.email, user.name, user.role.rawValue, user.passwordHash, user.failedSignIns,
                          user.lockedUntil.map(Timestamp.milliseconds), Timestamp.milliseconds(user.createdAt)])
            }
        }
    }

    public func operatorUser(email: String) async throws -> OperatorUser? {
        try await pool.read { db in
            try db.row("SELECT * FROM operator_users WHERE email = ?", [email]).map(Self.operatorUser)
        }
    }

    public func operatorUsers() async throws -> [OperatorUser] {
        try await pool.read { db in
            try db.rows("SELECT * FROM operator_users ORDER BY email").map(Self.operatorUser)
        }
    }

    public func recordFailedSignIn(userID: String, lockAfter: Int, lockUntil: Date) async throws -> OperatorUser? {
        try await pool.write { db in
            try db.row("""
                UPDATE operator_users
                SET failed_sign_ins = CASE WHEN failed_sign_ins + 1 >= ? THEN 0 ELSE failed_sign_ins + 1 END,
                    locked_until = CASE WHEN failed_sign_ins + 1 >= ? THEN ? ELSE locked_until END
                WHERE id = ?
                RETURNING *
                """, [lockAfter, lockAfter, Timestamp.milliseconds(lockUntil), userID]).map(Self.operatorUser)
        }
    }

    public func recordSignIn(userID: String) async throws {
        try await pool.write { db in
            try db.run("UPDATE operator_users SET failed_sign_ins = 0, locked_until = NULL WHERE id = ?", [userID])
        }
    }

    public func changeOperator(id: String, role: StaffRole?, removedAt: Date?) async throws -> OperatorChange {
        // One writer at a time: the count of owners cannot change between the check and the update.
        try await pool.write { db in
            guard let user = try db.row("SELECT * FROM operator_users WHERE id = ? AND removed_at IS NULL", [id])
                .map(Self.operatorUser) else { return .notFound }
            let role = role ?? user.role
            if user.role == .owner, role != .owner || removedAt != nil {
                let owners = try Int.fetchOne(db, sql: "SELECT count(*) FROM operator_users WHERE role = 'owner' AND removed_at IS NULL") ?? 0
                if owners <= 1 { return .lastOwner }
            }
            guard let changed = try db.row("UPDATE operator_users SET role = ?, removed_at = ? WHERE id = ? RETURNING *",
                                           [role.rawValue, removedAt.map(Timestamp.milliseconds), id]).map(Self.operatorUser)
            else { return .notFound }
            if removedAt != nil { try db.run("DELETE FROM console_sessions WHERE user_id = ?", [id]) }
            return .changed(changed)
        }
    }

    public func insertSession(_ session: ConsoleSession) async throws {
        try await pool.write { db in
            try db.run("""
                INSERT INTO console_sessions (token_hash, user_id, csrf_token, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?)
                """, [session.tokenHash, session.userID, session.csrfToken, Timestamp.milliseconds(session.createdAt),
                      Timestamp.milliseconds(session.expiresAt)])
        }
    }

    public func session(tokenHash: String, at date: Date) async throws -> (ConsoleSession, OperatorUser)? {
        try await pool.read { db in
            guard let row = try db.row("""
                SELECT s.token_hash, s.csrf_token, s.created_at AS session_created_at, s.expires_at, u.*
                FROM console_sessions s JOIN operator_users u ON u.id = s.user_id
                WHERE s.token_hash = ? AND s.expires_at > ? AND u.removed_at IS NULL
                """, [tokenHash, Timestamp.milliseconds(date)]) else { return nil }
            let user = try Self.operatorUser(row)
            let session = ConsoleSession(tokenHash: row["token_hash"], userID: user.id, csrfToken: row["csrf_token"],
                                         createdAt: Timestamp.date(milliseconds: row["session_created_at"]),
                                         expiresAt: Timestamp.date(milliseconds: row["expires_at"]))
            return (session, user)
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await pool.write { db in
            try db.run("DELETE FROM console_sessions WHERE token_hash = ?", [tokenHash])
        }
    }

    public func deleteExpiredSessions(before date: Date) async throws -> Int {
        try await pool.write { db in
            try db.run("DELETE FROM console_sessions WHERE expires_at <= ?", [Timestamp.milliseconds(date)])
            return db.changesCount
        }
    }

    static func operatorUser(_ row: Row) throws -> OperatorUser {
        OperatorUser(id: row["id"], email: row["email"], name: row["name"], role: try decode(StaffRole.self, row["role"]),
                     passwordHash: row["password_hash"], failedSignIns: row["failed_sign_ins"],
                     lockedUntil: (row["locked_until"] as Int64?).map(Timestamp.date(milliseconds:)),
                     createdAt: Timestamp.date(milliseconds: row["created_at"]),
                     removedAt: (row["removed_at"] as Int64?).map(Timestamp.date(milliseconds:)))
    }
}
