import PatronCore

/// The rules and bindings the benchmarks measure: what a purchase of a gold member looks like to
/// an earning rule of the CONFIG.md example program.
enum Fixtures {
    /// The typical condition: a minimum spend, a tier and a category in the basket.
    static let typicalRule =
        "event.amount >= 10000 && member.tier in ['gold', 'platinum'] && event.items.exists(i, i.category == 'wine')"

    /// The member-day condition of CONFIG.md: Wednesdays in the program's time zone.
    static let memberDayRule = "event.occurred_at.getDayOfWeek(program.time_zone) == 3"

    /// `memberDayRule` with the zone written out: the difference to it is what resolving the zone
    /// from `program.time_zone` on every evaluation costs.
    static let memberDayRuleConstantZone = "event.occurred_at.getDayOfWeek('Asia/Shanghai') == 3"

    /// The award of CONFIG.md's `base` rule: one point per 100 minor units.
    static let baseAward = "event.amount / 100"

    /// The three operands of `typicalRule`, measured one by one to show where its time goes.
    static let typicalRuleParts = [
        "event.amount >= 10000",
        "member.tier in ['gold', 'platinum']",
        "event.items.exists(i, i.category == 'wine')",
    ]

    /// A purchase of 128.00 with three lines, the wine last, so `exists` visits every line;
    /// made on Wednesday 2026-11-18 at 12:30 in Asia/Shanghai (04:30 UTC).
    static func purchase() throws -> CELObject {
        let items: [CELValue] = [
            item(sku: "SKU-1001", category: "grocery", quantity: 2, amountMinor: 2_400),
            item(sku: "SKU-2002", category: "household", quantity: 1, amountMinor: 3_900),
            item(sku: "SKU-3003", category: "wine", quantity: 1, amountMinor: 6_500),
        ]
        return RuleEnvironment.event.make([
            "type": .string("purchase"),
            "amount": .int(12_800),
            "occurred_at": .timestamp(try CELTimestamp(rfc3339: "2026-11-18T04:30:00Z")),
            "order_id": .string("ORD-20261118-0042"),
            "channel": .string("store"),
            "store": .string("SH-001"),
            "items": .list(items),
            "attributes": .map(CELMap.empty),
        ])
    }

    /// A gold member enrolled in 2024 with a birthday and two tags.
    static func goldMember() throws -> CELObject {
        RuleEnvironment.member.make([
            "id": .string("019ab1c4-5e10-7a3b-9c2d-4f6e8a0b1c2d"),
            "tier": .string("gold"),
            "enrolled_at": .timestamp(try CELTimestamp(rfc3339: "2024-03-09T08:00:00Z")),
            "birthday": .string("07-14"),
            "plan": .null,
            "tags": .list([.string("newsletter"), .string("app")]),
            "attributes": .map(CELMap.empty),
        ])
    }

    /// The CONFIG.md example program.
    static func shopProgram() -> CELObject {
        RuleEnvironment.program.make([
            "code": .string("shop"),
            "time_zone": .string("Asia/Shanghai"),
        ])
    }

    /// `event`, `member` and `program` bound for the earning environment.
    static func bindings() throws -> CELBindings {
        RuleEnvironment.earning.bindings([
            "event": .object(try purchase()),
            "member": .object(try goldMember()),
            "program": .object(shopProgram()),
        ])
    }

    private static func item(sku: String, category: String, quantity: Int64, amountMinor: Int64) -> CELValue {
        .object(RuleEnvironment.item.make([
            "sku": .string(sku), "category": .string(category),
            "quantity": .int(quantity), "amount": .int(amountMinor),
        ]))
    }
}
