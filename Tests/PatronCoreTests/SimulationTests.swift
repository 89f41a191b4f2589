import Foundation
import PatronCore
import Testing

/// The back-test: reading the CSV history, and what a replay reports at the edges of its period.
@Suite("Simulation")
struct SimulationTests {
    static func history(_ text: String) throws -> SimulationHistory {
        try SimulationHistory(csv: Data(text.utf8))
    }

    static func at(_ text: String) -> Date {
        try! Date(text, strategy: .iso8601)
    }

    @Test("reads the columns in any order, quoted fields, CRLF and blank lines")
    func readsCSV() throws {
        let history = try Self.history(
            "channel,order_id,amount,type,occurred_at,member,note\r\n"
            + "store,A-1,12800,purchase,2026-03-01T10:00:00+08:00,m1,\"a, \"\"quoted\"\" note\"\r\n"
            + "\r\n"
            + ",,0,check_in,2026-03-01T02:00:00.5Z,\"m,2\",\n"
            + "app,A-1,100,refund,2026-03-02T10:00:00Z,m1,x")
        #expect(history.count == 3)
        #expect(history.members == ["m1", "m,2"])
        #expect(history.types == ["purchase", "check_in", "refund"])
        #expect(history.at == [Timestamp.milliseconds(Self.at("2026-03-01T02:00:00Z")),
                               Timestamp.milliseconds(Self.at("2026-03-01T02:00:00Z")) + 500,
                               Timestamp.milliseconds(Self.at("2026-03-02T10:00:00Z"))])
        #expect(history.amount == [12800, 0, 100])
        #expect(history.order[0] == history.order[2] && history.order[0] != 0 && history.order[1] == 0)
        #expect(history.channel == [1, 0, 2])
        #expect(history.channels == ["store", "app"])
    }

    @Test("refuses a bad file with the line at fault", arguments: [
        ("member,occurred_at,type,amount\n", 1, "order_id"),
        ("member,occurred_at,type,amount,order_id\nm1,2026-03-01T10:00:00Z,purchase,1\n", 2, "4 fields"),
        ("member,occurred_at,type,amount,order_id\nm1,2026-02-30T10:00:00Z,purchase,1,o\n", 2, "occurred_at"),
        ("member,occurred_at,type,amount,order_id\nm1,2026-03-01T10:00:00,purchase,1,o\n", 2, "occurred_at"),
        ("member,occurred_at,type,amount,order_id\n\nm1,2026-03-01T10:00:00Z,purchase,-5,o\n", 3, "amount"),
        ("member,occurred_at,type,amount,order_id\n,2026-03-01T10:00:00Z,purchase,1,o\n", 2, "member"),
        ("member,occurred_at,type,amount,order_id\nm1,2026-03-01T10:00:00Z,purchase,1,\"o\n", 2, "quoted"),
        ("", 1, "header"),
    ])
    func refusesBadCSV(_ text: String, line: Int, mentions: String) {
        do throws(SimulationHistory.Fault) {
            _ = try SimulationHistory(csv: Data(text.utf8))
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(mentions), "\(error)")
        }
    }

    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai","points":{"value_minor_per_point":2},
         "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                          {"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
         "tiers":{"window":{"kind":"rolling_months","months":12},"review":{"kind":"yearly","month":1,"day":1},
                  "levels":[{"code":"silver","name":"S","threshold":0},
                            {"code":"gold","name":"G","threshold":5000,"retain":4000,"upgrade_reward":{"points":100}},
                            {"code":"platinum","name":"P","threshold":20000,"retain":16000}]},
         "benefits":[{"code":"gold_off","name":"5%","kind":"percent_discount","value":5,"levels":["gold"]}]}
        """

    /// A warmed-up gold member who keeps it, one whose qualifying purchase falls exactly on the
    /// window's edge at the review, one who jumps to platinum inside the period, and one whose only
    /// event is at `to` itself (left out).
    static let edges = """
        member,occurred_at,type,amount,order_id
        keeper,2025-03-01T10:00:00+08:00,purchase,600000,k1
        edge,2025-01-01T00:00:00+08:00,purchase,500000,e1
        jumper,2025-08-01T10:00:00+08:00,purchase,2100000,j1
        jumper,2025-09-01T10:00:00+08:00,purchase,200000,j2
        jumper,2025-09-02T10:00:00+08:00,refund,100000,j2
        late,2026-01-01T00:00:00+08:00,purchase,900000,l1
        """

    @Test("a file read in parts gives the history, and the faults at their lines, of a reading in one go")
    func readInParts() throws {
        var random = SeededGenerator(seed: 0xC5F)
        var rows = ["member,type,occurred_at,amount,order_id,channel"]
        for number in 0..<3_000 {
            let member = "M\(Int.random(in: 0..<400, using: &random))"
            let type = ["purchase", "check_in", "refund", "review"][Int.random(in: 0..<4, using: &random)]
            let channel = ["", "app", "store", "mini"][Int.random(in: 0..<4, using: &random)]
            rows.append("\(member),\(type),2025-0\(1 + number % 9)-1\(number % 10)T0\(number % 10):00:00+08:00,"
                        + "\(Int.random(in: 0...9_999, using: &random)),\(number % 3 == 0 ? "" : "o\(number)"),\(channel)")
            if number % 500 == 7 { rows.append("") }
        }
        let text = rows.joined(separator: "\n") + "\n"
        let whole = try SimulationHistory(csv: Data(text.utf8), workers: 1, partMinimum: 0)
        for workers in [2, 3, 7] {
            let parts = try SimulationHistory(csv: Data(text.utf8), workers: workers, partMinimum: 0)
            #expect(parts.members == whole.members)
            #expect(parts.types == whole.types)
            #expect(parts.channels == whole.channels)
            #expect(parts.member == whole.member)
            #expect(parts.at == whole.at)
            #expect(parts.type == whole.type)
            #expect(parts.amount == whole.amount)
            #expect(parts.order == whole.order)
            #expect(parts.channel == whole.channel)
        }
        #expect(whole.count == 3_000)

        // A fault late in the file, in the last part, and one in the first
        for line in [2_900, 5] {
            var faulty = rows
            faulty[line - 1] = "M1,purchase,yesterday,1,,app"
            let bad = Data(faulty.joined(separator: "\n").utf8)
            for workers in [1, 3] {
                let fault = #expect(throws: SimulationHistory.Fault.self) {
                    _ = try SimulationHistory(csv: bad, workers: workers, partMinimum: 0)
                }
                #expect(fault?.line == line)
                #expect(fault?.message == "'occurred_at' is not an RFC 3339 time with an offset")
            }
        }
        // With a quote anywhere, the file is read in one go: a line end may be inside a field.
        let quoted = text + "\"M9\",purchase,2025-09-01T00:00:00Z,5,\"o,\n1\",app\n"
        let read = try SimulationHistory(csv: Data(quoted.utf8), workers: 3, partMinimum: 0)
        #expect(read.count == 3_001)
        #expect(read.order.last == SimulationHistory.orderHash("o,\n1"))
    }

    @Test("reports levels, changes and the migration over the period, with warm-up before it and reviews up to its end")
    func edgesOfThePeriod() throws {
        let document = try JSONValue(parsing: Data(Self.config.utf8))
        try ConfigValidator(programCurrency: "CNY").validate(document)
        let simulator = try Simulator(configuration: document)
        let history = try Self.history(Self.edges)
        let (report, levels) = try simulator.run(history, from: Self.at("2025-07-01T00:00:00+08:00"),
                                                 to: Self.at("2026-01-01T00:00:00+08:00"))
        #expect(report.members == 3)
        #expect(report.events == 5)
        #expect(report.warmupEvents == 2)
        #expect(report.membersPerLevel == ["silver": 1, "gold": 1, "platinum": 1])
        #expect(levels == [1, 0, 2, -1], "keeper gold, edge silver, jumper platinum, late not a member yet")
        // jumper's upgrade is in the period; keeper's and edge's were in the warm-up. The review at
        // `to` moves edge down: their purchase is exactly 12 months before it, outside the window.
        #expect(report.upgrades == 1)
        #expect(report.downgrades == 1)
        #expect(report.migration == ["gold": ["gold": 1, "silver": 1], "silver": ["platinum": 1]])
        // Points in the period: jumper's 21,000 + 2,000, less 1,000 for the half refund; no reward
        // for platinum. Outstanding adds the warm-up's 6,000 + 100 and 5,000 + 100.
        #expect(report.points.issued == 23_000)
        #expect(report.points.clawedBack == 1_000)
        #expect(report.points.outstanding == 22_000 + 6_100 + 5_100)
        #expect(report.points.liabilityMinor == 2 * report.points.outstanding)
        #expect(report.benefitCost == [:], "no purchase in the period was made at gold")
    }

    @Test("compares a candidate with a baseline member by member")
    func baseline() throws {
        let candidate = try Simulator(configuration: try JSONValue(parsing: Data(Self.config.utf8)))
        let looser = Self.config.replacingOccurrences(of: #""threshold":5000,"retain":4000"#,
                                                      with: #""threshold":2000,"retain":1000"#)
        let baseline = try Simulator(configuration: try JSONValue(parsing: Data(looser.utf8)))
        let history = try Self.history(Self.edges + "\nsmall,2025-10-01T10:00:00+08:00,purchase,300000,s1\n")
        let report = try Simulator.compare(candidate: candidate, baseline: baseline, history: history,
                                           from: Self.at("2025-07-01T00:00:00+08:00"), to: Self.at("2026-01-01T00:00:00+08:00"))
        #expect(report.baselineMembersPerLevel == ["silver": 1, "gold": 2, "platinum": 1])
        #expect(report.membersPerLevel == ["silver": 2, "gold": 1, "platinum": 1])
        #expect(report.baselineMigration == ["gold": ["gold": 1, "silver": 1], "silver": ["silver": 1], "platinum": ["platinum": 1]])
    }

    @Test("refuses a configuration without tiers and an empty period")
    func refusals() throws {
        #expect(throws: Simulator.Failure.noTiers) {
            _ = try Simulator(configuration: try JSONValue(parsing: Data(#"{"currency":"CNY","time_zone":"UTC"}"#.utf8)))
        }
        let simulator = try Simulator(configuration: try JSONValue(parsing: Data(Self.config.utf8)))
        #expect(throws: Simulator.Failure.emptyPeriod) {
            _ = try simulator.run(SimulationHistory(), from: Self.at("2026-01-01T00:00:00Z"), to: Self.at("2026-01-01T00:00:00Z"))
        }
    }
}
