import Dispatch
import Foundation
import HTTPTypes
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import PatronCore
import PatronEngine
import Synchronization

/// Answers `GET /v1/programs/{program}/members/{member}/entitlements` on the connection's event
/// loop, when it can.
///
/// A checkout calls the check for every basket and waits for it: issue 5 asks for p99 ≤ 2 ms at
/// 64 connections. Through the router a request is handed from NIO's event loop to a task on
/// Swift's cooperative pool and its answer back: a share of every request's CPU and latency
/// (docs/PERFORMANCE.md, "Entitlement checks"). This handler sits in
/// the channel pipeline after HTTP decoding and answers the check itself when everything it needs
/// is at hand (`Engine.entitlementsAtHand`: the key, the program and its configuration cached on
/// this node): one read on the event loop through the loop's own SQLite connection
/// (`EventLoopReaders`), the same engine computation, the same JSON as the router's answer.
///
/// Everything else passes through unchanged to the router, which stays the one place that words
/// problems: other routes, a cache miss, any refusal, a request with a body or a query, and a
/// request that arrives while an earlier one on the connection is still in the router (answering
/// it first would put the answers out of order).
final class EntitlementCheckHandler: EventLoopRouteHandler {
    /// A check held back until its request ends, to be answered here.
    private var held: Check?

    /// A plain check: its head, the path's program and member, and the bearer secret.
    private struct Check {
        var head: HTTPRequest
        var program: Substring
        var member: Substring
        var secret: Substring
    }

    override func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if inRouter == 0, reader != nil, let check = Self.check(head) {
                held = check
                return
            }
            pass(head: head, context: context)
        case .body:
            // A check has no body: one that comes with a body goes to the router as it came.
            if let held {
                self.held = nil
                pass(head: held.head, context: context)
            }
            context.fireChannelRead(data)
        case .end:
            guard let held else { return context.fireChannelRead(data) }
            self.held = nil
            if let body = answer(held) {
                respond(.ok, body, context: context)
            } else {
                pass(head: held.head, context: context)
                context.fireChannelRead(data)
            }
        }
    }

    /// The request as a check, when it is a plain one.
    private static func check(_ head: HTTPRequest) -> Check? {
        guard head.headerFields[.contentLength] == nil, head.headerFields[.transferEncoding] == nil,
              let segments = HTTPText.plainPath(head, method: .get), segments.count == 7,
              segments[1].elementsEqual("v1".utf8), segments[2].elementsEqual("programs".utf8), !segments[3].isEmpty,
              segments[4].elementsEqual("members".utf8), !segments[5].isEmpty,
              segments[6].elementsEqual("entitlements".utf8),
              let secret = HTTPText.bearerSecret(head.headerFields[.authorization]) else { return nil }
        return Check(head: head, program: Substring(segments[3]), member: Substring(segments[5]), secret: secret)
    }

    /// The answer's JSON, or nil when the router must answer.
    private func answer(_ check: Check) -> ByteBuffer? {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let reader,
              let entitlements = try? engine.entitlementsAtHand(secret: String(check.secret), programCode: String(check.program),
                                                                 memberID: String(check.member), reader: reader)
        else { return nil }
        // Written without Codable: JSONEncoder was a fifth of a check's CPU.
        let json = entitlements.answer.prettyData()
        Self.answered.increment()
        Self.answeredHere.increment()
        Self.duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - start)
        return ByteBuffer(bytes: json)
    }

    /// Counted and timed as the router counts and times the route (`hb.requests` and
    /// `http.server.request.duration`), so `/metrics` sees every check whichever path answered it.
    private static let (answered, duration) = HTTPText.routeMeasures(
        "/v1/programs/{program}/members/{member}/entitlements", method: "GET", status: "200")
    /// How many checks were answered here rather than by the router.
    private static let answeredHere = Counter(label: "patron_entitlement_checks_on_event_loop")
}

