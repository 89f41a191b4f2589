import Foundation

/// Where a running expression finds its variables: the program's bindings (globals, by slot) and
/// the variables of its macros (locals, by slot), both in memory the evaluation does not allocate.
struct CELFrame {
    let globals: UnsafeBufferPointer<CELValue?>
    let locals: UnsafeMutablePointer<CELValue>
    /// Cost units left before evaluation gives up, so no expression runs unbounded.
    let costLeft: UnsafeMutablePointer<Int>

    /// Charges one macro iteration against the budget.
    func iterate() throws(CELEvalError) {
        try charge(1)
    }

    func charge(_ units: Int) throws(CELEvalError) {
        costLeft.pointee -= units
        if costLeft.pointee < 0 {
            throw CELEvalError("evaluation stopped: it exceeded the cost limit of \(CELProgram.maxCost)")
        }
    }

    /// Charges for a value an operation built: a list, map, string or bytes costs by its size.
    func charge(for value: CELValue) throws(CELEvalError) {
        switch value {
        case .list(let list): try charge(list.count / 8)
        case .map(let map): try charge(map.count / 8)
        case .string(let string): try charge(string.utf8.count / 16)
        case .bytes(let bytes): try charge(bytes.count / 16)
        default: break
        }
    }
}

/// A compiled expression node. Subclasses are immutable once built, so a tree can be shared
/// across threads; evaluation walks it without looking anything up by name.
class CELNode: @unchecked Sendable {
    func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        preconditionFailure("CELNode.evaluate must be overridden")
    }

    /// The value when the node is a constant, for folding at compile time.
    var constant: CELValue? { nil }
}

final class ConstantNode: CELNode, @unchecked Sendable {
    let value: CELValue
    init(_ value: CELValue) { self.value = value }
    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue { value }
    override var constant: CELValue? { value }
}

/// A fault known at compile time that, in an unchecked expression, surfaces only if evaluated.
final class ErrorNode: CELNode, @unchecked Sendable {
    let error: CELEvalError
    init(_ error: CELEvalError) { self.error = error }
    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue { throw error }
}

final class GlobalNode: CELNode, @unchecked Sendable {
    let slot: Int
    let name: String

    init(slot: Int, name: String) {
        self.slot = slot
        self.name = name
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        guard let value = frame.globals[slot] else {
            throw CELEvalError("no value for variable '\(name)'")
        }
        return value
    }
}

final class LocalNode: CELNode, @unchecked Sendable {
    let slot: Int
    init(slot: Int) { self.slot = slot }
    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue { frame.locals[slot] }
}

/// `operand.field` where the operand's object type is known: an array read.
final class ObjectFieldNode: CELNode, @unchecked Sendable {
    let operand: CELNode
    let type: CELObjectType
    let slot: Int
    let field: String

    init(operand: CELNode, type: CELObjectType, slot: Int, field: String) {
        self.operand = operand
        self.type = type
        self.slot = slot
        self.field = field
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        try read(try operand.evaluate(frame))
    }

    /// The field of a value that should be an object of the declared type.
    @inline(__always)
    func read(_ value: CELValue) throws(CELEvalError) -> CELValue {
        if case .object(let object) = value, object.type === type {
            return object.values[slot]
        }
        return try CELOperations.select(value, field)
    }
}

/// `variable.field` for a global of a declared object type, read in place.
final class GlobalFieldNode: CELNode, @unchecked Sendable {
    let variable: Int
    let name: String
    let field: ObjectFieldNode

    init(variable: Int, name: String, field: ObjectFieldNode) {
        self.variable = variable
        self.name = name
        self.field = field
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let pointer = frame.globals.baseAddress! + variable
        guard case .some = pointer.pointee else {
            throw CELEvalError("no value for variable '\(name)'")
        }
        return try field.read(pointer.pointee!)
    }
}

