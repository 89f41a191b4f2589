import PatronCore
import Testing

/// Invariants of the rule language over thousands of random expressions. Every case has its own
/// seed, printed on failure: `CELSourceGenerator(seed:)` (or `CELTestEnvironments.generator(seed:)`
/// for evaluation) with that seed writes the same expression again.
@Suite("CEL properties")
struct CELPropertyTests {
    /// Four runs in parallel, 1,500 cases each: 6,000 expressions per property.
    static let seeds: [UInt64] = [0xCE1_0001, 0xCE1_0002, 0xCE1_0003, 0xCE1_0004]
    static let casesPerSeed = 1_500
    /// Enough failures to see a pattern without flooding the log.
    static let maxReported = 10

    /// The seeds of one run's cases, drawn from the run's seed.
    static func caseSeeds(_ seed: UInt64) -> [UInt64] {
        var seeds = SeededGenerator(seed: seed)
        return (0..<casesPerSeed).map { _ in seeds.next() }
    }

    @Test("printing a parsed expression and parsing the print gives the same tree: printing is a fixed point", arguments: seeds)
    func printingRoundTrips(seed: UInt64) {
        var reported = 0
        func report(_ message: String) {
            reported += 1
            if reported <= Self.maxReported { Issue.record("\(message)") }
        }
        for caseSeed in Self.caseSeeds(seed) {
            // Given a well-formed expression
            var generator = CELSourceGenerator(seed: caseSeed)
            let source = generator.expression()
            let tree: CELExpr
            do {
                tree = try CELParser.parse(source)
            } catch {
                report("seed \(caseSeed): the generated expression does not parse: \(error)\n\(source)")
                continue
            }
            // When it is printed, parsed again and printed again
            let printed = tree.description
            let reparsed: CELExpr
            do {
                reparsed = try CELParser.parse(printed)
            } catch {
                report("seed \(caseSeed): the print does not parse: \(error)\nsource:  \(source)\nprinted: \(printed)")
                continue
            }
            // Then both prints and both trees agree
            if reparsed.description != printed {
                report("seed \(caseSeed): printing is not a fixed point\nsource:  \(source)\nprinted: \(printed)\nagain:   \(reparsed.description)")
            } else if Self.shape(reparsed) != Self.shape(tree) {
                report("seed \(caseSeed): the print parses to another tree\nsource:  \(source)\nprinted: \(printed)\nbefore:  \(Self.shape(tree))\nafter:   \(Self.shape(reparsed))")
            }
        }
    }

    @Test("compiling and evaluating random expressions never crashes: a value or an error, the same every time", arguments: seeds)
    func evaluationIsTotal(seed: UInt64) {
        var reported = 0
        func report(_ message: String) {
            reported += 1
            if reported <= Self.maxReported { Issue.record("\(message)") }
        }
        var compiled = 0
        var evaluated = 0
        for caseSeed in Self.caseSeeds(seed) {
            // Given an expression over the test variables, and values for most of them
            var generator = CELTestEnvironments.generator(seed: caseSeed)
            let source = generator.expression()
            var random = SeededGenerator(seed: caseSeed)
            let values = CELTestEnvironments.values(using: &random)
            // When it is compiled checked and unchecked, and evaluated twice
            let checked = Self.run(source, in: CELTestEnvironments.checked, values)
            let unchecked = Self.run(source, in: CELTestEnvironments.unchecked, values)
            _ = Self.run(source, in: RuleEnvironment.earning, values)
            // Then evaluation answers the same each time, and checking only takes away
            for outcome in [checked, unchecked] {
                guard let outcome else { continue }
                compiled += 1
                if case .value = outcome.first { evaluated += 1 }
                if outcome.first != outcome.second {
                    report("seed \(caseSeed): two evaluations differ: \(outcome.first) then \(outcome.second)\n\(source)")
                }
            }
            if checked != nil && unchecked == nil {
                report("seed \(caseSeed): compiles checked but not unchecked\n\(source)")
            }
            if let checked, let unchecked, checked.first != unchecked.first {
                report("seed \(caseSeed): checked gives \(checked.first), unchecked \(unchecked.first)\n\(source)")
            }
            // And a type the checker infers is the type of the value
            if let checked, case .value(let value) = checked.first, checked.type != .dyn, !Self.isNull(value),
               value.type.name != checked.type.name {
                report("seed \(caseSeed): the checker says \(checked.type), evaluation gives \(value.type): \(value.literal)\n\(source)")
            }
        }
        print("CEL properties, seed \(seed): \(compiled) of \(2 * Self.casesPerSeed) compilations succeeded, \(evaluated) gave a value")
        #expect(evaluated > Self.casesPerSeed / 10, "the generator should reach evaluation often")
    }

