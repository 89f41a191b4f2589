import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Synchronization
import Testing

/// The tier model on a real store, with the engine's clock in the test's hands: upgrades after
/// events at a threshold exactly, a refund after an upgrade, reviews at their instant in the
/// program's time zone with the window's edge, manual assignments and their end, each metric's
/// qualifying value, and reviews run twice at once.
@Suite("Tiers on the stores")
struct TierEngineTests {
    final class Clock: Sendable {
        let instant: Mutex<Date>
        init(_ text: String) { instant = Mutex(TierEngineTests.at(text)) }
        func set(_ text: String) { instant.withLock { $0 = TierEngineTests.at(text) } }
        func now() -> Date { instant.withLock { $0 } }
    }

    static let owner = Principal(keyID: "test-owner", role: .owner, programID: nil)

    static func at(_ text: String) -> Date {
        try! Date(text, strategy: .iso8601)
    }

    static func json(_ text: String) throws -> JSONValue {
        try JSONValue(parsing: Data(text.utf8))
    }

    /// A Shanghai program with CONFIG.md's example tiers on `metric`, created at `created`; growth
    /// is event.amount / 100, and a `gold_bonus` rule gives 7 points to members who are gold before
    /// the event.
    static func program(_ engine: Engine, metric: String = "growth", extra: String = "") async throws {
        _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY", timeZone: "Asia/Shanghai"),
                                           by: owner)
        _ = try await engine.updateConfig(programCode: "shop", document: try json("""
            {"currency":"CNY","time_zone":"Asia/Shanghai",
             "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                              {"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"},
                              {"code":"gold_bonus","on":"purchase","when":"member.tier == 'gold'","award":"7"}],
             "tiers":{"metric":"\(metric)","window":{"kind":"rolling_months","months":12},
                      "review":{"kind":"yearly","month":1,"day":1},"downgrade":"one_down",
                      "levels":[{"code":"silver","name":"银卡","threshold":0},
                                {"code":"gold","name":"金卡","threshold":5000,"retain":4000},
                                {"code":"black","name":"黑卡","threshold":10000,"invitation_only":true},
                                {"code":"platinum","name":"白金卡","threshold":20000,"retain":16000}]\(extra)}}
            """), expectedVersion: nil, by: owner)
    }

    static func enrol(_ engine: Engine, _ externalID: String) async throws -> String {
        try await engine.enrol(programCode: "shop", body: try json(#"{"external_id":"\#(externalID)","channel":"store"}"#),
                               by: owner).id
    }

    @discardableResult
    static func purchase(_ engine: Engine, _ member: String, _ id: String, amount: Int, at: String) async throws
        -> EventReceipt {
        try await engine.recordEvent(programCode: "shop", body: try json("""
            {"id":"\(id)","type":"purchase","member":"\(member)","occurred_at":"\(at)","amount":\(amount),"order_id":"\(id)"}
            """), by: owner).receipt
    }

    static func refund(_ engine: Engine, _ member: String, _ id: String, order: String, amount: Int, at: String) async throws {
        _ = try await engine.recordEvent(programCode: "shop", body: try json("""
            {"id":"\(id)","type":"refund","member":"\(member)","occurred_at":"\(at)","amount":\(amount),"order_id":"\(order)"}
            """), by: owner)
    }

    static func review(_ engine: Engine, asOf: String) async throws -> JobReport {
        try await engine.runJob(programCode: "shop", job: "tier-review", asOf: at(asOf), by: owner)
    }

    @Test("upgrades at a threshold exactly, keeps the level after a refund, and reviews at 00:00 in the program's zone",
          arguments: TestStoreKind.available)
    func upgradeRefundReview(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = Clock("2026-01-10T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            try await Self.program(engine)
            let member = try await Self.enrol(engine, "A")

            // 4,999 growth: one short of gold
            clock.set("2026-02-01T10:00:00+08:00")
            try await Self.purchase(engine, member, "e1", amount: 499_900, at: "2026-02-01T10:00:00+08:00")
            var standing = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner)
            #expect(standing.level.code == "silver")
            #expect(standing.qualifyingValue == 4999)
            #expect(standing.next?.level.code == "gold", "black is invitation-only")
            #expect(standing.next?.needed == 1)
            #expect(standing.keep == nil, "the base level cannot be lost")

            // Exactly 5,000: gold at once; the event's own rules saw the member as silver
            let second = try await Self.purchase(engine, member, "e2", amount: 100, at: "2026-02-01T10:00:00+08:00")
            #expect(!second.awards.contains { $0.rule == "gold_bonus" })
            standing = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner)
            #expect(standing.level.code == "gold")
            #expect(standing.since == Self.at("2026-02-01T10:00:00+08:00"))
            #expect(standing.next?.level.code == "platinum")
            #expect(standing.next?.needed == 15_000)
            #expect(standing.validUntil == Self.at("2027-01-01T00:00:00+08:00"))
            #expect(standing.keep?.needed == 0)
            let history = try await engine.tierHistory(programCode: "shop", memberID: member, limit: nil, cursor: nil,
                                                        by: Self.owner).items
            #expect(history.map(\.cause) == [.upgrade])
            #expect(history.first?.from == nil)
            #expect(history.first?.to == "gold")
            #expect(history.first?.qualifyingValue == 5000)
            #expect(history.first?.eventID == second.id)

            // The next event's rules see gold
            let third = try await Self.purchase(engine, member, "e3", amount: 100, at: "2026-02-01T10:00:00+08:00")
            #expect(third.awards.first { $0.rule == "gold_bonus" }?.amount == 7)

            // A refund drops the value far below the threshold: the level stays until the review
            clock.set("2026-03-01T10:00:00+08:00")
            try await Self.refund(engine, member, "r1", order: "e1", amount: 499_900, at: "2026-03-01T10:00:00+08:00")
            standing = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner)
            #expect(standing.level.code == "gold")
            #expect(standing.qualifyingValue == 2)
            #expect(standing.keep?.retain == 4000)
            #expect(standing.keep?.needed == 3998)

            // The review at 00:00 on 1 January in Shanghai (16:00 UTC the day before), not a moment before
            clock.set("2027-01-02T00:00:00+08:00")
            var report = try await Self.review(engine, asOf: "2026-12-31T23:59:59.999+08:00")
            #expect(report.tierReview?.reviews == [])
            #expect(try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner).level.code == "gold")
            report = try await Self.review(engine, asOf: "2026-12-31T16:00:00Z")
            #expect(report.tierReview?.reviews == [Self.at("2027-01-01T00:00:00+08:00")])
            #expect(report.tierReview?.downgraded == 1)
            standing = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner)
            #expect(standing.level.code == "silver")
            #expect(standing.since == Self.at("2027-01-01T00:00:00+08:00"))
            let latest = try await engine.tierHistory(programCode: "shop", memberID: member, limit: 1, cursor: nil,
                                                       by: Self.owner)
            #expect(latest.items.first?.cause == .review)
            #expect(latest.items.first?.from == "gold")
            #expect(latest.items.first?.qualifyingValue == 2)
            #expect(latest.nextCursor != nil)

            // Running the job again does nothing new
            report = try await Self.review(engine, asOf: "2027-01-01T12:00:00+08:00")
            #expect(report.tierReview?.reviews == [])
            #expect(try await engine.tierHistory(programCode: "shop", memberID: member, limit: nil, cursor: nil,
                                                 by: Self.owner).items.count == 2)
        }
    }

    @Test("a review counts the window (review − 12 months, review]: an event exactly 12 months before is out",
          arguments: TestStoreKind.available)
    func windowEdgeAtReview(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = Clock("2025-12-01T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            try await Self.program(engine)
            let edge = try await Self.enrol(engine, "EDGE")
            let inside = try await Self.enrol(engine, "INSIDE")
            clock.set("2026-06-01T00:00:00+08:00")
            try await Self.purchase(engine, edge, "a1", amount: 500_000, at: "2026-01-01T00:00:00.000+08:00")
            try await Self.purchase(engine, inside, "b1", amount: 500_000, at: "2026-01-01T00:00:00.001+08:00")
            for member in [edge, inside] {
                #expect(try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner).level.code == "gold")
            }
            clock.set("2027-01-05T00:00:00+08:00")
            let report = try await Self.review(engine, asOf: "2027-01-01T00:00:00+08:00")
            // The review of 1 January 2026, missed, runs first; it leaves members whose level changed
            // after it alone.
            #expect(report.tierReview?.reviews == [Self.at("2026-01-01T00:00:00+08:00"), Self.at("2027-01-01T00:00:00+08:00")])
            #expect(report.tierReview?.members == 4)
            #expect(report.tierReview?.downgraded == 1)
            #expect(try await engine.tierStanding(programCode: "shop", memberID: edge, by: Self.owner).level.code == "silver")
            #expect(try await engine.tierStanding(programCode: "shop", memberID: inside, by: Self.owner).level.code == "gold")
        }
    }

    @Test("a manual assignment holds through a review until its end, then the member goes where their value reaches",
          arguments: TestStoreKind.available)
    func manualAssignment(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = Clock("2026-01-10T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            try await Self.program(engine)
            let member = try await Self.enrol(engine, "VIP")
            clock.set("2026-06-01T00:00:00+08:00")
            try await Self.purchase(engine, member, "v1", amount: 600_000, at: "2026-06-01T00:00:00+08:00")

            // Refused: an unknown level, an end in the past, no reason
            for body in [#"{"level":"diamond","reason":"x"}"#, #"{"level":"black","until":"2026-05-01T00:00:00Z","reason":"x"}"#,
                         #"{"level":"black","reason":"  "}"#] {
                await #expect(throws: EngineError.self) {
                    try await engine.assignTier(programCode: "shop", memberID: member, body: try Self.json(body), by: Self.owner)
                }
            }
            #expect(try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner).level.code == "gold")

            // The invitation-only level, until 1 March 2027
            clock.set("2026-06-02T00:00:00+08:00")
            let change = try await engine.assignTier(programCode: "shop", memberID: member, body: try Self.json(
                #"{"level":"black","until":"2027-03-01T00:00:00+08:00","reason":"launch guest"}"#), by: Self.owner)
            #expect(change.cause == .manual)
            #expect(change.from == "gold")
            #expect(change.actor == "test-owner")
            var standing = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner)
            #expect(standing.level.code == "black")
            #expect(standing.manualUntil == Self.at("2027-03-01T00:00:00+08:00"))
            #expect(standing.validUntil == standing.manualUntil)
            #expect(standing.keep == nil)

            // The review on 1 January leaves the member there
            clock.set("2027-01-02T00:00:00+08:00")
            var report = try await Self.review(engine, asOf: "2027-01-02T00:00:00+08:00")
            #expect(report.tierReview?.downgraded == 0)
            #expect(try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner).level.code == "black")

            // At the end, the member goes to the level their value reaches then (6,000 in the window: gold)
            clock.set("2027-03-05T00:00:00+08:00")
            report = try await Self.review(engine, asOf: "2027-03-01T00:00:00+08:00")
            #expect(report.tierReview?.assignmentsEnded == 1)
            standing = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner)
            #expect(standing.level.code == "gold")
            #expect(standing.since == Self.at("2027-03-01T00:00:00+08:00"))
            let causes = try await engine.tierHistory(programCode: "shop", memberID: member, limit: nil, cursor: nil,
                                                       by: Self.owner).items.map(\.cause)
            #expect(causes == [.manualEnded, .manual, .upgrade])
        }
    }

    @Test("each metric counts what it says: spend less refunds, orders less fully refunded ones, points earned",
          arguments: TestStoreKind.available)
    func metrics(_ kind: TestStoreKind) async throws {
        for metric in ["spend", "orders", "points_earned"] {
            try await kind.withStore { store in
                let clock = Clock("2026-01-10T00:00:00+08:00")
                let engine = Engine(store: store, clock: { clock.now() })
                try await Self.program(engine, metric: metric)
                let member = try await Self.enrol(engine, "M")
                clock.set("2026-04-01T12:00:00+08:00")
                try await Self.purchase(engine, member, "o1", amount: 1000, at: "2026-04-01T10:00:00+08:00")
                try await Self.purchase(engine, member, "o2", amount: 2000, at: "2026-04-01T10:00:00+08:00")
                try await Self.purchase(engine, member, "o3", amount: 3000, at: "2026-04-01T10:00:00+08:00")
                try await Self.refund(engine, member, "r2", order: "o2", amount: 2000, at: "2026-04-01T11:00:00+08:00")
                try await Self.refund(engine, member, "r3", order: "o3", amount: 500, at: "2026-04-01T11:00:00+08:00")
                let value = try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner).qualifyingValue
                let expected: Int64 = switch metric {
                case "spend": 1000 + 2000 + 3000 - 2000 - 500
                case "orders": 2
                default: 10 + 20 + 30 - 20 - 5
                }
                #expect(value == expected, "\(metric)")
            }
        }
    }

    @Test("two reviews run at once move each member down once", arguments: TestStoreKind.available)
    func concurrentReviews(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = Clock("2026-01-10T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            try await Self.program(engine)
            var members: [String] = []
            clock.set("2026-02-01T00:00:00+08:00")
            for index in 0..<6 {
                let member = try await Self.enrol(engine, "C\(index)")
                members.append(member)
                // Platinum (20,000), then refunded down to nothing
                try await Self.purchase(engine, member, "c\(index)", amount: 2_000_000, at: "2026-02-01T00:00:00+08:00")
                try await Self.refund(engine, member, "cr\(index)", order: "c\(index)", amount: 2_000_000,
                                      at: "2026-02-01T00:00:00+08:00")
            }
            clock.set("2027-01-02T00:00:00+08:00")
            async let first = Self.review(engine, asOf: "2027-01-01T00:00:00+08:00")
            async let second = Self.review(engine, asOf: "2027-01-01T00:00:00+08:00")
            let reports = try await [first, second]
            #expect(reports.reduce(0) { $0 + ($1.tierReview?.downgraded ?? 0) } == 6)
            for member in members {
                let history = try await engine.tierHistory(programCode: "shop", memberID: member, limit: nil, cursor: nil,
                                                            by: Self.owner).items
                #expect(history.map(\.cause) == [.review, .upgrade])
                #expect(history.first?.to == "gold", "one level down from platinum, past the invitation-only black")
            }
        }
    }

    @Test("an upgrade reward is given once per level and review period", arguments: TestStoreKind.available)
    func upgradeReward(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = Clock("2026-01-10T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY",
                                                            timeZone: "Asia/Shanghai"), by: Self.owner)
            _ = try await engine.updateConfig(programCode: "shop", document: try Self.json("""
                {"currency":"CNY","time_zone":"Asia/Shanghai",
                 "earning_rules":[{"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
                 "tiers":{"review":{"kind":"monthly"},
                          "levels":[{"code":"silver","name":"银卡","threshold":0},
                                    {"code":"gold","name":"金卡","threshold":5000,"upgrade_reward":{"points":500}}]}}
                """), expectedVersion: nil, by: Self.owner)
            let member = try await Self.enrol(engine, "R")
            func points() async throws -> Int64 {
                try await engine.balance(programCode: "shop", memberID: member, by: Self.owner).available
            }

            // Reaching gold gives 500 points at once
            clock.set("2026-02-01T10:00:00+08:00")
            try await Self.purchase(engine, member, "g1", amount: 500_000, at: "2026-02-01T10:00:00+08:00")
            #expect(try await points() == 500)
            let reward = try #require(try await engine.ledger(programCode: "shop", memberID: member, limit: nil, cursor: nil,
                                                               by: Self.owner).items.first { $0.reason == "upgrade:gold" })
            #expect(reward.kind == .earn)
            #expect(reward.amount == 500)

            // Put back to silver by hand and reaching gold again in February: no second reward
            clock.set("2026-02-20T10:00:00+08:00")
            _ = try await engine.assignTier(programCode: "shop", memberID: member,
                                            body: try Self.json(#"{"level":"silver","reason":"test"}"#), by: Self.owner)
            try await Self.purchase(engine, member, "g2", amount: 100, at: "2026-02-20T10:00:00+08:00")
            #expect(try await engine.tierStanding(programCode: "shop", memberID: member, by: Self.owner).level.code == "gold")
            #expect(try await points() == 500)

            // In March it is a new period
            clock.set("2026-03-05T10:00:00+08:00")
            _ = try await engine.assignTier(programCode: "shop", memberID: member,
                                            body: try Self.json(#"{"level":"silver","reason":"test"}"#), by: Self.owner)
            try await Self.purchase(engine, member, "g3", amount: 100, at: "2026-03-05T10:00:00+08:00")
            #expect(try await points() == 1000)
        }
    }
}
