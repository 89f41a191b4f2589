import Foundation

extension CELValue {
    /// CEL equality: numbers compare by value across int, uint and double; values of different
    /// kinds are unequal (never an error); lists in order; maps as sets of entries.
    public func celEquals(_ other: CELValue) -> Bool {
        switch (self, other) {
        case (.int(let a), .int(let b)): return a == b
        case (.string(let a), .string(let b)): return sameCodePoints(a, b)
        case (.bool(let a), .bool(let b)): return a == b
        case (.uint(let a), .uint(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int, .uint), (.int, .double), (.uint, .int), (.uint, .double), (.double, .int), (.double, .uint):
            return compareNumbers(self, other) == .orderedSame
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.null, .null): return true
        case (.timestamp(let a), .timestamp(let b)): return a == b
        case (.duration(let a), .duration(let b)): return a == b
        case (.type(let a), .type(let b)): return a.sameKind(as: b)
        case (.list(let a), .list(let b)):
            guard a.count == b.count else { return false }
            for index in a.indices where !a[index].celEquals(b[index]) {
                return false
            }
            return true
        case (.map(let a), .map(let b)):
            guard a.count == b.count else { return false }
            for entry in a.entries {
                guard let value = try? b.value(for: entry.key), entry.value.celEquals(value) else {
                    return false
                }
            }
            return true
        case (.object(let a), .object(let b)):
            guard a.type === b.type else { return false }
            for index in a.values.indices where !a.values[index].celEquals(b.values[index]) {
                return false
            }
            return true
        default:
            return false
        }
    }

    /// CEL ordering for `<`, `<=`, `>`, `>=`: numbers across kinds, strings, bytes, bools,
    /// timestamps and durations. Nil means unordered (a NaN is involved); other kinds are an error.
    func celCompare(_ other: CELValue, operator name: String) throws(CELEvalError) -> ComparisonResult? {
        switch (self, other) {
        case (.int(let a), .int(let b)): return order(a, b)
        case (.uint(let a), .uint(let b)): return order(a, b)
        case (.double(let a), .double(let b)):
            if a.isNaN || b.isNaN { return nil }
            return order(a, b)
        case (.int, .uint), (.int, .double), (.uint, .int), (.uint, .double), (.double, .int), (.double, .uint):
            return compareNumbers(self, other)
        case (.string(let a), .string(let b)):
            // CEL orders strings by code point, which is the order of their UTF-8 bytes.
            return order(a.utf8.lexicographicallyPrecedes(b.utf8), b.utf8.lexicographicallyPrecedes(a.utf8))
        case (.bytes(let a), .bytes(let b)):
            return order(a.lexicographicallyPrecedes(b), b.lexicographicallyPrecedes(a))
        case (.bool(let a), .bool(let b)): return order(a == false && b, a && b == false)
        case (.timestamp(let a), .timestamp(let b)): return order(a, b)
        case (.duration(let a), .duration(let b)): return order(a, b)
        default:
            throw .noMatchingOverload(name, self, other)
        }
    }

    /// The value written as a CEL literal: `42`, `7u`, `"text"`, `[1, 2]`, `timestamp("…")`.
    public var literal: String {
        switch self {
        case .int(let int): return String(int)
        case .uint(let uint): return "\(uint)u"
        case .double(let double): return Self.literal(double)
        case .bool(let bool): return bool ? "true" : "false"
        case .string(let string): return Self.quoted(string)
        case .bytes(let bytes): return "b\"" + bytes.map(Self.escapedByte).joined() + "\""
        case .null: return "null"
        case .list(let list): return "[" + list.map(\.literal).joined(separator: ", ") + "]"
        case .map(let map):
            return "{" + map.entries.map { "\($0.key.literal): \($0.value.literal)" }.joined(separator: ", ") + "}"
        case .timestamp(let timestamp): return "timestamp(\"\(timestamp.rfc3339)\")"
        case .duration(let duration): return "duration(\"\(duration.text)\")"
        case .type(let type): return type.name
        case .object(let object):
            let fields = zip(object.type.fields, object.values).map { "\($0.0.name): \($0.1.literal)" }
            return object.type.name + "{" + fields.joined(separator: ", ") + "}"
        }
    }

    /// A double as CEL source: always with a decimal point or exponent so it reads back as a double.
    static func literal(_ double: Double) -> String {
        if double.isNaN { return "double(\"NaN\")" }
        if double.isInfinite { return double < 0 ? "double(\"-Infinity\")" : "double(\"Infinity\")" }
        let text = "\(double)"
        return text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? text : text + ".0"
    }

    /// A string as a double-quoted CEL literal with escapes for quotes, backslashes and controls.
    static func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += String(format: "\\x%02X", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static func escapedByte(_ byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): "\\\""
        case UInt8(ascii: "\\"): "\\\\"
        case 0x20..<0x7F: String(UnicodeScalar(byte))
        default: String(format: "\\x%02X", byte)
        }
    }
}

private func order<T: Comparable>(_ a: T, _ b: T) -> ComparisonResult {
    a < b ? .orderedAscending : (a == b ? .orderedSame : .orderedDescending)
}

private func order(_ less: Bool, _ greater: Bool) -> ComparisonResult {
    less ? .orderedAscending : (greater ? .orderedDescending : .orderedSame)
}

/// Compares two numbers of any kinds: int with uint exactly, either with a double as doubles.
/// Nil when a NaN is involved.
func compareNumbers(_ a: CELValue, _ b: CELValue) -> ComparisonResult? {
    switch (a, b) {
    case (.int(let x), .int(let y)): return order(x, y)
    case (.uint(let x), .uint(let y)): return order(x, y)
    case (.double(let x), .double(let y)): return x.isNaN || y.isNaN ? nil : order(x, y)
    case (.int(let x), .uint(let y)): return x < 0 ? .orderedAscending : order(UInt64(x), y)
    case (.uint(let x), .int(let y)): return y < 0 ? .orderedDescending : order(x, UInt64(y))
    case (.int(let x), .double(let y)): return compare(int: x, double: y)
    case (.double(let x), .int(let y)): return compare(int: y, double: x).map(flip)
    case (.uint(let x), .double(let y)): return compare(uint: x, double: y)
    case (.double(let x), .uint(let y)): return compare(uint: y, double: x).map(flip)
    default: return nil
    }
}

private func flip(_ result: ComparisonResult) -> ComparisonResult {
    switch result {
    case .orderedAscending: .orderedDescending
    case .orderedDescending: .orderedAscending
    case .orderedSame: .orderedSame
    }
}

/// An integer against a double compares as doubles, as CEL's reference implementation does: the
/// integer rounds to the nearest double first.
private func compare(int: Int64, double: Double) -> ComparisonResult? {
    double.isNaN ? nil : order(Double(int), double)
}

private func compare(uint: UInt64, double: Double) -> ComparisonResult? {
    double.isNaN ? nil : order(Double(uint), double)
}

/// Strings are equal when their code points are: unlike Swift's `==`, no Unicode normalization,
/// so "a\u{301}" is not "á".
func sameCodePoints(_ a: String, _ b: String) -> Bool {
    var a = a
    var b = b
    return a.withUTF8 { x in b.withUTF8 { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
}