    @Test("printing keeps exactly the parentheses the tree needs, and writes literals one way", arguments: [
        ("!(-1)", "!(-1)"),
        ("!(-1.5)", "!(-1.5)"),
        ("-(1)", "-(1)"),
        ("-(-1)", "--1"),
        ("--1", "--1"),
        ("---(1)", "---(1)"),
        ("-(!a)", "-(!a)"),
        ("!(-a)", "!(-a)"),
        ("(-1).x", "(-1).x"),
        ("-(1).x", "-1.x"),
        ("-1.5.x", "-1.5.x"),
        ("(a ? b : c) ? d : e", "(a ? b : c) ? d : e"),
        ("a ? (b ? c : d) : e ? f : g", "a ? (b ? c : d) : e ? f : g"),
        ("(a || b) || c", "(a || b) || c"),
        ("a - (b - c)", "a - (b - c)"),
        ("(a + b) * c", "(a + b) * c"),
        ("x in .5", "x in 0.5"),
        ("has(a.`b-c`)", "has(a.`b-c`)"),
        (#"r'\d' + '''a"# + "\n" + #"b'''"#, #""\\d" + "a\nb""#),
        (#"b'\xff\000é'"#, #"b"\xFF\x00\xC3\xA9""#),
        (".x + [1,].size() // done", "x + [1].size()"),
    ])
    func printing(source: String, printed: String) throws {
        #expect(try CELParser.parse(source).description == printed)
    }

    /// What one compilation and two evaluations gave; nil when it does not compile.
    struct Outcome {
        var type: CELType
        var first: Result
        var second: Result
    }

    /// A value (by its literal, so NaN equals NaN) or an evaluation error.
    enum Result: Equatable, CustomStringConvertible {
        case value(CELValue)
        case error(String)

        static func == (lhs: Result, rhs: Result) -> Bool {
            switch (lhs, rhs) {
            case (.value(let a), .value(let b)): a.literal == b.literal && a.type.name == b.type.name
            case (.error(let a), .error(let b)): a == b
            default: false
            }
        }

        var description: String {
            switch self {
            case .value(let value): value.literal
            case .error(let message): "error: \(message)"
            }
        }
    }

    static func run(_ source: String, in environment: CELEnvironment, _ values: [String: CELValue]) -> Outcome? {
        // Compilation throws CELCompileError or nothing: the typed throw is the contract.
        guard let program = try? CELProgram(source, environment: environment) else { return nil }
        let bindings = environment.bindings(values)
        func evaluate() -> Result {
            do {
                return .value(try program.evaluate(bindings))
            } catch {
                return .error(error.message)
            }
        }
        return Outcome(type: program.resultType, first: evaluate(), second: evaluate())
    }

    /// Null stands in for any unset field of a declared object, so it has every static type.
    static func isNull(_ value: CELValue) -> Bool {
        if case .null = value { return true }
        return false
    }

    /// The tree without offsets, as an S-expression: `(call _+_ (int 1) (ident a))`.
    static func shape(_ expression: CELExpr) -> String {
        switch expression.kind {
        case .literal(let value):
            return "(\(value.type.name) \(value.literal))"
        case .identifier(let name):
            return "(ident \(name))"
        case .select(let operand, let field, let test):
            return "(\(test ? "has" : "select") \(shape(operand)) \(field))"
        case .call(let function, let target, let arguments):
            let receiver = target.map { " on " + shape($0) } ?? ""
            return "(call \(function)\(receiver)" + arguments.map { " " + shape($0) }.joined() + ")"
        case .list(let elements):
            return "(list" + elements.map { " " + shape($0) }.joined() + ")"
        case .map(let entries):
            return "(map" + entries.map { " " + shape($0.key) + ":" + shape($0.value) }.joined() + ")"
        case .comprehension(let comprehension):
            let transform = comprehension.transform.map { " " + shape($0) } ?? ""
            return "(\(comprehension.macro.rawValue) \(shape(comprehension.range)) \(comprehension.variable) "
                + shape(comprehension.body) + transform + ")"
        }
    }
}
