import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PatronCore
import PatronEngine
@testable import PatronServer
import PatronTestSupport
import Testing

/// Builds the real application on a new database of the given kind and drives it in memory, with
/// one helper per kind of call.
struct TestApp {
    static let adminKey = "test-admin-key-0123456789"

    let client: any TestClientProtocol
    /// The application's database, for what a test must do behind its back.
    let databaseURL: String

    /// `setup` `.live` runs the server on a socket, with its channel handlers; `.router` (the
    /// default) drives the router in memory. `cacheLifetime` is how long the node answers from its
    /// cached API keys and programs.
    static func run(_ kind: TestStoreKind, maxBodyBytes: Int = 1 << 20, setup: TestingSetup = .router,
                    cacheLifetime: Duration = Engine.cacheLifetime,
                    _ body: @Sendable @escaping (TestApp) async throws -> Void) async throws {
        try await kind.withDatabaseURL { url in
            var options = ServerOptions()
            options.database = url
            options.adminKey = adminKey
            options.maxBodyBytes = maxBodyBytes
            options.cacheLifetime = cacheLifetime
            options.logLevel = .critical
            let app = try buildApplication(options, announce: { _ in })
            try await app.test(setup) { client in try await body(TestApp(client: client, databaseURL: url)) }
        }
    }

    /// Sends a request with the admin key unless `key` says otherwise (nil sends none).
    @discardableResult
    func call(_ method: HTTPRequest.Method, _ path: String, json: String? = nil, key: String? = TestApp.adminKey,
              headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: path, method: method, headers: headers,
                                                body: json.map { ByteBuffer(string: $0) })
        return Reply(status: response.status.code, headers: response.headers, body: Data(buffer: response.body))
    }

    /// A counter's value in `/metrics` (0 while it has not been counted).
    func counter(_ name: String) async throws -> Int {
        let metrics = String(decoding: try await call(.get, "/metrics", key: nil).body, as: UTF8.self)
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("\(name) ") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } ?? 0
    }

    func createProgram(_ code: String = "shop") async throws -> Reply {
        try await call(.post, "/v1/programs",
                       json: #"{"code":"\#(code)","name":"Shop","currency":"CNY","time_zone":"Asia/Shanghai"}"#)
    }

    func enrol(_ program: String = "shop", _ json: String) async throws -> Reply {
        try await call(.post, "/v1/programs/\(program)/members", json: json)
    }

    /// Creates a key and returns its secret.
    func createKey(role: String, program: String? = nil) async throws -> String {
        let scope = program.map { #","program":"\#($0)""# } ?? ""
        let reply = try await call(.post, "/v1/api-keys", json: #"{"name":"k","role":"\#(role)"\#(scope)}"#)
        #expect(reply.status == 201)
        return try #require(reply.json["secret"]?.stringValue)
    }

    /// Drops every stored `Idempotency-Key` answer, as a crash between a write and its HTTP record
    /// would leave it.
    func forgetIdempotencyRecords() async throws {
        _ = try await withStore(at: databaseURL, logger: Logger(label: "patron.test")) { store in
            try await store.purgeIdempotencyKeys(createdBefore: .distantFuture)
        }
    }

    func memberCount(_ program: String = "shop") async throws -> Int {
        try await call(.get, "/v1/programs/\(program)/members?limit=200").json["items"]?.arrayValue?.count ?? -1
    }
}

/// A response, with its body parsed as JSON where it is JSON.
struct Reply: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: Data

    var json: JSONValue { (try? JSONValue(parsing: body)) ?? .null }
    var problemCode: String? { json["code"]?.stringValue }
    var isProblem: Bool { headers[.contentType] == "application/problem+json" }
    var faultPointers: [String] { json["errors"]?.arrayValue?.compactMap { $0["pointer"]?.stringValue } ?? [] }
}
