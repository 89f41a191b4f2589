import Foundation
import HTTPTypes
import HummingbirdTesting
import PatronCore
@testable import PatronServer
import PatronTestSupport
import Testing

/// Events taken from the event loop to their batch (`EventPostHandler`), on a live server of each
/// store (SQLite reads the member on the loop; PostgreSQL in the event's task): the same answers as
/// the router's, tier upgrades applied before the answer, everything unusual and every
/// refusal left to the router, and answers in the order of the requests.
@Suite("Events posted from the event loop", .serialized)
struct EventPostHandlerTests {
    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "points":{"pending_days":7,"expiry":{"policy":"end_of_year_after_earn","years":1}},
         "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                          {"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"},
                          {"code":"broken","on":"purchase","award":"event.attributes.missing + 1"}],
         "tiers":{"levels":[{"code":"silver","name":"银卡","threshold":0},{"code":"gold","name":"金卡","threshold":5000}]}}
        """

    /// A program with the config above and one member; returns the member's id.
    static func member(_ app: TestApp) async throws -> String {
        #expect(try await app.createProgram().status == 201)
        #expect(try await app.call(.put, "/v1/programs/shop/config", json: config).status == 200)
        return try #require(try await app.enrol("shop", #"{"external_id":"E-1","channel":"app"}"#).json["id"]?.stringValue)
    }

    /// A purchase; the same arguments give the same body, so that it can be sent again as a retry.
    static func purchase(_ id: String, member: String, amount: Int = 12_345) -> String {
        """
        {"id":"\(id)","type":"purchase","member":"\(member)","amount":\(amount),"order_id":"o-\(id)",
         "occurred_at":"\(Timestamp.rfc3339(occurredAt))","channel":"app"}
        """
    }

    static let occurredAt = Date().addingTimeInterval(-60)

    /// A live server of `kind` with the program above and one member, and the purchase `r-1` (of
    /// `amount`) posted through the router, which loads the key and the program into this node's
    /// cache (a query keeps a request the router's). `body` gets the server, the member's id and the
    /// router's answer.
    static func withRoutedFirstEvent(_ kind: TestStoreKind, amount: Int = 12_345,
                                     _ body: @Sendable @escaping (TestApp, String, Reply) async throws -> Void)
        async throws {
        try await TestApp.run(kind, setup: .live, cacheLifetime: EntitlementCheckHandlerTests.cacheLifetime) { app in
            let member = try await member(app)
            let routed = try await app.call(.post, "/v1/programs/shop/events?from=router",
                                            json: purchase("r-1", member: member, amount: amount))
            #expect(routed.status == 201)
            try await body(app, member, routed)
        }
    }

    /// How many events the handler has taken in this process, from `/metrics`.
    static func takenOnEventLoop(_ app: TestApp) async throws -> Int {
        try await app.counter("patron_events_on_event_loop")
    }

    @Test("posts an event from the event loop and answers as the router does, byte for byte", arguments: TestStoreKind.available)
    func sameAnswers(_ kind: TestStoreKind) async throws {
        try await Self.withRoutedFirstEvent(kind) { app, member, routed in
            let before = try await Self.takenOnEventLoop(app)

            // A new event here; its retry through the router answers the stored receipt: the same text.
            let body = Self.purchase("h-1", member: member)
            let direct = try await app.call(.post, "/v1/programs/shop/events", json: body)
            #expect(try await Self.takenOnEventLoop(app) == before + 1)
            #expect(direct.status == 201)
            let retriedThere = try await app.call(.post, "/v1/programs/shop/events?from=router", json: body)
            #expect(retriedThere.status == 200)
            #expect(direct.body == retriedThere.body)
            for field in [HTTPField.Name.contentType, .server] {
                #expect(direct.headers[field] == routed.headers[field], "\(field)")
            }
            #expect(direct.headers[.date]?.hasSuffix(" GMT") == true)
            #expect(Int(direct.headers[.contentLength] ?? "") == direct.body.count)
            // The router's new event, retried here: the router's first answer, as a retry.
            let retriedHere = try await app.call(.post, "/v1/programs/shop/events", json: Self.purchase("r-1", member: member))
            #expect(try await Self.takenOnEventLoop(app) == before + 2)
            #expect(retriedHere.status == 200)
            #expect(retriedHere.body == routed.body)

            // Every part of a receipt: pending and expiring awards, a failed rule, times.
            #expect(direct.json["status"] == .string("posted"))
            let awards = try #require(direct.json["awards"]?.arrayValue)
            #expect(awards.count == 2)
            #expect(awards.first?["amount"] == .int(123))
            #expect(awards.first?["state"] == .string("pending"))
            #expect(awards.first?["available_at"]?.stringValue != nil)
            #expect(direct.json["failures"]?.arrayValue?.first?["rule"] == .string("broken"))
            let ledger = try await app.call(.get, "/v1/programs/shop/members/\(member)/balance")
            #expect(ledger.json["pending"] == .int(246))
        }
    }

    @Test("applies a tier upgrade the event earns before answering", arguments: TestStoreKind.available)
    func upgradeBeforeTheAnswer(_ kind: TestStoreKind) async throws {
        try await Self.withRoutedFirstEvent(kind, amount: 100) { app, member, _ in
            let before = try await Self.takenOnEventLoop(app)
            #expect(try await app.call(.post, "/v1/programs/shop/events",
                                       json: Self.purchase("h-1", member: member, amount: 600_000)).status == 201)
            #expect(try await Self.takenOnEventLoop(app) == before + 1)
            let standing = try await app.call(.get, "/v1/programs/shop/members/\(member)/tier")
            #expect(standing.json["level"]?["code"] == .string("gold"))
        }
    }

    @Test("leaves refusals and unusual requests to the router, which changes nothing it refuses", arguments: TestStoreKind.available)
    func refusalsGoToTheRouter(_ kind: TestStoreKind) async throws {
        try await Self.withRoutedFirstEvent(kind) { app, member, _ in
            #expect(try await app.createProgram("other").status == 201)
            let other = try await app.createKey(role: "operator", program: "other")
            let reader = try await app.createKey(role: "read_only")
            let before = try await Self.takenOnEventLoop(app)
            let path = "/v1/programs/shop/events"

            // Each refusal is the router's, as the router answers it with the handler out of the way.
            let faulty = [
                Self.purchase("x-1", member: "0190a0b0-0000-7000-8000-000000000000"),
                #"{"id":"x-2","type":"purchase"}"#, "{not json",
                #"{"id":"x-3","type":"purchase","member":"\#(member)","occurred_at":"2026-01-01T00:00:00Z","amount":1,"extra":1}"#,
                #"{"id":"x-4","type":"purchase","member":"\#(member)","occurred_at":"2099-01-01T00:00:00Z","amount":1}"#,
                #"{"id":"x-5","type":"refund","member":"\#(member)","occurred_at":"2026-01-01T00:00:00Z","amount":1,"order_id":"nope"}"#,
            ]
            for body in faulty {
                let here = try await app.call(.post, path, json: body)
                let there = try await app.call(.post, path + "?from=router", json: body)
                #expect((400..<500).contains(here.status), "\(body)")
                #expect(here.isProblem)
                #expect(here.status == there.status, "\(body)")
                #expect(here.json["code"] == there.json["code"], "\(body)")
            }
            #expect(try await app.call(.post, path, json: Self.purchase("x-4", member: member), key: nil).status == 401)
            #expect(try await app.call(.post, path, json: Self.purchase("x-5", member: member), key: "pk_not_a_key").status == 401)
            #expect(try await app.call(.post, path, json: Self.purchase("x-6", member: member), key: other).status == 403)
            #expect(try await app.call(.post, path, json: Self.purchase("x-7", member: member), key: reader).status == 403)
            #expect(try await app.call(.post, "/v1/programs/nope/events", json: Self.purchase("x-8", member: member)).status == 404)
            // The same id with another body: refused in the batch, and worded by the router.
            let reused = try await app.call(.post, path, json: Self.purchase("r-1", member: member, amount: 1))
            #expect(reused.status == 409)
            #expect(reused.isProblem)
            // An Idempotency-Key is the router's to keep.
            let keyed = try await app.call(.post, path, json: Self.purchase("k-1", member: member),
                                           headers: [.idempotencyKey: "key-1"])
            #expect(keyed.status == 201)
            let replayed = try await app.call(.post, path, json: Self.purchase("k-1", member: member),
                                              headers: [.idempotencyKey: "key-1"])
            #expect(replayed.headers[.idempotentReplayed] == "true")
            #expect(try await Self.takenOnEventLoop(app) == before)
            // Nothing refused was posted: r-1 and k-1 alone earned.
            let balance = try await app.call(.get, "/v1/programs/shop/members/\(member)/balance")
            #expect(balance.json["pending"] == .int(246))
            // An erased member earns nothing.
            #expect(try await app.call(.delete, "/v1/programs/shop/members/\(member)").status == 200)
            #expect(try await app.call(.post, path, json: Self.purchase("x-9", member: member)).status == 410)
            #expect(try await Self.takenOnEventLoop(app) == before)
        }
    }

    @Test("answers pipelined requests in order, an event between the router's requests", arguments: TestStoreKind.available)
    func pipelinedInOrder(_ kind: TestStoreKind) async throws {
        try await Self.withRoutedFirstEvent(kind) { app, member, _ in
            let before = try await Self.takenOnEventLoop(app)
            let port = try #require(app.client.port)
            let get = "GET /v1/programs/shop HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(TestApp.adminKey)\r\n\r\n"
            let post = { (id: String) in
                let body = Self.purchase(id, member: member)
                return "POST /v1/programs/shop/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(TestApp.adminKey)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            }
            // Two events, the router's, an event, the router's: in one write. The first event is taken
            // here and what follows waits; then the second is taken here, and the rest goes to the
            // router in turn.
            let answers = try RawHTTP.exchange(port: port, post("p-1") + post("p-2") + get + post("p-3") + get, answers: 5)
            #expect(answers.map(\.status) == [201, 201, 200, 201, 200])
            guard answers.count == 5 else { return }
            #expect(answers[0].body["id"] == .string("p-1"))
            #expect(answers[1].body["id"] == .string("p-2"))
            #expect(answers[2].body["code"] == .string("shop"))
            #expect(answers[3].body["id"] == .string("p-3"))
            #expect(answers[4].body["code"] == .string("shop"))
            #expect(try await Self.takenOnEventLoop(app) >= before + 2)
        }
    }
}
