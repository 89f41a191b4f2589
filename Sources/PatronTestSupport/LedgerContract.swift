import Foundation
import PatronCore
import PatronEngine
import Synchronization
import Testing

/// A clock that tests move by hand.
public final class TestClock: Sendable {
    private let instant: Mutex<Date>

    public init(_ start: Date) {
        instant = Mutex(start)
    }

    public var now: Date { instant.withLock { $0 } }

    public func advance(_ seconds: TimeInterval) {
        instant.withLock { $0 += seconds }
    }
}

/// A program with earning rules, members and an engine over a store, for ledger tests.
public struct LedgerFixture: Sendable {
    public let engine: Engine
    public let clock: TestClock
    public let owner = Principal(keyID: "owner-key", role: .owner, programID: nil)
    public let program: Program
    /// Persons, each an operator of `organisation`.
    public let members: [String]
    /// An organisation (B2B), whose purchases split their awards 30 % to the executor.
    public let organisation: String

    /// 1 point per ¥1 (100 minor units) and 1 growth per ¥1, pending for `pendingDays`, expiring
    /// 30 days after earning, refunds by `refund`; a check-in gives 10 points, capped at 10 a day;
    /// a review (the event type) gives 40 points, capped at 100 in a member's life.
    /// The members are persons and operators of one organisation; B2B purchases split their awards.
    public static func make(store: any PatronStore, members count: Int = 3, pendingDays: Int = 7,
                            refund: String = "within_balance", limits: JSONValue? = nil) async throws -> LedgerFixture {
        let clock = TestClock(Date(timeIntervalSince1970: 1_790_000_000))
        let engine = Engine(store: store, clock: { clock.now })
        let owner = Principal(keyID: "owner-key", role: .owner, programID: nil)
        _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY", timeZone: "Asia/Shanghai"),
                                           by: owner)
        var points: [String: JSONValue] = [
            "pending_days": .int(Int64(pendingDays)), "refund": .string(refund),
            "expiry": .object(["policy": .string("days_after_earn"), "days": .int(30)]),
            "b2b": .object(["earn_to": .string("split"), "executor_percent": .int(30)]),
        ]
        if let limits { points["limits"] = limits }
        let config = JSONValue.object([
            "currency": .string("CNY"), "time_zone": .string("Asia/Shanghai"), "points": .object(points),
            "earning_rules": .array([
                .object(["code": .string("base"), "on": .string("purchase"), "award": .string("event.amount / 100")]),
                .object(["code": .string("growth"), "on": .string("purchase"), "unit": .string("growth"),
                         "award": .string("event.amount / 100")]),
                .object(["code": .string("check_in"), "on": .string("check_in"), "award": .string("10"),
                         "cap": .object(["per_member_per_day": .int(10)])]),
                .object(["code": .string("review"), "on": .string("review"), "award": .string("40"),
                         "cap": .object(["per_member_lifetime": .int(100)])]),
            ]),
        ])
        _ = try await engine.updateConfig(programCode: "shop", document: config, expectedVersion: nil, by: owner)
        let organisation = try await engine.enrol(programCode: "shop", body: .object([
            "external_id": .string("ORG-0"), "channel": .string("store"), "kind": .string("organisation"),
        ]), by: owner)
        var members: [String] = []
        for index in 0..<count {
            let member = try await engine.enrol(programCode: "shop", body: .object([
                "external_id": .string("M-\(index)"), "channel": .string("app"), "organisation": .string(organisation.id),
            ]), by: owner)
            members.append(member.id)
        }
        let program = try await engine.program(code: "shop", by: owner)
        return LedgerFixture(engine: engine, clock: clock, program: program, members: members, organisation: organisation.id)
    }

    /// Posts an event; the body's `id` is generated when not given.
    @discardableResult
    public func post(_ fields: [String: JSONValue]) async throws -> EventResult {
        var body = fields
        if body["id"] == nil { body["id"] = .string(UUID().uuidString) }
        if body["occurred_at"] == nil { body["occurred_at"] = .string(Timestamp.rfc3339(clock.now)) }
        return try await engine.recordEvent(programCode: "shop", body: .object(body), by: owner)
    }

    @discardableResult
    public func purchase(_ member: String, amount: Int64, order: String, id: String? = nil) async throws -> EventResult {
        var body: [String: JSONValue] = ["type": .string("purchase"), "member": .string(member), "amount": .int(amount),
                                         "order_id": .string(order)]
        if let id { body["id"] = .string(id) }
        return try await post(body)
    }

    public func audit() async throws -> [String] {
        try await engine.verifyLedger(programCode: "shop").breaches
    }

    public func transferCount() async throws -> Int {
        try await engine.verifyLedger(programCode: "shop").transfers
    }

    /// Lets members transfer points to each other (`points.allow_transfers`), or stops them.
    public func allowTransfers(_ allowed: Bool) async throws {
        let config = try await engine.currentConfig(programCode: "shop", by: owner)
        guard var document = config.document.objectValue, var points = document["points"]?.objectValue else {
            preconditionFailure("the fixture's configuration has a points section")
        }
        points["allow_transfers"] = .bool(allowed)
        document["points"] = .object(points)
        _ = try await engine.updateConfig(programCode: "shop", document: .object(document), expectedVersion: nil, by: owner)
    }

    /// Sends `points` from one member to another.
    @discardableResult
    public func transfer(_ points: Int64, from sender: String, to recipient: String,
                         requestKey: String? = nil) async throws -> (transfer: PointsTransfer, created: Bool) {
        try await engine.transferPoints(programCode: "shop", memberID: sender,
                                        body: .object(["to": .string(recipient), "points": .int(points), "reason": "gift"]),
                                        requestKey: requestKey, by: owner)
    }

    public func available(_ member: String) async throws -> Int64 {
        try await engine.balance(programCode: "shop", memberID: member, by: owner).available
    }
}

