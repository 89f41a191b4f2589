/// One fault found while validating input: where (a JSON pointer, RFC 6901), what (a stable code)
/// and a sentence for the person who has to fix it.
public struct ValidationFault: Sendable, Hashable, Codable {
    /// JSON pointer to the value at fault, `""` for the whole document.
    public var pointer: String
    /// A stable, machine-readable code such as `unknown_field` or `not_ascending`.
    public var code: String
    /// A human-readable explanation.
    public var message: String

    public init(pointer: String, code: String, message: String) {
        self.pointer = pointer
        self.code = code
        self.message = message
    }
}

/// Thrown when input breaks one or more rules; carries every fault found, not just the first.
public struct ValidationError: Error, Sendable, Hashable {
    /// The faults, in document order.
    public var faults: [ValidationFault]

    public init(_ faults: [ValidationFault]) {
        precondition(!faults.isEmpty, "a validation error lists at least one fault")
        self.faults = faults
    }

    /// An error of a single fault.
    public init(pointer: String, code: String, message: String) {
        self.init([ValidationFault(pointer: pointer, code: code, message: message)])
    }
}

/// Collects faults while a validator walks a document.
public struct FaultCollector: Sendable {
    /// The faults collected so far.
    public private(set) var faults: [ValidationFault] = []

    public init() {}

    /// Records a fault.
    public mutating func add(_ pointer: JSONPointer, _ code: String, _ message: String) {
        faults.append(ValidationFault(pointer: pointer.description, code: code, message: message))
    }

    /// Records the faults of a document validated on its own, which sits at `pointer` here.
    public mutating func add(_ error: ValidationError, under pointer: JSONPointer) {
        for fault in error.faults {
            faults.append(ValidationFault(pointer: pointer.description + fault.pointer, code: fault.code, message: fault.message))
        }
    }

    /// Throws a `ValidationError` when any fault was recorded.
    public func check() throws(ValidationError) {
        if !faults.isEmpty { throw ValidationError(faults) }
    }
}

/// A JSON pointer (RFC 6901) built up while descending into a document.
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    private var tokens: [String]

    /// The pointer to the whole document.
    public static let root = JSONPointer(tokens: [])

    private init(tokens: [String]) { self.tokens = tokens }

    /// The pointer to a member of the object here.
    public func appending(_ key: String) -> JSONPointer {
        JSONPointer(tokens: tokens + [key])
    }

    /// The pointer to an element of the array here.
    public func appending(_ index: Int) -> JSONPointer {
        JSONPointer(tokens: tokens + [String(index)])
    }

    public static func / (pointer: JSONPointer, key: String) -> JSONPointer { pointer.appending(key) }
    public static func / (pointer: JSONPointer, index: Int) -> JSONPointer { pointer.appending(index) }

    public var description: String {
        tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }
            .joined()
    }
}
