import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// MARK: - The member portal: codes, their outbox, sessions

extension PostgresStore {
    public func insertPortalCode(_ code: PortalCode, message: OutboxMessage) async throws {
        try await transaction { connection in
            _ = try await rows("""
                INSERT INTO portal_codes (id, program_id, member_id, recipient, code_hash, created_at, expires_at, attempts)
                VALUES (\(code.id), \(code.programID), \(code.memberID), \(code.recipient), \(code.codeHash),
                        \(code.createdAt), \(code.expiresAt), 0)
                """, on: connection)
            _ = try await rows("""
                INSERT INTO outbox_messages (id, program_id, member_id, channel, recipient, body, created_at)
                VALUES (\(message.id), \(message.programID), \(message.memberID), \(message.channel.rawValue),
                        \(message.recipient), \(message.body), \(message.createdAt))
                """, on: connection)
        }
    }

    public func portalCodes(programID: String, recipient: String, since: Date) async throws -> [PortalCode] {
        try await rows("""
            SELECT * FROM portal_codes WHERE program_id = \(programID) AND recipient = \(recipient) AND created_at >= \(since)
            ORDER BY created_at DESC, id DESC
            """).map { row in
            PortalCode(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                       memberID: try row["member_id"].decode(String.self), recipient: try row["recipient"].decode(String.self),
                       codeHash: try row["code_hash"].decode(String.self), createdAt: try row["created_at"].decode(Date.self),
                       expiresAt: try row["expires_at"].decode(Date.self), attempts: try row["attempts"].decode(Int.self),
                       consumedAt: try row["consumed_at"].decode(Date?.self))
        }
    }

    public func recordPortalAttempt(codeID: String) async throws -> Int? {
        try await rows("UPDATE portal_codes SET attempts = attempts + 1 WHERE id = \(codeID) RETURNING attempts")
            .first.map { try $0["attempts"].decode(Int.self) }
    }

    public func consumePortalCode(codeID: String, at date: Date) async throws -> Bool {
        try await rows("""
            UPDATE portal_codes SET consumed_at = \(date) WHERE id = \(codeID) AND consumed_at IS NULL RETURNING id
            """).count == 1
    }

    public func insertPortalSession(_ session: PortalSession) async throws {
        _ = try await rows("""
            INSERT INTO portal_sessions (token_hash, program_id, member_id, csrf_token, created_at, expires_at)
            VALUES (\(session.tokenHash), \(session.programID), \(session.memberID), \(session.csrfToken),
                    \(session.createdAt), \(session.expiresAt))
            """)
    }

    public func portalSession(tokenHash: String, at date: Date) async throws -> PortalSession? {
        try await rows("SELECT * FROM portal_sessions WHERE token_hash = \(tokenHash) AND expires_at > \(date)").first.map { row in
            PortalSession(tokenHash: try row["token_hash"].decode(String.self), programID: try row["program_id"].decode(String.self),
                          memberID: try row["member_id"].decode(String.self), csrfToken: try row["csrf_token"].decode(String.self),
                          createdAt: try row["created_at"].decode(Date.self), expiresAt: try row["expires_at"].decode(Date.self))
        }
    }

    public func deletePortalSession(tokenHash: String) async throws {
        _ = try await rows("DELETE FROM portal_sessions WHERE token_hash = \(tokenHash)")
    }

    public func deleteExpiredPortalState(before date: Date) async throws -> Int {
        let sessions = try await rows("DELETE FROM portal_sessions WHERE expires_at <= \(date) RETURNING token_hash").count
        // Codes are kept a day past their end: the request limits count them.
        let codes = try await rows("""
            DELETE FROM portal_codes WHERE expires_at <= \(date.addingTimeInterval(-86_400)) RETURNING id
            """).count
        return sessions + codes
    }

    public func outboxMessages(limit: Int) async throws -> [OutboxMessage] {
        try await rows("SELECT * FROM outbox_messages ORDER BY created_at DESC, id DESC LIMIT \(limit)").map { row in
            OutboxMessage(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                          memberID: try row["member_id"].decode(String.self),
                          channel: OutboxMessage.Channel(rawValue: try row["channel"].decode(String.self)) ?? .sms,
                          recipient: try row["recipient"].decode(String.self), body: try row["body"].decode(String.self),
                          createdAt: try row["created_at"].decode(Date.self))
        }
    }
}
