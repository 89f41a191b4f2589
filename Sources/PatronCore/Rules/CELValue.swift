import Foundation

/// A value of the rule language (CEL): every type the language has, plus declared objects.
///
/// Integers are 64-bit and overflow is an error, never a wrap. Lists and maps are immutable.
public enum CELValue: Sendable {
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    case null
    case list([CELValue])
    case map(CELMap)
    case timestamp(CELTimestamp)
    case duration(CELDuration)
    case type(CELType)
    /// A value of a declared object type (the `event`, `member` and `program` variables).
    case object(CELObject)

    /// The runtime type of the value, as `type(x)` answers it.
    public var type: CELType {
        switch self {
        case .int: .int
        case .uint: .uint
        case .double: .double
        case .bool: .bool
        case .string: .string
        case .bytes: .bytes
        case .null: .null
        case .list: .list(.dyn)
        case .map: .map(.dyn, .dyn)
        case .timestamp: .timestamp
        case .duration: .duration
        case .type: .type
        case .object(let object): .object(object.type)
        }
    }
}

/// An evaluation error. Errors are values of the language: `&&`, `||` and the macros `all` and
/// `exists` absorb them where the other operand decides the answer.
public struct CELEvalError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason, for operators: "division by zero", "no such key: 'tier'".
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    static let overflow = CELEvalError("integer overflow")
    static let divisionByZero = CELEvalError("division by zero")
    static let moduloByZero = CELEvalError("modulus by zero")
    static let range = CELEvalError("range error")

    static func noSuchKey(_ key: CELValue) -> CELEvalError {
        CELEvalError("no such key: \(key.literal)")
    }

    static func noMatchingOverload(_ function: String, _ arguments: CELValue...) -> CELEvalError {
        let types = arguments.map { $0.type.name }.joined(separator: ", ")
        return CELEvalError("no matching overload for '\(function)' applied to (\(types))")
    }
}
