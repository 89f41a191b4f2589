import Foundation

/// The operators and functions of CEL's standard library, on values. The compiler binds each call
/// to one of these once, so evaluation never looks a function up by name.
enum CELOperations {
    // MARK: Arithmetic

    /// The value of an operation that reports overflow; overflow is an error, never a wrap.
    @inline(__always)
    private static func exact<T>(_ result: (partialValue: T, overflow: Bool)) throws(CELEvalError) -> T {
        if result.overflow { throw .overflow }
        return result.partialValue
    }

    static func add(_ a: CELValue, _ b: CELValue) throws(CELEvalError) -> CELValue {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            return .int(try exact(x.addingReportingOverflow(y)))
        case (.uint(let x), .uint(let y)):
            return .uint(try exact(x.addingReportingOverflow(y)))
        case (.double(let x), .double(let y)): return .double(x + y)
        case (.string(let x), .string(let y)): return .string(x + y)
        case (.bytes(let x), .bytes(let y)): return .bytes(x + y)
        case (.list(let x), .list(let y)): return .list(x + y)
        case (.timestamp(let x), .duration(let y)): return .timestamp(try x.adding(y))
        case (.duration(let x), .timestamp(let y)): return .timestamp(try y.adding(x))
        case (.duration(let x), .duration(let y)): return .duration(try x.adding(y))
        default: throw .noMatchingOverload("_+_", a, b)
        }
    }

    static func subtract(_ a: CELValue, _ b: CELValue) throws(CELEvalError) -> CELValue {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            return .int(try exact(x.subtractingReportingOverflow(y)))
        case (.uint(let x), .uint(let y)):
            return .uint(try exact(x.subtractingReportingOverflow(y)))
        case (.double(let x), .double(let y)): return .double(x - y)
        case (.timestamp(let x), .timestamp(let y)): return .duration(try x.difference(from: y))
        case (.timestamp(let x), .duration(let y)): return .timestamp(try x.subtracting(y))
        case (.duration(let x), .duration(let y)): return .duration(try x.subtracting(y))
        default: throw .noMatchingOverload("_-_", a, b)
        }
    }

    static func multiply(_ a: CELValue, _ b: CELValue) throws(CELEvalError) -> CELValue {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            return .int(try exact(x.multipliedReportingOverflow(by: y)))
        case (.uint(let x), .uint(let y)):
            return .uint(try exact(x.multipliedReportingOverflow(by: y)))
        case (.double(let x), .double(let y)): return .double(x * y)
        default: throw .noMatchingOverload("_*_", a, b)
        }
    }

    static func divide(_ a: CELValue, _ b: CELValue) throws(CELEvalError) -> CELValue {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            if y == 0 { throw .divisionByZero }
            return .int(try exact(x.dividedReportingOverflow(by: y)))
        case (.uint(let x), .uint(let y)):
            if y == 0 { throw .divisionByZero }
            return .uint(x / y)
        case (.double(let x), .double(let y)): return .double(x / y)
        default: throw .noMatchingOverload("_/_", a, b)
        }
    }

    static func remainder(_ a: CELValue, _ b: CELValue) throws(CELEvalError) -> CELValue {
        switch (a, b) {
        case (.int(let x), .int(let y)):
            if y == 0 { throw .moduloByZero }
            return .int(try exact(x.remainderReportingOverflow(dividingBy: y)))
        case (.uint(let x), .uint(let y)):
            if y == 0 { throw .moduloByZero }
            return .uint(x % y)
        default: throw .noMatchingOverload("_%_", a, b)
        }
    }

    static func negate(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .int(let x):
            if x == .min { throw .overflow }
            return .int(-x)
        case .double(let x): return .double(-x)
        case .duration(let x): return .duration(try x.negated())
        default: throw .noMatchingOverload("-_", a)
        }
    }

    static func not(_ a: CELValue) throws(CELEvalError) -> CELValue {
        guard case .bool(let x) = a else { throw .noMatchingOverload("!_", a) }
        return .bool(!x)
    }

    // MARK: Membership and indexing

    static func contains(_ collection: CELValue, _ element: CELValue) throws(CELEvalError) -> Bool {
        switch collection {
        case .list(let list):
            for candidate in list where candidate.celEquals(element) {
                return true
            }
            return false
        case .map(let map):
            switch element {
            case .int, .uint, .bool, .string, .double: return try map.value(for: element) != nil
            default: return false
            }
        default:
            throw .noMatchingOverload("@in", element, collection)
        }
    }

    static func index(_ collection: CELValue, _ key: CELValue) throws(CELEvalError) -> CELValue {
        switch collection {
        case .list(let list):
            let position: Int64
            switch key {
            case .int(let int): position = int
            case .uint(let uint): position = uint > UInt64(Int64.max) ? .max : Int64(uint)
            case .double(let double):
                guard let int = Int64(exactly: double) else {
                    throw CELEvalError("invalid list index \(key.literal)")
                }
                position = int
            default: throw .noMatchingOverload("_[_]", collection, key)
            }
            guard position >= 0, position < list.count else {
                throw CELEvalError("index out of range: \(position) (the list has \(list.count) element\(list.count == 1 ? "" : "s"))")
            }
            return list[Int(position)]
        case .map(let map):
            guard let value = try map.value(for: key) else { throw .noSuchKey(key) }
            return value
        default:
            throw .noMatchingOverload("_[_]", collection, key)
        }
    }

    /// `operand.field`: a map entry or an object field.
    static func select(_ operand: CELValue, _ field: String) throws(CELEvalError) -> CELValue {
        switch operand {
        case .map(let map):
            guard let value = map.value(forField: field) else { throw .noSuchKey(.string(field)) }
            return value
        case .object(let object):
            guard let value = object.field(field) else {
                throw CELEvalError("\(object.type.name) has no field '\(field)'")
            }
            return value
        default:
            throw CELEvalError("type '\(operand.type.name)' does not support field selection")
        }
    }

    /// `has(operand.field)`: whether a map has the key, or an object's field is set (not null).
    static func has(_ operand: CELValue, _ field: String) throws(CELEvalError) -> Bool {
        switch operand {
        case .map(let map):
            return map.value(forField: field) != nil
        case .object(let object):
            guard let value = object.field(field) else {
                throw CELEvalError("\(object.type.name) has no field '\(field)'")
            }
            if case .null = value { return false }
            return true
        default:
            throw CELEvalError("type '\(operand.type.name)' does not support field selection")
        }
    }

    static func size(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .string(let string): .int(Int64(string.unicodeScalars.count))
        case .bytes(let bytes): .int(Int64(bytes.count))
        case .list(let list): .int(Int64(list.count))
        case .map(let map): .int(Int64(map.count))
        default: throw .noMatchingOverload("size", a)
        }
    }

    // MARK: Strings

    static func stringTest(
        _ name: String, _ a: CELValue, _ b: CELValue,
        _ test: (String.UTF8View, String.UTF8View) -> Bool
    ) throws(CELEvalError) -> CELValue {
        guard case .string(let x) = a, case .string(let y) = b else { throw .noMatchingOverload(name, a, b) }
        return .bool(test(x.utf8, y.utf8))
    }

    static func startsWith(_ text: String.UTF8View, _ prefix: String.UTF8View) -> Bool {
        text.starts(with: prefix)
    }

    static func endsWith(_ text: String.UTF8View, _ suffix: String.UTF8View) -> Bool {
        text.count >= suffix.count && text.reversed().starts(with: suffix.reversed())
    }

    static func contains(_ text: String.UTF8View, _ part: String.UTF8View) -> Bool {
        byteOffset(of: String(part), in: String(text)) != nil
    }

    /// Where the UTF-8 bytes of `part` first occur in those of `text`: a byte search, so no
    /// Unicode normalization, and linear work for the cost limit to account for.
    static func byteOffset(of part: String, in text: String) -> Int? {
        var text = text
        var part = part
        return text.withUTF8 { haystack in
            part.withUTF8 { needle -> Int? in
                if needle.isEmpty { return 0 }
                guard haystack.count >= needle.count else { return nil }
                let base = haystack.baseAddress!
                var start = 0
                // memchr finds each candidate first byte, memcmp checks the rest.
                while start + needle.count <= haystack.count {
                    let window = haystack.count - needle.count + 1 - start
                    guard let hit = memchr(base + start, Int32(needle[0]), window) else { return nil }
                    let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + index, needle.baseAddress!, needle.count) == 0 { return index }
                    start = index + 1
                }
                return nil
            }
        }
    }

    /// A compiled regular expression for `matches`; RE2 syntax is close to ICU's for what rules use.
    static func regex(_ pattern: String) throws(CELEvalError) -> NSRegularExpression {
        do {
            // An empty pattern matches everywhere; ICU refuses it, so give it an empty group.
            return try NSRegularExpression(pattern: pattern.isEmpty ? "(?:)" : pattern)
        } catch {
            throw CELEvalError("invalid regular expression '\(pattern)'")
        }
    }

    /// The longest a regular-expression search may run. ICU backtracks, so a pattern like
    /// `(a+)+$` can take exponential time; the search is stopped instead.
    static let regexTimeLimit: Duration = .milliseconds(100)

    static func matches(_ text: String, _ regex: NSRegularExpression) throws(CELEvalError) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: regexTimeLimit)
        var found = false
        var timedOut = false
        // With .reportProgress ICU calls back during a long search, which lets it be stopped.
        regex.enumerateMatches(in: text, options: [.reportProgress], range: NSRange(text.startIndex..., in: text)) {
            result, _, stop in
            if result != nil {
                found = true
                stop.pointee = true
            } else if clock.now > deadline {
                timedOut = true
                stop.pointee = true
            }
        }
        if timedOut && !found {
            throw CELEvalError("the regular expression took too long (over \(regexTimeLimit)) on this text")
        }
        return found
    }

    // MARK: Conversions

    static func toInt(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .int: return a
        case .uint(let x):
            guard x <= UInt64(Int64.max) else { throw .range }
            return .int(Int64(x))
        case .double(let x):
            guard let int = Int64(exactly: x.rounded(.towardZero)), int != .max, int != .min else { throw .range }
            return .int(int)
        case .string(let x):
            guard let int = Int64(x) else { throw CELEvalError("cannot convert '\(x)' to int") }
            return .int(int)
        case .timestamp(let x): return .int(x.seconds)
        default: throw .noMatchingOverload("int", a)
        }
    }

    static func toUInt(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .uint: return a
        case .int(let x):
            guard x >= 0 else { throw .range }
            return .uint(UInt64(x))
        case .double(let x):
            guard let uint = UInt64(exactly: x.rounded(.towardZero)), uint != .max else { throw .range }
            return .uint(uint)
        case .string(let x):
            guard let uint = UInt64(x) else { throw CELEvalError("cannot convert '\(x)' to uint") }
            return .uint(uint)
        default: throw .noMatchingOverload("uint", a)
        }
    }

    static func toDouble(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .double: return a
        case .int(let x): return .double(Double(x))
        case .uint(let x): return .double(Double(x))
        case .string(let x):
            guard let double = Double(x) else { throw CELEvalError("cannot convert '\(x)' to double") }
            return .double(double)
        default: throw .noMatchingOverload("double", a)
        }
    }

    static func toString(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .string: return a
        case .int(let x): return .string(String(x))
        case .uint(let x): return .string(String(x))
        case .double(let x): return .string(formatShortest(x))
        case .bool(let x): return .string(x ? "true" : "false")
        case .bytes(let x):
            guard let string = String(validating: x, as: UTF8.self) else { throw CELEvalError("invalid UTF-8 in bytes") }
            return .string(string)
        case .timestamp(let x): return .string(x.rfc3339)
        case .duration(let x): return .string(x.text)
        default: throw .noMatchingOverload("string", a)
        }
    }

    static func toBytes(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .bytes: return a
        case .string(let x): return .bytes(Array(x.utf8))
        default: throw .noMatchingOverload("bytes", a)
        }
    }

    static func toBool(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .bool: return a
        case .string(let x):
            switch x {
            case "1", "t", "T", "true", "TRUE", "True": return .bool(true)
            case "0", "f", "F", "false", "FALSE", "False": return .bool(false)
            default: throw CELEvalError("cannot convert '\(x)' to bool")
            }
        default: throw .noMatchingOverload("bool", a)
        }
    }

    static func toTimestamp(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .timestamp: return a
        case .string(let x): return .timestamp(try CELTimestamp(rfc3339: x))
        case .int(let x): return .timestamp(try CELTimestamp(seconds: x))
        default: throw .noMatchingOverload("timestamp", a)
        }
    }

    static func toDuration(_ a: CELValue) throws(CELEvalError) -> CELValue {
        switch a {
        case .duration: return a
        case .string(let x): return .duration(try CELDuration(parsing: x))
        default: throw .noMatchingOverload("duration", a)
        }
    }

    /// A double the way CEL's reference implementation prints it (Go's `%g` with the shortest
    /// digits, exponent form from 1e+06 and below 1e-04): `-0.0045`, `123456`, `1e+06`, `1e-05`.
    static func formatShortest(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        // Swift prints the shortest round-trip digits; take them apart into digits and exponent.
        let text = "\(abs(value))"
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integral = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = integral + fraction
        var pointPosition = integral.count + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        let decimalExponent = pointPosition - 1
        if decimalExponent < -4 || decimalExponent >= 6 {
            var result = String(digits.prefix(1))
            if digits.count > 1 { result += "." + digits.dropFirst() }
            let magnitude = abs(decimalExponent)
            result += (decimalExponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
            return sign + result
        }
        if pointPosition <= 0 {
            return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
        }
        if pointPosition >= digits.count {
            return sign + digits + String(repeating: "0", count: pointPosition - digits.count)
        }
        let split = digits.index(digits.startIndex, offsetBy: pointPosition)
        return sign + digits[..<split] + "." + digits[split...]
    }
}
