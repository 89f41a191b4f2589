import Foundation

/// Lowers a syntax tree to evaluation nodes, resolving every name and function once, inferring
/// static types, folding constants and — in a checked environment — refusing what cannot work.
struct CELCompiler {
    struct Compiled {
        var node: CELNode
        var type: CELType
    }

    let environment: CELEnvironment
    let source: String
    private var locals: [(name: String, slot: Int, type: CELType)] = []
    private(set) var localCount = 0
    /// Per global slot: the reads of the whole value (not through one of its fields) and the fields
    /// read, for `CELProgram.reads`. Counted as nodes are made, so a read that folding drops later
    /// still counts: the answer may say more is read than is, never less.
    private var wholeReads: [Int: Int] = [:]
    private var fieldReads: [Int: Set<String>] = [:]

    /// What the compiled expressions read of each variable, by name; a variable never read is absent.
    var reads: [String: CELReads] {
        var reads: [String: CELReads] = [:]
        for (slot, fields) in fieldReads { reads[environment.variables[slot].name] = .fields(fields) }
        for (slot, count) in wholeReads where count > 0 { reads[environment.variables[slot].name] = .whole }
        return reads
    }

    init(environment: CELEnvironment, source: String) {
        self.environment = environment
        self.source = source
    }

    mutating func compile(_ expression: CELExpr) throws(CELCompileError) -> Compiled {
        switch expression.kind {
        case .literal(let value):
            return Compiled(node: ConstantNode(value), type: value.type)
        case .identifier(let name):
            return try identifier(name, at: expression.offset)
        case .select(let operand, let field, let test):
            if let resolved = try qualified(expression) { return resolved }
            let compiled = try compile(operand)
            return try select(compiled, field: field, test: test, at: expression.offset)
        case .list(let elements):
            var nodes: [CELNode] = []
            var types: [CELType] = []
            for element in elements {
                let compiled = try compile(element)
                nodes.append(compiled.node)
                types.append(compiled.type)
            }
            let type = CELType.list(unify(types))
            if let values = constants(nodes) { return Compiled(node: ConstantNode(.list(values)), type: type) }
            return Compiled(node: ListNode(nodes), type: type)
        case .map(let entries):
            return try map(entries)
        case .comprehension(let comprehension):
            return try self.comprehension(comprehension, at: expression.offset)
        case .call(let function, let target, let arguments):
            return try call(function, target: target, arguments: arguments, at: expression.offset)
        }
    }

    // MARK: Faults

    private func fault(_ message: String, at offset: Int) -> CELCompileError {
        CELCompileError(message, at: CELSourcePosition(offset: offset, in: source))
    }

    /// A type fault: a compile error when checked; unchecked, evaluation finds it (or not).
    private func typeFault(_ message: String, at offset: Int) throws(CELCompileError) {
        if environment.isChecked { throw fault(message, at: offset) }
    }

    /// A name or function that does not exist: a compile error when checked, else an error node.
    private func unknown(_ message: String, runtime: String, at offset: Int) throws(CELCompileError) -> Compiled {
        if environment.isChecked { throw fault(message, at: offset) }
        return Compiled(node: ErrorNode(CELEvalError(runtime)), type: .dyn)
    }

    // MARK: Names

    private mutating func identifier(_ name: String, at offset: Int) throws(CELCompileError) -> Compiled {
        if let local = locals.last(where: { $0.name == name }) {
            return Compiled(node: LocalNode(slot: local.slot), type: local.type)
        }
        if let slot = environment.slots[name] {
            wholeReads[slot, default: 0] += 1
            return Compiled(node: GlobalNode(slot: slot, name: name), type: environment.variables[slot].type)
        }
        if let type = CELType.builtInIdentifiers[name] {
            return Compiled(node: ConstantNode(.type(type)), type: .type)
        }
        return try unknown("unknown name '\(name)'", runtime: "unknown variable '\(name)'", at: offset)
    }

    private static func dottedName(_ expression: CELExpr) -> [String]? {
        switch expression.kind {
        case .identifier(let name): [name]
        case .select(let operand, let field, false): dottedName(operand).map { $0 + [field] }
        default: nil
        }
    }

