import Foundation
import Logging
import PatronEngine
import PatronPostgres
import PatronSQLite
import PostgresNIO

/// The stores a test can run against. PostgreSQL is there when the test command started one
/// (POSTGRES_HOSTNAME and friends); under `CI=true` it is always listed, so a missing server fails
/// the run instead of skipping silently.
public enum TestStoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// The kinds to run in this environment.
    public static var available: [TestStoreKind] {
        PostgresTestServer.isConfigured || PostgresTestServer.isRequired ? [.sqlite, .postgres] : [.sqlite]
    }

    /// A database URL for a new, empty database of this kind, deleted when `body` ends.
    public func withDatabaseURL<T>(_ body: (String) async throws -> T) async throws -> T {
        try await withDatabase { url, _ in try await body(url) }
    }

    /// A new, empty database of this kind, by its URL and its name (PostgreSQL's; the file's path
    /// for SQLite), deleted when `body` ends.
    func withDatabase<T>(_ body: (String, String) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("patron-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = "\(directory.path)/patron.sqlite"
            return try await body("sqlite:\(path)", path)
        case .postgres:
            let server = try PostgresTestServer.fromEnvironment()
            let name = "patron_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
            try await server.admin("CREATE DATABASE \(name)")
            do {
                let result = try await body(server.url(database: name), name)
                try? await server.admin("DROP DATABASE \(name) WITH (FORCE)")
                return result
            } catch {
                try? await server.admin("DROP DATABASE \(name) WITH (FORCE)")
                throw error
            }
        }
    }

    /// A migrated store of this kind on a new, empty database, running for as long as `body` runs.
    public func withStore<T: Sendable>(_ body: @Sendable @escaping (any PatronStore) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            try await withDatabase { _, path in
                let store = try SQLiteStore(path: path)
                try await store.migrate()
                return try await body(store)
            }
        case .postgres:
            try await Self.withPostgresStore { store, _ in try await body(store) }
        }
    }

    /// A migrated PostgreSQL store on a new, empty database, with a pool of at most
    /// `maximumConnections`, running for as long as `body` runs; `body` also gets the database's name.
    public static func withPostgresStore<T: Sendable>(
        maximumConnections: Int = 10, _ body: @Sendable @escaping (PostgresStore, String) async throws -> T
    ) async throws -> T {
        try await TestStoreKind.postgres.withDatabase { url, name in
            let parsed = try PostgresURL(url, maximumConnections: maximumConnections)
            let store = PostgresStore(configuration: parsed.configuration, displayName: parsed.displayName,
                                      logger: Logger(label: "patron.test.postgres"))
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                group.addTask {
                    try await store.migrate()
                    return try await body(store, name)
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                preconditionFailure("the store's test body ended without a result")
            }
        }
    }
}

/// The throwaway PostgreSQL server that `scripts/test` starts, described by the conventional
/// POSTGRES_HOSTNAME, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB variables.
public struct PostgresTestServer: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    public static var isConfigured: Bool { environment["POSTGRES_HOSTNAME"] != nil }
    /// Under CI the PostgreSQL suites must run.
    public static var isRequired: Bool { environment["CI"] == "true" }

    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String {
            "POSTGRES_HOSTNAME is not set: run the tests through scripts/test, which starts a throwaway PostgreSQL."
        }
    }

    public static func fromEnvironment() throws -> PostgresTestServer {
        guard let host = environment["POSTGRES_HOSTNAME"] else { throw NotConfigured() }
        return PostgresTestServer(host: host, port: environment["POSTGRES_PORT"].flatMap(Int.init) ?? 5432,
                                  user: environment["POSTGRES_USER"] ?? "patron",
                                  password: environment["POSTGRES_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 },
                                  database: environment["POSTGRES_DB"] ?? "patron")
    }

    public func url(database: String) -> String {
        let credentials = password.map { "\(user):\($0)" } ?? user
        return "postgres://\(credentials)@\(host):\(port)/\(database)?sslmode=disable"
    }

    /// A connection of its own to `database` (by default the administrative one), for the caller to close.
    public func connect(to database: String? = nil) async throws -> PostgresConnection {
        let configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database ?? self.database, tls: .disable)
        return try await PostgresConnection.connect(
            on: PostgresClient.defaultEventLoopGroup.any(), configuration: configuration, id: 1,
            logger: Logger(label: "patron.test.postgres.admin"))
    }

    /// Runs one statement on the administrative database (creating and dropping test databases).
    public func admin(_ sql: String) async throws {
        let connection = try await connect()
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "patron.test.postgres.admin"))
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
