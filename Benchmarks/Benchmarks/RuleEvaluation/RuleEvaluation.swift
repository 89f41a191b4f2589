import Benchmark
import PatronCore

// Each evaluation benchmark runs 1,000 evaluations per measured iteration (scalingFactor .kilo),
// so the clock and the malloc counters are read once per 1,000 and their cost does not swamp a
// sub-microsecond evaluation; the figures printed with `*` are per evaluation.

/// What every benchmark here reports: time, throughput and heap allocations. (CPU time is read at
/// 10 ms granularity on Linux, too coarse to add anything; instruction counts need hardware
/// counters, which this machine's VM does not expose.)
private let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]

/// 1,000 evaluations per measured iteration, for up to 3 s.
private func perEvaluation() -> Benchmark.Configuration {
    .init(metrics: metrics, warmupIterations: 100, scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 100_000)
}

/// One compilation per measured iteration, for up to 3 s.
private func perCompilation() -> Benchmark.Configuration {
    .init(metrics: metrics, warmupIterations: 10, scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 100_000)
}

/// Compiles `source` and checks that it yields `expected` on the fixtures, so a benchmark can never
/// measure an error path by mistake.
private func program(_ source: String, as role: RuleEnvironment.Role, expecting expected: CELValue, on bindings: CELBindings) -> CELProgram {
    let program: CELProgram
    do {
        program = try RuleEnvironment.compile(source, as: role)
    } catch {
        fatalError("\(source) does not compile: \(error)")
    }
    do {
        let value = try program.evaluate(bindings)
        precondition(value.celEquals(expected), "\(source) yields \(value), not \(expected)")
    } catch {
        fatalError("\(source) fails: \(error)")
    }
    return program
}

/// One benchmark that evaluates `program` 1,000 times per iteration.
private func evaluationBenchmark(_ name: String, _ program: CELProgram, _ bindings: CELBindings) {
    Benchmark(name, configuration: perEvaluation()) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try program.evaluate(bindings))
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    let bindings: CELBindings
    do {
        bindings = try Fixtures.bindings()
    } catch {
        fatalError("fixtures: \(error)")
    }

    evaluationBenchmark(
        "Evaluate: typical earning rule",
        program(Fixtures.typicalRule, as: .condition, expecting: .bool(true), on: bindings), bindings)

    Benchmark("Compile: typical earning rule", configuration: perCompilation()) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try RuleEnvironment.compile(Fixtures.typicalRule, as: .condition))
        }
    }

    evaluationBenchmark(
        "Evaluate: member day (getDayOfWeek)",
        program(Fixtures.memberDayRule, as: .condition, expecting: .bool(true), on: bindings), bindings)

    evaluationBenchmark(
        "Evaluate: award event.amount / 100",
        program(Fixtures.baseAward, as: .award, expecting: .int(128), on: bindings), bindings)

    for part in Fixtures.typicalRuleParts + [Fixtures.memberDayRuleConstantZone] {
        evaluationBenchmark(
            "Evaluate part: \(part)",
            program(part, as: .condition, expecting: .bool(true), on: bindings), bindings)
    }
}