/// `variable.field` for a macro variable of a declared object type, read in place.
final class LocalFieldNode: CELNode, @unchecked Sendable {
    let variable: Int
    let field: ObjectFieldNode

    init(variable: Int, field: ObjectFieldNode) {
        self.variable = variable
        self.field = field
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        try field.read(frame.locals[variable])
    }
}

final class SelectNode: CELNode, @unchecked Sendable {
    let operand: CELNode
    let field: String

    init(operand: CELNode, field: String) {
        self.operand = operand
        self.field = field
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        try CELOperations.select(try operand.evaluate(frame), field)
    }
}

final class HasNode: CELNode, @unchecked Sendable {
    let operand: CELNode
    let field: String

    init(operand: CELNode, field: String) {
        self.operand = operand
        self.field = field
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        .bool(try CELOperations.has(try operand.evaluate(frame), field))
    }
}

/// `a && b` and `a || b`. The deciding value (false for `&&`, true for `||`) on either side is the
/// answer, whatever error the other side raises; otherwise the first error; otherwise the other
/// value. Chains compile to a balanced tree of these, which keeps the same rule.
final class LogicNode: CELNode, @unchecked Sendable {
    let left: CELNode
    let right: CELNode
    let deciding: Bool
    let name: String

    init(_ left: CELNode, _ right: CELNode, and: Bool) {
        self.left = left
        self.right = right
        self.deciding = !and
        self.name = and ? "_&&_" : "_||_"
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        var failure: CELEvalError?
        if decides(left, frame, &failure) || decides(right, frame, &failure) { return .bool(deciding) }
        if let failure { throw failure }
        return .bool(!deciding)
    }

    /// Whether one side yields the deciding value; keeps the first error or wrong type otherwise.
    @inline(__always)
    private func decides(_ side: CELNode, _ frame: CELFrame, _ failure: inout CELEvalError?) -> Bool {
        do {
            switch try side.evaluate(frame) {
            case .bool(let value): return value == deciding
            case let other: failure = failure ?? .noMatchingOverload(name, other)
            }
        } catch {
            failure = failure ?? error
        }
        return false
    }
}

/// A chain of `&&` or `||` operands as a balanced tree of binary nodes, so its depth is logarithmic.
func balancedLogic(_ nodes: ArraySlice<CELNode>, and: Bool) -> CELNode {
    if nodes.count == 1 { return nodes[nodes.startIndex] }
    let middle = nodes.startIndex + nodes.count / 2
    let left = balancedLogic(nodes[..<middle], and: and)
    let right = balancedLogic(nodes[middle...], and: and)
    return LogicNode(left, right, and: and)
}

final class ConditionalNode: CELNode, @unchecked Sendable {
    let condition: CELNode
    let whenTrue: CELNode
    let whenFalse: CELNode

    init(_ condition: CELNode, _ whenTrue: CELNode, _ whenFalse: CELNode) {
        self.condition = condition
        self.whenTrue = whenTrue
        self.whenFalse = whenFalse
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        switch try condition.evaluate(frame) {
        case .bool(true): try whenTrue.evaluate(frame)
        case .bool(false): try whenFalse.evaluate(frame)
        case let other: throw .noMatchingOverload("_?_:_", other)
        }
    }
}

final class UnaryNode: CELNode, @unchecked Sendable {
    let operand: CELNode
    let function: @Sendable (CELValue) throws(CELEvalError) -> CELValue

    init(_ operand: CELNode, _ function: @escaping @Sendable (CELValue) throws(CELEvalError) -> CELValue) {
        self.operand = operand
        self.function = function
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let input = try operand.evaluate(frame)
        try frame.charge(for: input)
        let result = try function(input)
        try frame.charge(for: result)
        return result
    }
}

final class BinaryNode: CELNode, @unchecked Sendable {
    let left: CELNode
    let right: CELNode
    let function: @Sendable (CELValue, CELValue) throws(CELEvalError) -> CELValue

