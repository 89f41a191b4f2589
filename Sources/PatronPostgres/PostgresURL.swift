import Foundation
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=…` URL, read into a client configuration.
/// `sslmode` is `disable`, `prefer` (the default) or `require`; a `host` query parameter naming a
/// directory connects through the Unix socket in it, as libpq does.
public struct PostgresURL: Sendable {
    public var configuration: PostgresClient.Configuration
    /// The URL without its password, for logs.
    public var displayName: String

    public enum Problem: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let reason): "Invalid PostgreSQL URL: \(reason)" }
        }
    }

    public init(_ text: String, maximumConnections: Int = 20) throws {
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw Problem.invalid("expected postgres://user:password@host:port/database")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw Problem.invalid("no database name") }
        guard let user = components.user.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw Problem.invalid("no user name")
        }
        let password = components.password.flatMap { $0.removingPercentEncoding }
        let query = Dictionary(components.queryItems?.map { ($0.name, $0.value ?? "") } ?? [], uniquingKeysWith: { $1 })
        let port = components.port ?? 5432
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user,
                                  password: password, database: database)
            displayName = "postgres://\(user)@\(socketDirectory):\(port)/\(database)"
        } else {
            guard let host = components.host, !host.isEmpty else { throw Problem.invalid("no host") }
            let tls: PostgresClient.Configuration.TLS
            switch query["sslmode"] ?? "prefer" {
            case "disable": tls = .disable
            case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
            case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
            case let other: throw Problem.invalid("unsupported sslmode '\(other)'")
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
            displayName = "postgres://\(user)@\(host):\(port)/\(database)"
        }
        configuration.options.maximumConnections = maximumConnections
    }
}
