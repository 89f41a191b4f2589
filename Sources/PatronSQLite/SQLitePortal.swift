import Foundation
import GRDB
import PatronCore
import PatronEngine

// MARK: - The member portal: codes, their outbox, sessions

extension SQLiteStore {
    public func insertPortalCode(_ code: PortalCode, message: OutboxMessage) async throws {
        try await pool.write { db in
            try db.run("""
                INSERT INTO portal_codes (id, program_id, member_id, recipient, code_hash, created_at, expires_at, attempts)
                VALUES (?, ?, ?, ?, ?, ?, ?, 0)
                """, [code.id, code.programID, code.memberID, code.recipient, code.codeHash,
                      Timestamp.milliseconds(code.createdAt), Timestamp.milliseconds(code.expiresAt)])
            try db.run("""
                INSERT INTO outbox_messages (id, program_id, member_id, channel, recipient, body, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [message.id, message.programID, message.memberID, message.channel.rawValue, message.recipient,
                      message.body, Timestamp.milliseconds(message.createdAt)])
        }
    }

    public func portalCodes(programID: String, recipient: String, since: Date) async throws -> [PortalCode] {
        try await pool.read { db in
            try db.rows("""
                SELECT * FROM portal_codes WHERE program_id = ? AND recipient = ? AND created_at >= ?
                ORDER BY created_at DESC, id DESC
                """, [programID, recipient, Timestamp.milliseconds(since)]).map(Self.portalCode)
        }
    }

    public func recordPortalAttempt(codeID: String) async throws -> Int? {
        try await pool.write { db in
            try db.row("UPDATE portal_codes SET attempts = attempts + 1 WHERE id = ? RETURNING attempts", [codeID])
                .map { $0["attempts"] }
        }
    }

    public func consumePortalCode(codeID: String, at date: Date) async throws -> Bool {
        try await pool.write { db in
            try db.run("UPDATE portal_codes SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL",
                       [Timestamp.milliseconds(date), codeID])
            return db.changesCount == 1
        }
    }

    public func insertPortalSession(_ session: PortalSession) async throws {
        try await pool.write { db in
            try db.run("""
                INSERT INTO portal_sessions (token_hash, program_id, member_id, csrf_token, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, [session.tokenHash, session.programID, session.memberID, session.csrfToken,
                      Timestamp.milliseconds(session.createdAt), Timestamp.milliseconds(session.expiresAt)])
        }
    }

    public func portalSession(tokenHash: String, at date: Date) async throws -> PortalSession? {
        try await pool.read { db in
            try db.row("SELECT * FROM portal_sessions WHERE token_hash = ? AND expires_at > ?",
                       [tokenHash, Timestamp.milliseconds(date)]).map { row in
                PortalSession(tokenHash: row["token_hash"], programID: row["program_id"], memberID: row["member_id"],
                              csrfToken: row["csrf_token"], createdAt: Timestamp.date(milliseconds: row["created_at"]),
                              expiresAt: Timestamp.date(milliseconds: row["expires_at"]))
            }
        }
    }

    public func deletePortalSession(tokenHash: String) async throws {
        try await pool.write { db in try db.run("DELETE FROM portal_sessions WHERE token_hash = ?", [tokenHash]) }
    }

    public func deleteExpiredPortalState(before date: Date) async throws -> Int {
        try await pool.write { db in
            let instant = Timestamp.milliseconds(date)
            try db.run("DELETE FROM portal_sessions WHERE expires_at <= ?", [instant])
            var deleted = db.changesCount
            // Codes are kept a day past their end: the request limits count them.
            try db.run("DELETE FROM portal_codes WHERE expires_at <= ?", [instant - 86_400_000])
            deleted += db.changesCount
            return deleted
        }
    }

    public func outboxMessages(limit: Int) async throws -> [OutboxMessage] {
        try await pool.read { db in
            try db.rows("SELECT * FROM outbox_messages ORDER BY created_at DESC, id DESC LIMIT ?", [limit]).map { row in
                OutboxMessage(id: row["id"], programID: row["program_id"], memberID: row["member_id"],
                              channel: OutboxMessage.Channel(rawValue: row["channel"]) ?? .sms, recipient: row["recipient"],
                              body: row["body"], createdAt: Timestamp.date(milliseconds: row["created_at"]))
            }
        }
    }

    static func portalCode(_ row: Row) -> PortalCode {
        PortalCode(id: row["id"], programID: row["program_id"], memberID: row["member_id"], recipient: row["recipient"],
                   codeHash: row["code_hash"], createdAt: Timestamp.date(milliseconds: row["created_at"]),
                   expiresAt: Timestamp.date(milliseconds: row["expires_at"]), attempts: row["attempts"],
                   consumedAt: (row["consumed_at"] as Int64?).map(Timestamp.date(milliseconds:)))
    }
}
