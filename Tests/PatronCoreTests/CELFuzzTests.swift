import Foundation
import PatronCore
import Synchronization
import Testing

/// Feeds the rule language garbage for a while: random bytes, mutated conformance expressions,
/// mutated generated expressions and extreme inputs (deep nesting, 100,000 characters), each
/// compiled checked and unchecked and evaluated. It passes when nothing crashes or hangs.
///
/// It runs for PATRON_FUZZ_SECONDS (default 3; scripts/test gives it 60). The seed is random
/// unless PATRON_FUZZ_SEED is set; it is printed, and with it a run draws the same inputs again.
@Suite("CEL fuzzing")
struct CELFuzzTests {
    /// A compilation or evaluation slower than this is reported: rules are compiled when a
    /// configuration is stored and evaluated on every event. (The cost limit lets one evaluation
    /// run a million macro steps, about half a second in a debug build.)
    static let slowLimit: Duration = .seconds(2)
    /// An input slower than this stops the test process, naming the input, rather than hang the run.
    static let hangLimit: Duration = .seconds(60)

    @Test("no input crashes or hangs the parser, the checker or evaluation")
    func fuzz() async throws {
        let settings = ProcessInfo.processInfo.environment
        let seconds = settings["PATRON_FUZZ_SECONDS"].flatMap(Double.init) ?? 3
        let seed = settings["PATRON_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        let corpus = try Self.corpus()
        var fuzzer = Fuzzer(seed: seed, corpus: corpus.map(\.expression))
        let watchdog = Watchdog(limit: Self.hangLimit)
        defer { watchdog.stop() }

        let clock = ContinuousClock()
        var tried = 0
        var slow = 0
        func attempt(_ input: String, _ environments: [CELEnvironment], _ values: [String: CELValue]) {
            watchdog.begin(input)
            let slowest = Self.exercise(input, environments, values)
            watchdog.end()
            tried += 1
            if slowest.duration > Self.slowLimit {
                slow += 1
                Issue.record("\(slowest.step) took \(slowest.duration) (seed \(seed)): \(Self.shown(input))")
            }
        }

        let standard = [CELTestEnvironments.checked, CELTestEnvironments.unchecked, RuleEnvironment.earning]
        var random = SeededGenerator(seed: seed)
        let standardValues = CELTestEnvironments.values(using: &random)
        let extremesTime = clock.measure {
            for input in Self.extremes {
                attempt(input, standard, standardValues)
            }
        }
        let deadline = clock.now + .milliseconds(Int(seconds * 1_000))
        while clock.now < deadline {
            // A minute of fuzzing would hold one of the concurrency pool's threads (two on a
            // two-core machine) from the suites that run beside it, and the live servers of those
            // suites stalled past their clients' timeout; yielding lets their work in.
            if tried % 20 == 0 { await Task.yield() }
            switch fuzzer.nextKind() {
            case .bytes:
                attempt(fuzzer.randomText(), standard, standardValues)
            case .conformance:
                let index = fuzzer.pickCorpusIndex()
                let test = corpus[index]
                attempt(fuzzer.mutate(test.expression), test.environments + [RuleEnvironment.earning], test.values)
            case .generated:
                attempt(fuzzer.mutatedGenerated(), standard, standardValues)
            }
        }
        print("""
            CEL fuzz: \(tried) inputs, \(slow) slow: \(Self.extremes.count) extreme ones in \(extremesTime), \
            then random ones for \(seconds) s; seed \(seed) (PATRON_FUZZ_SEED=\(seed) draws them again)
            """)
    }

    /// Inputs found to run far longer than the cost limit intends: the work is in one operation
    /// the budget does not charge (a regular expression that backtracks, `in`, `contains` or
    /// `indexOf` over a long constant inside nested macros), not in macro steps.
    static let knownSlowInputs: [String] = {
        func list(_ count: Int, _ element: String) -> String {
            "[" + Array(repeating: element, count: count).joined(separator: ",") + "]"
        }
        let outer = list(990, "1")
        let long = "'" + String(repeating: "a", count: 12_000) + "'"
        return [
            "'" + String(repeating: "a", count: 30) + "!'.matches('(a+)+$')",
            "\(outer).exists(x, \(outer).exists(y, x + 5 in \(list(5_000, "2"))))",
            "\(outer).exists(x, \(outer).exists(y, \(long).contains(string(x))))",
            "\(outer).exists(x, \(outer).exists(y, \(long).indexOf(string(y)) > 0))",
        ]
    }()

    @Test("an expression near the size limits stops within seconds, not minutes", arguments: knownSlowInputs)
    func knownSlowInput(source: String) {
        let environment = CELTestEnvironments.unchecked
        let elapsed = ContinuousClock().measure {
            _ = try? CELProgram(source, environment: environment).evaluate(environment.bindings([:]))
        }
        // Generous for a debug build; before the cost limit covered them these took minutes.
        #expect(elapsed < .seconds(3))
    }

    /// Parses, prints and re-parses, compiles in every environment, and evaluates what compiles;
    /// answers the slowest of these steps.
    static func exercise(
        _ input: String, _ environments: [CELEnvironment], _ values: [String: CELValue]
    ) -> (step: String, duration: Duration) {
        let clock = ContinuousClock()
        var slowest = (step: "nothing", duration: Duration.zero)
        func timed<T>(_ step: String, _ work: () -> T) -> T {
            let started = clock.now
            let result = work()
            let duration = started.duration(to: clock.now)
            if duration > slowest.duration { slowest = (step, duration) }
            return result
        }
        if let tree = timed("parsing", { try? CELParser.parse(input) }) {
            let printed = tree.description
            // Printing escapes control characters, so a print may outgrow the length limit.
            if printed.unicodeScalars.count <= CELParser.maxSourceLength {
                do {
                    let reprinted = try CELParser.parse(printed).description
                    if reprinted != printed {
                        Issue.record("printing is not a fixed point\ninput:   \(shown(input))\nprinted: \(shown(printed))\nagain:   \(shown(reprinted))")
                    }
                } catch {
                    Issue.record("the print does not parse: \(error)\ninput:   \(shown(input))\nprinted: \(shown(printed))")
                }
            }
        }
        for environment in environments {
            // Compilation throws CELCompileError, evaluation CELEvalError: the typed throws are
            // the contract, so what is left to find is a crash or a hang.
            let mode = environment.isChecked ? "checked" : "unchecked"
            guard let program = timed("compiling (\(mode))", { try? CELProgram(input, environment: environment) }) else {
                continue
            }
            _ = timed("evaluating (\(mode))", { try? program.evaluate(environment.bindings(values)) })
        }
        return slowest
    }

    /// An input as a message shows it: escaped, and shortened when long.
    static func shown(_ input: String) -> String {
        let scalars = input.unicodeScalars
        func escaped(_ text: some Sequence<Unicode.Scalar>) -> String {
            text.map { $0.escaped(asASCII: true) }.joined()
        }
        if scalars.count <= 400 { return "\"" + escaped(scalars) + "\"" }
        return "\"" + escaped(scalars.prefix(300)) + "…\" (\(scalars.count) characters)"
    }

    // MARK: Inputs

    /// A conformance expression with its own environments (checked and unchecked) and values.
    struct CorpusEntry {
        var expression: String
        var environments: [CELEnvironment]
        var values: [String: CELValue]
    }

    static func corpus() throws -> [CorpusEntry] {
        var entries: [CorpusEntry] = []
        for file in CELConformanceTests.files {
            for test in try CELConformance.load(file) {
                let variables = test.bindings.keys.sorted().map { (name: $0, type: test.bindings[$0]!.type) }
                entries.append(CorpusEntry(
                    expression: test.expression,
                    environments: [
                        CELEnvironment(variables: variables),
                        CELEnvironment(variables: variables.map { ($0.name, CELType.dyn) }, checked: false),
                    ],
                    values: test.bindings))
            }
        }
        if entries.isEmpty {
            // Without the conformance folder, generated expressions stand in for it.
            for seed in 0..<200 as Range<UInt64> {
                var generator = CELTestEnvironments.generator(seed: seed)
                entries.append(CorpusEntry(
                    expression: generator.expression(),
                    environments: [CELTestEnvironments.checked, CELTestEnvironments.unchecked],
                    values: [:]))
            }
        }
        return entries
    }

    /// Deep nesting and long inputs, each tried once per run: 10,000 of a bracket or an operator,
    /// balanced and unbalanced; near and over the length limit; 100,000 characters.
    static let extremes: [String] = {
        var inputs: [String] = []
        let units = [
            "(", "[", "{", "!", "-", "!(", "-(", "[[", "{1:", "{1: ", "a.", ".a", "a[", "f(", "[1].map(x, ",
            "?", ":", "'", "\"", "'''", "\\", "`", "r'", "b\"", "0x", "9", "1e", "/", "//", " ", "\n", "a && ",
            "a || ", "1 + ", "a ? b : ", "has(", "x.", "[0]", "()", "''", ".size()", " in ", "-1", "!!", "é",
        ]
        for unit in units {
            inputs.append(String(repeating: unit, count: 10_000))
        }
        for unit in ["(", "[", "{1:", "!", "-", "a.", "[0]", "'", "1 + "] {
            inputs.append(String(repeating: unit, count: CELParser.maxSourceLength / unit.unicodeScalars.count))
        }
        for count in [100, 101, 5_000] {
            inputs.append(String(repeating: "(", count: count) + "1" + String(repeating: ")", count: count))
            inputs.append(String(repeating: "[", count: count) + "1" + String(repeating: "]", count: count))
            inputs.append(String(repeating: "{1: ", count: count) + "1" + String(repeating: "}", count: count))
            inputs.append(String(repeating: "!", count: count) + "true")
            inputs.append(String(repeating: "-", count: count) + "1")
            inputs.append(String(repeating: "-", count: count) + "(1)")
            inputs.append("a" + String(repeating: ".b", count: count))
            inputs.append("a" + String(repeating: "[0]", count: count))
            inputs.append("1" + String(repeating: " + 1", count: count))
            inputs.append("1" + String(repeating: " == 1", count: count))
            inputs.append("'x'" + String(repeating: ".size()", count: count))
            inputs.append(String(repeating: "a ? b : ", count: count) + "c")
            inputs.append(String(repeating: "[1].map(x, ", count: count) + "x" + String(repeating: ")", count: count))
            inputs.append(String(repeating: "size(", count: count) + "'x'" + String(repeating: ")", count: count))
            inputs.append(String(repeating: "(", count: count) + "!" + String(repeating: "(", count: count) + "a")
        }
        // Deep in every way at once: each bracket level allows a chain of its own.
        var layered = "a"
        for level in 1..<100 {
            layered = String(repeating: "!", count: 100 - level) + "(" + layered + ")" + String(repeating: ".b", count: 100 - level)
        }
        inputs.append(layered)
        // Around the length limit, and far past it.
        for length in [CELParser.maxSourceLength, CELParser.maxSourceLength + 1, 100_000] {
            inputs.append(String(repeating: "a", count: length))
            inputs.append("'" + String(repeating: "x", count: length - 2) + "'")
            inputs.append("[" + Array(repeating: "1", count: (length - 1) / 2).joined(separator: ",") + "]")
        }
        inputs.append(Array(repeating: "true", count: 3_000).joined(separator: " && "))
        inputs.append(Array(repeating: "false", count: 2_500).joined(separator: " || "))
        inputs.append("[" + Array(repeating: "'\\U0001F600'", count: 1_300).joined(separator: ", ") + "].map(x, x + x).size()")
        let thousand = "[" + Array(repeating: "1", count: 1_000).joined(separator: ",") + "]"
        inputs.append("\(thousand).map(x, \(thousand).map(y, \(thousand).map(z, x + y + z))).size()")
        inputs.append("\(thousand).all(x, \(thousand).all(y, \(thousand).exists(z, x != y)))")
        return inputs
    }()
}

/// Draws the fuzz inputs: random bytes read as UTF-8, and mutations of expressions.
struct Fuzzer {
    enum Kind {
        case bytes, conformance, generated
    }

