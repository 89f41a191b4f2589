import Foundation
import Glibc
import HTTPTypes
import HummingbirdTesting
import PatronCore
@testable import PatronServer
import PatronTestSupport
import Testing

/// Entitlement checks answered on the event loop (`EntitlementCheckHandler`), on a live server:
/// the same answer as the router's, everything unusual left to the router, and answers in the order
/// of the requests.
@Suite("Entitlement checks on the event loop", .serialized)
struct EntitlementCheckHandlerTests {
    /// The node's cached key and program outlive the test, so that a slow moment in a loaded test
    /// run cannot send a check to the router by letting them expire (the handler answers only
    /// from the cache).
    static let cacheLifetime: Duration = .seconds(3600)

    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "earning_rules":[{"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
         "tiers":{"levels":[{"code":"silver","name":"银卡","threshold":0},
                            {"code":"gold","name":"金卡","threshold":5000,
                             "upgrade_reward":{"benefits":[{"benefit":"free_shipping","quantity":2}]}}]},
         "plans":[{"code":"plus","name":"Plus","price":1900,"period":"days","period_days":30}],
         "benefits":[
           {"code":"skip_ads","name":"No ads","label":"免广告","kind":"access","levels":["silver","gold"]},
           {"code":"free_shipping","name":"Free shipping","label":"每月10次免运费","kind":"quota",
            "quota":{"quantity":10,"per":"month"},"levels":["gold"],"plans":["plus"]},
           {"code":"gold_discount","name":"5% off","kind":"percent_discount","value":5,"levels":["gold"]}]}
        """

    /// A gold member with granted uses (the upgrade reward) who used the quota twice, with a
    /// running plan unless `plan` is false: every part of the answer.
    static func goldMember(_ app: TestApp, _ externalID: String = "H-1", plan: Bool = true) async throws -> String {
        if externalID == "H-1" {
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: config).status == 200)
        }
        let member = try #require(try await app.enrol("shop", #"{"external_id":"\#(externalID)","channel":"app"}"#)
            .json["id"]?.stringValue)
        #expect(try await app.call(.post, "/v1/programs/shop/events", json: """
            {"id":"\(externalID)","type":"purchase","member":"\(member)",
             "occurred_at":"\(Timestamp.rfc3339(Date().addingTimeInterval(-60)))","amount":500000,"order_id":"\(externalID)"}
            """).status == 201)
        if plan {
            #expect(try await app.call(.post, "/v1/programs/shop/members/\(member)/subscriptions",
                                       json: #"{"plan":"plus","payment_ref":"pay-\#(externalID)","paid_amount":1900}"#).status == 201)
        }
        #expect(try await app.call(.post, "/v1/programs/shop/members/\(member)/entitlements/free_shipping/use",
                                   json: #"{"reference":"order-1","quantity":2}"#).status == 201)
        return member
    }

    /// How many checks the handler has answered in this process, from `/metrics`.
    static func answeredOnEventLoop(_ app: TestApp) async throws -> Int {
        try await app.counter("patron_entitlement_checks_on_event_loop")
    }

    @Test("answers a check on the event loop with the router's answer, byte for byte but the instant")
    func sameAnswer() async throws {
        try await TestApp.run(.sqlite, setup: .live, cacheLifetime: Self.cacheLifetime) { app in
            let member = try await Self.goldMember(app)
            let path = "/v1/programs/shop/members/\(member)/entitlements"
            // A query is the router's to read, so that answer is the router's.
            let before = try await Self.answeredOnEventLoop(app)
            let routed = try await app.call(.get, path + "?from=router")
            #expect(try await Self.answeredOnEventLoop(app) == before)
            let direct = try await app.call(.get, path)
            #expect(try await Self.answeredOnEventLoop(app) == before + 1)

            #expect(routed.status == 200)
            #expect(direct.status == 200)
            for field in [HTTPField.Name.contentType, .server] {
                #expect(direct.headers[field] == routed.headers[field], "\(field)")
            }
            #expect(direct.headers[.date]?.hasSuffix(" GMT") == true)
            #expect(Int(direct.headers[.contentLength] ?? "") == direct.body.count)
            // The same text but the instant of each answer; also for a member with no plan and no
            // level's quota (empty lists, absent values).
            func withoutInstant(_ body: Data) -> [Substring] {
                String(decoding: body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                    .filter { !$0.contains("\"as_of\"") }
            }
            #expect(withoutInstant(direct.body) == withoutInstant(routed.body))
            // Without a plan the read takes another way (one statement): a member with no level
            // quota, and a gold member with granted uses and used quota.
            let silver = try #require(try await app.enrol("shop", #"{"external_id":"H-2","channel":"app"}"#).json["id"]?.stringValue)
            let noPlan = try await Self.goldMember(app, "H-3", plan: false)
            for other in [silver, noPlan] {
                let otherPath = "/v1/programs/shop/members/\(other)/entitlements"
                let otherRouted = try await app.call(.get, otherPath + "?from=router")
                #expect(withoutInstant(try await app.call(.get, otherPath).body) == withoutInstant(otherRouted.body))
            }
            #expect(try await Self.answeredOnEventLoop(app) == before + 3)
            let silverAnswer = try await app.call(.get, "/v1/programs/shop/members/\(silver)/entitlements")
            #expect(silverAnswer.json["plans"] == .array([]))
            let noPlanAnswer = try await app.call(.get, "/v1/programs/shop/members/\(noPlan)/entitlements")
            let noPlanShipping = noPlanAnswer.json["items"]?.arrayValue?.first { $0["benefit"] == .string("free_shipping") }
            #expect(noPlanShipping?["quota"]?["used"] == .int(2))
            #expect(noPlanShipping?["granted"]?["granted"] == .int(2))
            #expect(direct.json["level"] == .string("gold"))
            #expect(direct.json["plans"] == .array([.string("plus")]))
            let shipping = try #require(direct.json["items"]?.arrayValue?.first { $0["benefit"] == .string("free_shipping") })
            #expect(shipping["quota"]?["used"] == .int(2))
            #expect(shipping["via"]?["plans"] == .array([.string("plus")]))

            // A use is seen by the next check at once: nothing is cached but the key and the program.
            #expect(try await app.call(.post, "\(path)/free_shipping/use", json: #"{"reference":"order-2"}"#).status == 201)
            let after = try await app.call(.get, path)
            #expect(try await Self.answeredOnEventLoop(app) == before + 6)
            let used = try #require(after.json["items"]?.arrayValue?.first { $0["benefit"] == .string("free_shipping") })
            #expect(used["quota"]?["used"] == .int(3))
        }
    }

    @Test("leaves refusals, unknowns and other requests to the router")
    func refusalsGoToTheRouter() async throws {
        try await TestApp.run(.sqlite, setup: .live, cacheLifetime: Self.cacheLifetime) { app in
            let member = try await Self.goldMember(app)
            let path = "/v1/programs/shop/members/\(member)/entitlements"
            _ = try await app.call(.get, path)
            #expect(try await app.createProgram("other").status == 201)
            let other = try await app.createKey(role: "operator", program: "other")
            let before = try await Self.answeredOnEventLoop(app)

            let unknown = try await app.call(.get, "/v1/programs/shop/members/0190a0b0-0000-7000-8000-000000000000/entitlements")
            #expect(unknown.status == 404)
            #expect(unknown.isProblem)
            #expect(try await app.call(.get, "/v1/programs/shop/members/not-an-id/entitlements").status == 404)
            #expect(try await app.call(.get, "/v1/programs/nope/members/\(member)/entitlements").status == 404)
            #expect(try await app.call(.get, path, key: nil).status == 401)
            #expect(try await app.call(.get, path, key: "pk_not_a_key").status == 401)
            #expect(try await app.call(.get, path, key: other).status == 403)
            #expect(try await app.call(.get, path, key: nil, headers: [.authorization: "Basic eDp5"]).status == 401)
            #expect(try await app.call(.post, path, json: "{}").status == 405)

            // An erased member is gone for the check too.
            #expect(try await app.call(.delete, "/v1/programs/shop/members/\(member)").status == 200)
            #expect(try await app.call(.get, path).status == 410)
            #expect(try await Self.answeredOnEventLoop(app) == before)
        }
    }

    @Test("answers pipelined requests in order, a check behind a request still in the router included")
    func pipelinedInOrder() async throws {
        try await TestApp.run(.sqlite, setup: .live, cacheLifetime: Self.cacheLifetime) { app in
            let member = try await Self.goldMember(app)
            let path = "/v1/programs/shop/members/\(member)/entitlements"
            _ = try await app.call(.get, path)
            let port = try #require(app.client.port)
            // Three requests in one write: the router's, a check, the router's again.
            let request = { (target: String) in
                "GET \(target) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(TestApp.adminKey)\r\n\r\n"
            }
            let answers = try RawHTTP.exchange(port: port, request("/v1/programs/shop") + request(path) + request("/v1/programs/shop"),
                                               answers: 3)
            #expect(answers.count == 3)
            guard answers.count == 3 else { return }
            #expect(answers.allSatisfy { $0.status == 200 })
            #expect(answers[0].body["code"] == .string("shop"))
            #expect(answers[1].body["level"] == .string("gold"))
            #expect(answers[2].body["code"] == .string("shop"))
        }
    }
}

/// A bare HTTP/1.1 client on a socket: writes the text as given, so requests can be pipelined,
/// and reads answers framed by Content-Length.
enum RawHTTP {
    struct Answer {
        var status: Int
        var body: JSONValue
    }

    static func exchange(port: Int, _ text: String, answers count: Int) throws -> [Answer] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        // Generous: in a loaded test run the router's answers can wait for a busy thread pool.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { throw POSIXError(.EIO) }
        var received: [UInt8] = []
        var answers: [Answer] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while answers.count < count {
            if let (answer, length) = parse(received) {
                answers.append(answer)
                received.removeFirst(length)
                continue
            }
            let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard read > 0 else { break }
            received += buffer[..<read]
        }
        return answers
    }

    /// The first whole answer in `bytes` and how many bytes it took.
    private static func parse(_ bytes: [UInt8]) -> (Answer, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { bytes[$0..<$0 + 4].elementsEqual(separator) }) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n")
        guard let status = head.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let length = head.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        let start = end + 4
        guard bytes.count >= start + length else { return nil }
        let body = (try? JSONValue(parsing: Data(bytes[start..<start + length]))) ?? .null
        return (Answer(status: status, body: body), start + length)
    }
}