/// The ledger's contract: what must hold on every store, through the engine.
public enum LedgerContract {
    public static let cases: [StoreContractCase] = [
        StoreContractCase(name: "random ledger operations keep every invariant") { store in
            let fixture = try await LedgerFixture.make(store: store)
            try await fixture.allowTransfers(true)
            var random = SeededGenerator(seed: 0x1ED6E2)
            try await randomWalk(fixture, steps: 1_000, random: &random)
            #expect(try await fixture.audit() == [])
            // The walk's B2B purchases reached the organisation (a fault in them would be skipped as refused).
            let organisation = try await fixture.engine.balance(programCode: "shop", memberID: fixture.organisation, by: fixture.owner)
            #expect(organisation.lifetimeEarned > 0)
        },
        StoreContractCase(name: "200 concurrent redemptions spend exactly what the balance allows") { store in
            let fixture = try await LedgerFixture.make(store: store, members: 1)
            let member = fixture.members[0]
            _ = try await fixture.engine.adjust(programCode: "shop", memberID: member,
                                                body: .object(["points": .int(1000), "reason": .string("welcome")]),
                                                requestKey: nil, by: fixture.owner)
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        do {
                            _ = try await fixture.engine.redeem(programCode: "shop", memberID: member,
                                                                body: .object(["points": .int(7)]), requestKey: nil,
                                                                by: fixture.owner)
                            return true
                        } catch EngineError.insufficientPoints {
                            return false
                        } catch {
                            Issue.record("unexpected \(error)")
                            return false
                        }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1000 / 7)
            let balance = try await fixture.engine.balance(programCode: "shop", memberID: member, by: fixture.owner)
            #expect(balance.available == 1000 % 7)
            #expect(balance.redeemed == 1000 / 7 * 7)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "concurrent writes of many members, batched together, each take effect once and in full") { store in
            let fixture = try await LedgerFixture.make(store: store, members: 24, pendingDays: 0)
            try await fixture.allowTransfers(true)
            let (engine, owner, members) = (fixture.engine, fixture.owner, fixture.members)
            // Five purchases of ¥100 and three check-ins (10 points, capped at 10 a day) per member,
            // all at once; each member's first purchase is sent three times with its id, racing.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, member) in members.enumerated() {
                    for order in 0..<5 {
                        for _ in 0..<(order == 0 ? 3 : 1) {
                            group.addTask {
                                _ = try await fixture.purchase(member, amount: 10_000, order: "O-\(index)-\(order)",
                                                               id: "E-\(index)-\(order)")
                            }
                        }
                    }
                    for _ in 0..<3 { group.addTask { _ = try await fixture.post(["type": "check_in", "member": .string(member)]) } }
                }
                try await group.waitForAll()
            }
            for member in members { #expect(try await fixture.available(member) == 5 * 100 + 10) }
            // Three redemptions, a refund of half the first order, a hold and a transfer to the next
            // member, all at once: each fits whatever the order they run in.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, member) in members.enumerated() {
                    for _ in 0..<3 {
                        group.addTask {
                            _ = try await engine.redeem(programCode: "shop", memberID: member, body: .object(["points": 100]),
                                                        requestKey: nil, by: owner)
                        }
                    }
                    group.addTask {
                        _ = try await fixture.post(["type": "refund", "member": .string(member), "amount": 5_000,
                                                    "order_id": .string("O-\(index)-0")])
                    }
                    group.addTask {
                        _ = try await engine.placeHold(programCode: "shop", memberID: member,
                                                       body: .object(["points": 10, "ttl_seconds": 600]), requestKey: nil,
                                                       by: owner)
                    }
                    group.addTask { _ = try await fixture.transfer(5, from: member, to: members[(index + 1) % members.count]) }
                }
                try await group.waitForAll()
            }
            for member in members {
                let balance = try await engine.balance(programCode: "shop", memberID: member, by: owner)
                #expect(balance.available == 510 - 300 - 50 - 5 + 5 - 10)
                #expect(balance.onHold == 10)
                #expect(balance.growth == 500 - 50)
            }
            #expect(try await fixture.transferCount() > 0)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "purchases racing for one order: one is posted, the others refused, their batch-mates posted") {
            store in
            let fixture = try await LedgerFixture.make(store: store, members: 16, pendingDays: 0)
            // Each member posts four purchases of its own and one of four orders that four members share.
            let posted = try await withThrowingTaskGroup(of: (order: String, posted: Bool).self) { group in
                for (index, member) in fixture.members.enumerated() {
                    for order in 0..<4 {
                        group.addTask {
                            _ = try await fixture.purchase(member, amount: 1_000, order: "own-\(index)-\(order)")
                            return ("own-\(index)-\(order)", true)
                        }
                    }
                    group.addTask {
                        do {
                            _ = try await fixture.purchase(member, amount: 1_000, order: "shared-\(index % 4)")
                            return ("shared-\(index % 4)", true)
                        } catch EngineError.conflict(let code, _) where code == "order_exists" {
                            return ("shared-\(index % 4)", false)
                        }
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1.order, default: 0] += $1.posted ? 1 : 0 }
            }
            #expect(posted.count == 16 * 4 + 4)
            #expect(posted.values.allSatisfy { $0 == 1 })
            var available: Int64 = 0
            for member in fixture.members { available += try await fixture.available(member) }
            #expect(available == (16 * 4 + 4) * 10)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "a write the database refuses fails a batch of one as its result, and no batch by half") { store in
            let fixture = try await LedgerFixture.make(store: store, members: 2, pendingDays: 0)
            let (member, other) = (fixture.members[0], fixture.members[1])
            let programID = fixture.program.id
            try await fixture.purchase(member, amount: 1_000, order: "A-1", id: "taken")
            // A work that records an event without reading whether its client id is taken.
            func work(_ clientID: String, of memberID: String) -> LedgerWork {
                let now = fixture.clock.now
                let event = StoredEvent(id: Identifier.make(at: now), programID: programID, memberID: memberID,
                                        clientID: clientID, type: "check_in", occurredAt: now, recordedAt: now, amount: 0,
                                        orderID: nil, fingerprint: "f", status: "posted", receipt: Data("{}".utf8))
                return LedgerWork(read: LedgerRead(programID: programID, memberID: memberID)) { _ in
                    LedgerPlan(changes: nil, event: event, outcome: clientID)
                }
            }
            func isDuplicate(_ result: Result<LedgerPlan, any Error>) -> Bool {
                guard case .failure(let error) = result, case StoreError.duplicate = error else { return false }
                return true
            }
            let alone = try await store.perform([work("taken", of: member)])
            #expect(alone.count == 1 && isDuplicate(alone[0]))
            // With a batch-mate: the store either fails the refused work alone, or throws having written
            // nothing, and `LedgerWriter` runs each work again alone.
            do {
                let results = try await store.perform([work("taken", of: member), work("fresh", of: other)])
                #expect(results.count == 2 && isDuplicate(results[0]))
                #expect(try await store.event(programID: programID, clientID: "fresh") != nil)
            } catch {
                #expect(try await store.event(programID: programID, clientID: "fresh") == nil)
            }
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "a retried event or request applies once, even when the retries race") { store in
            let fixture = try await LedgerFixture.make(store: store, members: 1, pendingDays: 0)
            let member = fixture.members[0]
            let results = try await withThrowingTaskGroup(of: EventResult.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await fixture.purchase(member, amount: 12_300, order: "A-1", id: "evt-1") }
                }
                return try await group.reduce(into: [EventResult]()) { $0.append($1) }
            }
            #expect(results.filter(\.created).count == 1)
            #expect(Set(results.map(\.receipt)).count == 1)
            let transfers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await fixture.engine.redeem(programCode: "shop", memberID: member,
                                                        body: .object(["points": .int(20)]), requestKey: "checkout-9",
                                                        by: fixture.owner).transfer.id
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(transfers.count == 1)
            let balance = try await fixture.engine.balance(programCode: "shop", memberID: member, by: fixture.owner)
            #expect(balance.available == 123 - 20)
            #expect(balance.growth == 123)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "bad input is refused and changes nothing") { store in
            let fixture = try await LedgerFixture.make(store: store, members: 2, pendingDays: 0)
            let (member, other) = (fixture.members[0], fixture.members[1])
            try await fixture.purchase(member, amount: 10_000, order: "B-1")
            let engine = fixture.engine
            let owner = fixture.owner
            let hold = try await engine.placeHold(programCode: "shop", memberID: member,
                                                  body: .object(["points": .int(10), "ttl_seconds": .int(60)]),
                                                  requestKey: nil, by: owner).hold
            _ = try await engine.voidHold(programCode: "shop", memberID: member, holdID: hold.id, by: owner)
            let expiring = try await engine.placeHold(programCode: "shop", memberID: member,
                                                      body: .object(["points": .int(10), "ttl_seconds": .int(60)]),
                                                      requestKey: nil, by: owner).hold
            fixture.clock.advance(61)
            let before = try await fixture.transferCount()
            let now = JSONValue.string(Timestamp.rfc3339(fixture.clock.now))
            let bad: [(String, () async throws -> Void)] = [
                ("negative amount", { try await fixture.post(["type": "purchase", "member": .string(member), "amount": -5]) }),
                ("unknown member", { try await fixture.post(["type": "purchase", "external_id": "nobody", "amount": 5]) }),
                ("malformed time", { try await fixture.post(["type": "purchase", "member": .string(member), "amount": 5,
                                                            "occurred_at": "yesterday"]) }),
                ("future time", { try await fixture.post(["type": "purchase", "member": .string(member), "amount": 5,
                                                         "occurred_at": "2999-01-01T00:00:00Z"]) }),
                ("refund of an unknown order", { try await fixture.post(["type": "refund", "member": .string(member),
                                                                        "amount": 5, "order_id": "nope"]) }),
                ("refund larger than the order", { try await fixture.post(["type": "refund", "member": .string(member),
                                                                          "amount": 10_001, "order_id": "B-1",
                                                                          "occurred_at": now]) }),
                ("an empty order id", { try await fixture.purchase(member, amount: 5, order: "") }),
                ("an order id with surrounding spaces", { try await fixture.purchase(member, amount: 5, order: " B-2") }),
                ("an order id with a control character", { try await fixture.purchase(member, amount: 5, order: "B\u{1}2") }),
                ("refund before its purchase", { try await fixture.post(["type": "refund", "member": .string(member),
                                                                        "amount": 5, "order_id": "B-1",
                                                                        "occurred_at": .string(Timestamp.rfc3339(
                                                                            fixture.clock.now - 3_600))]) }),
                ("refund of another member's order", { try await fixture.post(["type": "refund", "member": .string(other),
                                                                              "amount": 5, "order_id": "B-1"]) }),
                ("second purchase of one order", { try await fixture.purchase(member, amount: 5, order: "B-1") }),
                ("capture after void", {
                    _ = try await engine.captureHold(programCode: "shop", memberID: member, holdID: hold.id,
                                                     body: .object([:]), by: owner)
                }),
                ("capture of a lapsed hold", {
                    _ = try await engine.captureHold(programCode: "shop", memberID: member, holdID: expiring.id,
                                                     body: .object([:]), by: owner)
                }),
                ("redemption beyond the balance", {
                    _ = try await engine.redeem(programCode: "shop", memberID: member, body: .object(["points": .int(101)]),
                                                requestKey: nil, by: owner)
                }),
                ("zero redemption", {
                    _ = try await engine.redeem(programCode: "shop", memberID: member, body: .object(["points": .int(0)]),
                                                requestKey: nil, by: owner)
                }),
                ("adjustment without a reason", {
                    _ = try await engine.adjust(programCode: "shop", memberID: member, body: .object(["points": .int(5)]),
                                                requestKey: nil, by: owner)
                }),
            ]
            for (name, attempt) in bad {
                do {
                    try await attempt()
                    Issue.record("\(name) was accepted")
                } catch let error as EngineError {
                    switch error {
                    case .invalid, .conflict, .insufficientPoints, .notFound: break
                    default: Issue.record("\(name): unexpected \(error)")
                    }
                }
                #expect(try await fixture.transferCount() == before, "\(name) changed the ledger")
            }
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "a transfer moves points soonest-expiring first, keeping their expiry, once per key") { store in
            // Given a member with 100 points expiring in 30 days and 50 expiring a day later
            let fixture = try await LedgerFixture.make(store: store, members: 2, pendingDays: 0)
            try await fixture.allowTransfers(true)
            let (sender, recipient) = (fixture.members[0], fixture.members[1])
            let start = fixture.clock.now
            try await fixture.purchase(sender, amount: 10_000, order: "T-1")
            fixture.clock.advance(86_400)
            try await fixture.purchase(sender, amount: 5_000, order: "T-2")

            // When 120 points are sent to another member
            let (transfer, created) = try await fixture.transfer(120, from: sender, to: recipient, requestKey: "gift-1")

            // Then both sides are recorded, each naming the other, the sender's from the soonest-expiring lot first
            #expect(created)
            let (sent, received) = (transfer.sent, transfer.received)
            #expect(sent.memberID == sender && received.memberID == recipient)
            #expect(sent.kind == .transfer && received.kind == .transfer)
            #expect(sent.debit == .member(.available) && sent.credit == .system(.transfers))
            #expect(received.debit == .system(.transfers) && received.credit == .member(.available))
            #expect(sent.amount == 120 && received.amount == 120)
            #expect(sent.reference == "transfer:\(received.id)" && received.reference == "transfer:\(sent.id)")
            #expect(sent.reason == "gift" && sent.actor == fixture.owner.keyID && received.actor == fixture.owner.keyID)
            #expect(sent.allocations.map(\.amount) == [100, 20])
            #expect(try await fixture.available(sender) == 30)
            // and the recipient's points expire when the sender's would have
            let balance = try await fixture.engine.balance(programCode: "shop", memberID: recipient, by: fixture.owner)
            #expect(balance.available == 120)
            #expect(balance.lifetimeEarned == 0, "received points were not earned")
            #expect(balance.expiring.map(\.points) == [100, 20])
            #expect(balance.expiring.map(\.at) == [start + 30 * 86_400, start + 31 * 86_400])

            // When the request is retried with its key, it answers with what it recorded and moves nothing
            let retried = try await fixture.transfer(120, from: sender, to: recipient, requestKey: "gift-1")
            #expect(!retried.created)
            #expect(retried.transfer.sent.id == sent.id && retried.transfer.received.id == received.id)
            #expect(try await fixture.available(sender) == 30)

            // Then the received points are gone when the sent ones would have been
            fixture.clock.advance(29 * 86_400)
            #expect(try await fixture.available(recipient) == 20)

            // And neither side can be reversed
            for (member, side) in [(sender, sent), (recipient, received)] {
                await #expect(throws: EngineError.conflict(code: "not_reversible",
                                                           detail: "A transfer of kind 'transfer' cannot be reversed.")) {
                    try await fixture.engine.reverse(programCode: "shop", memberID: member, transferID: side.id,
                                                     body: .object(["reason": "mistake"]), requestKey: nil, by: fixture.owner)
                }
            }
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "transfers racing both ways between two members conserve every point") { store in
            // Given two members with 1,000 points each
            let fixture = try await LedgerFixture.make(store: store, members: 2, pendingDays: 0)
            try await fixture.allowTransfers(true)
            let (first, second) = (fixture.members[0], fixture.members[1])
            for member in fixture.members {
                _ = try await fixture.engine.adjust(programCode: "shop", memberID: member,
                                                    body: .object(["points": .int(1000), "reason": .string("welcome")]),
                                                    requestKey: nil, by: fixture.owner)
            }

            // When 200 transfers race, half each way
            let moved = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let points = Int64(index % 37 + 1) * 3
                        let (from, to) = index.isMultiple(of: 2) ? (first, second) : (second, first)
                        do {
                            try await fixture.transfer(points, from: from, to: to)
                            return from == first ? points : -points
                        } catch EngineError.insufficientPoints {
                            return 0
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }

            // Then each member holds exactly what the successful transfers left, and no point was lost
            let net = moved.reduce(0, +)
            #expect(moved.filter { $0 != 0 }.count > 100, "most transfers fit the balances")
            #expect(try await fixture.available(first) == 1000 - net)
            #expect(try await fixture.available(second) == 1000 + net)
            let verification = try await fixture.engine.verifyLedger(programCode: "shop")
            #expect(verification.breaches == [])
            #expect(verification.balances[.points]?["system:transfers"] == 0)
        },
        StoreContractCase(name: "a transfer is refused whole: too few points, a bad recipient, or not allowed") { store in
            // Given a program that does not let members transfer points, and a member with 10 points
            let fixture = try await LedgerFixture.make(store: store, members: 3, pendingDays: 0)
            let (sender, recipient, erased) = (fixture.members[0], fixture.members[1], fixture.members[2])
            _ = try await fixture.engine.adjust(programCode: "shop", memberID: sender,
                                                body: .object(["points": .int(10), "reason": .string("welcome")]),
                                                requestKey: nil, by: fixture.owner)
            _ = try await fixture.engine.eraseMember(programCode: "shop", id: erased, by: fixture.owner)
            let before = try await fixture.transferCount()

            // When a member sends points, it is refused by the configuration
            do {
                try await fixture.transfer(5, from: sender, to: recipient)
                Issue.record("a transfer was accepted where the configuration does not allow it")
            } catch EngineError.conflict(let code, _) {
                #expect(code == "transfers_not_allowed")
            }

            // When transfers are allowed, too many points and bad recipients are still refused
            try await fixture.allowTransfers(true)
            await #expect(throws: EngineError.insufficientPoints(available: 10, requested: 11)) {
                try await fixture.transfer(11, from: sender, to: recipient)
            }
            let badRecipients: [(String, String)] = [
                (sender, "same_member"), (erased, "member_erased"), ("0190b1c4-0000-7000-8000-000000000000", "unknown_member"),
                ("not-an-id", "unknown_member"),
            ]
            for (to, code) in badRecipients {
                do {
                    try await fixture.transfer(5, from: sender, to: to)
                    Issue.record("a transfer to \(to) was accepted")
                } catch EngineError.invalid(let error) {
                    #expect(error.faults.map(\.pointer) == ["/to"])
                    #expect(error.faults.map(\.code) == [code])
                }
            }
            do {
                _ = try await fixture.engine.transferPoints(programCode: "shop", memberID: sender,
                                                            body: .object(["to": .string(recipient), "points": 0]),
                                                            requestKey: nil, by: fixture.owner)
                Issue.record("a transfer of no points was accepted")
            } catch EngineError.invalid(let error) {
                #expect(error.faults.map(\.pointer) == ["/points"])
            }

            // Then nothing moved
            #expect(try await fixture.transferCount() == before)
            #expect(try await fixture.available(sender) == 10)
            #expect(try await fixture.available(recipient) == 0)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "an event held for review is released once, as of when it occurred, by the operator") { store in
            // Given a program that holds a member's second event within an hour for review
            let (fixture, member) = try await holdingForReview(store)
            let engine = fixture.engine
            let occurredAt = fixture.clock.now - 7_200
            let first = ["type": "purchase", "member": .string(member), "amount": 1_000, "order_id": "R-1",
                         "occurred_at": .string(Timestamp.rfc3339(occurredAt))] as [String: JSONValue]
            try await fixture.post(first)
            let held: [String: JSONValue] = [
                "id": "held-1", "type": "purchase", "member": .string(member), "amount": 12_800, "order_id": "R-2",
                "occurred_at": .string(Timestamp.rfc3339(occurredAt + 600)),
            ]
            let preview = try await engine.previewEvent(programCode: "shop", body: .object(held), by: fixture.owner)
            #expect(preview.status == "preview" && preview.review?.heldFor.isEmpty == false)
            #expect(!preview.awards.isEmpty && preview.awards.allSatisfy { $0.state == "review" })
            let heldReceipt = try await fixture.post(held).receipt
            #expect(heldReceipt.status == "review")
            #expect(heldReceipt.awards.map(\.state) == preview.awards.map(\.state))
            #expect(heldReceipt.review?.heldFor.isEmpty == false)
            #expect(heldReceipt.review?.outcome == nil)
            #expect(try await engine.events(programCode: "shop", status: nil, limit: nil, cursor: nil, by: fixture.owner)
                .items.map(\.id) == ["held-1"])
            #expect(try await fixture.available(member) == 10)

            // When an operator releases it days later
            fixture.clock.advance(3 * 86_400)
            let operatorKey = Principal(keyID: "operator-key", role: .operator, programID: nil)
            let released = try await engine.releaseEvent(programCode: "shop", clientID: "held-1",
                                                         body: .object(["reason": "checked"]), by: operatorKey)

            // Then it is posted as of when it occurred, with the operator as actor, under its first id
            #expect(released.status == "posted")
            #expect(released.event == heldReceipt.event)
            #expect(released.recordedAt == heldReceipt.recordedAt)
            #expect(released.review?.outcome == "released")
            #expect(released.review?.by == "operator-key")
            #expect(released.review?.reason == "checked")
            #expect(released.review?.heldFor == heldReceipt.review?.heldFor)
            let points = try #require(released.awards.first { $0.unit == .points })
            #expect(points.amount == 128 && points.state == "available")
            #expect(points.expiresAt == occurredAt + 600 + 30 * 86_400)
            #expect(try await fixture.available(member) == 138)
            let earned = try await engine.ledger(programCode: "shop", memberID: member, limit: 50, cursor: nil,
                                                 by: fixture.owner).items.filter { $0.eventID == released.event }
            #expect(!earned.isEmpty)
            #expect(earned.allSatisfy { $0.actor == "operator-key" && $0.occurredAt == occurredAt + 600 })

            // And deciding again answers the same, a retry of the event gets the new receipt, and nothing posts twice
            #expect(try await engine.releaseEvent(programCode: "shop", clientID: "held-1", body: .object([:]),
                                                  by: operatorKey) == released)
            let retry = try await fixture.post(held)
            #expect(!retry.created)
            #expect(retry.receipt == released)
            await #expect(throws: EngineError.conflict(code: "not_in_review",
                                                       detail: "The event 'held-1' is released, not in review.")) {
                try await engine.rejectEvent(programCode: "shop", clientID: "held-1", body: .object([:]), by: operatorKey)
            }
            #expect(try await fixture.available(member) == 138)
            #expect(try await engine.events(programCode: "shop", status: "review", limit: nil, cursor: nil,
                                            by: fixture.owner).items == [])
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "an event held for review and rejected posts nothing, ever") { store in
            // Given a held event
            let (fixture, member) = try await holdingForReview(store)
            let engine = fixture.engine
            let first = try await fixture.purchase(member, amount: 1_000, order: "J-1").receipt
            let held = try await fixture.purchase(member, amount: 5_000, order: "J-2", id: "held-2").receipt
            #expect(held.status == "review")
            let before = try await fixture.transferCount()

            // When an operator rejects it, with or without a reason
            let rejected = try await engine.rejectEvent(programCode: "shop", clientID: "held-2", body: .object([:]),
                                                        by: fixture.owner)

            // Then it is rejected, gives nothing, and stays rejected
            #expect(rejected.status == "rejected")
            #expect(rejected.review?.outcome == "rejected" && rejected.review?.by == fixture.owner.keyID)
            #expect(rejected.awards.map(\.state) == held.awards.map { _ in "rejected" })
            #expect(try await engine.rejectEvent(programCode: "shop", clientID: "held-2", body: .object([:]),
                                                 by: fixture.owner) == rejected)
            await #expect(throws: EngineError.conflict(code: "not_in_review",
                                                       detail: "The event 'held-2' is rejected, not in review.")) {
                try await engine.releaseEvent(programCode: "shop", clientID: "held-2", body: .object([:]), by: fixture.owner)
            }
            #expect(try await fixture.purchase(member, amount: 5_000, order: "J-2", id: "held-2").receipt == rejected)
            #expect(try await engine.event(programCode: "shop", clientID: "held-2", by: fixture.owner) == rejected)
            #expect(try await engine.events(programCode: "shop", status: "rejected", limit: nil, cursor: nil,
                                            by: fixture.owner).items == [rejected])
            #expect(try await fixture.transferCount() == before)
            #expect(try await fixture.available(member) == 10)

            #expect(try await engine.events(programCode: "shop", status: "review", limit: nil, cursor: nil,
                                            by: fixture.owner).items == [])

            // And an event that was never held, or that does not exist, cannot be decided on
            await #expect(throws: EngineError.conflict(code: "not_in_review",
                                                       detail: "The event '\(first.id)' is posted, not in review.")) {
                try await engine.releaseEvent(programCode: "shop", clientID: first.id, body: .object([:]), by: fixture.owner)
            }
            await #expect(throws: EngineError.notFound(resource: "event", id: "nope")) {
                try await engine.rejectEvent(programCode: "shop", clientID: "nope", body: .object([:]), by: fixture.owner)
            }
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "a refund takes back what its order earned and still stands, past the limits, once its purchase is posted") {
            store in
            // Given a program that holds a member's second event within an hour for review, a
            // member with 50 points of their own, and a purchase whose points an operator reversed
            let (fixture, member) = try await holdingForReview(store)
            let engine = fixture.engine
            let owner = fixture.owner
            func at(_ date: Date) -> JSONValue { .string(Timestamp.rfc3339(date)) }
            let start = fixture.clock.now - 10 * 3_600
            _ = try await engine.adjust(programCode: "shop", memberID: member,
                                        body: .object(["points": 50, "reason": "seed"]), requestKey: nil, by: owner)
            let reversed = try await fixture.post(["type": "purchase", "member": .string(member), "amount": 10_000,
                                                   "order_id": "V-1", "occurred_at": at(start)]).receipt
            let earning = try #require(try await engine.ledger(programCode: "shop", memberID: member, limit: 50, cursor: nil,
                                                               by: owner).items
                .first { $0.eventID == reversed.event && $0.kind == .earn && $0.unit == .points })
            _ = try await engine.reverse(programCode: "shop", memberID: member, transferID: earning.id,
                                         body: .object(["reason": "fraud"]), requestKey: nil, by: owner)
            #expect(try await fixture.available(member) == 50)

            // When the order is refunded in full within the hour, which would hold any other event
            let refund = try await fixture.post(["type": "refund", "member": .string(member), "amount": 10_000,
                                                 "order_id": "V-1", "occurred_at": at(start + 600)]).receipt

            // Then the refund is posted and takes back the growth, but no points: the reversal took them
            #expect(refund.status == "posted")
            #expect(refund.clawbacks.map(\.unit) == [.growth])
            #expect(try await fixture.available(member) == 50)

            // And a refund of a purchase held for review is refused until it is released, then posted
            try await fixture.post(["type": "purchase", "member": .string(member), "amount": 1_000, "order_id": "V-2",
                                    "occurred_at": at(start + 3 * 3_600)])
            let held = try await fixture.post(["id": "held-3", "type": "purchase", "member": .string(member),
                                               "amount": 3_000, "order_id": "V-3",
                                               "occurred_at": at(start + 3 * 3_600 + 300)]).receipt
            #expect(held.status == "review")
            let before = try await fixture.transferCount()
            let refundOfHeld: [String: JSONValue] = ["id": "refund-3", "type": "refund", "member": .string(member),
                                                     "amount": 3_000, "order_id": "V-3"]
            await #expect(throws: EngineError.conflict(
                code: "order_in_review",
                detail: "The purchase of the order 'V-3' is held for review; refund it once it is released.")) {
                try await fixture.post(refundOfHeld)
            }
            #expect(try await fixture.transferCount() == before)
            _ = try await engine.releaseEvent(programCode: "shop", clientID: "held-3", body: .object([:]), by: owner)
            #expect(try await fixture.available(member) == 50 + 10 + 30)
            #expect(try await fixture.post(refundOfHeld).receipt.status == "posted")
            #expect(try await fixture.available(member) == 50 + 10)

            // And a rejected purchase's order, or a refund dated before its purchase, is refused
            try await fixture.post(["id": "held-4", "type": "purchase", "member": .string(member), "amount": 2_000,
                                    "order_id": "V-4", "occurred_at": at(start + 3 * 3_600 + 600)])
            _ = try await engine.rejectEvent(programCode: "shop", clientID: "held-4", body: .object([:]), by: owner)
            let refused: [(String, [String: JSONValue])] = [
                ("order_not_posted", ["type": "refund", "member": .string(member), "amount": 2_000, "order_id": "V-4"]),
                ("before_order", ["type": "refund", "member": .string(member), "amount": 1_000, "order_id": "V-2",
                                  "occurred_at": at(start + 3 * 3_600 - 1)]),
            ]
            let settled = try await fixture.transferCount()
            for (code, body) in refused {
                do {
                    try await fixture.post(body)
                    Issue.record("a refund was accepted where \(code) was due")
                } catch let EngineError.invalid(error) {
                    #expect(error.faults.map(\.code) == [code])
                }
            }
            #expect(try await fixture.transferCount() == settled)
            #expect(try await fixture.available(member) == 50 + 10)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "a rule capped by the day gives its cap again the next day, and one capped in all never more than its cap") {
            store in
            // Given the fixture's program: a check-in gives 10 points, at most 10 a day; a review
            // gives 40, at most 100 in a member's life
            let fixture = try await LedgerFixture.make(store: store, members: 1, pendingDays: 0)
            let member = fixture.members[0]
            func award(_ type: String) async throws -> (amount: Int64, cappedBy: String?) {
                let receipt = try await fixture.post(["type": .string(type), "member": .string(member)]).receipt
                let award = try #require(receipt.awards.first { $0.rule == type })
                #expect(award.state == (award.amount == 0 ? "capped" : "available"))
                return (award.amount, award.cappedBy)
            }

            // When the member checks in twice a day for three days, then writes a review a day for four
            var checkIns: [Int64] = []
            for _ in 0..<3 {
                for _ in 0..<2 { checkIns.append(try await award("check_in").amount) }
                fixture.clock.advance(86_400)
            }
            var reviews: [Int64] = [], cuts: [String?] = []
            for _ in 0..<4 {
                let (amount, cappedBy) = try await award("review")
                reviews.append(amount)
                cuts.append(cappedBy)
                fixture.clock.advance(86_400)
            }

            // Then each day's first check-in earns and its second earns nothing; the reviews earn
            // 40 twice, the 20 left of 100 (cut by the lifetime cap), then nothing; and each
            // receipt lists the rule, with the cap that left nothing of it
            #expect(checkIns == [10, 0, 10, 0, 10, 0])
            #expect(reviews == [40, 40, 20, 0])
            #expect(cuts == [nil, nil, "per_member_lifetime", "per_member_lifetime"])
            #expect(try await fixture.available(member) == 30 + 100)
            #expect(try await fixture.audit() == [])
        },
        StoreContractCase(name: "caps, limits, tier windows and plan spend count a member's own events and earnings in their time") {
            store in
            // Given a member's purchase now, a second held for review a minute later, a check-in two
            // days before, a partial refund two hours after; and another member's purchase now
            let (fixture, member) = try await holdingForReview(store)
            let other = try await fixture.engine.enrol(programCode: "shop", body: .object([
                "external_id": .string("M-other"), "channel": .string("app")]), by: fixture.owner).id
            let start = fixture.clock.now
            func at(_ seconds: TimeInterval) -> JSONValue { .string(Timestamp.rfc3339(start + seconds)) }
            try await fixture.purchase(member, amount: 10_000, order: "W-1")
            fixture.clock.advance(60)
            #expect(try await fixture.purchase(member, amount: 5_000, order: "W-2", id: "held-w2").receipt.status == "review")
            try await fixture.post(["type": "check_in", "member": .string(member), "occurred_at": at(-2 * 86_400)])
            try await fixture.post(["type": "purchase", "member": .string(other), "amount": 7_000, "order_id": "W-3",
                                    "occurred_at": at(0)])
            fixture.clock.advance(3 * 3_600)
            try await fixture.post(["type": "refund", "member": .string(member), "amount": 4_000, "order_id": "W-1",
                                    "occurred_at": at(2 * 3_600)])
            let programID = fixture.program.id
            let day = DateInterval(start: start, duration: 86_400)
            let read = LedgerRead(programID: programID, memberID: member,
                                  capRules: [CappedRule("base", day: true, lifetime: true),
                                             CappedRule("check_in", day: true, lifetime: true)], capDay: day,
                                  limitDay: day, limitHour: DateInterval(start: start, duration: 3_600))
            func spend(from: TimeInterval, through: TimeInterval) async throws -> Int64 {
                try await store.qualifyingValue(programID: programID, memberID: member, metric: .spend,
                                                from: start + from, through: start + through)
            }
            func orders() async throws -> Int64 {
                try await store.qualifyingValue(programID: programID, memberID: member, metric: .orders,
                                                from: start - 3 * 86_400, through: start + 3 * 3_600)
            }
            func planSpend(through: TimeInterval) async throws -> Int64 {
                try await store.qualifyingSpend(memberID: member, in: [DateInterval(start: start, end: start + through)])
            }

            // Then the caps count what each rule gave the member, ever and in the day (its start
            // included); the points limit counts the day's points; the events limit counts the
            // member's events in the hour (its start excluded, a held one included)
            var snapshot = try await store.ledgerSnapshot(read)
            #expect(snapshot.capUsage["base"] == CapUsage(day: 100, lifetime: 100))
            #expect(snapshot.capUsage["check_in"] == CapUsage(day: 0, lifetime: 10))
            #expect(snapshot.pointsEarnedInDay == 100)
            #expect(snapshot.eventsInHour == 1)
            // And a window no cap of the rule counts is not read: the count of a rule capped by
            // the day does not read the member's whole history, nor one capped in all the day's
            var narrower = read
            narrower.capRules = [CappedRule("base", day: true, lifetime: false), CappedRule("check_in", day: false, lifetime: true)]
            #expect(try await store.ledgerSnapshot(narrower).capUsage
                    == ["base": CapUsage(day: 100, lifetime: 0), "check_in": CapUsage(day: 0, lifetime: 10)])
            narrower.capRules = [CappedRule("base", day: false, lifetime: true)]
            #expect(try await store.ledgerSnapshot(narrower).capUsage == ["base": CapUsage(day: 0, lifetime: 100)])
            // And the tier windows and the plans' spend count posted purchases less posted refunds
            // (both ends of a tier window included, a plan span's end excluded), and purchases not
            // wholly refunded
            #expect(try await spend(from: 0, through: 3 * 3_600) == 6_000)
            #expect(try await spend(from: 0.001, through: 2 * 3_600) == -4_000)
            #expect(try await spend(from: 0, through: 2 * 3_600 - 0.001) == 10_000)
            #expect(try await orders() == 1)
            #expect(try await planSpend(through: 3 * 3_600) == 6_000)
            #expect(try await planSpend(through: 2 * 3_600) == 10_000)

            // When the held purchase is released, it counts as posted at its own time
            _ = try await fixture.engine.releaseEvent(programCode: "shop", clientID: "held-w2", body: .object([:]),
                                                      by: fixture.owner)
            snapshot = try await store.ledgerSnapshot(read)
            #expect(snapshot.capUsage["base"] == CapUsage(day: 150, lifetime: 150))
            #expect(snapshot.pointsEarnedInDay == 150)
            #expect(snapshot.eventsInHour == 1)
            #expect(try await spend(from: 0, through: 3 * 3_600) == 11_000)
            #expect(try await orders() == 2)
            #expect(try await planSpend(through: 2 * 3_600) == 15_000)
            #expect(try await fixture.audit() == [])
        },
    ]

    /// A program that holds a member's second event within an hour for review, and its one member.
    static func holdingForReview(_ store: any PatronStore) async throws -> (LedgerFixture, String) {
        let fixture = try await LedgerFixture.make(store: store, members: 1, pendingDays: 0,
                                                   limits: .object(["events_per_member_per_hour": 1, "on_exceed": "review"]))
        return (fixture, fixture.members[0])
    }

    /// Random purchases, refunds, check-ins, redemptions, holds, adjustments, transfers and jobs across the
    /// fixture's members, with time passing; faults the engine reports are expected, others fail.
    public static func randomWalk(_ fixture: LedgerFixture, steps: Int, random: inout SeededGenerator) async throws {
        let engine = fixture.engine
        let owner = fixture.owner
        /// Each order's parties as the event named them: `member`, or `buyer` and `executor`.
        var orders: [(parties: [String: JSONValue], id: String, left: Int64)] = []
        var holds: [(member: String, id: String)] = []
        for step in 0..<steps {
            fixture.clock.advance(TimeInterval(Int.random(in: 0...(2 * 86_400), using: &random)))
            let member = fixture.members.randomElement(using: &random)!
            // Spending, adjusting and reversing sometimes act on the organisation's own ledger.
            let holder = Int.random(in: 0..<4, using: &random) == 0 ? fixture.organisation : member
            do {
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<30:
                    let amount = Int64.random(in: 100...50_000, using: &random)
                    let order = "O-\(step)"
                    let back = TimeInterval(Int.random(in: 0...(40 * 86_400), using: &random))
                    // A third of the purchases are B2B: the member buys for the organisation, and
                    // the awards are split between them.
                    let parties: [String: JSONValue] = Int.random(in: 0..<3, using: &random) == 0
                        ? ["buyer": .string(fixture.organisation), "executor": .string(member)] : ["member": .string(member)]
                    try await fixture.post(parties.merging(["type": "purchase", "amount": .int(amount), "order_id": .string(order),
                                                            "occurred_at": .string(Timestamp.rfc3339(fixture.clock.now - back))],
                                                           uniquingKeysWith: { $1 }))
                    orders.append((parties, order, amount))
                case 30..<40:
                    guard let index = orders.indices.randomElement(using: &random), orders[index].left > 0 else { continue }
                    let amount = Int64.random(in: 1...orders[index].left, using: &random)
                    try await fixture.post(orders[index].parties.merging(
                        ["type": "refund", "amount": .int(amount), "order_id": .string(orders[index].id)], uniquingKeysWith: { $1 }))
                    orders[index].left -= amount
                case 40..<48:
                    try await fixture.post(["type": "check_in", "member": .string(member)])
                case 48..<62:
                    _ = try await engine.redeem(programCode: "shop", memberID: holder,
                                                body: .object(["points": .int(Int64.random(in: 1...300, using: &random))]),
                                                requestKey: nil, by: owner)
                case 62..<72:
                    let hold = try await engine.placeHold(
                        programCode: "shop", memberID: holder,
                        body: .object(["points": .int(Int64.random(in: 1...200, using: &random)),
                                       "ttl_seconds": .int(Int64.random(in: 60...172_800, using: &random))]),
                        requestKey: nil, by: owner).hold
                    holds.append((holder, hold.id))
                case 72..<80:
                    guard let hold = holds.randomElement(using: &random) else { continue }
                    let body: JSONValue = Bool.random(using: &random)
                        ? .object([:]) : .object(["points": .int(Int64.random(in: 1...200, using: &random))])
                    _ = try await engine.captureHold(programCode: "shop", memberID: hold.member, holdID: hold.id, body: body,
                                                     by: owner)
                case 80..<85:
                    guard let hold = holds.randomElement(using: &random) else { continue }
                    _ = try await engine.voidHold(programCode: "shop", memberID: hold.member, holdID: hold.id, by: owner)
                case 85..<92:
                    var points = Int64.random(in: -200...200, using: &random)
                    if points == 0 { points = 1 }
                    _ = try await engine.adjust(programCode: "shop", memberID: holder,
                                                body: .object(["points": .int(points), "reason": .string("goodwill")]),
                                                requestKey: nil, by: owner)
                case 95..<98:
                    let recipient = fixture.members.filter { $0 != member }.randomElement(using: &random)!
                    try await fixture.transfer(Int64.random(in: 1...300, using: &random), from: member, to: recipient)
                case 92..<95:
                    let recent = try await engine.ledger(programCode: "shop", memberID: holder, limit: 20, cursor: nil,
                                                         by: owner).items
                    guard let original = recent.randomElement(using: &random) else { continue }
                    _ = try await engine.reverse(programCode: "shop", memberID: holder, transferID: original.id,
                                                 body: .object(["reason": "mistake"]), requestKey: nil, by: owner)
                default:
                    let job = LedgerJob.allCases.randomElement(using: &random)!
                    _ = try await engine.runJob(programCode: "shop", job: job.rawValue, asOf: nil, by: owner)
                }
            } catch let error as EngineError {
                switch error {
                case .insufficientPoints, .conflict, .invalid: continue
                default: throw error
                }
            }
        }
    }
}
