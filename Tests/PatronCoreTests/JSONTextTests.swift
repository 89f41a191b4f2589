import Foundation
import PatronCore
import Testing

/// The JSON parser and writer must agree with Foundation's JSONDecoder and JSONEncoder, which they
/// replaced: stored canonical text and the answers to every request depend on it.
@Suite("JSON text")
struct JSONTextTests {
    /// What Foundation made of the text, through `JSONValue`'s Codable conformance.
    static func foundationParse(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static func foundationText(_ value: JSONValue, pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
            : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    @Test("parses what Foundation parses, to the same value", arguments: [
        "0", "-0", "1.0", "1e2", "1E+2", "-1.5e-3", "0.1", "12345678901234567890", "-9223372036854775808",
        "9223372036854775807", "9223372036854775808", "1.7976931348623157e308", "5e-324", "1e16", "123.456e5",
        "true", "false", "null", "\"\"", "\"a\\u00e9\\n\\t\\\"\\\\\\/\"", "\"\\ud83d\\ude00 😀 中文\"",
        " [1, 2.5, \"x\", [], {}, null] ", "{\"a\": {\"b\": [true, {\"c\": -3}]}, \"d\": \"\"}",
        "{\"a\": 1, \"a\": 2}", "[1e-7, 1.2345678901234568e+20]",
    ])
    func agreesOnValidText(_ text: String) throws {
        let ours = try JSONValue(parsing: Data(text.utf8))
        #expect(ours == Self.foundationParse(text))
        #expect(ours.canonicalString() == Self.foundationText(ours))
    }

    @Test("refuses what Foundation refuses, saying where", arguments: [
        "", " ", "01", "1.", ".5", "-", "+1", "1e", "1e400", "-1e400", "tru", "nul", "[1 2]", "{\"a\" 1}", "{a:1}", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"a\u{01}b\"", "[1] 2", "[", "{", "NaN", "Infinity", "'a'",
    ])
    func refusesInvalidText(_ text: String) {
        #expect(Self.foundationParse(text) == nil, "Foundation accepts \(text)")
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: Data(text.utf8)) }
    }

    /// Foundation's decoder lets a trailing comma pass; RFC 8259 does not, and neither do we.
    @Test("refuses a trailing comma, which Foundation lets pass", arguments: ["[1,]", "{\"a\":1,}", "[[],]"])
    func refusesTrailingComma(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: Data(text.utf8)) }
    }

    @Test("refuses text that is not UTF-8")
    func refusesInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: Data([0x22, 0xC3, 0x28, 0x22])) }
    }

    @Test("refuses nesting deeper than the limit, without exhausting the stack")
    func refusesDeepNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: Data(deep.utf8)) }
        let limit = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        _ = try JSONValue(parsing: Data(limit.utf8))
    }

    @Test("random documents: written text equals Foundation's, and parses back to the same value",
          arguments: [1, 2, 3, 4] as [UInt64])
    func randomDocumentsRoundTrip(_ seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        for _ in 0..<500 {
            let value = Self.randomValue(depth: 0, using: &random)
            let text = value.canonicalString()
            #expect(text == Self.foundationText(value))
            #expect(try JSONValue(parsing: Data(text.utf8)) == Self.foundationParse(text))
            #expect(String(decoding: value.prettyData(), as: UTF8.self) == Self.foundationText(value, pretty: true))
        }
    }

    @Test("integers at the ends of Int64 and around powers of ten are written as Foundation writes them",
          arguments: [Int64.min, .min + 1, -1_000_000_000_000_000_000, -10, -9, -1, 0, 1, 9, 10, 99, 100,
                      999_999_999_999_999_999, 1_000_000_000_000_000_000, .max])
    func integersAtTheEnds(_ number: Int64) {
        #expect(JSONValue.int(number).canonicalString() == Self.foundationText(.int(number)))
        #expect(JSONValue.int(number).canonicalString() == String(number))
    }

    static func randomValue(depth: Int, using random: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &random) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2: return .int(Int64.random(in: .min ... .max, using: &random) >> Int64.random(in: 0..<63, using: &random))
        case 3:
            let double = Double.random(in: -1e6...1e6, using: &random) * pow(10, Double(Int.random(in: -30...30, using: &random)))
            return double.rounded() == double ? .int(0) : .double(double)
        case 4: return .string(randomString(using: &random))
        case 5:
            return .array((0..<Int.random(in: 0..<5, using: &random)).map { _ in randomValue(depth: depth + 1, using: &random) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &random) {
                members[randomString(using: &random)] = randomValue(depth: depth + 1, using: &random)
            }
            return .object(members)
        }
    }

    static func randomString(using random: inout SeededGenerator) -> String {
        let pieces: [String] = ["a", "Z", "_", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "\u{7F}",
                                "é", "中", "😀", "\u{2028}", "ß", "key"]
        return (0..<Int.random(in: 0..<6, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
    }
}

@Suite("Timestamps")
struct TimestampTests {
    /// Foundation's ISO 8601 style, which this replaced, wrote some instants a millisecond early
    /// (`.999` as `.998`, from floating point) and dates before 1583 in the Julian calendar; RFC 3339
    /// is proleptic Gregorian. So the text is checked against known values and by reading it back.
    @Test("RFC 3339 text with milliseconds: known instants, and every text reads back as its instant")
    func rfc3339() throws {
        let known: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00.000Z"), (-1, "1969-12-31T23:59:59.999Z"), (999, "1970-01-01T00:00:00.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"), (1_763_800_200_123, "2025-11-22T08:30:00.123Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"), (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        ]
        for (milliseconds, text) in known {
            #expect(Timestamp.rfc3339(Timestamp.date(milliseconds: milliseconds)) == text)
        }
        var random = SeededGenerator(seed: 7)
        for _ in 0..<5_000 {
            let milliseconds = Int64.random(in: -62_135_596_800_000...253_402_300_799_999, using: &random)
            let text = Timestamp.rfc3339(Timestamp.date(milliseconds: milliseconds))
            let parsed = try CELTimestamp(rfc3339: text)
            #expect(parsed.seconds * 1000 + Int64(parsed.nanos / 1_000_000) == milliseconds, "\(text)")
            #expect(text.utf8.count == 24)
        }
    }

    @Test("the HTTP Date header's text: RFC 9110's example, and Foundation's formatting of random instants")
    func httpDate() {
        #expect(Timestamp.httpDate(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(Timestamp.httpDate(Date(timeIntervalSince1970: 951_782_400.999)) == "Tue, 29 Feb 2000 00:00:00 GMT")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var random = SeededGenerator(seed: 5)
        for _ in 0..<2_000 {
            let date = Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_102_444_800, using: &random)))
            #expect(Timestamp.httpDate(date) == formatter.string(from: date))
        }
    }

    /// A stored time must read back as the same millisecond, though as a Double an exact
    /// millisecond is often a hair below itself.
    @Test("milliseconds survive the trip through Date, and truncation is idempotent")
    func millisecondsRoundTrip() {
        var random = SeededGenerator(seed: 11)
        for _ in 0..<20_000 {
            let milliseconds = Int64.random(in: -62_135_596_800_000...253_402_300_799_999, using: &random)
            let date = Timestamp.date(milliseconds: milliseconds)
            #expect(Timestamp.milliseconds(date) == milliseconds)
            #expect(Timestamp.truncated(date) == date)
        }
        #expect(Timestamp.milliseconds(Date(timeIntervalSince1970: 1.0239)) == 1_023)
        #expect(Timestamp.milliseconds(Date(timeIntervalSince1970: -0.0001)) == -1)
    }
}
