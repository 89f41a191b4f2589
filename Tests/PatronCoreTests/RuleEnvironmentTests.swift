import Foundation
import PatronCore
import Testing

@Suite("Rule environment")
struct RuleEnvironmentTests {
    static let event = try! JSONValue(parsing: Data("""
        {"type": "purchase", "amount": 12345, "occurred_at": "2026-11-18T02:30:00Z", "order_id": "A-1",
         "channel": "app", "items": [
           {"sku": "W1", "category": "wine", "quantity": 1, "amount": 8000},
           {"sku": "F1", "category": "food", "quantity": 2, "amount": 4345}],
         "attributes": {"campaign": "double11"}}
        """.utf8))
    static let member = try! JSONValue(parsing: Data("""
        {"id": "m1", "tier": "gold", "enrolled_at": "2024-01-01T00:00:00Z", "birthday": "11-05",
         "tags": ["vip"], "purchases": 0}
        """.utf8))
    static let program = try! JSONValue(parsing: Data(#"{"code": "demo", "time_zone": "Asia/Shanghai"}"#.utf8))

    func evaluate(_ source: String, as role: RuleEnvironment.Role) throws -> CELValue {
        let program = try RuleEnvironment.compile(source, as: role)
        let bindings = RuleEnvironment.earning.bindings([
            "event": try CELValue(json: Self.event, as: .object(RuleEnvironment.event), at: "event"),
            "member": try CELValue(json: Self.member, as: .object(RuleEnvironment.member), at: "member"),
            "program": try CELValue(json: Self.program, as: .object(RuleEnvironment.program), at: "program"),
        ])
        return try program.evaluate(bindings)
    }

    @Test("evaluates loyalty rules on a purchase", arguments: [
        ("event.amount / 100", RuleEnvironment.Role.award, CELValue.int(123)),
        ("event.items.map(i, i.category == 'wine', i.amount).sum() / 100", .award, .int(80)),
        ("event.amount / 100 * {'silver': 1, 'gold': 2, 'platinum': 3}[member.tier]", .award, .int(246)),
        ("event.occurred_at.getDayOfWeek(program.time_zone) == 3", .condition, .bool(true)),
        ("member.purchases == 0", .condition, .bool(true)),
        ("has(member.birthday) && int(member.birthday.substring(0, 2)) == event.occurred_at.getMonth(program.time_zone) + 1",
         .condition, .bool(true)),
        ("event.amount >= 10000 && member.tier in ['gold', 'platinum'] && event.items.exists(i, i.category == 'wine')",
         .condition, .bool(true)),
        ("has(member.plan)", .condition, .bool(false)),
        ("has(event.attributes.campaign) && event.attributes.campaign == 'double11'", .condition, .bool(true)),
        ("math.least(event.amount / 1000, 200)", .award, .int(12)),
    ])
    func rules(source: String, role: RuleEnvironment.Role, expected: CELValue) throws {
        #expect(try evaluate(source, as: role).celEquals(expected))
    }

    @Test("compiles every example in docs/RULES.md")
    func documentedExamples() throws {
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/RULES.md").standardizedFileURL
        let text = try String(contentsOf: rules, encoding: .utf8)
        let table = try #require(text.components(separatedBy: "## Examples").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        var compiled = 0
        for line in table.split(separator: "\n") where line.hasPrefix("| ") {
            for (keyword, role) in [("when `", RuleEnvironment.Role.condition), ("award `", .award)] {
                for part in line.components(separatedBy: keyword).dropFirst() {
                    let source = String(part.prefix { $0 != "`" })
                    #expect(throws: Never.self, "\(source)") { _ = try RuleEnvironment.compile(source, as: role) }
                    compiled += 1
                }
            }
        }
        #expect(compiled >= 12)
    }

    @Test("converts JSON to the declared types, naming the place of a mismatch", arguments: [
        (#"{"amount": "12"}"#, "event.amount must be int, not a JSON string"),
        (#"{"occurred_at": "yesterday"}"#, "invalid timestamp 'yesterday'"),
        (#"{"items": [{"sku": "a", "price": 1}]}"#, "event.items[0] has no field 'price' (patron.Item has sku, category, quantity, amount)"),
        (#"{"amout": 1}"#, "event has no field 'amout' (patron.Event has type, amount, occurred_at, order_id, channel, store, items, attributes, buyer, executor)"),
    ])
    func conversionFaults(json: String, message: String) throws {
        let value = try JSONValue(parsing: Data(json.utf8))
        #expect(throws: CELEvalError(message)) {
            _ = try CELValue(json: value, as: .object(RuleEnvironment.event), at: "event")
        }
    }

    @Test("a rule that fails at run time reports why", arguments: [
        ("event.attributes.missing == 1", "no such key: \"missing\""),
        ("event.amount / (member.purchases)", "division by zero"),
    ])
    func runtimeFaults(source: String, message: String) throws {
        let role: RuleEnvironment.Role = source.contains("==") ? .condition : .award
        #expect(throws: CELEvalError(message)) { _ = try evaluate(source, as: role) }
    }

    @Test("knows what an expression reads of each variable: nothing, some fields, or the whole value", arguments: [
        ("10", [:]),
        ("event.amount / 100", ["event": CELReads.fields(["amount"])]),
        ("member.tier == 'gold' && event.channel == 'app' && event.amount > 0",
         ["event": .fields(["channel", "amount"]), "member": .fields(["tier"])]),
        ("event.items.exists(i, i.category == 'wine')", ["event": .fields(["items"])]),
        ("event.occurred_at.getDayOfWeek(program.time_zone) == 3",
         ["event": .fields(["occurred_at"]), "program": .fields(["time_zone"])]),
        ("has(event.store)", ["event": .whole]),
        ("[event][0].amount > 1 && event.amount > 1", ["event": .whole]),
        ("size(event.attributes) > 0 && event.attributes.campaign == 'double11'", ["event": .fields(["attributes"])]),
    ] as [(String, [String: CELReads])])
    func reads(_ source: String, _ expected: [String: CELReads]) throws {
        #expect(try RuleEnvironment.compile(source, as: source.contains("/") || source == "10" ? .award : .condition).reads
            == expected)
    }
}
