// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Patron",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "patron", targets: ["patron"]),
        .library(name: "PatronCore", targets: ["PatronCore"]),
        .library(name: "PatronEngine", targets: ["PatronEngine"]),
        .library(name: "PatronServer", targets: ["PatronServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // Pure domain: value types and rules, no I/O.
        .target(
            name: "PatronCore",
            swiftSettings: swiftSettings
        ),
        // Use cases over the storage ports; owns transactions and idempotency.
        .target(
            name: "PatronEngine",
            dependencies: [
                "PatronCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A write buffer for SQLite's write-ahead log, as a VFS over the system SQLite's default.
        .target(
            name: "CSQLiteLogBuffer",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        .target(
            name: "PatronSQLite",
            dependencies: [
                "CSQLiteLogBuffer",
                "PatronCore",
                "PatronEngine",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PatronPostgres",
            dependencies: [
                "PatronCore",
                "PatronEngine",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The spec and the code generated from it; generated types stay `package`.
        .target(
            name: "PatronAPI",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            resources: [.copy("openapi.yaml")],
            // The generator writes `package import`; SwiftPM's resource accessor writes a plain import,
            // which must then mean internal for the two to agree. Each generated file imports more than
            // it uses; the generator silences that warning itself only from Swift 6.4 on.
            swiftSettings: swiftSettings + [
                .enableUpcomingFeature("InternalImportsByDefault"),
                .unsafeFlags(["-suppress-warnings"]),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .target(
            name: "PatronServer",
            dependencies: [
                "PatronCore",
                "PatronEngine",
                "PatronSQLite",
                "PatronPostgres",
                "PatronAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Console/Templates"), .copy("Console/Assets"), .copy("Console/Words")],
            swiftSettings: swiftSettings
        ),
        // glibc's allocator controls, for the executable's process-wide settings.
        .target(name: "CGlibcMalloc"),
        .executableTarget(
            name: "patron",
            dependencies: [
                "CGlibcMalloc",
                "PatronCore",
                "PatronEngine",
                "PatronServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store contract suite and fixtures, run against every store.
        .target(
            name: "PatronTestSupport",
            dependencies: [
                "PatronCore",
                "PatronEngine",
                "PatronSQLite",
                "PatronPostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PatronCoreTests",
            dependencies: ["PatronCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PatronEngineTests",
            dependencies: ["PatronCore", "PatronEngine", "PatronTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PatronSQLiteTests",
            dependencies: ["PatronSQLite", "PatronTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PatronPostgresTests",
            dependencies: ["PatronPostgres", "PatronTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PatronServerTests",
            dependencies: [
                "PatronServer",
                "PatronTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
