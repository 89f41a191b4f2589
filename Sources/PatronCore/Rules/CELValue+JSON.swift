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
        case .object(let members):
            // String keys are unique, so building the map cannot fail.
            self = .map(try! CELMap(members.sorted { $0.key < $1.key }.map { (.string($0.key), CELValue(json: $0.value)) }))
        }
    }
}
