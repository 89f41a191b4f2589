import Foundation

// JSON text to `JSONValue` and back, without Codable: every request body and stored document goes
// through here, and Codable's decoder tried each JSON type in turn, throwing on each miss.
// The results match what Foundation's JSONDecoder and JSONEncoder (`.sortedKeys`,
// `.withoutEscapingSlashes`) gave for `JSONValue`, so stored canonical text does not change:
// - a number is an integer when it has an exact Int64 value (`1.0` and `1e2` too), else a double;
//   a number out of Double's range is an error;
// - within an object, the first of repeated keys wins;
// - strings must be valid UTF-8 without raw control characters; a lone surrogate escape is an error;
// - nesting deeper than 512 levels is an error, so hostile input cannot exhaust the stack.

/// Why a text is not JSON, and where.
public struct JSONSyntaxError: Error, Hashable, CustomStringConvertible {
    /// The byte offset of the fault.
    public var offset: Int
    public var reason: String

    public var description: String { "Invalid JSON at byte \(offset): \(reason)." }
}

extension JSONValue {
    /// The deepest nesting of arrays and objects that parsing accepts.
    public static let maxDepth = 512

    /// Parses JSON text (RFC 8259; any value at the top, surrounded by optional whitespace).
    public init(parsing data: Data) throws(JSONSyntaxError) {
        let result = data.withUnsafeBytes { bytes -> Result<JSONValue, JSONSyntaxError> in
            var parser = JSONParser(bytes: bytes)
            do throws(JSONSyntaxError) {
                return .success(try parser.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// The canonical text of the value: keys sorted, no insignificant whitespace, so that equal
    /// documents have equal text (config versions compare and diff by it).
    public func canonicalData() -> Data {
        var writer = JSONWriter()
        writer.write(self)
        return Data(writer.bytes)
    }

    /// The text Foundation's JSONEncoder writes with `.prettyPrinted`, `.sortedKeys` and
    /// `.withoutEscapingSlashes` (the API's answers): two spaces of indent, `"key" : value`, and an
    /// empty array or object as its brackets around an empty line.
    public func prettyData() -> Data {
        var writer = JSONWriter(pretty: true)
        writer.write(self)
        return Data(writer.bytes)
    }

    /// The canonical text as a string.
    public func canonicalString() -> String {
        var writer = JSONWriter()
        writer.write(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    var depth = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw fault("unexpected text after the value") }
        return value
    }

    func fault(_ reason: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? index, reason: reason)
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count else { throw fault("the text ends where a value should be") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fault("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count,
              UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]).elementsEqual(
                UnsafeRawBufferPointer(start: literal.utf8Start, count: count)) else {
            throw fault("unexpected character")
        }
        index += count
    }

    mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= JSONValue.maxDepth else { throw fault("nested deeper than \(JSONValue.maxDepth) levels") }
    }

    mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fault("expected a member name") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fault("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            if members[key] == nil { members[key] = value }
            skipWhitespace()
            guard index < bytes.count else { throw fault("the text ends inside an object") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return .object(members)
            default: throw fault("expected ',' or '}'")
            }
        }
    }

    mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fault("the text ends inside an array") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return .array(elements)
            default: throw fault("expected ',' or ']'")
            }
        }
    }

    /// A string starting at the opening quote.
    mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = index
        index += 1
        // The common case: no escapes, so the text is a slice of the input.
        var end = index
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            end += 1
        }
        guard end < bytes.count else { throw fault("the text ends inside a string", at: start) }
        if bytes[end] == UInt8(ascii: "\"") {
            guard let string = String(validating: UnsafeRawBufferPointer(rebasing: bytes[index..<end]), as: UTF8.self)
            else { throw fault("a string is not valid UTF-8", at: start) }
            index = end + 1
            return string
        }
        var scalars: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
        index = end
        while true {
            guard index < bytes.count else { throw fault("the text ends inside a string", at: start) }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: scalars, as: UTF8.self) else {
                    throw fault("a string is not valid UTF-8", at: start)
                }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fault("the text ends inside a string", at: start) }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try parseUnicodeEscape()
                    scalars.append(contentsOf: String(Character(scalar)).utf8)
                default: throw fault("unknown escape '\\\(Character(Unicode.Scalar(escape)))'", at: index - 2)
                }
            case 0..<0x20:
                throw fault("a control character must be escaped in a string")
            default:
                scalars.append(byte)
                index += 1
            }
        }
    }

    /// The scalar of `\uXXXX` (after the `u`), joining a surrogate pair.
    mutating func parseUnicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        let at = index - 2
        let first = try hex4()
        switch first {
        case 0xD800...0xDBFF:
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw fault("a lone surrogate escape", at: at)
            }
            index += 2
            let second = try hex4()
            guard (0xDC00...0xDFFF).contains(second) else { throw fault("a lone surrogate escape", at: at) }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
        case 0xDC00...0xDFFF:
            throw fault("a lone surrogate escape", at: at)
        default:
            return Unicode.Scalar(first)!
        }
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw fault("a \\u escape needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fault("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fault("a number needs digits", at: start) }
        // Accumulate the integer part as a negative number, so Int64.min fits.
        var magnitude: Int64 = 0
        var fits = true
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) {
                if fits {
                    let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (next, o2) = times10.subtractingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
                    if o1 || o2 { fits = false } else { magnitude = next }
                }
                index += 1
            }
        }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fault("a fraction needs digits", at: start) }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fault("an exponent needs digits", at: start) }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if integral, fits {
            if negative { return .int(magnitude) }
            if magnitude != .min { return .int(-magnitude) }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw fault("a number out of range", at: start) }
        if double.rounded(.towardZero) == double, let exact = Int64(exactly: double) { return .int(exact) }
        return .double(double)
    }

    func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

