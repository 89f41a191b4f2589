import Foundation
import PatronCore
import Testing

@Suite("Configuration validation")
struct ConfigValidatorTests {
    let validator = ConfigValidator(programCurrency: "CNY")

    func faults(_ json: String) -> [ValidationFault] {
        // The literals in these tests are valid JSON; the validator's faults are what is compared.
        let document = try! JSONValue(parsing: Data(json.utf8))
        do throws(ValidationError) {
            try validator.validate(document)
            return []
        } catch {
            return error.faults
        }
    }

    @Test("accepts the reference document of CONFIG.md")
    func referenceDocument() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/CONFIG.md").standardizedFileURL.path
        let markdown = try String(contentsOfFile: path, encoding: .utf8)
        let json = try #require(markdown.components(separatedBy: "```json\n").dropFirst().first?
            .components(separatedBy: "```").first)
        #expect(faults(json) == [])
    }

    @Test("lists every fault with its pointer")
    func everyFault() {
        let found = faults("""
            {"currency":"XXX","time_zone":"Nowhere","extra":true,
             "tiers":{"metric":"likes","levels":[{"code":"Gold","name":"G","threshold":10}]}}
            """)
        #expect(found.map(\.pointer) == ["/extra", "/currency", "/time_zone", "/tiers/metric", "/tiers/levels/0/code",
                                         "/tiers/levels/0/threshold"])
    }

    @Test("levels climb strictly, and retain stays at or below the threshold", arguments: [
        (#"[{"code":"a","name":"A","threshold":0},{"code":"b","name":"B","threshold":0}]"#, "/tiers/levels/1/threshold"),
        (#"[{"code":"a","name":"A","threshold":0},{"code":"b","name":"B","threshold":100,"retain":101}]"#, "/tiers/levels/1/retain"),
        (#"[{"code":"a","name":"A","threshold":0},{"code":"a","name":"B","threshold":100}]"#, "/tiers/levels/1/code"),
        (#"[]"#, "/tiers/levels"),
        (#"[{"code":"a","name":"A","threshold":0,"upgrade_reward":{"points":5}}]"#, "/tiers/levels/0/upgrade_reward"),
        (#"[{"code":"a","name":"A","threshold":0},{"code":"b","name":"B","threshold":9,"upgrade_reward":{"points":0}}]"#,
         "/tiers/levels/1/upgrade_reward/points"),
        (#"[{"code":"a","name":"A","threshold":0},{"code":"b","name":"B","threshold":9,"upgrade_reward":{"points":5,"cash":5}}]"#,
         "/tiers/levels/1/upgrade_reward/cash"),
    ])
    func levels(_ levels: String, _ pointer: String) {
        #expect(faults(#"{"currency":"CNY","time_zone":"UTC","tiers":{"levels":\#(levels)}}"#).map(\.pointer) == [pointer])
    }

    @Test("compiles earning-rule expressions and points at the fault with its position", arguments: [
        (#"{"code":"r","on":"purchase","when":"event.amout > 0","award":"1"}"#,
         "/earning_rules/0/when", "1:7: patron.Event has no field 'amout'"),
        (#"{"code":"r","on":"purchase","award":"event.amount / 100.0"}"#,
         "/earning_rules/0/award", "1:14: '/' cannot be applied to int and double (convert one side, e.g. double(x), int(x) or uint(x))"),
        (#"{"code":"r","on":"purchase","award":"double(event.amount) / 100.0"}"#,
         "/earning_rules/0/award", "1:1: the expression yields double, but an award must be int; round it with int(…)"),
        (#"{"code":"r","on":"purchase","when":"event.amount","award":"1"}"#,
         "/earning_rules/0/when", "1:1: the expression yields int, but a condition must be bool"),
        (#"{"code":"r","on":"purchase","when":"member.tier in ['gold'","award":"1"}"#,
         "/earning_rules/0/when", "1:23: expected ',' or ']' but found the end of the expression"),
        (#"{"code":"r","on":"purchase","when":"evnt.amount > 0","award":"1"}"#,
         "/earning_rules/0/when", "1:1: unknown name 'evnt'"),
    ])
    func expressionFaults(rule: String, pointer: String, message: String) {
        let found = faults(#"{"currency":"CNY","time_zone":"Asia/Shanghai","earning_rules":[\#(rule)]}"#)
        #expect(found == [ValidationFault(pointer: pointer, code: "invalid_expression", message: message)])
    }

    @Test("a threshold exactly one above the previous level is ascending")
    func boundary() {
        #expect(faults(#"{"currency":"CNY","time_zone":"UTC","tiers":{"levels":[{"code":"a","name":"A","threshold":0},{"code":"b","name":"B","threshold":1,"retain":1}]}}"#) == [])
    }

    @Test("a yearly review names a day every year has")
    func reviewDay() {
        #expect(faults(#"{"currency":"CNY","time_zone":"UTC","tiers":{"review":{"kind":"yearly","month":2,"day":29},"levels":[{"code":"a","name":"A","threshold":0}]}}"#)
            .map(\.code) == ["invalid_date"])
    }

    @Test("benefits refer only to levels and plans that exist")
    func references() {
        let found = faults("""
            {"currency":"CNY","time_zone":"UTC","plans":[{"code":"plus","name":"Plus","price":1500,"period":"month"}],
             "benefits":[{"code":"ship","name":"Ship","kind":"access","levels":["gold"],"plans":["plus","minus"]}]}
            """)
        #expect(found.map(\.pointer) == ["/benefits/0/levels/0", "/benefits/0/plans/1"])
    }
}

@Suite("Member input")
struct MemberInputTests {
    let fields = MemberFieldDefinition.definitions(in: .object(["member_fields": .array([
        .object(["code": .string("skin"), "name": .string("Skin"), "type": .string("enum"), "values": .array([.string("dry")]),
                 "sensitive": .bool(true), "purpose": .string("care")]),
    ])]))

    func parse(_ json: String, _ mode: MemberInput.Mode) throws(ValidationError) -> MemberInput {
        // The literals below are valid JSON.
        try MemberInput(parsing: try! JSONValue(parsing: Data(json.utf8)), mode: mode, fields: fields)
    }

    @Test("normalises phone and e-mail")
    func normalises() throws {
        let input = try parse(#"{"external_id":"A","channel":"app","phone":"+86 (138) 0013-8000","email":" X@Y.CN "}"#, .enrol)
        #expect(input.phone == .set("+8613800138000"))
        #expect(input.email == .set("x@y.cn"))
    }

    @Test("tells null (clear) from absent (keep) in an update")
    func nullClears() throws {
        let input = try parse(#"{"name":null,"attributes":{"skin":null}}"#, .update)
        #expect(input.name == .clear)
        #expect(input.region == .unchanged)
        #expect(input.attributes["skin"] == .null)
    }

    @Test("refuses impossible birthdays", arguments: ["1990-02-29", "2999-01-01", "02-30", "1990-13-01", "19900101"])
    func birthdays(_ birthday: String) {
        #expect(throws: ValidationError.self) { try parse(#"{"external_id":"A","channel":"app","birthday":"\#(birthday)"}"#, .enrol) }
    }

    @Test("accepts a birthday without a year, and 29 February in a leap year", arguments: ["02-29", "1992-02-29", "12-31"])
    func goodBirthdays(_ birthday: String) throws {
        _ = try parse(#"{"external_id":"A","channel":"app","birthday":"\#(birthday)"}"#, .enrol)
    }

    @Test("a sensitive attribute needs consent to its purpose; withdrawing consent removes it")
    func sensitive() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(throws: ValidationError.self) {
            _ = try Member.enrolling(try parse(#"{"external_id":"A","channel":"app","attributes":{"skin":"dry"}}"#, .enrol),
                                     id: "m", programID: "p", fields: fields, at: now)
        }
        let (member, events) = try Member.enrolling(
            try parse(#"{"external_id":"A","channel":"app","attributes":{"skin":"dry"},"consents":{"care":true}}"#, .enrol),
            id: "m", programID: "p", fields: fields, at: now)
        #expect(member.attributes["skin"] == .string("dry"))
        #expect(events.map(\.purpose) == ["care"])
        let (withdrawn, _) = try member.applying(try parse(#"{"consents":{"care":false}}"#, .update), fields: fields, at: now)
        #expect(withdrawn.attributes["skin"] == nil)
        #expect(withdrawn.revision == member.revision + 1)
    }
}

@Suite("Identifiers")
struct IdentifierTests {
    @Test("are well-formed UUIDv7 that sort by time")
    func sortable() {
        var generator = SeededGenerator(seed: 7)
        let ids = (0..<200).map { Identifier.make(at: Date(timeIntervalSince1970: 1_700_000_000 + Double($0)), using: &generator) }
        #expect(ids.allSatisfy(Identifier.isWellFormed))
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { $0[$0.index($0.startIndex, offsetBy: 14)] == "7" })
    }

    @Test("lay out the time and the generator's words as they always have")
    func layout() {
        // The time's 48 bits first, then the first word's bytes from bit 48 up (version 7 in the
        // high nibble), its low bytes (the variant in the top two bits), and the second word's.
        var generator = SeededGenerator(seed: 7)
        #expect(Identifier.make(at: Date(timeIntervalSince1970: 1_700_000_000), using: &generator)
            == "018bcfe5-6800-7b63-970d-32f4d73c4c04")
    }

    @Test("drawn from the system's generator do not repeat across its blocks")
    func systemRandom() {
        let now = Date()
        let ids = (0..<(SystemRandom.blockWords * 20)).map { _ in Identifier.make(at: now) }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy(Identifier.isWellFormed))
        #expect(ids.allSatisfy { "89ab".contains($0[$0.index($0.startIndex, offsetBy: 19)]) })
        var random = SystemRandom()
        let words = (0..<(SystemRandom.blockWords * 3)).map { _ in random.next() }
        #expect(Set(words).count == words.count)
    }
}
