import Foundation
import PatronCore

/// What the portal tells a person who asked for a sign-in code. It never says whether a member
/// has that phone number or address: `sent` is the answer either way.
public enum PortalCodeRequest: Sendable, Hashable {
    case sent(OutboxMessage.Channel)
    /// Too many codes asked for this phone number or address; the next may be asked at `retryAt`.
    case limited(retryAt: Date)
}

public enum PortalSignIn: Sendable {
    case signedIn(token: String, session: PortalSession, member: Member)
    case wrong(attemptsLeft: Int)
    /// No code is waiting: none was sent, it expired, or it was used.
    case noCode
    /// The code took too many wrong tries; ask for a new one.
    case tooManyAttempts
}

extension Engine {
    public static let portalCodeSeconds: TimeInterval = 600
    public static let portalCodeAttempts = 5
    public static let portalCodesPerHour = 5
    public static let portalResendSeconds: TimeInterval = 60
    public static let portalSessionSeconds: TimeInterval = 30 * 86_400

    /// How the portal calls the engine for a signed-in member: as an integration key scoped to
    /// the program, recorded as `portal:<member>`.
    public static func portalPrincipal(memberID: String, programID: String) -> Principal {
        Principal(keyID: "portal:" + memberID, role: .integration, programID: programID)
    }

    /// Sends a one-time code to a member's phone or e-mail through the outbox: at most one a
    /// minute and five an hour per phone number or address.
    public func requestPortalCode(programCode: String, contact: String) async throws -> PortalCodeRequest {
        let program = try await portalProgram(programCode)
        let (recipient, channel) = try Self.portalRecipient(contact)
        let now = now()
        // The hour before now, not including its first instant: a code sent at 09:00 allows
        // another at 10:00.
        let hourAgo = now.addingTimeInterval(-3600)
        let recent = try await store.portalCodes(programID: program.id, recipient: recipient, since: hourAgo)
            .filter { $0.createdAt > hourAgo }
        if recent.count >= Self.portalCodesPerHour, let oldest = recent.last {
            return .limited(retryAt: oldest.createdAt.addingTimeInterval(3600))
        }
        if let latest = recent.first, latest.createdAt > now.addingTimeInterval(-Self.portalResendSeconds) {
            return .limited(retryAt: latest.createdAt.addingTimeInterval(Self.portalResendSeconds))
        }
        let query = channel == .sms ? MemberQuery(phone: recipient) : MemberQuery(email: recipient)
        let members = try await store.members(programID: program.id, matching: query, after: nil, limit: 2)
        // Nobody, or more than one member, with it: nothing is sent, and the answer is the same.
        guard members.count == 1, let member = members.first else { return .sent(channel) }
        let code = String(format: "%06d", Int.random(in: 0..<1_000_000))
        let id = newID(at: now)
        let stored = PortalCode(id: id, programID: program.id, memberID: member.id, recipient: recipient,
                                codeHash: Self.hash(secret: code + ":" + id), createdAt: now,
                                expiresAt: now.addingTimeInterval(Self.portalCodeSeconds))
        let body = "【\(program.name)】验证码 \(code)，10 分钟内有效。Your sign-in code is \(code); it expires in 10 minutes."
        try await store.insertPortalCode(stored, message: OutboxMessage(
            id: newID(at: now), programID: program.id, memberID: member.id, channel: channel, recipient: recipient,
            body: body, createdAt: now))
        logger.info("portal code sent", metadata: ["program": "\(program.code)", "member": "\(member.id)"])
        return .sent(channel)
    }

    /// Checks a code against the latest one sent to the phone number or address; five wrong
    /// tries end it. A right code is used once and opens a session.
    public func verifyPortalCode(programCode: String, contact: String, code: String) async throws -> PortalSignIn {
        let program = try await portalProgram(programCode)
        let (recipient, _) = try Self.portalRecipient(contact)
        let now = now()
        let codes = try await store.portalCodes(programID: program.id, recipient: recipient,
                                                since: now.addingTimeInterval(-Self.portalCodeSeconds))
        guard let latest = codes.first, latest.consumedAt == nil, latest.expiresAt > now else { return .noCode }
        guard latest.attempts < Self.portalCodeAttempts else { return .tooManyAttempts }
        let typed = code.filter { !$0.isWhitespace }
        guard Self.constantTimeEqual(Self.hash(secret: typed + ":" + latest.id), latest.codeHash) else {
            let attempts = try await store.recordPortalAttempt(codeID: latest.id) ?? Self.portalCodeAttempts
            return attempts >= Self.portalCodeAttempts ? .tooManyAttempts : .wrong(attemptsLeft: Self.portalCodeAttempts - attempts)
        }
        guard try await store.consumePortalCode(codeID: latest.id, at: now),
              let member = try await store.member(programID: program.id, id: latest.memberID), member.status == .active else {
            return .noCode
        }
        let token = Self.randomToken()
        let session = PortalSession(tokenHash: Self.hash(secret: token), programID: program.id, memberID: member.id,
                                    csrfToken: Self.randomToken(), createdAt: now,
                                    expiresAt: now.addingTimeInterval(Self.portalSessionSeconds))
        try await store.insertPortalSession(session)
        return .signedIn(token: token, session: session, member: member)
    }

    /// The session behind a portal cookie, and its member, while both last and belong to the program.
    public func portalSession(programCode: String, token: String) async throws -> (PortalSession, Member)? {
        guard (20...100).contains(token.utf8.count) else { return nil }
        let program = try await portalProgram(programCode)
        guard let session = try await store.portalSession(tokenHash: Self.hash(secret: token), at: now()),
              session.programID == program.id,
              let member = try await store.member(programID: program.id, id: session.memberID), member.status == .active
        else { return nil }
        return (session, member)
    }

    public func portalSignOut(token: String) async throws {
        try await store.deletePortalSession(tokenHash: Self.hash(secret: token))
    }

    /// The messages waiting in the outbox, newest first.
    public func outbox(limit: Int) async throws -> [OutboxMessage] {
        try await store.outboxMessages(limit: limit)
    }

    /// The program a portal page is for; the portal reaches any program by its code.
    public func portalProgram(_ code: String) async throws -> Program {
        try await program(code: code, by: Principal(keyID: "portal", role: .readOnly, programID: nil))
    }

    /// A phone number or e-mail address, normalised as members' profiles hold them.
    static func portalRecipient(_ contact: String) throws -> (String, OutboxMessage.Channel) {
        if contact.contains("@") {
            if let email = MemberRules.email(contact) { return (email, .email) }
        } else if let phone = MemberRules.phone(contact) {
            return (phone, .sms)
        }
        throw EngineError.invalid(ValidationError(pointer: "/contact", code: "invalid_contact",
                                                  message: "Give a phone number or an e-mail address."))
    }

    /// Whether two strings are equal, taking as long whatever their first difference.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
