import Foundation

/// Binds a call to its implementation and infers its result type: the standard library of CEL
/// (operators, conversions, `size`, string tests, time accessors), part of its `strings` extension,
/// `math.greatest` / `math.least`, and Patron's `list.sum()`.
struct CELLibrary {
    typealias Compiled = CELCompiler.Compiled

    let checked: Bool
    let rejectsConstantErrors: Bool
    let source: String

    init(environment: CELEnvironment, source: String) {
        self.checked = environment.isChecked
        self.rejectsConstantErrors = environment.rejectsConstantErrors
        self.source = source
    }

    /// A constant argument that can never work: a compile error when the environment says so.
    private func constantFault(_ message: String, at offset: Int) throws(CELCompileError) {
        if rejectsConstantErrors { throw fault(message, at: offset) }
    }

    /// Functions called as `namespace.name(…)`.
    static let namespaced: Set<String> = ["math.greatest", "math.least"]

    private static let arithmetic: [String: (text: String, function: @Sendable (CELValue, CELValue) throws(CELEvalError) -> CELValue)] = [
        "_+_": ("+", CELOperations.add), "_-_": ("-", CELOperations.subtract),
        "_*_": ("*", CELOperations.multiply), "_/_": ("/", CELOperations.divide),
        "_%_": ("%", CELOperations.remainder),
    ]

    private static let relations: [String: (text: String, relation: CompareNode.Relation)] = [
        "_<_": ("<", .less), "_<=_": ("<=", .lessOrEqual), "_>_": (">", .greater), "_>=_": (">=", .greaterOrEqual),
    ]

    private static let components: [String: CELTimeComponent] = [
        "getFullYear": .fullYear, "getMonth": .month, "getDate": .date, "getDayOfMonth": .dayOfMonth,
        "getDayOfWeek": .dayOfWeek, "getDayOfYear": .dayOfYear, "getHours": .hours, "getMinutes": .minutes,
        "getSeconds": .seconds, "getMilliseconds": .milliseconds,
    ]

    private func fault(_ message: String, at offset: Int) -> CELCompileError {
        CELCompileError(message, at: CELSourcePosition(offset: offset, in: source))
    }

    private func typeFault(_ message: String, at offset: Int) throws(CELCompileError) {
        if checked { throw fault(message, at: offset) }
    }

    /// Requires each argument's type to be one of `allowed` (or dyn), when checked.
    private func require(
        _ argument: Compiled, in allowed: [CELType], _ what: String, at offset: Int
    ) throws(CELCompileError) {
        guard argument.type != .dyn, !allowed.contains(where: { $0.sameKind(as: argument.type) }) else { return }
        let names = allowed.map(\.name).joined(separator: ", ")
        try typeFault("\(what) takes \(names), not \(argument.type)", at: offset)
    }

    private func arity(_ arguments: [Compiled], _ counts: ClosedRange<Int>, _ name: String, at offset: Int) throws(CELCompileError) -> Bool {
        guard counts.contains(arguments.count) else {
            if checked {
                let wanted = counts.lowerBound == counts.upperBound ? "\(counts.lowerBound)" : "\(counts.lowerBound) to \(counts.upperBound)"
                throw fault("\(name) takes \(wanted) argument\(counts.upperBound == 1 && counts.lowerBound == 1 ? "" : "s"), not \(arguments.count)", at: offset)
            }
            return false
        }
        return true
    }

    /// The node and type for a call, or nil when no function has that name and form.
    mutating func bind(
        _ function: String, receiverStyle: Bool, arguments: [Compiled], offsets: [Int], at offset: Int
    ) throws(CELCompileError) -> Compiled? {
        if !receiverStyle, let bound = try bindOperator(function, arguments, offsets, at: offset) {
            return bound
        }
        if receiverStyle {
            // The receiver is the first argument; report its own faults at the method's name.
            let receiver = arguments[0]
            let rest = Array(arguments.dropFirst())
            return try bindMethod(function, receiver: receiver, rest, Array(offsets.dropFirst()), at: offset)
        }
        return try bindGlobal(function, arguments, offsets, at: offset)
    }

    // MARK: Operators

