/// A type of the rule language: the static type the checker infers and the value `type(x)` returns.
public indirect enum CELType: Sendable, Hashable, CustomStringConvertible {
    case int
    case uint
    case double
    case bool
    case string
    case bytes
    case null
    case timestamp
    case duration
    case list(CELType)
    case map(CELType, CELType)
    /// The type of types: `type(int)`.
    case type
    case object(CELObjectType)
    /// Unknown until run time: bindings of unchecked expressions, map values of `attributes`.
    case dyn

    /// The name CEL gives the type, as `type(x)` prints it.
    public var name: String {
        switch self {
        case .int: "int"
        case .uint: "uint"
        case .double: "double"
        case .bool: "bool"
        case .string: "string"
        case .bytes: "bytes"
        case .null: "null_type"
        case .timestamp: "google.protobuf.Timestamp"
        case .duration: "google.protobuf.Duration"
        case .list: "list"
        case .map: "map"
        case .type: "type"
        case .object(let object): object.name
        case .dyn: "dyn"
        }
    }

    /// The type as the checker describes it in messages: `list(int)`, `map(string, dyn)`.
    public var description: String {
        switch self {
        case .list(let element): "list(\(element))"
        case .map(let key, let value): "map(\(key), \(value))"
        default: name
        }
    }

    /// The built-in types that are also identifiers: `int`, `string`, `type`, …
    static let builtInIdentifiers: [String: CELType] = [
        "int": .int, "uint": .uint, "double": .double, "bool": .bool, "string": .string,
        "bytes": .bytes, "null_type": .null, "list": .list(.dyn), "map": .map(.dyn, .dyn),
        "type": .type,
        "google.protobuf.Timestamp": .timestamp, "google.protobuf.Duration": .duration,
    ]

    /// Whether a value of this static type may be an int, uint or double.
    var isNumeric: Bool {
        switch self {
        case .int, .uint, .double: true
        default: false
        }
    }

    /// Two types are the same at run time when their names are: `list(int)` is a `list`.
    func sameKind(as other: CELType) -> Bool {
        name == other.name
    }
}

/// A declared object type: a record with named, typed fields (`event`, `member`, an order item).
///
/// Field access on a value whose type is known at compile time is resolved to a slot index, so
/// `event.amount` costs an array read, not a hash lookup.
public final class CELObjectType: Sendable, Hashable, CustomStringConvertible {
    /// The type's name, as `type(x)` shows it: `patron.Event`.
    public let name: String
    /// The fields in slot order.
    public let fields: [(name: String, type: CELType)]
    let slots: [String: Int]

    public init(name: String, fields: [(name: String, type: CELType)]) {
        self.name = name
        self.fields = fields
        var slots: [String: Int] = [:]
        for (index, field) in fields.enumerated() {
            precondition(slots[field.name] == nil, "field \(field.name) declared twice in \(name)")
            slots[field.name] = index
        }
        self.slots = slots
    }

    /// The slot of a field, or nil when the type has no such field.
    public func slot(of field: String) -> Int? {
        slots[field]
    }

    public var description: String { name }

    public static func == (lhs: CELObjectType, rhs: CELObjectType) -> Bool {
        lhs === rhs
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(self))
    }

    /// Builds a value of this type from field values by name; absent fields are null. The pairs
    /// are a literal's, not a dictionary: no hashing table is built for a value read once.
    public func make(_ values: KeyValuePairs<String, CELValue>) -> CELObject {
        var slotValues = [CELValue](repeating: .null, count: fields.count)
        for (position, (name, value)) in values.enumerated() {
            // Pairs written in the declaration's order find their slot without hashing the name.
            let slot = position < fields.count && fields[position].name == name ? position : slots[name]
            guard let slot else { preconditionFailure("\(self.name) has no field \(name)") }
            slotValues[slot] = value
        }
        return CELObject(type: self, values: slotValues)
    }
}

/// A value of a declared object type.
public final class CELObject: Sendable {
    public let type: CELObjectType
    /// Field values in the type's slot order; an unset field is null.
    public let values: [CELValue]

    public init(type: CELObjectType, values: [CELValue]) {
        precondition(values.count == type.fields.count, "\(type.name) needs \(type.fields.count) values")
        self.type = type
        self.values = values
    }

    /// The value of a field by name, or nil when the type has no such field.
    public func field(_ name: String) -> CELValue? {
        type.slot(of: name).map { values[$0] }
    }
}
