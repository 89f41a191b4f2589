import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// The back-test and the live server decide alike: a random history posted to the engine, with the
/// review job run on time as the server's scheduler runs it, ends every member at the level the
/// simulator gives them, with the same points, capped rules' included.
@Suite("Simulation agrees with the server")
struct SimulationAgreementTests {
    typealias T = TierEngineTests

    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                          {"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"},
                          {"code":"gold_bonus","on":"purchase","when":"member.tier == 'gold'","award":"50"},
                          {"code":"loyal","on":"purchase",
                           "when":"member.purchases >= 3 && event.occurred_at.getDayOfWeek(program.time_zone) < 6",
                           "award":"event.amount / 1000"},
                          {"code":"platinum","on":"purchase","when":"[member][0].tier == 'platinum'","award":"9"},
                          {"code":"daily","on":"purchase","award":"event.amount / 500","cap":{"per_member_per_day":300}},
                          {"code":"first_orders","on":"purchase","award":"100","cap":{"per_member_lifetime":250}}],
         "tiers":{"metric":"growth","window":{"kind":"rolling_months","months":3},"review":{"kind":"monthly"},
                  "downgrade":"to_qualified",
                  "levels":[{"code":"silver","name":"S","threshold":0},
                            {"code":"gold","name":"G","threshold":3000,"retain":2000,"upgrade_reward":{"points":70}},
                            {"code":"platinum","name":"P","threshold":8000,"retain":6000}]}}
        """

    @Test("levels and points after a random history", arguments: TestStoreKind.available)
    func agreement(_ kind: TestStoreKind) async throws {
        // A history: 12 members, purchases through 2025 in Shanghai, some refunded in part or whole,
        // and some an hour after the member's last (a second on the day, for the daily cap).
        var random = SeededGenerator(seed: 0x51A7)
        var rows: [(member: Int, at: Date, type: String, amount: Int, order: String)] = []
        let start = T.at("2025-01-05T00:00:00+08:00").timeIntervalSince1970
        for member in 0..<12 {
            var orders: [(String, Int)] = []
            var last: Date?
            for number in 0..<Int.random(in: 4...10, using: &random) {
                var at = Date(timeIntervalSince1970: (start + Double.random(in: 0..<(350 * 86_400), using: &random)).rounded())
                if let last, Int.random(in: 0..<3, using: &random) == 0 { at = last + 3_600 }
                last = at
                if !orders.isEmpty, Int.random(in: 0..<5, using: &random) == 0 {
                    let (order, amount) = orders[Int.random(in: 0..<orders.count, using: &random)]
                    rows.append((member, at, "refund", Bool.random(using: &random) ? amount : amount / 2, order))
                } else {
                    let amount = Int.random(in: 2...40, using: &random) * 10_000
                    let order = "o\(member)-\(number)"
                    orders.append((order, amount))
                    rows.append((member, at, "purchase", amount, order))
                }
            }
        }
        // A refund before its purchase, or of more than is left, is not a history the server takes.
        rows.sort { $0.at < $1.at }
        var left: [String: Int] = [:]
        rows = rows.filter { row in
            if row.type == "purchase" { left[row.order] = row.amount; return true }
            guard let remaining = left[row.order], remaining >= row.amount, row.amount > 0 else { return false }
            left[row.order] = remaining - row.amount
            return true
        }
        let from = T.at("2025-07-01T00:00:00+08:00"), to = T.at("2026-01-01T00:00:00+08:00")
        let history = rows

        // The simulator
        let csv = "member,occurred_at,type,amount,order_id\n" + history.map { row in
            "m\(row.member),\(Timestamp.rfc3339(row.at)),\(row.type),\(row.amount),\(row.order)"
        }.joined(separator: "\n")
        let simulator = try Simulator(configuration: try T.json(Self.config))
        let replayed = try SimulationHistory(csv: Data(csv.utf8))
        let (report, levels) = try simulator.run(replayed, from: from, to: to, workers: 2)
        #expect(report.upgrades + report.downgrades > 5, "the history moves members both ways")

        // The server, with the review job run before each event as the scheduler would
        try await kind.withStore { store in
            let clock = T.Clock("2024-12-01T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY",
                                                            timeZone: "Asia/Shanghai"), by: T.owner)
            _ = try await engine.updateConfig(programCode: "shop", document: try T.json(Self.config), expectedVersion: nil,
                                              by: T.owner)
            var ids: [Int: String] = [:]
            for member in Set(history.map(\.member)).sorted() { ids[member] = try await T.enrol(engine, "m\(member)") }
            for (number, row) in history.enumerated() where row.at < to {
                clock.instant.withLock { $0 = row.at }
                _ = try await engine.runJob(programCode: "shop", job: "tier-review", asOf: nil, by: T.owner)
                _ = try await engine.recordEvent(programCode: "shop", body: try T.json("""
                    {"id":"e\(number)","type":"\(row.type)","member":"\(ids[row.member]!)",
                     "occurred_at":"\(Timestamp.rfc3339(row.at))","amount":\(row.amount),"order_id":"\(row.order)"}
                    """), by: T.owner)
            }
            clock.set("2026-01-02T00:00:00+08:00")
            _ = try await engine.runJob(programCode: "shop", job: "tier-review", asOf: to, by: T.owner)
            var outstanding: Int64 = 0
            for (index, name) in replayed.members.enumerated() {
                let member = ids[Int(name.dropFirst())!]!
                let live = try await engine.tierStanding(programCode: "shop", memberID: member, by: T.owner).level.code
                #expect(live == simulator.levelCode(levels[index]), "\(name)")
                let balance = try await engine.balance(programCode: "shop", memberID: member, by: T.owner)
                outstanding += balance.available + balance.pending
            }
            #expect(outstanding == report.points.outstanding)

            // And a back-test of the program's stored history reports what the CSV's did
            let stored = try await engine.simulate(programCode: "shop", body: try T.json("""
                {"from":"2025-07-01","to":"2026-01-01"}
                """), by: T.owner)
            #expect(stored == report)
            let uploaded = try await engine.simulate(programCode: "shop", body: .object([
                "from": .string("2025-07-01"), "to": .string("2026-01-01"), "history": .string(csv),
            ]), by: T.owner)
            #expect(uploaded == report)
        }
    }
}
