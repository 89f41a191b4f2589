import Foundation
import HTTPTypes
import PatronCore
@testable import PatronServer
import PatronTestSupport
import Testing

/// `POST …/simulations` over HTTP: the program's stored history and the same events uploaded as
/// CSV give one report; a baseline adds the comparison; bad requests are refused at their field.
@Suite("Simulation API")
struct SimulationAPITests {
    static let tiers = """
        "tiers":{"metric":"growth","window":{"kind":"rolling_months","months":12},
                 "review":{"kind":"yearly","month":1,"day":1},"downgrade":"one_down",
                 "levels":[{"code":"silver","name":"银卡","threshold":0},
                           {"code":"gold","name":"金卡","threshold":5000,"retain":4000}]}
        """
    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "earning_rules":[{"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"},
                          {"code":"app","on":"purchase","when":"event.channel == 'app'","award":"10"}],
         \(tiers)}
        """

    @Test("replays the stored history and an uploaded CSV alike", arguments: TestStoreKind.available)
    func simulate(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given three members' purchases through 2024 and 2025
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: Self.config).status == 200)
            var ids: [String] = []
            for number in 1...3 {
                ids.append(try #require(try await app.enrol("shop", #"{"external_id":"S-\#(number)","channel":"store"}"#)
                    .json["id"]?.stringValue))
            }
            let events: [(member: Int, at: String, type: String, amount: Int, order: String, channel: String)] = [
                (2, "2024-02-01T10:00:00+08:00", "purchase", 550_000, "o-1", "app"),
                (0, "2025-03-01T10:00:00+08:00", "purchase", 600_000, "o-2", "store"),
                (1, "2025-06-01T10:00:00+08:00", "purchase", 100_000, "o-3", "app"),
                (1, "2025-06-02T10:00:00+08:00", "refund", 40_000, "o-3", "app"),
                (0, "2026-02-01T10:00:00+08:00", "purchase", 10_000, "o-4", "app"),
            ]
            for (number, event) in events.enumerated() {
                let reply = try await app.call(.post, "/v1/programs/shop/events", json: """
                    {"id":"s-\(number)","type":"\(event.type)","member":"\(ids[event.member])","occurred_at":"\(event.at)",
                     "amount":\(event.amount),"order_id":"\(event.order)","channel":"\(event.channel)"}
                    """)
                #expect(reply.status == 201, "\(reply.json)")
            }

            // When the stored history is replayed through 2025 (one review, 2026-01-01, in the period)
            let stored = try await app.call(.post, "/v1/programs/shop/simulations", json: #"{"from":"2025-01-01","to":"2026-01-02"}"#)

            // Then one member rose to gold in 2025 and the 2024 gold member fell at the review
            #expect(stored.status == 200, "\(stored.json)")
            #expect(stored.json["members_per_level"] == .object(["silver": .int(2), "gold": .int(1)]))
            #expect(stored.json["upgrades"] == .int(1))
            #expect(stored.json["downgrades"] == .int(1))
            #expect(stored.json["migration"] == .object(["silver": .object(["silver": .int(1), "gold": .int(1)]),
                                                         "gold": .object(["silver": .int(1)])]))
            #expect(stored.json["members"] == .int(3))
            #expect(stored.json["events"] == .int(4), "the event at or after 'to' is left out")
            #expect(stored.json["warmup_events"] == .int(1))
            #expect(stored.json["from"] == .string("2024-12-31T16:00:00.000Z"), "dates are 00:00 in the program's zone")
            // 10 points for the app purchase in the period (the channel is replayed), 4 of them taken
            // back by its 40 % refund, and the 2024 purchase's 10 still held
            #expect(stored.json["points"]?["issued"] == .int(10))
            #expect(stored.json["points"]?["clawed_back"] == .int(4))
            #expect(stored.json["points"]?["outstanding"] == .int(16))

            // And the same events uploaded as CSV give the same report
            let csv = "member,occurred_at,type,amount,order_id,channel\n" + events.map {
                "\(ids[$0.member]),\($0.at),\($0.type),\($0.amount),\($0.order),\($0.channel)"
            }.joined(separator: "\n")
            let upload = try await app.call(.post, "/v1/programs/shop/simulations", json: String(decoding: JSONValue.object([
                "from": .string("2025-01-01"), "to": .string("2026-01-02"), "history": .string(csv),
            ]).canonicalData(), as: UTF8.self))
            #expect(upload.status == 200)
            #expect(upload.json == stored.json)

            // And a candidate that keeps gold at review, against the configuration in force
            let lenient = Self.config.replacingOccurrences(of: #""downgrade":"one_down""#, with: #""downgrade":"never""#)
            let compared = try await app.call(.post, "/v1/programs/shop/simulations", json: """
                {"from":"2025-01-01","to":"2026-01-02","config":\(lenient),"baseline":"current"}
                """)
            #expect(compared.status == 200)
            #expect(compared.json["members_per_level"] == .object(["silver": .int(1), "gold": .int(2)]))
            #expect(compared.json["baseline_members_per_level"] == stored.json["members_per_level"])
            #expect(compared.json["baseline_migration"] == .object(["silver": .object(["silver": .int(1), "gold": .int(1)]),
                                                                  "gold": .object(["gold": .int(1)])]))
        }
    }

    @Test("refuses what cannot be replayed, at its field", arguments: TestStoreKind.available)
    func refusals(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            let path = "/v1/programs/shop/simulations"
            // A program without tiers, and no candidate
            var reply = try await app.call(.post, path, json: #"{"from":"2025-01-01","to":"2026-01-01"}"#)
            #expect(reply.status == 422)
            #expect(reply.faultPointers == ["/config"])

            #expect(try await app.call(.put, "/v1/programs/shop/config", json: Self.config).status == 200)
            let refusals: [(String, [String])] = [
                (#"{"from":"2026-01-01","to":"2026-01-01"}"#, ["/to"]),
                (#"{"from":"2025-02-30","to":"2026-01-01"}"#, ["/from"]),
                (#"{"from":"2025-01-01","to":"soon"}"#, ["/to"]),
                (#"{"from":"2025-01-01","to":"2026-01-01","history":"member,occurred_at\nm1,2025-01-01T00:00:00Z"}"#,
                 ["/history"]),
                (#"{"from":"2025-01-01","to":"2026-01-01","config":{"currency":"CNY","tiers":{"levels":[]}}}"#,
                 ["/config/tiers/levels"]),
                            ]
            for (body, pointers) in refusals {
                reply = try await app.call(.post, path, json: body)
                #expect(reply.status == 422, "\(body)")
                #expect(reply.isProblem, "\(body)")
                #expect(Set(reply.faultPointers).isSuperset(of: pointers), "\(body): \(reply.faultPointers)")
            }
            // A CSV fault names its line
            reply = try await app.call(.post, path, json: #"""
                {"from":"2025-01-01","to":"2026-01-01",
                 "history":"member,occurred_at,type,amount,order_id\nm1,2025-01-01T00:00:00Z,purchase,100,o1\nm2,yesterday,purchase,1,o2"}
                """#)
            #expect(reply.status == 422)
            #expect(reply.json["errors"]?.arrayValue?.first?["message"]?.stringValue?.contains("line 3") == true,
                    "\(reply.json)")
            // A baseline is a configuration or "current"
            #expect(try await app.call(.post, path, json: #"{"from":"2025-01-01","to":"2026-01-01","baseline":"previous"}"#)
                .status == 400)
            // Unknown fields are a 400, and a read-only key may not run a back-test
            #expect(try await app.call(.post, path, json: #"{"from":"2025-01-01","to":"2026-01-01","x":1}"#).status == 400)
            let readOnly = try await app.createKey(role: "read_only")
            #expect(try await app.call(.post, path, json: #"{"from":"2025-01-01","to":"2026-01-01"}"#, key: readOnly).status == 403)
        }
    }
}
