import Dispatch
import Foundation
import HTTPTypes
import Metrics
import NIOCore
import NIOHTTPTypes
import PatronCore
import PatronEngine

/// Takes `POST /v1/programs/{program}/events` from the connection's event loop straight to the
/// ledger's group commit, when it can.
///
/// Every purchase of every store goes through this route: issue 4 asks for 10,000 durable events/s
/// on SQLite. Through the router an event was decoded twice (the generated code's `JSONDecoder`,
/// then the engine's parser), its member read through the pool on another thread, and its receipt
/// encoded by `JSONEncoder`, with a hop between threads at each step (docs/PERFORMANCE.md, "The
/// points ledger over HTTP"). Here the body is parsed once and the event prepared with what this
/// node has cached (`Engine.eventAtHand`: the key, the program and its configuration): on SQLite
/// on the loop, the member read through the loop's own connection, and handed to the batch with a
/// callback, so that the event takes no task of its own; on PostgreSQL in the event's task, the
/// member read from the store. The answer waits for the batch to be durable, and its receipt is
/// written on the loop without Codable, as the router writes it.
///
/// Everything else passes through unchanged to the router, which stays the one place that words
/// problems: other routes, a cache miss, a refusal (before the batch, or of the batch: nothing was
/// written, so the router's second try answers what the first would have), an `Idempotency-Key`,
/// `Expect` or `Connection: close`, another content type, a body over the limit, and a request
/// that arrives while an earlier one on the connection is unanswered (it waits its turn, so the
/// answers keep the requests' order).
final class EventPostHandler: EventLoopRouteHandler {
    private let maxBodyBytes: Int
    /// An event whose body is being collected, to be posted here.
    private var held: Post?
    /// Whether an event taken here waits for its batch.
    private var posting = false
    /// What arrived on the connection while an event was posting, in order.
    private var waiting: [HTTPRequestPart] = []

    /// A plain event post: its head, the path's program, the bearer secret, and the body so far.
    private struct Post {
        var head: HTTPRequest
        var program: Substring
        var secret: Substring
        var body: ByteBuffer
        var start: UInt64
    }

    init(engine: Engine, readers: EventLoopReaders?, serverName: String, maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
        super.init(engine: engine, readers: readers, serverName: serverName)
    }

    override func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if posting { return waiting.append(part) }
        read(part, context: context)
    }

    private func read(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if inRouter == 0, let post = Self.post(head, allocator: context.channel.allocator) {
                held = post
                return
            }
            pass(head: head, context: context)
        case .body(var bytes):
            guard var post = held else { return context.fireChannelRead(wrapInboundOut(part)) }
            if post.body.readableBytes + bytes.readableBytes > maxBodyBytes {
                // The router refuses it, in its words.
                held = nil
                pass(post, context: context)
                return context.fireChannelRead(wrapInboundOut(part))
            }
            // Taken out while it grows, so that the buffer is not copied.
            held = nil
            post.body.writeBuffer(&bytes)
            held = post
        case .end:
            guard let post = held else { return context.fireChannelRead(wrapInboundOut(part)) }
            held = nil
            guard let preparation = preparation(post) else {
                pass(post, context: context)
                return context.fireChannelRead(wrapInboundOut(part))
            }
            posting = true
            let posted: EventLoopFuture<EventResult?>
            switch preparation {
            case .ready(let prepared):
                // Answered from the batch's commit, without a task of the event's own.
                let promise = context.eventLoop.makePromise(of: EventResult?.self)
                engine.post(prepared) { promise.succeed(try? $0.get()) }
                posted = promise.futureResult
            case .inTask(let prepare):
                let engine = engine
                posted = context.eventLoop.makeFutureWithTask {
                    guard let prepared = await prepare() else { return nil }
                    return try? await engine.post(prepared)
                }
            }
            // What is not at hand, and any refusal of the batch, goes to the router, which loads
            // what was missing and words the refusal.
            posted.assumeIsolated().whenComplete { outcome in
                self.posting = false
                // The client went away: the event stands (or not) as its batch left it; a retry
                // with the same id answers it.
                guard context.channel.isActive else { return self.waiting.removeAll() }
                if case .success(let result?) = outcome {
                    // Written without Codable, as the generated code's encoder writes it.
                    self.respond(result.created ? .created : .ok, ByteBuffer(bytes: result.receipt.answer.prettyData()),
                                 post: post, context: context)
                } else {
                    self.pass(post, context: context)
                    context.fireChannelRead(self.wrapInboundOut(.end(nil)))
                }
                // What waited, in order, until another event is taken here.
                while !self.posting, !self.waiting.isEmpty {
                    self.read(self.waiting.removeFirst(), context: context)
                }
                // Outside a read from the socket: the router takes what it was handed at the end
                // of a read.
                context.fireChannelReadComplete()
            }
        }
    }

    /// Hands a held post to the router as it came: its head and the body collected so far.
    private func pass(_ post: Post, context: ChannelHandlerContext) {
        pass(head: post.head, context: context)
        if post.body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(post.body))) }
    }

    /// How an event is prepared for its batch.
    private enum Preparation {
        /// Already, here, through the loop's reader.
        case ready(PreparedEvent)
        /// In the event's task, reading the member from the store; nil there when the router must
        /// take it.
        case inTask(@Sendable () async -> PreparedEvent?)
    }

    /// How the event is prepared for its batch; nil when the router must take it.
    private func preparation(_ post: Post) -> Preparation? {
        guard !post.body.readableBytesView.containsEscapedNUL,
              let body = try? JSONValue(parsing: Data(post.body.readableBytesView)) else { return nil }
        let secret = String(post.secret), program = String(post.program)
        if let reader {
            guard let prepared = try? engine.eventAtHand(secret: secret, programCode: program, body: body, reader: reader)
            else { return nil }
            return .ready(prepared)
        }
        let engine = engine
        return .inTask { try? await engine.eventAtHand(secret: secret, programCode: program, body: body) }
    }

    /// The request as a plain event post, when it is one.
    private static func post(_ head: HTTPRequest, allocator: ByteBufferAllocator) -> Post? {
        let fields = head.headerFields
        guard fields[.expect] == nil, fields[.idempotencyKey] == nil,
              let contentType = fields[.contentType],
              HTTPText.matches(contentType[...], "application/json")
                || HTTPText.matches(contentType[...], "application/json; charset=utf-8"),
              let segments = HTTPText.plainPath(head, method: .post), segments.count == 5,
              segments[1].elementsEqual("v1".utf8), segments[2].elementsEqual("programs".utf8), !segments[3].isEmpty,
              segments[4].elementsEqual("events".utf8),
              let secret = HTTPText.bearerSecret(fields[.authorization]) else { return nil }
        return Post(head: head, program: Substring(segments[3]), secret: secret, body: allocator.buffer(capacity: 0),
                    start: DispatchTime.now().uptimeNanoseconds)
    }

    private func respond(_ status: HTTPResponse.Status, _ body: ByteBuffer, post: Post, context: ChannelHandlerContext) {
        respond(status, body, context: context)
        Self.postedHere.increment()
        let (counter, timer) = status == .created ? Self.created : Self.replayed
        counter.increment()
        timer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - post.start)
    }

    /// Counted and timed as the router counts and times the route (`hb.requests` and
    /// `http.server.request.duration`), so `/metrics` sees every event whichever path took it.
    private static let route = "/v1/programs/{program}/events"
    private static let created = HTTPText.routeMeasures(route, method: "POST", status: "201")
    private static let replayed = HTTPText.routeMeasures(route, method: "POST", status: "200")
    /// How many events were taken here rather than by the router.
    private static let postedHere = Counter(label: "patron_events_on_event_loop")
}