/// What the handlers that answer a route on the event loop share: the loop's reader, the count of
/// requests handed on to the router (a request is answered here only when none is in the router,
/// so that the answers keep the requests' order), and writing a JSON answer as the router does.
class EventLoopRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let engine: Engine
    private let readers: EventLoopReaders?
    private let serverName: String
    /// The event loop's reader; nil until the handler is added, when the store has none (it reads
    /// with suspension), or when none could be opened.
    private(set) var reader: (any ImmediateReader)?
    /// Requests passed on to the router whose answer has not been written in full.
    private(set) var inRouter = 0

    init(engine: Engine, readers: EventLoopReaders?, serverName: String) {
        self.engine = engine
        self.readers = readers
        self.serverName = serverName
    }

    func handlerAdded(context: ChannelHandlerContext) {
        reader = readers?.reader(on: context.eventLoop)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { inRouter -= 1 }
        context.write(data, promise: promise)
    }

    /// Hands a request's head to the router; its answer's end, written back through `write`,
    /// settles it.
    final func pass(head: HTTPRequest, context: ChannelHandlerContext) {
        inRouter += 1
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Writes a JSON answer with the headers the router's answer has.
    final func respond(_ status: HTTPResponse.Status, _ body: ByteBuffer, context: ChannelHandlerContext) {
        let head = HTTPResponse(status: status, headerFields: [
            .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes),
            .date: Timestamp.httpDate(Date()), .server: serverName,
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// One reader per event loop, opened on the loop's first connection, so that the loops share no
/// connection and no lock; each is used only on its loop.
final class EventLoopReaders: Sendable {
    private let source: any ImmediateReaderSource
    private let logger: Logger
    private let readers = Mutex<[ObjectIdentifier: NIOLoopBound<any ImmediateReader>]>([:])

    init(source: any ImmediateReaderSource, logger: Logger) {
        self.source = source
        self.logger = logger
    }

    /// The reader of `eventLoop`, which must be the current loop; nil when none can be opened (the
    /// router then answers every check on the loop).
    func reader(on eventLoop: any EventLoop) -> (any ImmediateReader)? {
        let key = ObjectIdentifier(eventLoop)
        if let bound = readers.withLock({ $0[key] }) { return bound.value }
        do {
            let reader = try source.makeImmediateReader()
            readers.withLock { $0[key] = NIOLoopBound(reader, eventLoop: eventLoop) }
            return reader
        } catch {
            logger.warning("no reader for entitlement checks on this event loop", metadata: ["error": "\(error)"])
            return nil
        }
    }
}

extension Entitlements {
    /// The answer as the generated `Components.Schemas.Entitlements` (`init(_ entitlements:)` in
    /// LedgerMapping) encodes it, absent values left out; `JSONValue.prettyData()` writes it as the
    /// generated code's encoder does. Keep the two in step: `EntitlementCheckHandlerTests` compares
    /// the handler's answer with the router's byte for byte.
    var answer: JSONValue {
        var top: [String: JSONValue] = ["as_of": .string(Timestamp.rfc3339(asOf)), "plans": .array(plans.map(JSONValue.string))]
        top["level"] = level.map(JSONValue.string)
        top["items"] = .array(items.map { item in
            let benefit = item.benefit
            var entry: [String: JSONValue] = [
                "benefit": .string(benefit.code), "name": .string(benefit.name), "label": .string(benefit.label),
                "kind": .string(benefit.kind.rawValue),
            ]
            entry["description"] = benefit.description.map(JSONValue.string)
            entry["value"] = benefit.value.map(JSONValue.int)
            entry["partner"] = benefit.partner.map(JSONValue.string)
            var via: [String: JSONValue] = [:]
            via["level"] = item.viaLevel.map(JSONValue.string)
            if !item.viaPlans.isEmpty { via["plans"] = .array(item.viaPlans.map(JSONValue.string)) }
            entry["via"] = .object(via)
            entry["quota"] = item.quota.map { quota in
                var fields: [String: JSONValue] = [
                    "quantity": .int(quota.quantity), "per": .string(quota.per.rawValue), "used": .int(quota.used),
                    "remaining": .int(quota.remaining), "period_start": .string(Timestamp.rfc3339(quota.periodStart)),
                ]
                fields["resets_at"] = quota.resetsAt.map { .string(Timestamp.rfc3339($0)) }
                return .object(fields)
            }
            entry["granted"] = item.granted.map { .object(["granted": .int($0.granted), "used": .int($0.used),
                                                           "remaining": .int($0.remaining)]) }
            return .object(entry)
        })
        return .object(top)
    }
}
