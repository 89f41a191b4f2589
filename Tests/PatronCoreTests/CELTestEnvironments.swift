import PatronCore

/// Environments and bindings for the property and fuzz tests: the same variable names declared
/// with types (checked), as dyn (unchecked), and Patron's own earning environment.
enum CELTestEnvironments {
    /// The declared variables and their types; expressions from `generator(seed:)` refer to them.
    static let typedVariables: [(name: String, type: CELType)] = [
        ("i", .int), ("u", .uint), ("d", .double), ("s", .string), ("by", .bytes), ("ok", .bool),
        ("l", .list(.int)), ("ls", .list(.string)), ("m", .map(.string, .dyn)), ("t", .timestamp),
        ("dur", .duration),
        ("event", .object(RuleEnvironment.event)), ("member", .object(RuleEnvironment.member)),
        ("program", .object(RuleEnvironment.program)),
    ]

    static let checked = CELEnvironment(variables: typedVariables)
    static let unchecked = CELEnvironment(variables: typedVariables.map { ($0.name, CELType.dyn) }, checked: false)

    /// Values of the declared types, chosen by `random`; about one variable in ten stays unbound.
    static func values(using random: inout SeededGenerator) -> [String: CELValue] {
        func pick<T>(_ choices: [T]) -> T { choices[Int.random(in: 0..<choices.count, using: &random)] }
        // An array, not a dictionary: the draws must come in the same order in every process.
        let candidates: [(name: String, choices: [CELValue])] = [
            ("i", [.int(0), .int(1), .int(-1), .int(42), .int(.max), .int(.min)]),
            ("u", [.uint(0), .uint(1), .uint(.max)]),
            ("d", [.double(0), .double(-0.0), .double(1.5), .double(.nan), .double(.infinity), .double(1e300)]),
            ("s", [.string(""), .string("gold"), .string("a+b"), .string("Asia/Shanghai"), .string("2024-01-01T00:00:00Z"), .string("é中😀")]),
            ("by", [.bytes([]), .bytes([0xFF]), .bytes(Array("abc".utf8))]),
            ("ok", [.bool(true), .bool(false)]),
            ("l", [.list([]), .list([.int(1), .int(2), .int(3)]), .list([.int(.max), .int(1)])]),
            ("ls", [.list([]), .list([.string("vip"), .string("gold")])]),
            ("m", [map([:]), map(["a": .int(1), "b": .string("x"), "tier": .string("gold"), "n": .null])]),
            ("t", [timestamp(0), timestamp(1_732_000_000), timestamp(253_402_300_799), timestamp(-62_135_596_800)]),
            ("dur", [duration(0), duration(90), duration(-1), duration(315_576_000_000)]),
            ("event", [.object(event)]),
            ("member", [.object(member), .object(RuleEnvironment.member.make([:]))]),
            ("program", [.object(RuleEnvironment.program.make(["code": .string("demo"), "time_zone": .string("Asia/Shanghai")]))]),
        ]
        var values: [String: CELValue] = [:]
        for (name, choices) in candidates where Int.random(in: 0..<10, using: &random) > 0 {
            values[name] = pick(choices)
        }
        return values
    }

    static let item = RuleEnvironment.item.make([
        "sku": .string("W1"), "category": .string("wine"), "quantity": .int(1), "amount": .int(8000),
    ])
    static let event = RuleEnvironment.event.make([
        "type": .string("purchase"), "amount": .int(12_345), "occurred_at": timestamp(1_763_433_000),
        "order_id": .string("A-1"), "channel": .string("app"), "items": .list([.object(item)]),
        "attributes": map(["campaign": .string("double11")]),
    ])
    static let member = RuleEnvironment.member.make([
        "id": .string("m1"), "tier": .string("gold"), "enrolled_at": timestamp(1_704_067_200),
        "birthday": .string("11-05"), "tags": .list([.string("vip")]), "purchases": .int(0),
    ])

    /// Names and fields the generator should use so that expressions reach these variables.
    static func generator(seed: UInt64) -> CELSourceGenerator {
        var generator = CELSourceGenerator(seed: seed)
        generator.names = typedVariables.map(\.name) + ["zz", "int", "string", "list", "type"]
        generator.fields = [
            "amount", "items", "tier", "tags", "attributes", "type", "occurred_at", "category",
            "quantity", "time_zone", "code", "purchases", "birthday", "a", "b", "n", "campaign", "nope",
        ]
        return generator
    }

    private static func map(_ entries: [String: CELValue]) -> CELValue {
        // String keys are unique, so building the map cannot fail.
        .map(try! CELMap(entries.sorted { $0.key < $1.key }.map { (.string($0.key), $0.value) }))
    }

    private static func timestamp(_ seconds: Int64) -> CELValue {
        .timestamp(try! CELTimestamp(seconds: seconds))
    }

    private static func duration(_ seconds: Int64) -> CELValue {
        .duration(try! CELDuration(seconds: seconds))
    }
}
