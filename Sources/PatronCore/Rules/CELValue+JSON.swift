extension CELValue {
    /// A JSON value as CEL sees it: integers as int, other numbers as double, arrays as lists,
    /// objects as maps with string keys.
    public init(json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let bool): self = .bool(bool)
        case .int(let int): self = .int(int)
        case .double(let double): self = .double(double)
        case .string(let string): self = .string(string)
        case .array(let elements): self = .list(elements.map(CELValue.init(json:)))
        case .object(let members) where members.isEmpty:
            self = Self.emptyMap
        case .object(let members):
            // String keys are unique, so building the map cannot fail.
            self = .map(try! CELMap(members.sorted { $0.key < $1.key }.map { (.string($0.key), CELValue(json: $0.value)) }))
        }
    }
}

extension CELValue {
    /// `{}`, built once: most events and members have no attributes.
    static let emptyMap: CELValue = .map(try! CELMap([]))
}

extension CELValue {
    /// A JSON value converted to a declared type: RFC 3339 strings become timestamps, objects
    /// become declared objects (unknown fields refused), lists and maps convert their elements.
    /// `null` is accepted for any type. The error names the offending place: `items[1].amount`.
    public init(json: JSONValue, as type: CELType, at path: String = "") throws(CELEvalError) {
        let place = path.isEmpty ? "the value" : path
        switch (type, json) {
        case (_, .null), (.dyn, _):
            self = CELValue(json: json)
        case (.int, .int(let int)): self = .int(int)
        case (.uint, .int(let int)) where int >= 0: self = .uint(UInt64(int))
        case (.double, .int(let int)): self = .double(Double(int))
        case (.double, .double(let double)): self = .double(double)
        case (.bool, .bool(let bool)): self = .bool(bool)
        case (.string, .string(let string)): self = .string(string)
        case (.timestamp, .string(let text)): self = .timestamp(try CELTimestamp(rfc3339: text))
        case (.duration, .string(let text)): self = .duration(try CELDuration(parsing: text))
        case (.list(let element), .array(let elements)):
            var values: [CELValue] = []
            for (index, element_) in elements.enumerated() {
                values.append(try CELValue(json: element_, as: element, at: "\(path)[\(index)]"))
            }
            self = .list(values)
        case (.map(.string, let valueType), .object(let members)):
            var entries: [(key: CELValue, value: CELValue)] = []
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                entries.append((.string(key), try CELValue(json: value, as: valueType, at: path.isEmpty ? key : "\(path).\(key)")))
            }
            self = .map(try CELMap(entries))
        case (.object(let objectType), .object(let members)):
            var values = [CELValue](repeating: .null, count: objectType.fields.count)
            for (key, value) in members {
                guard let slot = objectType.slot(of: key) else {
                    throw CELEvalError("\(place) has no field '\(key)' (\(objectType.name) has \(objectType.fields.map(\.name).joined(separator: ", ")))")
                }
                values[slot] = try CELValue(json: value, as: objectType.fields[slot].type, at: path.isEmpty ? key : "\(path).\(key)")
            }
            self = .object(CELObject(type: objectType, values: values))
        default:
            throw CELEvalError("\(place) must be \(type), not a JSON \(json.typeName)")
        }
    }
}
