/// The variables an expression may use, with their types, and whether it is type-checked.
///
/// Checked (the default, and what configurations use): unknown names, unknown functions, fields a
/// declared object does not have and operands of the wrong type are compile errors with a
/// position. Unchecked: they become errors only if evaluation reaches them, as CEL's dynamic
/// evaluation has it.
public struct CELEnvironment: Sendable {
    /// The declared variables, in slot order.
    public let variables: [(name: String, type: CELType)]
    /// Whether compilation checks names and types.
    public let isChecked: Bool
    /// Whether a constant argument that can never work — `timestamp('2026-13-01T00:00:00Z')`, an
    /// invalid regular expression or time zone — is a compile error rather than an evaluation error.
    public let rejectsConstantErrors: Bool
    let slots: [String: Int]

    public init(variables: [(name: String, type: CELType)], checked: Bool = true, rejectsConstantErrors: Bool = true) {
        self.variables = variables
        self.isChecked = checked
        self.rejectsConstantErrors = checked && rejectsConstantErrors
        var slots: [String: Int] = [:]
        for (slot, variable) in variables.enumerated() {
            precondition(slots[variable.name] == nil, "variable \(variable.name) declared twice")
            slots[variable.name] = slot
        }
        self.slots = slots
    }

    /// Values for the declared variables; names not declared are ignored, undeclared slots stay
    /// unbound (reading one is an evaluation error).
    public func bindings(_ values: [String: CELValue]) -> CELBindings {
        var slotValues = [CELValue?](repeating: nil, count: variables.count)
        for (name, value) in values {
            if let slot = slots[name] { slotValues[slot] = value }
        }
        return CELBindings(values: slotValues)
    }

    /// The same from a literal's pairs, without building a dictionary.
    public func bindings(_ values: KeyValuePairs<String, CELValue>) -> CELBindings {
        var slotValues = [CELValue?](repeating: nil, count: variables.count)
        for (name, value) in values {
            if let slot = slots[name] { slotValues[slot] = value }
        }
        return CELBindings(values: slotValues)
    }
}

/// Values for an environment's variables, built once and shared by every rule evaluated on them.
public struct CELBindings: Sendable {
    var values: [CELValue?]

    init(values: [CELValue?]) {
        self.values = values
    }
}

/// What an expression may read of one variable: all of it, or only some of its fields.
public enum CELReads: Sendable, Hashable {
    case whole
    case fields(Set<String>)

    /// What two expressions read together.
    public func union(_ other: CELReads) -> CELReads {
        switch (self, other) {
        case (.fields(let left), .fields(let right)): .fields(left.union(right))
        default: .whole
        }
    }
}

/// A compiled expression: parsed and checked once, then evaluated any number of times without
/// re-parsing, and without allocating for expressions that build no new lists, maps or strings.
public final class CELProgram: Sendable {
    /// The source the program was compiled from.
    public let source: String
    /// The syntax tree.
    public let expression: CELExpr
    /// The type the checker inferred for the result (`dyn` when it depends on the bindings).
    public let resultType: CELType
    /// What it may read of each variable, by name (absent: nothing): whoever builds the bindings
    /// may leave out what no expression reads.
    public let reads: [String: CELReads]
    private let root: CELNode
    private let localCount: Int
    private let variableCount: Int

    /// Parses and compiles `source` against the environment's declarations.
    public init(_ source: String, environment: CELEnvironment) throws(CELCompileError) {
        let expression = try CELParser.parse(source)
        var compiler = CELCompiler(environment: environment, source: source)
        let compiled = try compiler.compile(expression)
        self.source = source
        self.expression = expression
        self.resultType = compiled.type
        self.root = compiled.node
        self.localCount = compiler.localCount
        self.variableCount = environment.variables.count
        self.reads = compiler.reads
    }

    /// The most work one evaluation may do, in cost units: one per macro iteration (`all`, `exists`,
    /// `map`, …, nested ones multiplied), and one per 8 elements of each list or map and per 16 bytes
    /// of each string or bytes an operation takes or builds. Beyond it evaluation fails instead of
    /// running on.
    public static let maxCost = 100_000

    /// Evaluates the program on bindings made by the same environment.
    public func evaluate(_ bindings: CELBindings) throws(CELEvalError) -> CELValue {
        precondition(bindings.values.count == variableCount, "bindings come from another environment")
        let slots = max(localCount, 1)
        return try bindings.values.withUnsafeBufferPointer { globals throws(CELEvalError) -> CELValue in
            try withUnsafeTemporaryAllocation(of: CELValue.self, capacity: slots) { locals throws(CELEvalError) -> CELValue in
                try withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { budget throws(CELEvalError) -> CELValue in
                    let base = locals.baseAddress!
                    base.initialize(repeating: .null, count: slots)
                    defer { base.deinitialize(count: slots) }
                    budget.baseAddress!.initialize(to: Self.maxCost)
                    return try root.evaluate(CELFrame(globals: globals, locals: base, costLeft: budget.baseAddress!))
                }
            }
        }
    }

    /// Evaluates with bindings by name; convenient where speed does not matter.
    public func evaluate(_ values: [String: CELValue], in environment: CELEnvironment) throws(CELEvalError) -> CELValue {
        try evaluate(environment.bindings(values))
    }
}
