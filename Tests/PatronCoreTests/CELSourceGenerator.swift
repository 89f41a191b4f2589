import PatronCore

/// Random, well-formed CEL source over the whole grammar, for the property and fuzz tests.
///
/// It writes every kind of literal (strings with escapes, raw and triple-quoted strings, bytes,
/// hex and decimal ints and uints, doubles in every spelling, negative numbers), names with and
/// without a leading dot, lists, maps, field selections (also quoted ones), indexes, calls,
/// methods, namespaced calls, `has()`, every operator, `?:`, `in` and the macros — with spaces,
/// newlines and comments between tokens. The text always parses; its meaning often does not
/// (`1 + "a"`), which is what the evaluation properties want. One seed gives one text.
struct CELSourceGenerator {
    /// The names expressions refer to, besides the macro variables.
    var names = ["a", "b", "x", "y", "event", "member", "int", "string", "_private", "camelCase", "with_digits1", "has"]
    /// Field names after a dot: plain, reserved words (allowed there) and quoted ones.
    var fields = ["a", "b", "amount", "items", "tier", "tags", "attributes", "type", "if", "in", "true", "size"]
    var quotedFields = ["content-type", "a.b", "x/y", "with space", "plain"]
    var functions = ["size", "int", "uint", "double", "string", "bytes", "bool", "type", "dyn", "timestamp", "duration", "matches", "f"]
    var methods = [
        "size", "contains", "startsWith", "endsWith", "matches", "lowerAscii", "upperAscii", "trim",
        "substring", "indexOf", "split", "join", "sum", "getFullYear", "getMonth", "getDate",
        "getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds", "f", "if",
    ]
    /// Texts that mean something to the library: zones, instants, spans, patterns, numbers.
    var meaningfulStrings = [
        "UTC", "Asia/Shanghai", "+08:00", "Mars/Olympus", "2024-02-29T12:00:00Z", "9999-12-31T23:59:59Z",
        "1h30m", "-1.5s", "a+", "^[0-9]+$", "(", "", "42", "-7", "1e3", "true", "gold", "wine", "a,b",
    ]
    /// How many brackets, arguments and operands deep the text may go; well inside the parser's limits.
    var maxDepth = 4

    private var random: SeededGenerator

    init(seed: UInt64) {
        random = SeededGenerator(seed: seed)
    }

    /// One expression.
    mutating func expression() -> String {
        conditional(0)
    }

    // MARK: Randomness