    private func bindOperator(_ function: String, _ arguments: [Compiled], _ offsets: [Int], at offset: Int) throws(CELCompileError) -> Compiled? {
        switch function {
        case "_&&_", "_||_":
            let text = function == "_&&_" ? "&&" : "||"
            for (argument, position) in zip(arguments, offsets) {
                if argument.type != .dyn && argument.type != .bool {
                    try typeFault("the operands of '\(text)' must be bool, not \(argument.type)", at: position)
                }
            }
            return Compiled(node: balancedLogic(arguments.map(\.node)[...], and: function == "_&&_"), type: .bool)
        case "_?_:_" where arguments.count == 3:
            if arguments[0].type != .dyn && arguments[0].type != .bool {
                try typeFault("the condition of '?:' must be bool, not \(arguments[0].type)", at: offsets[0])
            }
            let type = arguments[1].type == arguments[2].type ? arguments[1].type : .dyn
            return Compiled(node: ConditionalNode(arguments[0].node, arguments[1].node, arguments[2].node), type: type)
        case "!_" where arguments.count == 1:
            if arguments[0].type != .dyn && arguments[0].type != .bool {
                try typeFault("'!' applies to bool, not \(arguments[0].type)", at: offset)
            }
            return Compiled(node: UnaryNode(arguments[0].node, CELOperations.not), type: .bool)
        case "-_" where arguments.count == 1:
            try require(arguments[0], in: [.int, .double, .duration], "'-'", at: offset)
            return Compiled(node: UnaryNode(arguments[0].node, CELOperations.negate), type: arguments[0].type)
        case "_==_", "_!=_":
            let (a, b) = (arguments[0].type, arguments[1].type)
            if a != .dyn && b != .dyn && a != .null && b != .null && !a.sameKind(as: b) && !(a.isNumeric && b.isNumeric) {
                try typeFault("'\(function == "_==_" ? "==" : "!=")' cannot compare \(a) with \(b)", at: offset)
            }
            return Compiled(node: EqualsNode(arguments[0].node, arguments[1].node, negated: function == "_!=_"), type: .bool)
        case "@in":
            let collection = arguments[1].type
            switch collection {
            case .list, .map, .dyn: break
            default: try typeFault("'in' needs a list or a map on its right, not \(collection)", at: offset)
            }
            if case .list(let values)? = arguments[1].node.constant {
                return Compiled(node: InConstantListNode(arguments[0].node, values), type: .bool)
            }
            return Compiled(node: InNode(arguments[0].node, arguments[1].node), type: .bool)
        case "_[_]":
            return try bindIndex(arguments, at: offset)
        default:
            if let relation = Self.relations[function] {
                let (a, b) = (arguments[0].type, arguments[1].type)
                let orderable: [CELType] = [.int, .uint, .double, .string, .bytes, .bool, .timestamp, .duration]
                let comparable = a == .dyn || b == .dyn || (a.isNumeric && b.isNumeric)
                    || (a.sameKind(as: b) && orderable.contains(a))
                if !comparable { try typeFault("'\(relation.text)' cannot order \(a) and \(b)", at: offset) }
                return Compiled(
                    node: CompareNode(arguments[0].node, arguments[1].node, relation.relation, name: function), type: .bool)
            }
            if let arithmetic = Self.arithmetic[function] {
                let type = try arithmeticType(function, arithmetic.text, arguments[0].type, arguments[1].type, at: offset)
                return Compiled(node: BinaryNode(arguments[0].node, arguments[1].node, arithmetic.function), type: type)
            }
            return nil
        }
    }

    private func arithmeticType(_ function: String, _ text: String, _ a: CELType, _ b: CELType, at offset: Int) throws(CELCompileError) -> CELType {
        if a == .dyn || b == .dyn {
            // Only numbers keep their type through arithmetic with themselves; guess the known side.
            let known = a == .dyn ? b : a
            return known.isNumeric ? known : .dyn
        }
        switch (function, a, b) {
        case (_, .int, .int), (_, .uint, .uint): return a
        case ("_%_", _, _): break
        case (_, .double, .double): return .double
        case ("_+_", .string, .string), ("_+_", .bytes, .bytes): return a
        case ("_+_", .list(let x), .list(let y)): return .list(x == y ? x : .dyn)
        case ("_+_", .timestamp, .duration), ("_+_", .duration, .timestamp): return .timestamp
        case ("_+_", .duration, .duration), ("_-_", .duration, .duration), ("_-_", .timestamp, .timestamp): return .duration
        case ("_-_", .timestamp, .duration): return .timestamp
        default: break
        }
        let hint = a.isNumeric && b.isNumeric ? " (convert one side, e.g. double(x), int(x) or uint(x))" : ""
        try typeFault("'\(text)' cannot be applied to \(a) and \(b)\(hint)", at: offset)
        return .dyn
    }

