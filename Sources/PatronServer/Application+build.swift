import Foundation
import Hummingbird
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import PatronAPI
import PatronCore
import PatronEngine
import ServiceLifecycle

/// What `patron serve` is asked to do.
public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var database = StoreLocation.defaultURL
    /// Becomes the owner key (PATRON_ADMIN_KEY); when nil and no owner key exists, one is generated.
    public var adminKey: String?
    /// Create the demo program on first start.
    public var demo = false
    public var maxBodyBytes = 1 << 20
    /// The limit for a back-test's uploaded history (`POST …/simulations`); larger histories are
    /// for `patron simulate`.
    public var maxUploadBytes = 64 << 20
    public var logLevel: Logger.Level = .info
    /// How long the node answers from its cached copy of an API key or a program
    /// (`Engine.cacheLifetime`); tests that must not see the copy expire make it longer.
    public var cacheLifetime = Engine.cacheLifetime

    public init() {}
}

/// The version `patron version` and `/healthz` report.
public let patronVersion = "0.1.0"

/// Builds the server: opens the store, and before the server accepts requests migrates it, makes
/// sure an owner key exists and seeds the demo program when asked. `announce` receives what must be
/// shown to the person who started the server (a generated owner key).
public func buildApplication(_ options: ServerOptions,
                             announce: @escaping @Sendable (String) -> Void = { print($0) }) throws
    -> some ApplicationProtocol {
    let logger = {
        var logger = Logger(label: "patron")
        logger.logLevel = options.logLevel
        return logger
    }()
    let location = try StoreLocation(options.database)
    let (store, services) = try location.open(logger: logger)
    let engine = Engine(store: MeasuredStore(store), logger: logger, cacheLifetime: options.cacheLifetime)
    let serverName = "patron"
    // Events are taken from the event loop to their batch on every store; entitlement checks are
    // answered there where the store reads without suspending.
    let readers = (store as? any ImmediateReaderSource).map { EventLoopReaders(source: $0, logger: logger) }
    let maxBodyBytes = options.maxBodyBytes
    @Sendable func eventLoopHandlers() -> [any RemovableChannelHandler] {
        (readers.map { [EntitlementCheckHandler(engine: engine, readers: $0, serverName: serverName)] } ?? [])
            + [EventPostHandler(engine: engine, readers: readers, serverName: serverName, maxBodyBytes: maxBodyBytes)]
    }
    var app = Application(
        router: try buildRouter(engine: engine, options: options, logger: logger),
        server: .http1(configuration: .init(additionalChannelHandlers: eventLoopHandlers())),
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: serverName),
        services: services + [HousekeepingService(engine: engine, logger: logger),
                              LedgerJobService(engine: engine, logger: logger)],
        logger: logger)
    app.beforeServerStarts {
        try await engine.store.migrate()
        if let secret = try await engine.bootstrapOwnerKey(adminSecret: options.adminKey) {
            announce("""
                No owner API key existed, so one was created. It is shown only this once:

                    \(secret)

                Use it as 'Authorization: Bearer <key>', or set PATRON_ADMIN_KEY to choose your own.
                """)
        }
        if options.demo, try await DemoProgram.seedIfMissing(store: engine.store, logger: logger) {
            logger.info("demo program created", metadata: ["program": "demo"])
        }
        logger.info("patron ready", metadata: ["database": "\(location)", "address": "\(options.host):\(options.port)"])
    }
    return app
}

/// The router with every route and middleware; tests drive it as `serve` does.
func buildRouter(engine: Engine, options: ServerOptions, logger: Logger) throws -> Router<PatronRequestContext> {
    let router = Router(context: PatronRequestContext.self)
    let routes = RouteTable()
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware(logger: logger, routes: routes))
    router.add(middleware: RequestBodyMiddleware(maxBodyBytes: options.maxBodyBytes, maxUploadBytes: options.maxUploadBytes))
    router.add(middleware: AuthenticationMiddleware(engine: engine))
    router.add(middleware: IdempotencyMiddleware(engine: engine, logger: logger))
    let spec = try APISpecification.yaml()
    routes.add(method: .get, path: "/openapi.yaml")
    router.get("/openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: spec)))
    }
    let pages = try ConsolePages.load()
    ConsoleController(engine: engine, pages: pages, logger: logger, showOutbox: options.demo).addRoutes(to: router, routes: routes)
    PortalController(engine: engine, pages: pages, logger: logger).addRoutes(to: router, routes: routes)
    let api = APIService(engine: engine, metrics: MetricsExporter.shared, version: patronVersion)
    try api.registerHandlers(on: RecordingTransport(router: router, table: routes), configuration: Configuration(dateTranscoder: RFC3339Transcoder(),
                                                                        jsonEncodingOptions: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]))
    return router
}

/// Deletes idempotency records past their retention, and expired console sessions, portal
/// sessions and sign-in codes, hourly.
struct HousekeepingService: Service {
    let engine: Engine
    let logger: Logger

    func run() async throws {
        // Stops at graceful shutdown: the sleep is cancelled and the loop ends.
        await cancelWhenGracefulShutdown {
            // The first run waits a minute, so that the schema is migrated before it is used.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                guard !Task.isCancelled else { return }
                do {
                    let purged = try await engine.purgeExpiredIdempotencyKeys()
                    if purged > 0 { logger.debug("purged idempotency keys", metadata: ["count": "\(purged)"]) }
                } catch {
                    logger.warning("idempotency purge failed", metadata: ["error": "\(error)"])
                }
                do {
                    let purged = try await engine.store.deleteExpiredSessions(before: engine.now())
                    if purged > 0 { logger.debug("purged expired console sessions", metadata: ["count": "\(purged)"]) }
                } catch {
                    logger.warning("console session purge failed", metadata: ["error": "\(error)"])
                }
                do {
                    let purged = try await engine.store.deleteExpiredPortalState(before: engine.now())
                    if purged > 0 { logger.debug("purged expired portal sessions and codes", metadata: ["count": "\(purged)"]) }
                } catch {
                    logger.warning("portal purge failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(3540))
            }
        }
    }
}