/// Reading request heads byte by byte, for the handlers that answer on the event loop.
enum HTTPText {
    /// The path's segments (the first one empty) of a request with `method` whose path the router
    /// would read as it stands: none of its percent-escapes or query, and a connection kept alive
    /// (`Connection: close`, or an upgrade, is the router's to honour; keep-alive is what it does
    /// anyway).
    static func plainPath(_ head: HTTPRequest, method: HTTPRequest.Method) -> [Substring.UTF8View.SubSequence]? {
        guard head.method == method, let path = head.path,
              head.headerFields[.connection].map({ matches($0[...], "keep-alive") }) ?? true,
              !path.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "?") }) else { return nil }
        let segments = path[...].utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return segments.first?.isEmpty == true ? segments : nil
    }

    /// The router's request counter and timer for a route's answers of one status (`hb.requests`
    /// and `http.server.request.duration`), so that `/metrics` counts a request whichever path
    /// answered it.
    static func routeMeasures(_ route: String, method: String, status: String) -> (Counter, Timer) {
        let dimensions = [("http.route", route), ("http.request.method", method), ("http.response.status_code", status)]
        return (Counter(label: "hb.requests", dimensions: dimensions),
                Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds))
    }

    /// Whether `text` is `lowercase` in any ASCII case, without making a lowercased copy.
    static func matches(_ text: Substring, _ lowercase: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        return text.utf8.elementsEqual(expected) { byte, wanted in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == wanted
        }
    }

    /// The secret of `Authorization: Bearer <secret>`, when it is plainly given. The scheme is
    /// case-insensitive; the router also trims spaces around the secret, which a client that sends
    /// them gets there.
    static func bearerSecret(_ authorization: String?) -> Substring? {
        guard let authorization, matches(authorization.prefix(7), "bearer "), authorization.count > 7 else { return nil }
        let secret = authorization.dropFirst(7)
        guard secret.first != " ", secret.first != "\t", secret.last != " ", secret.last != "\t" else { return nil }
        return secret
    }
}

extension EventReceipt {
    /// The answer as the generated `Components.Schemas.EventReceipt` (`init(_ receipt:)` in
    /// LedgerMapping) encodes it; `JSONValue.prettyData()` writes it as the generated code's
    /// encoder does. Keep the two in step: `EventPostHandlerTests` compares the handler's answers
    /// with the router's byte for byte.
    var answer: JSONValue {
        json(time: { .string(Timestamp.rfc3339($0)) }, namingRecipients: true)
    }
}