    /// `a.b.c` where a dotted prefix is itself a declared name (CEL's qualified names): the longest
    /// declared prefix wins; a macro variable named like the first part shadows them all.
    private mutating func qualified(_ expression: CELExpr) throws(CELCompileError) -> Compiled? {
        guard case .select(let operand, let field, let test) = expression.kind,
              let prefix = Self.dottedName(operand) else { return nil }
        if locals.contains(where: { $0.name == prefix[0] }) { return nil }
        let parts = prefix + [field]
        let longest = test ? parts.count - 1 : parts.count
        for length in stride(from: longest, through: 2, by: -1) {
            let name = parts[0..<length].joined(separator: ".")
            var compiled: Compiled
            if let slot = environment.slots[name] {
                wholeReads[slot, default: 0] += 1
                compiled = Compiled(node: GlobalNode(slot: slot, name: name), type: environment.variables[slot].type)
            } else if let type = CELType.builtInIdentifiers[name] {
                compiled = Compiled(node: ConstantNode(.type(type)), type: .type)
            } else {
                continue
            }
            for (index, part) in parts[length...].enumerated() {
                let isLast = length + index == parts.count - 1
                compiled = try select(compiled, field: part, test: test && isLast, at: expression.offset)
            }
            return compiled
        }
        return nil
    }

    private mutating func select(_ operand: Compiled, field: String, test: Bool, at offset: Int) throws(CELCompileError) -> Compiled {
        var type = CELType.dyn
        var node: CELNode = test ? HasNode(operand: operand.node, field: field) : SelectNode(operand: operand.node, field: field)
        switch operand.type {
        case .object(let objectType):
            guard let slot = objectType.slot(of: field) else {
                try typeFault("\(objectType.name) has no field '\(field)'", at: offset)
                break
            }
            type = objectType.fields[slot].type
            if !test {
                let read = ObjectFieldNode(operand: operand.node, type: objectType, slot: slot, field: field)
                if let global = operand.node as? GlobalNode {
                    wholeReads[global.slot, default: 1] -= 1
                    fieldReads[global.slot, default: []].insert(field)
                    node = GlobalFieldNode(variable: global.slot, name: global.name, field: read)
                } else if let local = operand.node as? LocalNode {
                    node = LocalFieldNode(variable: local.slot, field: read)
                } else {
                    node = read
                }
            }
        case .map(let key, let value):
            if key != .string && key != .dyn {
                try typeFault("a map with \(key) keys has no fields; use [key]", at: offset)
            }
            type = value
        case .dyn:
            break
        default:
            try typeFault("type \(operand.type) has no fields", at: offset)
        }
        if test { type = .bool }
        return fold(Compiled(node: node, type: type), [operand.node])
    }

    // MARK: Literals and macros

    private mutating func map(_ entries: [CELExpr.MapEntry]) throws(CELCompileError) -> Compiled {
        var nodes: [(key: CELNode, value: CELNode)] = []
        var keyTypes: [CELType] = []
        var valueTypes: [CELType] = []
        for entry in entries {
            let key = try compile(entry.key)
            switch key.type {
            case .int, .uint, .bool, .string, .dyn: break
            default: try typeFault("a map key must be an int, uint, bool or string, not \(key.type)", at: entry.key.offset)
            }
            let value = try compile(entry.value)
            nodes.append((key.node, value.node))
            keyTypes.append(key.type)
            valueTypes.append(value.type)
        }
        let compiled = Compiled(node: MapNode(nodes), type: .map(unify(keyTypes), unify(valueTypes)))
        return fold(compiled, nodes.flatMap { [$0.key, $0.value] })
    }

