/// An immutable CEL map. Keys are int, uint, bool or string; int and uint keys of equal value are
/// the same key, and a double that holds an integral value finds them too.
public final class CELMap: Sendable {
    /// The entries in the order they were given (the order `map` and `filter` iterate in).
    public let entries: [(key: CELValue, value: CELValue)]
    private let index: [Key: Int]

    /// Builds a map; a key of an unsupported type or a repeated key is an error.
    public init(_ entries: [(key: CELValue, value: CELValue)]) throws(CELEvalError) {
        var index: [Key: Int] = [:]
        index.reserveCapacity(entries.count)
        for (position, entry) in entries.enumerated() {
            guard let key = Key(entry.key) else {
                throw CELEvalError("unsupported key type: \(entry.key.type.name)")
            }
            if index.updateValue(position, forKey: key) != nil {
                throw CELEvalError("repeated key in map: \(entry.key.literal)")
            }
        }
        self.entries = entries
        self.index = index
    }

    /// An empty map.
    public static let empty = try! CELMap([])

    public var count: Int { entries.count }

    /// The value for a key, nil when absent; a key of a type no map can hold is an error.
    public func value(for key: CELValue) throws(CELEvalError) -> CELValue? {
        guard let lookup = Key(lookup: key) else {
            if case .double = key { return nil }
            throw CELEvalError("unsupported key type: \(key.type.name)")
        }
        return index[lookup].map { entries[$0].value }
    }

    /// The value for a string key, the common case of field selection.
    public func value(forField name: String) -> CELValue? {
        index[.string(CodePoints(name))].map { entries[$0].value }
    }

    /// A string compared and hashed by its code points, without Unicode normalization.
    struct CodePoints: Hashable {
        let string: String

        init(_ string: String) {
            self.string = string
        }

        static func == (lhs: CodePoints, rhs: CodePoints) -> Bool {
            sameCodePoints(lhs.string, rhs.string)
        }

        func hash(into hasher: inout Hasher) {
            var string = string
            string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// A hashable form of a key in which equal numbers are equal.
    enum Key: Hashable {
        case int(Int64)
        case uint(UInt64)
        case bool(Bool)
        case string(CodePoints)

        /// The key of a map entry: int, uint (as int when it fits), bool or string.
        init?(_ value: CELValue) {
            switch value {
            case .int(let int): self = .int(int)
            case .uint(let uint): self = uint <= UInt64(Int64.max) ? .int(Int64(uint)) : .uint(uint)
            case .bool(let bool): self = .bool(bool)
            case .string(let string): self = .string(CodePoints(string))
            default: return nil
            }
        }

        /// The key a lookup uses: also a double with an integral value.
        init?(lookup value: CELValue) {
            if case .double(let double) = value {
                if let int = Int64(exactly: double) {
                    self = .int(int)
                } else if let uint = UInt64(exactly: double) {
                    self = .uint(uint)
                } else {
                    return nil
                }
                return
            }
            self.init(value)
        }
    }
}