    private mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &random) < probability
    }

    private mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int.random(in: 0..<choices.count, using: &random)]
    }

    private mutating func count(_ range: ClosedRange<Int>) -> Int {
        Int.random(in: range, using: &random)
    }

    /// Space between tokens that may touch: usually nothing, sometimes blanks or a comment.
    private mutating func gap() -> String {
        chance(0.85) ? "" : pick([" ", "  ", "\n", "\t", " // note\n", "\r\n"])
    }

    /// Space around a binary operator: at least one blank, so `in` and `-` stay separate tokens.
    private mutating func around() -> String {
        chance(0.85) ? " " : pick(["  ", "\n", " \t", " // a comment\n", "\n\n"])
    }

    // MARK: Grammar, loosest binding first

    private mutating func conditional(_ depth: Int) -> String {
        guard depth < maxDepth, chance(0.1) else { return or(depth) }
        return or(depth + 1) + around() + "?" + around() + or(depth + 1) + around() + ":" + around() + conditional(depth + 1)
    }

    private mutating func or(_ depth: Int) -> String {
        chain(depth, operators: ["||"], probability: 0.08) { generator, depth in generator.and(depth) }
    }

    private mutating func and(_ depth: Int) -> String {
        chain(depth, operators: ["&&"], probability: 0.08) { generator, depth in generator.relation(depth) }
    }

    private mutating func relation(_ depth: Int) -> String {
        chain(depth, operators: ["==", "!=", "<", "<=", ">", ">=", "in"], probability: 0.2) { generator, depth in
            generator.addition(depth)
        }
    }

    private mutating func addition(_ depth: Int) -> String {
        chain(depth, operators: ["+", "-"], probability: 0.15) { generator, depth in generator.multiplication(depth) }
    }

    private mutating func multiplication(_ depth: Int) -> String {
        chain(depth, operators: ["*", "/", "%"], probability: 0.1) { generator, depth in generator.unary(depth) }
    }

    /// One operand, or two to four joined by the level's operators.
    private mutating func chain(
        _ depth: Int, operators: [String], probability: Double,
        operand: (inout CELSourceGenerator, Int) -> String
    ) -> String {
        guard depth < maxDepth, chance(probability) else { return operand(&self, depth) }
        var text = operand(&self, depth + 1)
        for _ in 0..<count(1...3) {
            text += around() + pick(operators) + around() + operand(&self, depth + 1)
        }
        return text
    }

    private mutating func unary(_ depth: Int) -> String {
        switch Double.random(in: 0..<1, using: &random) {
        case ..<0.06: String(repeating: "!", count: count(1...3)) + gap() + member(depth)
        case ..<0.12: String(repeating: "-", count: count(1...3)) + gap() + member(depth)
        case ..<0.2: String(repeating: "-", count: count(1...2)) + gap() + negatable()
        default: member(depth)
        }
    }

    private mutating func member(_ depth: Int) -> String {
        var text = primary(depth)
        guard depth < maxDepth else { return text }
        for _ in 0..<3 where chance(0.3) {
            switch count(0...5) {
            case 0: text += gap() + "." + gap() + pick(fields)
            case 1: text += "." + "`" + pick(quotedFields) + "`"
            case 2: text += gap() + "." + pick(methods) + "(" + arguments(depth + 1, count(0...2)) + ")"
            case 3: text += gap() + "[" + gap() + conditional(depth + 1) + gap() + "]"
            default: text += gap() + macro(depth + 1)
            }
        }
        return text
    }

    private mutating func macro(_ depth: Int) -> String {
        let variable = pick(["x", "y", "v"])
        let name = pick(["all", "exists", "exists_one", "map", "filter", "map"])
        var text = "." + name + "(" + gap() + variable + "," + gap() + " " + conditional(depth)
        if name == "map", chance(0.4) { text += ", " + conditional(depth) }
        return text + gap() + ")"
    }

    private mutating func arguments(_ depth: Int, _ count: Int) -> String {
        (0..<count).map { _ in conditional(depth) }.joined(separator: "," + gap() + " ")
    }

    private mutating func primary(_ depth: Int) -> String {
        // Fewer and fewer sub-expressions further down, so texts stay a line or a few.
        let leaf = depth >= maxDepth || chance(Double(depth + 1) / Double(maxDepth + 1))
        switch count(0...(leaf ? 3 : 11)) {
        case 0, 1: return literal()
        case 2: return pick(names + ["x", "y", "v"])
        case 3: return "." + pick(names.filter { $0 != "has" })
        case 4: return "(" + gap() + conditional(depth + 1) + gap() + ")"
        case 5:
            let elements = count(0...3)
            let trailing = elements > 0 && chance(0.2) ? "," : ""
            return "[" + gap() + arguments(depth + 1, elements) + trailing + gap() + "]"
        case 6:
            let entries = (0..<count(0...3)).map { _ in mapKey(depth + 1) + ":" + gap() + " " + conditional(depth + 1) }
            let trailing = !entries.isEmpty && chance(0.2) ? "," : ""
            return "{" + gap() + entries.joined(separator: ", ") + trailing + gap() + "}"
        case 7, 8: return pick(functions) + "(" + gap() + arguments(depth + 1, count(0...2)) + gap() + ")"
        case 9: return "has(" + member(depth + 1) + "." + pick(fields) + ")"
        case 10: return "math." + pick(["greatest", "least"]) + "(" + arguments(depth + 1, count(1...3)) + ")"
        default: return literal()
        }
    }

    private mutating func mapKey(_ depth: Int) -> String {
        switch count(0...5) {
        case 0: string()
        case 1: integer()
        case 2: integer() + "u"
        case 3: pick(["true", "false", "1.5", "null"])
        default: conditional(depth)
        }
    }

    // MARK: Literals

    private mutating func literal() -> String {
        switch count(0...9) {
        case 0, 1: integer()
        case 2: integer() + pick(["u", "U"])
        case 3, 4: number()
        case 5, 6: string()
        case 7: bytes()
        default: pick(["true", "false", "null"])
        }
    }

    private mutating func integer() -> String {
        let value: UInt64 = switch count(0...3) {
        case 0: UInt64(count(0...9))
        case 1: UInt64(count(0...1_000))
        case 2: UInt64.random(in: 0...UInt64(Int64.max), using: &random)
        default: pick([0, 1, 7, 255, 1 << 32, UInt64(Int64.max)])
        }
        guard chance(0.2) else { return String(value) }
        let hex = String(value, radix: 16, uppercase: chance(0.5))
        return pick(["0x", "0X"]) + hex
    }

    /// A number for `unary` to put a minus in front of, making a negative literal.
    private mutating func negatable() -> String {
        // -9223372036854775808 is an int, but only as a negative literal.
        chance(0.1) ? "9223372036854775808" : (chance(0.5) ? integer() : number())
    }

    /// A double in any spelling.
    private mutating func number() -> String {
        switch count(0...7) {
        case 0, 1: return "\(count(0...9))." + String(count(0...99_999))
        case 2: return "\(count(0...999)).\(count(0...999))"
        case 3: return ".\(count(0...99))"
        case 4: return "\(count(1...9))" + pick(["e", "E"]) + pick(["", "+", "-"]) + "\(count(0...300))"
        case 5: return "\(count(0...9)).\(count(0...9))e-\(count(0...20))"
        case 6: return pick(["0.0", "1.7976931348623157e308", "5e-324", "2.5", "0.1", "100.0"])
        default:
            let value = Double.random(in: 0..<1e6, using: &random)
            let text = "\(value)"
            return text.contains(".") || text.contains("e") ? text : text + ".0"
        }
    }

    private mutating func string() -> String {
        if chance(0.3) { return "'" + pick(meaningfulStrings) + "'" }
        let quote = pick(["\"", "'"])
        let isTriple = chance(0.2)
        let isRaw = chance(0.15)
        let delimiter = isTriple ? String(repeating: quote, count: 3) : quote
        var body = ""
        for _ in 0..<count(0...6) {
            body += stringPiece(quote: quote, isRaw: isRaw, isTriple: isTriple)
        }
        return (isRaw ? pick(["r", "R"]) : "") + delimiter + body + delimiter
    }

    private mutating func stringPiece(quote: String, isRaw: Bool, isTriple: Bool) -> String {
        let other = quote == "\"" ? "'" : "\""
        switch count(0...9) {
        case 0, 1: return pick(["a", "hello", "Z", "0", " ", "gold", "_", "?", "`", other])
        case 2: return pick(["é", "中文", "😀", "\u{301}", "ß", "\u{7F}"])
        case 3: return isTriple ? pick(["\n", "\r\n", "\t"]) : "\t"
        case 4 where isRaw: return pick(["\\d", "\\n", "\\.", "\\u"])
        default:
            guard !isRaw else { return "x" }
            return pick([
                "\\n", "\\t", "\\r", "\\\\", "\\\"", "\\'", "\\`", "\\?", "\\a", "\\b", "\\f", "\\v",
                "\\x41", "\\X7e", "\\u00e9", "\\U0001F600", "\\101", "\\000", "\\377", "\\x00",
            ])
        }
    }

    private mutating func bytes() -> String {
        let quote = pick(["\"", "'"])
        let isRaw = chance(0.2)
        var body = ""
        for _ in 0..<count(0...5) {
            if isRaw {
                body += pick(["a", "\\d", "é", " ", "0"])
            } else {
                body += pick(["a", "\\xff", "\\x00", "\\377", "\\n", "\\\\", "é", "\\?", "Z"])
            }
        }
        let prefix = isRaw ? pick(["br", "rb", "BR", "bR"]) : pick(["b", "B"])
        return prefix + quote + body + quote
    }
}
