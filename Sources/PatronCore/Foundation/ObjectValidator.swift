import Foundation

/// Reads the members of one JSON object for a validator: refuses keys it does not know, and records a
/// fault for every member that is missing or of the wrong type, so that a caller sees every fault at
/// once rather than one per attempt.
public struct ObjectValidator {
    public let pointer: JSONPointer
    private let members: [String: JSONValue]

    /// Starts reading `value` at `pointer`; records a fault and reads nothing when it is not an object.
    public init?(_ value: JSONValue, at pointer: JSONPointer, allowedKeys: Set<String>, faults: inout FaultCollector) {
        guard let members = value.objectValue else {
            faults.add(pointer, "wrong_type", "Expected an object, found \(value.typeName).")
            return nil
        }
        self.pointer = pointer
        self.members = members
        for key in members.keys.sorted() where !allowedKeys.contains(key) {
            faults.add(pointer / key, "unknown_field", "Unknown field '\(key)'.")
        }
    }

    /// The raw member, if present and not null.
    public func value(_ key: String) -> JSONValue? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    /// A string member; records `missing` or `wrong_type` faults.
    public func string(_ key: String, required: Bool = false, maxLength: Int = 4096,
                       faults: inout FaultCollector) -> String? {
        guard let value = value(key) else {
            if required { faults.add(pointer / key, "missing", "'\(key)' is required.") }
            return nil
        }
        guard let string = value.stringValue else {
            faults.add(pointer / key, "wrong_type", "Expected a string, found \(value.typeName).")
            return nil
        }
        if string.count > maxLength {
            faults.add(pointer / key, "too_long", "At most \(maxLength) characters.")
            return nil
        }
        return string
    }

    /// A string member that must be one of `allowed`.
    public func choice(_ key: String, _ allowed: [String], required: Bool = false,
                       faults: inout FaultCollector) -> String? {
        guard let string = string(key, required: required, faults: &faults) else { return nil }
        guard allowed.contains(string) else {
            faults.add(pointer / key, "not_allowed",
                       "'\(string)' is not one of: \(allowed.joined(separator: ", ")).")
            return nil
        }
        return string
    }

    /// An integer member within `range`.
    public func integer(_ key: String, in range: ClosedRange<Int64>, required: Bool = false,
                        faults: inout FaultCollector) -> Int64? {
        guard let value = value(key) else {
            if required { faults.add(pointer / key, "missing", "'\(key)' is required.") }
            return nil
        }
        guard let integer = value.intValue else {
            faults.add(pointer / key, "wrong_type", "Expected an integer, found \(value.typeName).")
            return nil
        }
        guard range.contains(integer) else {
            faults.add(pointer / key, "out_of_range",
                       "Must be between \(range.lowerBound) and \(range.upperBound).")
            return nil
        }
        return integer
    }

    /// A number member (integer or decimal) within `range`.
    public func number(_ key: String, in range: ClosedRange<Double>, faults: inout FaultCollector) -> Double? {
        guard let value = value(key) else { return nil }
        let number: Double
        switch value {
        case .int(let integer): number = Double(integer)
        case .double(let double): number = double
        default:
            faults.add(pointer / key, "wrong_type", "Expected a number, found \(value.typeName).")
            return nil
        }
        guard range.contains(number) else {
            faults.add(pointer / key, "out_of_range",
                       "Must be between \(range.lowerBound) and \(range.upperBound).")
            return nil
        }
        return number
    }

    /// A boolean member.
    public func boolean(_ key: String, faults: inout FaultCollector) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.boolValue else {
            faults.add(pointer / key, "wrong_type", "Expected a boolean, found \(value.typeName).")
            return nil
        }
        return bool
    }

    /// An instant given as RFC 3339 text with an offset (`2026-11-22T08:30:00Z`), kept to the
    /// millisecond as the stores keep it.
    public func timestamp(_ key: String, required: Bool = false, faults: inout FaultCollector) -> Date? {
        guard let text = string(key, required: required, maxLength: 64, faults: &faults) else { return nil }
        guard let parsed = try? CELTimestamp(rfc3339: text) else {
            faults.add(pointer / key, "invalid_timestamp",
                       "'\(text)' is not an RFC 3339 time with an offset, such as 2026-11-22T08:30:00Z.")
            return nil
        }
        return Timestamp.date(milliseconds: parsed.seconds * 1000 + Int64(parsed.nanos / 1_000_000))
    }

    /// An array member.
    public func array(_ key: String, required: Bool = false, faults: inout FaultCollector) -> [JSONValue]? {
        guard let value = value(key) else {
            if required { faults.add(pointer / key, "missing", "'\(key)' is required.") }
            return nil
        }
        guard let array = value.arrayValue else {
            faults.add(pointer / key, "wrong_type", "Expected an array, found \(value.typeName).")
            return nil
        }
        return array
    }

    /// A code member: lowercase letters, digits and `_`, starting with a letter.
    public func code(_ key: String, required: Bool = true, faults: inout FaultCollector) -> String? {
        guard let string = string(key, required: required, maxLength: Code.maxLength, faults: &faults) else {
            return nil
        }
        guard Code.isValid(string) else {
            faults.add(pointer / key, "invalid_code", Code.rule)
            return nil
        }
        return string
    }
}

/// The shape of codes that operators choose for programs, levels, rules, plans and benefits.
public enum Code {
    /// The longest code accepted.
    public static let maxLength = 64
    /// The rule, as shown in validation messages.
    public static let rule = "A code is 1 to 64 characters: lowercase letters, digits, '_' or '-', starting with a letter."

    /// Whether `text` is a valid code.
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...maxLength).contains(bytes.count), let first = bytes.first,
              first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z") else { return false }
        return bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