    private var random: SeededGenerator
    private let corpus: [String]

    init(seed: UInt64, corpus: [String]) {
        random = SeededGenerator(seed: seed)
        self.corpus = corpus
    }

    /// Pieces that break or stretch expressions: brackets, quotes, escapes, operators, numbers at
    /// the edge of their range, macros and calls cut short.
    static let fragments = [
        "(", ")", "[", "]", "{", "}", "\"", "'", "'''", "\"\"\"", "\\", "\\u", "\\x", "\\U0010FFFF", "\\777",
        "\\uD800", "`", "r'", "b\"", "br'", "+", "-", "*", "/", "%", "!", "&&", "||", "==", "!=", "<", "<=",
        ">", ">=", "?", ":", ".", ",", " in ", "//", "\n", "\u{0}", "\u{FFFD}", "é", "😀", "\u{301}", "0x",
        "1e", "1e999", "9223372036854775808", "-9223372036854775808", "18446744073709551616",
        "18446744073709551615u", ".5", "1.5e-400", "null", "true", "has(", ".all(x, ", ".map(x, x, x)",
        ".exists_one(", "size(", "int(", "timestamp('", "duration('", "x", "_", "..", "a.b.c", "{1: 2}",
        "[1, 2, 3]", "1 / 0", "0 % 0", "dyn(", "type(", ".getHours('", ".matches('", "math.greatest(",
        " ? ", " : ", "if", "in", ".`a-b`", "9999-12-31T23:59:59Z", "-2", "1u", "0.0",
    ]