    init(
        _ left: CELNode, _ right: CELNode,
        _ function: @escaping @Sendable (CELValue, CELValue) throws(CELEvalError) -> CELValue
    ) {
        self.left = left
        self.right = right
        self.function = function
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let a = try left.evaluate(frame)
        let b = try right.evaluate(frame)
        // Work such as `contains` or `indexOf` grows with the inputs, so they are charged too.
        try frame.charge(for: a)
        try frame.charge(for: b)
        let result = try function(a, b)
        try frame.charge(for: result)
        return result
    }
}

/// A call with three or more arguments (the receiver counts as the first).
final class CallNode: CELNode, @unchecked Sendable {
    let arguments: [CELNode]
    let function: @Sendable ([CELValue]) throws(CELEvalError) -> CELValue

    init(_ arguments: [CELNode], _ function: @escaping @Sendable ([CELValue]) throws(CELEvalError) -> CELValue) {
        self.arguments = arguments
        self.function = function
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        var values: [CELValue] = []
        values.reserveCapacity(arguments.count)
        for argument in arguments {
            values.append(try argument.evaluate(frame))
        }
        for value in values { try frame.charge(for: value) }
        let result = try function(values)
        try frame.charge(for: result)
        return result
    }
}

final class EqualsNode: CELNode, @unchecked Sendable {
    let left: CELNode
    let right: CELNode
    let negated: Bool

    init(_ left: CELNode, _ right: CELNode, negated: Bool) {
        self.left = left
        self.right = right
        self.negated = negated
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let a = try left.evaluate(frame)
        let b = try right.evaluate(frame)
        try frame.charge(for: a)
        return .bool(a.celEquals(b) != negated)
    }
}

/// `<`, `<=`, `>` and `>=`, with a fast path for two ints.
final class CompareNode: CELNode, @unchecked Sendable {
    enum Relation {
        case less, lessOrEqual, greater, greaterOrEqual
    }

    let left: CELNode
    let right: CELNode
    let relation: Relation
    let name: String

    init(_ left: CELNode, _ right: CELNode, _ relation: Relation, name: String) {
        self.left = left
        self.right = right
        self.relation = relation
        self.name = name
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let a = try left.evaluate(frame)
        let b = try right.evaluate(frame)
        if case .int(let x) = a, case .int(let y) = b {
            switch relation {
            case .less: return .bool(x < y)
            case .lessOrEqual: return .bool(x <= y)
            case .greater: return .bool(x > y)
            case .greaterOrEqual: return .bool(x >= y)
            }
        }
        guard let order = try a.celCompare(b, operator: name) else { return .bool(false) }
        switch relation {
        case .less: return .bool(order == .orderedAscending)
        case .lessOrEqual: return .bool(order != .orderedDescending)
        case .greater: return .bool(order == .orderedDescending)
        case .greaterOrEqual: return .bool(order != .orderedAscending)
        }
    }
}

final class InNode: CELNode, @unchecked Sendable {
    let element: CELNode
    let collection: CELNode

    init(_ element: CELNode, _ collection: CELNode) {
        self.element = element
        self.collection = collection
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let value = try element.evaluate(frame)
        let container = try collection.evaluate(frame)
        if case .list = container { try frame.charge(for: container) }
        return .bool(try CELOperations.contains(container, value))
    }
}

/// `x in [constant, …]`: the list is held here, not copied out of a constant node each time.
final class InConstantListNode: CELNode, @unchecked Sendable {
    let element: CELNode
    let values: [CELValue]

    init(_ element: CELNode, _ values: [CELValue]) {
        self.element = element
        self.values = values
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let value = try element.evaluate(frame)
        try frame.charge(values.count / 8)
        for index in values.indices where values[index].celEquals(value) {
            return .bool(true)
        }
        return .bool(false)
    }
}

