import Foundation

/// The part of CEL's `strings` extension that rules use. Indices count Unicode code points.
enum CELStrings {
    static func transform(_ string: String, _ name: String) -> String {
        switch name {
        case "lowerAscii":
            String(String.UnicodeScalarView(string.unicodeScalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0 }))
        case "upperAscii":
            String(String.UnicodeScalarView(string.unicodeScalars.map { ("a"..."z").contains($0) ? Unicode.Scalar($0.value - 32)! : $0 }))
        default:
            String(String.UnicodeScalarView(string.unicodeScalars.drop(while: \.properties.isWhitespace)
                .reversed().drop(while: \.properties.isWhitespace).reversed()))
        }
    }

    /// `s.substring(start)` and `s.substring(start, end)`: code points `start..<end`.
    static func substring(_ values: [CELValue]) throws(CELEvalError) -> CELValue {
        guard case .string(let string) = values[0], case .int(let start) = values[1] else {
            throw .noMatchingOverload("substring", values[0], values[1])
        }
        let scalars = Array(string.unicodeScalars)
        var end = Int64(scalars.count)
        if values.count > 2 {
            guard case .int(let given) = values[2] else { throw .noMatchingOverload("substring", values[0], values[1], values[2]) }
            end = given
        }
        guard start >= 0, end <= scalars.count, start <= end else {
            throw CELEvalError("substring(\(start)\(values.count > 2 ? ", \(end)" : "")) is out of range for a string of \(scalars.count) characters")
        }
        return .string(String(String.UnicodeScalarView(scalars[Int(start)..<Int(end)])))
    }

    /// `s.indexOf(part)`: the code-point index of the first occurrence, or -1.
    static func indexOf(_ text: CELValue, _ part: CELValue) throws(CELEvalError) -> CELValue {
        guard case .string(let string) = text, case .string(let needle) = part else {
            throw .noMatchingOverload("indexOf", text, part)
        }
        guard let offset = CELOperations.byteOffset(of: needle, in: string) else { return .int(-1) }
        // Count code points before the match: every byte that does not continue a sequence.
        let before = string.utf8.prefix(offset).reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return .int(Int64(before))
    }

    /// `s.split(separator)`: the parts between separators; an empty separator splits characters.
    static func split(_ text: CELValue, _ separator: CELValue) throws(CELEvalError) -> CELValue {
        guard case .string(let string) = text, case .string(let by) = separator else {
            throw .noMatchingOverload("split", text, separator)
        }
        if by.isEmpty {
            return .list(string.unicodeScalars.map { .string(String($0)) })
        }
        var parts: [CELValue] = []
        var rest = Substring(string)
        while let range = rest.range(of: by, options: .literal) {
            parts.append(.string(String(rest[..<range.lowerBound])))
            rest = rest[range.upperBound...]
        }
        parts.append(.string(String(rest)))
        return .list(parts)
    }

    /// `list.join()` and `list.join(separator)` of a list of strings.
    static func join(_ values: [CELValue]) throws(CELEvalError) -> CELValue {
        guard case .list(let list) = values[0] else { throw .noMatchingOverload("join", values[0]) }
        var separator = ""
        if values.count > 1 {
            guard case .string(let given) = values[1] else { throw .noMatchingOverload("join", values[0], values[1]) }
            separator = given
        }
        var parts: [String] = []
        for element in list {
            guard case .string(let string) = element else {
                throw CELEvalError("join() needs a list of strings, not one holding \(element.type.name)")
            }
            parts.append(string)
        }
        return .string(parts.joined(separator: separator))
    }
}