    mutating func nextKind() -> Kind {
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<3: .bytes
        case 3..<7: .conformance
        default: .generated
        }
    }

    mutating func pickCorpusIndex() -> Int {
        Int.random(in: 0..<corpus.count, using: &random)
    }

    /// Random bytes, read as UTF-8 with invalid sequences replaced: half anything, half bytes
    /// that occur in expressions, so some get past the lexer.
    mutating func randomText() -> String {
        let length = switch Int.random(in: 0..<20, using: &random) {
        case 0: Int.random(in: 0...20_000, using: &random)
        case 1..<4: Int.random(in: 0...1_024, using: &random)
        default: Int.random(in: 0...64, using: &random)
        }
        let alphabet = Array("abxy_019.,()[]{}'\"\\`!-+*/%<>=&|?: \nrbu".utf8)
        let anyByte = Bool.random(using: &random)
        let bytes = (0..<length).map { _ in
            anyByte ? UInt8.random(in: 0...255, using: &random) : alphabet[Int.random(in: 0..<alphabet.count, using: &random)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func mutatedGenerated() -> String {
        var generator = CELTestEnvironments.generator(seed: random.next())
        let expression = generator.expression()
        return Bool.random(using: &random) ? expression : mutate(expression)
    }

    /// One to four mutations of `text`.
    mutating func mutate(_ text: String) -> String {
        var text = text
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            text = mutateOnce(text)
        }
        return text
    }

    private mutating func pick<T>(_ choices: [T]) -> T {
        choices[Int.random(in: 0..<choices.count, using: &random)]
    }

    private mutating func position(in scalars: [Unicode.Scalar]) -> Int {
        Int.random(in: 0...scalars.count, using: &random)
    }

    private mutating func mutateOnce(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        switch Int.random(in: 0..<12, using: &random) {
        case 0:
            // Flip a bit or replace a byte of the UTF-8, then read it back lossily.
            var bytes = Array(text.utf8)
            guard !bytes.isEmpty else { return pick(Self.fragments) }
            let index = Int.random(in: 0..<bytes.count, using: &random)
            bytes[index] = Bool.random(using: &random)
                ? bytes[index] ^ (1 << UInt8.random(in: 0...7, using: &random))
                : UInt8.random(in: 0...255, using: &random)
            return String(decoding: bytes, as: UTF8.self)
        case 1, 2, 3:
            scalars.insert(contentsOf: pick(Self.fragments).unicodeScalars, at: position(in: scalars))
        case 4:
            // Delete a stretch.
            let start = position(in: scalars)
            let end = min(scalars.count, start + Int.random(in: 1...8, using: &random))
            scalars.removeSubrange(start..<end)
        case 5:
            scalars = Array(scalars.prefix(position(in: scalars)))
        case 6:
            // Repeat a stretch in place.
            let start = position(in: scalars)
            let end = min(scalars.count, start + Int.random(in: 1...16, using: &random))
            scalars.insert(contentsOf: scalars[start..<end], at: end)
        case 7:
            let separator = pick(["", " ", " + ", " && ", " || ", ".", ", ", " in ", " ? 1 : "])
            return text + separator + text
        case 8:
            return pick([
                "(\(text))", "[\(text)]", "{\(text): \(text)}", "!\(text)", "-\(text)", "has(\(text))",
                "[\(text)].map(x, \(text))", "\(text).all(x, \(text))", "size(\(text))", "dyn(\(text))",
                "'\(text)'", "r\"\(text)\"", "b'''\(text)'''", "\(text) == \(text)", "`\(text)`",
            ])
        case 9:
            // Splice with another expression.
            let other = Array(pick(corpus).unicodeScalars)
            scalars = Array(scalars.prefix(position(in: scalars))) + other.suffix(from: Int.random(in: 0...other.count, using: &random))
        case 10:
            // A fragment many times over: deep nesting or a long run.
            let count = pick([10, 100, 101, 1_000, 10_000])
            let run = String(repeating: pick(["(", "[", "!", "-", "{", "a.", "[0]", "'", "\\", "+1", ".b"]), count: count)
            scalars.insert(contentsOf: run.unicodeScalars, at: position(in: scalars))
        default:
            guard Int.random(in: 0..<20, using: &random) == 0 else {
                scalars.insert(contentsOf: pick(Self.fragments).unicodeScalars, at: position(in: scalars))
                break
            }
            // Rarely: grow past 100,000 characters.
            var grown = text.isEmpty ? "x" : text
            while grown.unicodeScalars.count < 100_000 { grown += grown }
            return grown
        }
        return String(String.UnicodeScalarView(scalars))
    }
}

/// Ends the test process, naming the input, when one input runs longer than `limit`: a hang
/// would otherwise stall the whole test run without saying which input caused it.
final class Watchdog: Sendable {
    private struct Running {
        var input: String
        var started: ContinuousClock.Instant
    }

    private let running = Mutex<Running?>(nil)
    private let isStopped = Atomic<Bool>(false)

    init(limit: Duration) {
        let thread = Thread { [self] in
            while !isStopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 0.5)
                let overdue = running.withLock { running -> String? in
                    guard let running, running.started.duration(to: .now) > limit else { return nil }
                    return running.input
                }
                if let overdue {
                    let message = "CEL fuzz: an input ran for more than \(limit): \(CELFuzzTests.shown(overdue))\n"
                    FileHandle.standardError.write(Data(message.utf8))
                    fatalError(message)
                }
            }
        }
        thread.start()
    }

    func begin(_ input: String) {
        running.withLock { $0 = Running(input: input, started: .now) }
    }

    func end() {
        running.withLock { $0 = nil }
    }

    func stop() {
        isStopped.store(true, ordering: .relaxed)
    }
}