final class ListNode: CELNode, @unchecked Sendable {
    let elements: [CELNode]
    init(_ elements: [CELNode]) { self.elements = elements }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        var values: [CELValue] = []
        values.reserveCapacity(elements.count)
        for element in elements {
            values.append(try element.evaluate(frame))
        }
        try frame.charge(values.count / 8)
        return .list(values)
    }
}

final class MapNode: CELNode, @unchecked Sendable {
    let entries: [(key: CELNode, value: CELNode)]
    init(_ entries: [(key: CELNode, value: CELNode)]) { self.entries = entries }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        var values: [(key: CELValue, value: CELValue)] = []
        values.reserveCapacity(entries.count)
        for entry in entries {
            let key = try entry.key.evaluate(frame)
            values.append((key, try entry.value.evaluate(frame)))
        }
        try frame.charge(values.count / 8)
        return .map(try CELMap(values))
    }
}

/// The macros: the range is a list (its elements) or a map (its keys), bound in turn to a local.
final class ComprehensionNode: CELNode, @unchecked Sendable {
    let macro: CELExpr.Comprehension.Macro
    let range: CELNode
    let slot: Int
    let body: CELNode
    let transform: CELNode?

    init(macro: CELExpr.Comprehension.Macro, range: CELNode, slot: Int, body: CELNode, transform: CELNode?) {
        self.macro = macro
        self.range = range
        self.slot = slot
        self.body = body
        self.transform = transform
    }

    override func evaluate(_ frame: CELFrame) throws(CELEvalError) -> CELValue {
        switch try range.evaluate(frame) {
        case .list(let list):
            if macro == .exists || macro == .all { return try decide(over: list, frame) }
            return try run(over: list, frame)
        case .map(let map): return try run(over: map.entries.lazy.map(\.key), frame)
        case let other: throw CELEvalError("\(macro.rawValue)() needs a list or a map, not \(other.type.name)")
        }
    }

    private func predicate(_ frame: CELFrame) throws(CELEvalError) -> Bool {
        let value = try body.evaluate(frame)
        guard case .bool(let bool) = value else {
            throw CELEvalError("the condition of \(macro.rawValue)() must be a bool, not \(value.type.name)")
        }
        return bool
    }

    /// `exists` and `all` over a list, storing each element straight from the list's buffer.
    private func decide(over list: [CELValue], _ frame: CELFrame) throws(CELEvalError) -> CELValue {
        let deciding = macro == .exists
        var failure: CELEvalError?
        for index in list.indices {
            try frame.iterate()
            frame.locals[slot] = list[index]
            do {
                if try predicate(frame) == deciding { return .bool(deciding) }
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
        return .bool(!deciding)
    }

    private func run<Elements: Sequence<CELValue>>(over elements: Elements, _ frame: CELFrame) throws(CELEvalError) -> CELValue {
        switch macro {
        case .all, .exists:
            // The deciding answer (false for all, true for exists) wins over errors elsewhere.
            let deciding = macro == .exists
            var failure: CELEvalError?
            for element in elements {
                try frame.iterate()
                frame.locals[slot] = element
                do {
                    if try predicate(frame) == deciding { return .bool(deciding) }
                } catch {
                    failure = failure ?? error
                }
            }
            if let failure { throw failure }
            return .bool(!deciding)
        case .existsOne:
            var count = 0
            for element in elements {
                try frame.iterate()
                frame.locals[slot] = element
                if try predicate(frame) { count += 1 }
            }
            return .bool(count == 1)
        case .map:
            var results: [CELValue] = []
            for element in elements {
                try frame.iterate()
                frame.locals[slot] = element
                if let transform {
                    if try predicate(frame) { results.append(try transform.evaluate(frame)) }
                } else {
                    results.append(try body.evaluate(frame))
                }
            }
            return .list(results)
        case .filter:
            var results: [CELValue] = []
            for element in elements {
                try frame.iterate()
                frame.locals[slot] = element
                if try predicate(frame) { results.append(element) }
            }
            return .list(results)
        }
    }
}
