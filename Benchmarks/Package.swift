// swift-tools-version:6.1
// The rule engine's benchmarks, kept out of the root package so that `swift build --build-tests`
// and `scripts/test` never resolve or build ordo-one/benchmark. Run them with `scripts/bench`.
import PackageDescription

let package = Package(
    name: "PatronBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package by path; only its PatronCore product (no dependencies of its own) is built.
        .package(name: "Patron", path: ".."),
        // MallocInterposer alone: the default traits also pull in swift-runtime-interposer on
        // Linux with Swift 6.3, which the local package mirror does not have.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The benchmark plugin finds its targets by their folder: Benchmarks/<Name>/.
        .executableTarget(
            name: "RuleEvaluation",
            dependencies: [
                .product(name: "PatronCore", package: "Patron"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RuleEvaluation",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
