import Foundation
import Logging
import PatronCore

/// Patron's use cases over a store. Stateless apart from the store, so that any number of nodes can
/// share one database.
public struct Engine: Sendable {
    public let store: any PatronStore
    let clock: @Sendable () -> Date
    let logger: Logger
    let ledgerWriter: LedgerWriter
    let runtimes = ProgramRuntimes()
    /// API keys by secret hash, and programs by code: every request looks both up.
    let apiKeys: ExpiringCache<String, APIKey>
    let programs: ExpiringCache<String, Program>

    /// How long a node may answer from its cached copy of an API key or a program after another
    /// node changed it (revoked the key, stored a new configuration), unless the engine is made
    /// with another lifetime. The node that makes the change forgets its copy at once.
    public static let cacheLifetime: Duration = .seconds(2)

    /// The largest page a list returns.
    public static let maxPageSize = 200
    /// The page size when the caller gives none.
    public static let defaultPageSize = 50
    /// How long idempotency keys are kept; the API promises at least 24 hours.
    public static let idempotencyRetention: TimeInterval = 48 * 3600
    /// A claim on an idempotency key that has not completed after this long belongs to a request
    /// that died; a retry may take it over.
    public static let idempotencyClaimTimeout: TimeInterval = 120

    public init(store: any PatronStore, logger: Logger = Logger(label: "patron.engine"),
                clock: @escaping @Sendable () -> Date = { Date() }, cacheLifetime: Duration = Engine.cacheLifetime) {
        self.store = store
        self.apiKeys = ExpiringCache(lifetime: cacheLifetime)
        self.programs = ExpiringCache(lifetime: cacheLifetime)
        self.logger = logger
        self.clock = clock
        self.ledgerWriter = LedgerWriter(store: store)
    }

    /// The current instant, at the precision the stores keep.
    public func now() -> Date {
        Timestamp.truncated(clock())
    }

    func newID(at date: Date) -> String {
        Identifier.make(at: date)
    }

    /// Clamps a requested page size to the allowed range.
    func pageSize(_ requested: Int?) throws(EngineError) -> Int {
        guard let requested else { return Self.defaultPageSize }
        guard (1...Self.maxPageSize).contains(requested) else {
            throw .invalid(ValidationError(pointer: "/limit", code: "out_of_range",
                                           message: "'limit' must be between 1 and \(Self.maxPageSize)."))
        }
        return requested
    }

    /// Decodes an opaque cursor to the last id of the previous page.
    func decodeCursor(_ cursor: String?) throws(EngineError) -> String? {
        guard let cursor else { return nil }
        guard let id = PageCursor.decode(cursor) else {
            throw .invalid(ValidationError(pointer: "/cursor", code: "invalid_cursor",
                                           message: "The cursor is not one this API returned."))
        }
        return id
    }

    /// Builds a page from up to `limit + 1` fetched items.
    func page<Item>(_ fetched: [Item], limit: Int, key: (Item) -> String) -> Page<Item> {
        if fetched.count > limit {
            let items = Array(fetched.prefix(limit))
            return Page(items: items, nextCursor: items.last.map { PageCursor.encode(key($0)) })
        }
        return Page(items: fetched, nextCursor: nil)
    }

    func require(_ permission: Permission, _ principal: Principal) throws(EngineError) {
        guard principal.has(permission) else {
            throw .forbidden(code: "insufficient_role",
                             detail: "A key with the role '\(principal.role.rawValue)' may not do this.")
        }
    }
}

/// Opaque pagination cursors: base64url of the last id seen, so clients do not build them.
enum PageCursor {
    static func encode(_ id: String) -> String {
        Data(("c1:" + id).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) -> String? {
        guard cursor.count <= 200 else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
              text.hasPrefix("c1:") else { return nil }
        let id = String(text.dropFirst(3))
        return id.isEmpty ? nil : id
    }
}
