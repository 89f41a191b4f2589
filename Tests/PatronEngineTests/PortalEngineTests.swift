import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// The member portal's sign-in on a real store with the clock in hand: a one-time code through
/// the outbox, used once, five tries, and limits on how often codes are sent.
@Suite("Portal sign-in on the stores")
struct PortalEngineTests {
    typealias T = TierEngineTests

    static func setUp(_ store: any PatronStore) async throws -> (Engine, T.Clock, String) {
        let clock = T.Clock("2026-12-01T09:00:00Z")
        let engine = Engine(store: store, clock: { clock.now() })
        _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY", timeZone: "Asia/Shanghai"),
                                           by: T.owner)
        let member = try await engine.enrol(programCode: "shop", body: try T.json("""
            {"external_id":"P-1","channel":"app","phone":"+86 138 0000 0001","email":"p1@example.com"}
            """), by: T.owner)
        return (engine, clock, member.id)
    }

    static func lastCode(_ engine: Engine) async throws -> String {
        let body = try #require(try await engine.outbox(limit: 1).first?.body)
        return String(try #require(body.firstMatch(of: /\d{6}/)).output)
    }

    @Test("a code sent by text signs the member in once, and opens a session", arguments: TestStoreKind.available)
    func signIn(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _, member) = try await Self.setUp(store)
            #expect(try await engine.requestPortalCode(programCode: "shop", contact: "+86-138-0000-0001") == .sent(.sms))
            let message = try #require(try await engine.outbox(limit: 5).first)
            #expect(message.recipient == "+8613800000001" && message.memberID == member && message.channel == .sms)
            let code = try await Self.lastCode(engine)

            guard case .signedIn(let token, _, let signedIn) = try await engine.verifyPortalCode(
                programCode: "shop", contact: "+8613800000001", code: code) else {
                Issue.record("the right code did not sign in"); return
            }
            #expect(signedIn.id == member)
            #expect(try await engine.portalSession(programCode: "shop", token: token)?.1.id == member)
            // Used once.
            guard case .noCode = try await engine.verifyPortalCode(programCode: "shop", contact: "+8613800000001", code: code)
            else { Issue.record("a used code signed in again"); return }
            try await engine.portalSignOut(token: token)
            #expect(try await engine.portalSession(programCode: "shop", token: token) == nil)
        }
    }

    @Test("an address that is no member's gets the same answer and no message", arguments: TestStoreKind.available)
    func unknown(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _, _) = try await Self.setUp(store)
            #expect(try await engine.requestPortalCode(programCode: "shop", contact: "nobody@example.com") == .sent(.email))
            #expect(try await engine.outbox(limit: 5).isEmpty)
            await #expect(throws: EngineError.self) {
                _ = try await engine.requestPortalCode(programCode: "shop", contact: "not a contact")
            }
        }
    }

    @Test("five wrong codes end the code; codes expire after ten minutes", arguments: TestStoreKind.available)
    func attemptsAndExpiry(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, clock, _) = try await Self.setUp(store)
            _ = try await engine.requestPortalCode(programCode: "shop", contact: "p1@example.com")
            let code = try await Self.lastCode(engine)
            let wrong = code == "000000" ? "111111" : "000000"
            for left in (1...4).reversed() {
                guard case .wrong(let attemptsLeft) = try await engine.verifyPortalCode(programCode: "shop", contact: "P1@example.com",
                                                                                       code: wrong) else {
                    Issue.record("a wrong code was not refused"); return
                }
                #expect(attemptsLeft == left)
            }
            guard case .tooManyAttempts = try await engine.verifyPortalCode(programCode: "shop", contact: "p1@example.com",
                                                                           code: wrong) else {
                Issue.record("the fifth wrong code did not end it"); return
            }
            guard case .tooManyAttempts = try await engine.verifyPortalCode(programCode: "shop", contact: "p1@example.com",
                                                                           code: code) else {
                Issue.record("the right code worked after five wrong ones"); return
            }

            clock.set("2026-12-01T09:01:00Z")
            _ = try await engine.requestPortalCode(programCode: "shop", contact: "p1@example.com")
            let fresh = try await Self.lastCode(engine)
            clock.set("2026-12-01T09:11:00Z")
            guard case .noCode = try await engine.verifyPortalCode(programCode: "shop", contact: "p1@example.com", code: fresh)
            else { Issue.record("an expired code signed in"); return }
        }
    }

    @Test("one code a minute and five an hour per phone number or address", arguments: TestStoreKind.available)
    func limits(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, clock, _) = try await Self.setUp(store)
            #expect(try await engine.requestPortalCode(programCode: "shop", contact: "+8613800000001") == .sent(.sms))
            clock.set("2026-12-01T09:00:30Z")
            #expect(try await engine.requestPortalCode(programCode: "shop", contact: "+8613800000001")
                == .limited(retryAt: T.at("2026-12-01T09:01:00Z")))
            for minute in 1...4 {
                clock.set("2026-12-01T09:0\(minute):00Z")
                #expect(try await engine.requestPortalCode(programCode: "shop", contact: "+8613800000001") == .sent(.sms))
            }
            clock.set("2026-12-01T09:30:00Z")
            #expect(try await engine.requestPortalCode(programCode: "shop", contact: "+8613800000001")
                == .limited(retryAt: T.at("2026-12-01T10:00:00Z")))
            #expect(try await engine.outbox(limit: 10).count == 5)
            clock.set("2026-12-01T10:00:00Z")
            #expect(try await engine.requestPortalCode(programCode: "shop", contact: "+8613800000001") == .sent(.sms))
        }
    }
}