    private mutating func comprehension(_ comprehension: CELExpr.Comprehension, at offset: Int) throws(CELCompileError) -> Compiled {
        let range = try compile(comprehension.range)
        let elementType: CELType
        switch range.type {
        case .list(let element): elementType = element
        case .map(let key, _): elementType = key
        case .dyn: elementType = .dyn
        default:
            try typeFault("\(comprehension.macro.rawValue)() needs a list or a map, not \(range.type)", at: offset)
            elementType = .dyn
        }
        let slot = localCount
        localCount += 1
        locals.append((comprehension.variable, slot, elementType))
        defer { locals.removeLast() }
        let body = try compile(comprehension.body)
        let transform = try comprehension.transform.map { (expression) throws(CELCompileError) -> Compiled in
            try compile(expression)
        }
        let predicateIsBody = comprehension.macro != .map || transform != nil
        if predicateIsBody { try expect(body.type, .bool, "the condition of \(comprehension.macro.rawValue)()", at: comprehension.body.offset) }
        let type: CELType = switch comprehension.macro {
        case .all, .exists, .existsOne: .bool
        case .filter: .list(elementType)
        case .map: .list((transform ?? body).type)
        }
        let node = ComprehensionNode(
            macro: comprehension.macro, range: range.node, slot: slot, body: body.node, transform: transform?.node)
        return Compiled(node: node, type: type)
    }

    // MARK: Calls

    private mutating func call(
        _ function: String, target: CELExpr?, arguments: [CELExpr], at offset: Int
    ) throws(CELCompileError) -> Compiled {
        // `math.least(…)`: a namespaced function, when `math` is no variable.
        if let target, case .identifier(let namespace) = target.kind,
           !locals.contains(where: { $0.name == namespace }), environment.slots[namespace] == nil,
           CELLibrary.namespaced.contains("\(namespace).\(function)") {
            return try call("\(namespace).\(function)", target: nil, arguments: arguments, at: offset)
        }
        var compiled: [Compiled] = []
        if let target { compiled.append(try compile(target)) }
        for argument in arguments {
            compiled.append(try compile(argument))
        }
        let argumentOffsets = ([target].compactMap { $0 } + arguments).map(\.offset)
        var library = CELLibrary(environment: environment, source: source)
        let result = try library.bind(
            function, receiverStyle: target != nil, arguments: compiled, offsets: argumentOffsets, at: offset)
        guard let result else {
            let shown = target != nil ? "method '\(function)'" : "function '\(function)'"
            return try unknown("unknown \(shown)", runtime: "unbound function '\(function)'", at: offset)
        }
        return fold(result, compiled.map(\.node))
    }

    // MARK: Types

    private func expect(_ actual: CELType, _ expected: CELType, _ what: String, at offset: Int) throws(CELCompileError) {
        if actual != .dyn && !actual.sameKind(as: expected) {
            try typeFault("\(what) must be \(expected), not \(actual)", at: offset)
        }
    }

    private func constants(_ nodes: [CELNode]) -> [CELValue]? {
        var values: [CELValue] = []
        values.reserveCapacity(nodes.count)
        for node in nodes {
            guard let value = node.constant else { return nil }
            values.append(value)
        }
        return values
    }

    /// Evaluates a node whose inputs are all constants once, now; errors stay for evaluation.
    private func fold(_ compiled: Compiled, _ inputs: [CELNode]) -> Compiled {
        guard constants(inputs) != nil, !(compiled.node is ErrorNode) else { return compiled }
        let empty: [CELValue?] = []
        let value = empty.withUnsafeBufferPointer { globals -> CELValue? in
            withUnsafeTemporaryAllocation(of: CELValue.self, capacity: 1) { locals -> CELValue? in
                var budget = CELProgram.maxCost
                locals.baseAddress!.initialize(to: .null)
                defer { locals.baseAddress!.deinitialize(count: 1) }
                return withUnsafeMutablePointer(to: &budget) { budget in
                    try? compiled.node.evaluate(CELFrame(globals: globals, locals: locals.baseAddress!, costLeft: budget))
                }
            }
        }
        guard let value else { return compiled }
        return Compiled(node: ConstantNode(value), type: compiled.type)
    }
}

/// The common type of a list's elements or a map's keys or values: their type if all agree.
func unify(_ types: [CELType]) -> CELType {
    guard let first = types.first else { return .dyn }
    return types.allSatisfy { $0 == first } ? first : .dyn
}
