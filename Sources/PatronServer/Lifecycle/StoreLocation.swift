import Logging
import PatronEngine
import PatronPostgres
import PatronSQLite
import ServiceLifecycle

/// Where the data lives, from `--database` or `PATRON_DATABASE_URL`: `sqlite:PATH` or
/// `postgres://user:password@host:port/database`.
public struct StoreLocation: Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case sqlite(path: String)
        case postgres(PostgresURL)
    }

    public var kind: Kind
    public static let defaultURL = "sqlite:patron.sqlite"

    public init(_ url: String) throws {
        if url.hasPrefix("sqlite:") {
            var path = String(url.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw StoreLocationError(message: "sqlite: needs a file path, e.g. sqlite:patron.sqlite") }
            kind = .sqlite(path: path)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            kind = .postgres(try PostgresURL(url))
        } else {
            throw StoreLocationError(message: "A database URL starts with sqlite: or postgres:// (got '\(url.prefix(20))…').")
        }
    }

    public var description: String {
        switch kind {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url.displayName
        }
    }

    /// Opens the store. The services returned (the PostgreSQL pool) must run for the store to work.
    public func open(logger: Logger) throws -> (store: any PatronStore, services: [any Service]) {
        switch kind {
        case .sqlite(let path):
            return (try SQLiteStore(path: path), [])
        case .postgres(let url):
            let store = PostgresStore(configuration: url.configuration, displayName: url.displayName, logger: logger)
            return (store, [store])
        }
    }
}

/// A database URL that cannot be used.
public struct StoreLocationError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