/// Writes JSON with sorted keys and `/` unescaped: compact, or pretty as JSONEncoder prints it.
struct JSONWriter {
    var bytes: [UInt8] = []
    let pretty: Bool
    private var depth = 0

    init(pretty: Bool = false) {
        self.pretty = pretty
        bytes.reserveCapacity(pretty ? 1024 : 256)
    }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let flag): append(flag ? "true" : "false")
        case .int(let number): write(number)
        case .double(let number): append(Self.text(of: number))
        case .string(let string): write(string)
        case .array(let elements):
            open("[")
            for (position, element) in elements.enumerated() {
                separate(position)
                write(element)
            }
            close("]")
        case .object(let members):
            open("{")
            for (position, key) in members.keys.sorted().enumerated() {
                separate(position)
                write(key)
                append(pretty ? " : " : ":")
                write(members[key]!)
            }
            close("}")
        }
    }

    private mutating func open(_ bracket: Unicode.Scalar) {
        bytes.append(UInt8(ascii: bracket))
        guard pretty else { return }
        bytes.append(0x0A)
        depth += 1
    }

    /// The comma before every member but the first, and in pretty text the line and indent.
    private mutating func separate(_ position: Int) {
        if position > 0 { bytes.append(UInt8(ascii: ",")) }
        guard pretty else { return }
        if position > 0 { bytes.append(0x0A) }
        indent()
    }

    private mutating func close(_ bracket: Unicode.Scalar) {
        if pretty {
            bytes.append(0x0A)
            depth -= 1
            indent()
        }
        bytes.append(UInt8(ascii: bracket))
    }

    private mutating func indent() {
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }

    /// A string in quotes: the runs that need no escape are copied whole, byte by byte only the rest.
    mutating func write(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var run = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<index]))
                escape(byte)
                run = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): append("\\\"")
        case UInt8(ascii: "\\"): append("\\\\")
        case 0x0A: append("\\n")
        case 0x0D: append("\\r")
        case 0x09: append("\\t")
        case 0x08: append("\\b")
        case 0x0C: append("\\f")
        default:
            append("\\u00")
            bytes.append(Hex.digit(byte >> 4))
            bytes.append(Hex.digit(byte & 0x0F))
        }
    }

    /// An integer's decimal digits, without making a String of them.
    mutating func write(_ number: Int64) {
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var first = digits.count
            repeat {
                first -= 1
                digits[first] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[first...]))
        }
    }

    mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Swift's shortest round-tripping form, without the `.0` of whole numbers (as JSONEncoder).
    static func text(of number: Double) -> String {
        let text = number.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}

/// Compact JSON written straight to bytes, for a document written so often that building a
/// `JSONValue` first costs more than its text (an event's receipt, inside the write transaction).
/// Its caller gives each object's keys in sorted order, and then the text is the one
/// `canonicalData()` gives for the same document. Keys are written as given: they must need no
/// escaping.
public struct CanonicalJSONWriter {
    private var writer = JSONWriter()
    /// Whether the next member of the open array or object follows another (and needs a comma).
    private var follows = false

    public init() {}

    /// The text so far.
    public var data: Data { Data(writer.bytes) }

    /// An object, its members written by `members`.
    public mutating func object(_ members: (inout Self) -> Void) {
        separate()
        writer.bytes.append(UInt8(ascii: "{"))
        follows = false
        members(&self)
        writer.bytes.append(UInt8(ascii: "}"))
        follows = true
    }

    public mutating func field(_ key: StaticString, _ value: String) {
        member(key) { $0.write(value) }
    }

    public mutating func field(_ key: StaticString, _ value: Int64) {
        member(key) { $0.write(value) }
    }

    /// The member, or nothing when `value` is nil.
    public mutating func field(_ key: StaticString, _ value: String?) {
        if let value { field(key, value) }
    }

    /// The member, or nothing when `value` is nil.
    public mutating func field(_ key: StaticString, _ value: Int64?) {
        if let value { field(key, value) }
    }

    /// A member whose value is an object, its members written by `members`.
    public mutating func field(_ key: StaticString, object members: (inout Self) -> Void) {
        name(key)
        object(members)
    }

    /// A member whose value is an array, each of `elements` written by `element` (as an object).
    public mutating func field<Elements: Sequence>(_ key: StaticString, array elements: Elements,
                                                   _ element: (inout Self, Elements.Element) -> Void) {
        name(key)
        writer.bytes.append(UInt8(ascii: "["))
        follows = false
        for item in elements { element(&self, item) }
        writer.bytes.append(UInt8(ascii: "]"))
        follows = true
    }

    /// A member whose value `write` writes.
    private mutating func member(_ key: StaticString, _ write: (inout JSONWriter) -> Void) {
        name(key)
        write(&writer)
        follows = true
    }

    private mutating func name(_ key: StaticString) {
        separate()
        writer.bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { writer.bytes.append(contentsOf: $0) }
        writer.bytes.append(UInt8(ascii: "\""))
        writer.bytes.append(UInt8(ascii: ":"))
        follows = false
    }

    private mutating func separate() {
        if follows { writer.bytes.append(UInt8(ascii: ",")) }
    }
}
