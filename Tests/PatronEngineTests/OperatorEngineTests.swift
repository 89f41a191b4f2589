import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// The console's operator users and sessions on a real store with the clock in hand: passwords
/// checked with bcrypt, a lock after repeated wrong passwords, sessions that end at sign-out or
/// when they expire.
@Suite("Operator users and console sessions on the stores")
struct OperatorEngineTests {
    typealias T = TierEngineTests
    static let password = "correct horse battery"

    static func engine(_ store: any PatronStore, at time: String) -> (Engine, T.Clock) {
        let clock = T.Clock(time)
        return (Engine(store: store, clock: { clock.now() }), clock)
    }

    static func token(_ outcome: SignInOutcome) -> String? {
        if case .signedIn(let token, _, _) = outcome { return token }
        return nil
    }

    @Test("an operator signs in with the right password, whatever the email's case, and out again", arguments: TestStoreKind.available)
    func signInAndOut(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            let created = try await engine.createOperator(email: " Ops@Example.com ", name: "Ops", role: .support,
                                                          password: Self.password)
            #expect(created.email == "ops@example.com")
            #expect(!created.passwordHash.contains(Self.password))

            let token = try #require(Self.token(try await engine.signIn(email: "OPS@example.com", password: Self.password)))
            let (session, user) = try #require(try await engine.consoleSession(token: token))
            #expect(user.id == created.id && user.role == .support)
            #expect(session.csrfToken.count >= 40 && session.csrfToken != token)

            try await engine.signOut(token: token)
            #expect(try await engine.consoleSession(token: token) == nil)
        }
    }

    @Test("an owner changes roles and removes people, never themselves and never the last owner",
          arguments: TestStoreKind.available)
    func changesAndRemovals(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            let owner = try await engine.createOperator(email: "owner@example.com", name: "O", role: .owner, password: Self.password)
            let other = try await engine.createOperator(email: "sam@example.com", name: "S", role: .support, password: Self.password)

            // The only owner cannot stop being one.
            await #expect(throws: EngineError.conflict(code: "last_owner",
                                                       detail: "Someone must stay an owner; make another person an owner first.")) {
                _ = try await engine.changeOperatorRole(id: owner.id, to: .marketer, by: owner)
            }
            await #expect(throws: EngineError.conflict(code: "cannot_remove_self", detail: "Another owner must remove you.")) {
                _ = try await engine.removeOperator(id: owner.id, by: owner)
            }
            // A support person may not change anyone.
            await #expect(throws: EngineError.self) { _ = try await engine.changeOperatorRole(id: owner.id, to: .analyst, by: other) }

            let promoted = try await engine.changeOperatorRole(id: other.id, to: .owner, by: owner)
            #expect(promoted.role == .owner)
            #expect(try await engine.changeOperatorRole(id: owner.id, to: .analyst, by: promoted).role == .analyst)

            // Removed: signed out at once, refused as an unknown email would be, and still listed.
            let token = try #require(Self.token(try await engine.signIn(email: "owner@example.com", password: Self.password)))
            #expect(try await engine.consoleSession(token: token) != nil)
            let removed = try await engine.removeOperator(id: owner.id, by: promoted)
            #expect(removed.removedAt != nil)
            #expect(try await engine.consoleSession(token: token) == nil)
            guard case .refused = try await engine.signIn(email: "owner@example.com", password: Self.password) else {
                Issue.record("a removed person signed in"); return
            }
            #expect(try await engine.operatorUsers().map(\.email) == ["owner@example.com", "sam@example.com"])
            await #expect(throws: EngineError.notFound(resource: "operator", id: owner.id)) {
                _ = try await engine.changeOperatorRole(id: owner.id, to: .owner, by: promoted)
            }
        }
    }

    @Test("two owners demoting each other at once leave one owner", arguments: TestStoreKind.available)
    func concurrentDemotions(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            let a = try await engine.createOperator(email: "a@example.com", name: "A", role: .owner, password: Self.password)
            let b = try await engine.createOperator(email: "b@example.com", name: "B", role: .owner, password: Self.password)
            for _ in 0..<5 {
                async let first = try? engine.changeOperatorRole(id: a.id, to: .marketer, by: b)
                async let second = try? engine.changeOperatorRole(id: b.id, to: .marketer, by: a)
                _ = await (first, second)
                #expect(try await engine.operatorUsers().filter { $0.role == .owner }.count == 1)
                for user in [a, b] {
                    let owner = try await engine.operatorUsers().first { $0.role == .owner }!
                    if user.id != owner.id { _ = try await engine.changeOperatorRole(id: user.id, to: .owner, by: owner) }
                }
            }
        }
    }

    @Test("a wrong password and an unknown email are refused alike", arguments: TestStoreKind.available)
    func refusals(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            _ = try await engine.createOperator(email: "a@example.com", name: "A", role: .owner, password: Self.password)
            guard case .refused = try await engine.signIn(email: "a@example.com", password: "wrong password!") else {
                Issue.record("a wrong password was not refused"); return
            }
            guard case .refused = try await engine.signIn(email: "nobody@example.com", password: Self.password) else {
                Issue.record("an unknown email was not refused"); return
            }
        }
    }

    @Test("five wrong passwords in a row lock the user for 15 minutes, even against the right one; a sign-in clears the count",
          arguments: TestStoreKind.available)
    func lockout(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, clock) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            _ = try await engine.createOperator(email: "a@example.com", name: "A", role: .owner, password: Self.password)
            // Four wrong, then right: the count starts again.
            for _ in 1...4 { _ = try await engine.signIn(email: "a@example.com", password: "wrong password!") }
            #expect(Self.token(try await engine.signIn(email: "a@example.com", password: Self.password)) != nil)
            for attempt in 1...5 {
                let outcome = try await engine.signIn(email: "a@example.com", password: "wrong password!")
                if attempt < 5 {
                    guard case .refused = outcome else { Issue.record("attempt \(attempt) was not refused"); return }
                } else {
                    guard case .locked(let until) = outcome else { Issue.record("the fifth did not lock"); return }
                    #expect(until == T.at("2026-12-01T09:15:00Z"))
                }
            }
            clock.set("2026-12-01T09:14:59Z")
            guard case .locked = try await engine.signIn(email: "a@example.com", password: Self.password) else {
                Issue.record("the right password got through a lock"); return
            }
            clock.set("2026-12-01T09:15:00Z")
            #expect(Self.token(try await engine.signIn(email: "a@example.com", password: Self.password)) != nil)
            let users = try await engine.operatorUsers()
            #expect(users.map(\.failedSignIns) == [0] && users.first?.lockedUntil == nil)
        }
    }

    @Test("a session ends 12 hours after sign-in, and expired ones are purged", arguments: TestStoreKind.available)
    func expiry(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, clock) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            _ = try await engine.createOperator(email: "a@example.com", name: "A", role: .analyst, password: Self.password)
            let token = try #require(Self.token(try await engine.signIn(email: "a@example.com", password: Self.password)))
            clock.set("2026-12-01T20:59:59Z")
            #expect(try await engine.consoleSession(token: token) != nil)
            clock.set("2026-12-01T21:00:00Z")
            #expect(try await engine.consoleSession(token: token) == nil)
            #expect(try await store.deleteExpiredSessions(before: T.at("2026-12-01T21:00:00Z")) == 1)
        }
    }

    @Test("a user is created only with a valid email, a name and a long enough password, and only once",
          arguments: TestStoreKind.available)
    func creation(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (engine, _) = Self.engine(store, at: "2026-12-01T09:00:00Z")
            do {
                _ = try await engine.createOperator(email: "not-an-email", name: "", role: .owner, password: "short")
                Issue.record("bad input was accepted")
            } catch EngineError.invalid(let error) {
                #expect(error.faults.map(\.code) == ["invalid_email", "invalid_name", "weak_password"])
            }
            _ = try await engine.createOperator(email: "a@example.com", name: "A", role: .owner, password: Self.password)
            await #expect(throws: EngineError.conflict(code: "operator_exists",
                                                       detail: "An operator user with the email 'a@example.com' exists.")) {
                _ = try await engine.createOperator(email: "A@example.com", name: "B", role: .analyst, password: Self.password)
            }
            #expect(try await engine.operatorUsers().count == 1)
        }
    }

    @Test("each staff role may do what its description says, and only the owner manages people and keys")
    func roles() {
        #expect(StaffRole.allCases.filter { $0.may(.manageOperators) } == [.owner])
        #expect(StaffRole.allCases.filter { $0.may(.manageKeys) } == [.owner])
        #expect(StaffRole.allCases.filter { $0.may(.editConfig) } == [.owner, .marketer])
        #expect(StaffRole.allCases.filter { $0.may(.adjustPoints) } == [.owner, .support])
        #expect(StaffRole.allCases.filter { $0.may(.runBacktests) } == [.owner, .marketer])
        #expect(StaffRole.allCases.allSatisfy { $0.may(.viewMembers) && $0.may(.viewDashboard) })
    }
}