    private func bindIndex(_ arguments: [Compiled], at offset: Int) throws(CELCompileError) -> Compiled {
        let (collection, key) = (arguments[0].type, arguments[1].type)
        var type = CELType.dyn
        switch collection {
        case .list(let element):
            try require(arguments[1], in: [.int, .uint], "a list index", at: offset)
            type = element
        case .map(let keyType, let value):
            if key != .dyn && keyType != .dyn && !keyType.sameKind(as: key) && !(key.isNumeric && keyType.isNumeric) {
                try typeFault("this map has \(keyType) keys, not \(key)", at: offset)
            }
            type = value
        case .dyn: break
        default: try typeFault("\(collection) cannot be indexed", at: offset)
        }
        return Compiled(node: BinaryNode(arguments[0].node, arguments[1].node, CELOperations.index), type: type)
    }

    // MARK: Global functions

    private func bindGlobal(_ function: String, _ arguments: [Compiled], _ offsets: [Int], at offset: Int) throws(CELCompileError) -> Compiled? {
        let conversions: [String: (allowed: [CELType], result: CELType, function: @Sendable (CELValue) throws(CELEvalError) -> CELValue)] = [
            "int": ([.int, .uint, .double, .string, .timestamp], .int, CELOperations.toInt),
            "uint": ([.int, .uint, .double, .string], .uint, CELOperations.toUInt),
            "double": ([.int, .uint, .double, .string], .double, CELOperations.toDouble),
            "string": ([.string, .int, .uint, .double, .bool, .bytes, .timestamp, .duration], .string, CELOperations.toString),
            "bytes": ([.bytes, .string], .bytes, CELOperations.toBytes),
            "bool": ([.bool, .string], .bool, CELOperations.toBool),
            "timestamp": ([.timestamp, .string, .int], .timestamp, CELOperations.toTimestamp),
            "duration": ([.duration, .string], .duration, CELOperations.toDuration),
            "size": ([.string, .bytes, .list(.dyn), .map(.dyn, .dyn)], .int, CELOperations.size),
        ]
        if let conversion = conversions[function] {
            guard try arity(arguments, 1...1, "\(function)()", at: offset) else { return nil }
            try require(arguments[0], in: conversion.allowed, "\(function)()", at: offsets[0])
            try checkConstantConversion(function, arguments[0], conversion.function, at: offsets[0])
            return Compiled(node: UnaryNode(arguments[0].node, conversion.function), type: conversion.result)
        }
        switch function {
        case "type":
            guard try arity(arguments, 1...1, "type()", at: offset) else { return nil }
            return Compiled(node: UnaryNode(arguments[0].node) { value in .type(value.type) }, type: .type)
        case "dyn":
            guard try arity(arguments, 1...1, "dyn()", at: offset) else { return nil }
            return Compiled(node: arguments[0].node, type: .dyn)
        case "matches":
            guard try arity(arguments, 2...2, "matches()", at: offset) else { return nil }
            return try bindMatches(arguments[0], arguments[1], offsets[1], at: offset)
        case "math.greatest", "math.least":
            guard try arity(arguments, 1...32, "\(function)()", at: offset) else { return nil }
            for (argument, position) in zip(arguments, offsets) {
                try require(argument, in: [.int, .uint, .double, .list(.dyn)], "\(function)()", at: position)
            }
            let wantsGreatest = function == "math.greatest"
            let types = arguments.map(\.type)
            var type = unify(types)
            if arguments.count == 1 {
                // One argument is a list to pick from.
                if case .list(let element) = types[0] { type = element } else { type = .dyn }
            }
            let name = function
            return Compiled(node: CallNode(arguments.map(\.node)) { values throws(CELEvalError) in
                try CELLibrary.extreme(values, greatest: wantsGreatest, name: name)
            }, type: type)
        default:
            return nil
        }
    }

    /// A conversion of a constant that cannot succeed is a compile error when checked:
    /// `timestamp('2026-13-01T00:00:00Z')`, `duration('1x')`.
    private func checkConstantConversion(
        _ function: String, _ argument: Compiled,
        _ convert: @Sendable (CELValue) throws(CELEvalError) -> CELValue, at offset: Int
    ) throws(CELCompileError) {
        guard rejectsConstantErrors, let value = argument.node.constant else { return }
        do {
            _ = try convert(value)
        } catch {
            throw fault("\(function)(): \(error.message)", at: offset)
        }
    }

