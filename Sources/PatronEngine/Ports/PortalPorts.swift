import Foundation
import PatronCore

/// A message waiting for delivery to a member: a one-time code by text message or e-mail. Patron
/// writes the outbox; a delivery integration sends what is in it (with `serve --demo`, the console
/// shows it, so that a code can be read there).
public struct OutboxMessage: Sendable, Hashable {
    public enum Channel: String, Sendable, Hashable { case sms, email }

    public var id: String
    public var programID: String
    public var memberID: String
    public var channel: Channel
    /// The phone number or e-mail address, as the member's profile holds it.
    public var recipient: String
    public var body: String
    public var createdAt: Date

    public init(id: String, programID: String, memberID: String, channel: Channel, recipient: String, body: String,
                createdAt: Date) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.channel = channel
        self.recipient = recipient
        self.body = body
        self.createdAt = createdAt
    }
}

/// A one-time sign-in code for the member portal. Only a hash of the code is kept.
public struct PortalCode: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    /// The normalised phone number or e-mail address it was sent to.
    public var recipient: String
    public var codeHash: String
    public var createdAt: Date
    public var expiresAt: Date
    /// Wrong codes tried against it.
    public var attempts: Int
    public var consumedAt: Date?

    public init(id: String, programID: String, memberID: String, recipient: String, codeHash: String, createdAt: Date,
                expiresAt: Date, attempts: Int = 0, consumedAt: Date? = nil) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.recipient = recipient
        self.codeHash = codeHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.attempts = attempts
        self.consumedAt = consumedAt
    }
}

/// A member signed in to the portal on one device. Only a hash of the cookie's token is kept.
public struct PortalSession: Sendable, Hashable {
    public var tokenHash: String
    public var programID: String
    public var memberID: String
    public var csrfToken: String
    public var createdAt: Date
    public var expiresAt: Date

    public init(tokenHash: String, programID: String, memberID: String, csrfToken: String, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.programID = programID
        self.memberID = memberID
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public protocol PortalStore: Sendable {
    /// Stores a code and the message that carries it, together.
    func insertPortalCode(_ code: PortalCode, message: OutboxMessage) async throws
    /// Codes created for `recipient` in the program at or after `since`, newest first.
    func portalCodes(programID: String, recipient: String, since: Date) async throws -> [PortalCode]
    /// Counts a wrong code against `codeID`; the code's attempts after it, nil when it is gone.
    func recordPortalAttempt(codeID: String) async throws -> Int?
    /// Marks the code used, once: false when it was used already.
    func consumePortalCode(codeID: String, at date: Date) async throws -> Bool
    func insertPortalSession(_ session: PortalSession) async throws
    /// The session while it lasts.
    func portalSession(tokenHash: String, at date: Date) async throws -> PortalSession?
    func deletePortalSession(tokenHash: String) async throws
    /// Sessions and codes past their end; what was deleted.
    func deleteExpiredPortalState(before date: Date) async throws -> Int
    /// The outbox, newest first.
    func outboxMessages(limit: Int) async throws -> [OutboxMessage]
}