    static func extreme(_ values: [CELValue], greatest: Bool, name: String) throws(CELEvalError) -> CELValue {
        var candidates = values
        if values.count == 1, case .list(let list) = values[0] { candidates = list }
        guard var best = candidates.first else { throw CELEvalError("\(name)() needs at least one value") }
        for candidate in candidates {
            switch candidate {
            case .int, .uint, .double: break
            default: throw .noMatchingOverload(name, candidate)
            }
            if let order = compareNumbers(candidate, best),
               greatest ? order == .orderedDescending : order == .orderedAscending {
                best = candidate
            }
        }
        if case .int = best {} else if case .uint = best {} else if case .double = best {} else {
            throw .noMatchingOverload(name, best)
        }
        return best
    }

    private func bindMatches(_ text: Compiled, _ pattern: Compiled, _ patternOffset: Int, at offset: Int) throws(CELCompileError) -> Compiled {
        try require(text, in: [.string], "matches()", at: offset)
        try require(pattern, in: [.string], "matches()", at: patternOffset)
        if case .string(let constant)? = pattern.node.constant {
            do {
                let regex = try CELOperations.regex(constant)
                let box = RegexBox(regex)
                return Compiled(node: UnaryNode(text.node) { value throws(CELEvalError) in
                    guard case .string(let string) = value else { throw .noMatchingOverload("matches", value) }
                    return .bool(try CELOperations.matches(string, box.regex))
                }, type: .bool)
            } catch {
                try constantFault(error.message, at: patternOffset)
            }
        }
        return Compiled(node: BinaryNode(text.node, pattern.node) { value, pattern throws(CELEvalError) in
            guard case .string(let string) = value, case .string(let expression) = pattern else {
                throw .noMatchingOverload("matches", value, pattern)
            }
            return .bool(try CELOperations.matches(string, try CELOperations.regex(expression)))
        }, type: .bool)
    }

    // MARK: Methods

    private func bindMethod(_ function: String, receiver: Compiled, _ arguments: [Compiled], _ offsets: [Int], at offset: Int) throws(CELCompileError) -> Compiled? {
        switch function {
        case "contains", "startsWith", "endsWith":
            guard try arity(arguments, 1...1, "\(function)()", at: offset) else { return nil }
            try require(receiver, in: [.string], "\(function)()", at: offset)
            try require(arguments[0], in: [.string], "\(function)()", at: offsets[0])
            let test: @Sendable (String.UTF8View, String.UTF8View) -> Bool = switch function {
            case "contains": CELOperations.contains
            case "startsWith": CELOperations.startsWith
            default: CELOperations.endsWith
            }
            let name = function
            return Compiled(node: BinaryNode(receiver.node, arguments[0].node) { a, b throws(CELEvalError) in
                try CELOperations.stringTest(name, a, b, test)
            }, type: .bool)
        case "matches":
            guard try arity(arguments, 1...1, "matches()", at: offset) else { return nil }
            return try bindMatches(receiver, arguments[0], offsets[0], at: offset)
        case "size":
            guard try arity(arguments, 0...0, "size()", at: offset) else { return nil }
            try require(receiver, in: [.string, .bytes, .list(.dyn), .map(.dyn, .dyn)], "size()", at: offset)
            return Compiled(node: UnaryNode(receiver.node, CELOperations.size), type: .int)
        case "sum":
            guard try arity(arguments, 0...0, "sum()", at: offset) else { return nil }
            try require(receiver, in: [.list(.dyn)], "sum()", at: offset)
            var type = CELType.dyn
            if case .list(let element) = receiver.type {
                if element.isNumeric || element == .dyn {
                    type = element
                } else {
                    try typeFault("sum() adds numbers, not \(element)", at: offset)
                }
            }
            return Compiled(node: UnaryNode(receiver.node, CELLibrary.sum), type: type)
        case "lowerAscii", "upperAscii", "trim":
            guard try arity(arguments, 0...0, "\(function)()", at: offset) else { return nil }
            try require(receiver, in: [.string], "\(function)()", at: offset)
            let name = function
            return Compiled(node: UnaryNode(receiver.node) { value throws(CELEvalError) in
                guard case .string(let string) = value else { throw .noMatchingOverload(name, value) }
                return .string(CELStrings.transform(string, name))
            }, type: .string)
        case "substring":
            guard try arity(arguments, 1...2, "substring()", at: offset) else { return nil }
            try require(receiver, in: [.string], "substring()", at: offset)
            for (argument, position) in zip(arguments, offsets) {
                try require(argument, in: [.int], "substring()", at: position)
            }
            return Compiled(node: CallNode([receiver.node] + arguments.map(\.node), CELStrings.substring), type: .string)
        case "indexOf":
            guard try arity(arguments, 1...1, "indexOf()", at: offset) else { return nil }
            try require(receiver, in: [.string], "indexOf()", at: offset)
            try require(arguments[0], in: [.string], "indexOf()", at: offsets[0])
            return Compiled(node: BinaryNode(receiver.node, arguments[0].node, CELStrings.indexOf), type: .int)
        case "split":
            guard try arity(arguments, 1...1, "split()", at: offset) else { return nil }
            try require(receiver, in: [.string], "split()", at: offset)
            try require(arguments[0], in: [.string], "split()", at: offsets[0])
            return Compiled(node: BinaryNode(receiver.node, arguments[0].node, CELStrings.split), type: .list(.string))
        case "join":
            guard try arity(arguments, 0...1, "join()", at: offset) else { return nil }
            try require(receiver, in: [.list(.dyn)], "join()", at: offset)
            if let separator = arguments.first { try require(separator, in: [.string], "join()", at: offsets[0]) }
            return Compiled(node: CallNode([receiver.node] + arguments.map(\.node), CELStrings.join), type: .string)
        default:
            if let component = Self.components[function] {
                return try bindTimeAccessor(function, component, receiver: receiver, arguments, offsets, at: offset)
            }
            return nil
        }
    }

    private func bindTimeAccessor(
        _ function: String, _ component: CELTimeComponent, receiver: Compiled,
        _ arguments: [Compiled], _ offsets: [Int], at offset: Int
    ) throws(CELCompileError) -> Compiled? {
        guard try arity(arguments, 0...1, "\(function)()", at: offset) else { return nil }
        let durationComponents: Set<String> = ["getHours", "getMinutes", "getSeconds", "getMilliseconds"]
        try require(receiver, in: durationComponents.contains(function) ? [.timestamp, .duration] : [.timestamp], "\(function)()", at: offset)
        if receiver.type == .duration && !arguments.isEmpty {
            try typeFault("\(function)() of a duration takes no time zone", at: offsets[0])
        }
        let name = function
        guard let zoneArgument = arguments.first else {
            return Compiled(node: UnaryNode(receiver.node) { value throws(CELEvalError) in
                try CELLibrary.timeComponent(value, component, zone: .utc, hasZone: false, name: name)
            }, type: .int)
        }
        try require(zoneArgument, in: [.string], "the time zone of \(function)()", at: offsets[0])
        if case .string(let text)? = zoneArgument.node.constant {
            do {
                let zone = try CELTimeZone(text)
                return Compiled(node: UnaryNode(receiver.node) { value throws(CELEvalError) in
                    try CELLibrary.timeComponent(value, component, zone: zone, name: name)
                }, type: .int)
            } catch {
                try constantFault(error.message, at: offsets[0])
            }
        }
        return Compiled(node: BinaryNode(receiver.node, zoneArgument.node) { value, zone throws(CELEvalError) in
            guard case .string(let text) = zone else { throw .noMatchingOverload(name, value, zone) }
            return try CELLibrary.timeComponent(value, component, zone: try CELTimeZone(text), name: name)
        }, type: .int)
    }

    /// `list.sum()`: the total of a list of ints, uints or doubles (0 for an empty list);
    /// overflow is an error.
    static func sum(_ value: CELValue) throws(CELEvalError) -> CELValue {
        guard case .list(let list) = value else { throw .noMatchingOverload("sum", value) }
        guard var total = list.first else { return .int(0) }
        switch total {
        case .int, .uint, .double: break
        default: throw .noMatchingOverload("sum", total)
        }
        for element in list.dropFirst() {
            total = try CELOperations.add(total, element)
        }
        return total
    }

    static func timeComponent(
        _ value: CELValue, _ component: CELTimeComponent, zone: CELTimeZone, hasZone: Bool = true, name: String
    ) throws(CELEvalError) -> CELValue {
        switch value {
        case .timestamp(let timestamp):
            return .int(timestamp.component(component, in: zone))
        case .duration(let duration):
            guard !hasZone else { throw .noMatchingOverload(name, value, .string("")) }
            switch component {
            case .hours: return .int(duration.totalHours)
            case .minutes: return .int(duration.totalMinutes)
            case .seconds: return .int(duration.totalSeconds)
            case .milliseconds: return .int(duration.totalMilliseconds)
            default: throw .noMatchingOverload(name, value)
            }
        default:
            throw .noMatchingOverload(name, value)
        }
    }
}

/// NSRegularExpression is immutable and safe to share once built; Swift 6 cannot see that.
private final class RegexBox: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }
}
