import Foundation
import HTTPTypes
import PatronCore
@testable import PatronServer
import PatronTestSupport
import Testing

/// The tier endpoints over HTTP: the standing and its parts, the history, manual assignments and
/// their refusals, the review job, and what a program without tiers or an erased member answers.
@Suite("Tier API")
struct TierAPITests {
    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "earning_rules":[{"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
         "tiers":{"metric":"growth","window":{"kind":"rolling_months","months":12},
                  "review":{"kind":"yearly","month":1,"day":1},"downgrade":"one_down",
                  "levels":[{"code":"silver","name":"银卡","threshold":0},
                            {"code":"gold","name":"金卡","threshold":5000,"retain":4000},
                            {"code":"black","name":"黑卡","threshold":10000,"invitation_only":true}]}}
        """

    @Test("answers the member's standing, history and assignments, and refuses what cannot be",
          arguments: TestStoreKind.available)
    func tiers(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program with tiers and a member one purchase from gold
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: Self.config).status == 200)
            let member = try #require(try await app.enrol("shop", #"{"external_id":"T-1","channel":"store"}"#).json["id"]?.stringValue)
            let base = "/v1/programs/shop/members/\(member)/tier"
            var standing = try await app.call(.get, base)
            #expect(standing.status == 200)
            #expect(standing.json["level"]?["code"] == .string("silver"))
            #expect(standing.json["metric"] == .string("growth"))
            #expect(standing.json["qualifying_value"] == .int(0))
            #expect(standing.json["next"]?["level"]?["code"] == .string("gold"))
            #expect(standing.json["next"]?["needed"] == .int(5000))
            #expect(standing.json["keep"] == nil)
            #expect(standing.json["window"]?["from"]?.stringValue != nil)

            // When a purchase brings 5,000 growth
            let purchase = try await app.call(.post, "/v1/programs/shop/events", json: """
                {"id":"t-1","type":"purchase","member":"\(member)","occurred_at":"\(app.recently())","amount":500000,"order_id":"t-1"}
                """)
            #expect(purchase.status == 201)

            // Then the member is gold, with what it takes to keep it
            standing = try await app.call(.get, base)
            #expect(standing.json["level"]?["code"] == .string("gold"))
            #expect(standing.json["level"]?["retain"] == .int(4000))
            #expect(standing.json["qualifying_value"] == .int(5000))
            #expect(standing.json["next"] == nil, "black is invitation-only")
            #expect(standing.json["keep"]?["needed"] == .int(0))
            #expect(standing.json["valid_until"] == standing.json["keep"]?["at"])
            let history = try await app.call(.get, "\(base)/history")
            #expect(history.status == 200)
            let upgrade = try #require(history.json["items"]?.arrayValue?.first)
            #expect(upgrade["cause"] == .string("upgrade"))
            #expect(upgrade["to"] == .string("gold"))
            #expect(upgrade["event"] == purchase.json["id"])

            // And assignments that cannot be are refused at their field, changing nothing
            let refusals: [(String, String, Int)] = [
                (#"{"level":"diamond","reason":"x"}"#, "/level", 422),
                (#"{"level":"black","until":"2020-01-01T00:00:00Z","reason":"x"}"#, "/until", 422),
                (#"{"level":"black","reason":" "}"#, "/reason", 422),
                (#"{"level":"black","until":"yesterday","reason":"x"}"#, "/until", 422),
                (#"{"level":"black"}"#, "", 400),
                (#"{"level":"black","reason":"x","color":"red"}"#, "", 400),
            ]
            for (body, pointer, status) in refusals {
                let reply = try await app.call(.post, "\(base)/assignments", json: body)
                #expect(reply.status == status, "\(body)")
                #expect(reply.isProblem, "\(body)")
                if !pointer.isEmpty { #expect(reply.faultPointers == [pointer], "\(body)") }
            }
            #expect(try await app.call(.get, "\(base)/history").json["items"]?.arrayValue?.count == 1)

            // An operator may assign; a read-only key may not
            let readOnly = try await app.createKey(role: "read_only")
            let forbidden = try await app.call(.post, "\(base)/assignments", json: #"{"level":"black","reason":"guest"}"#,
                                               key: readOnly)
            #expect(forbidden.status == 403)
            let assigned = try await app.call(.post, "\(base)/assignments",
                                              json: #"{"level":"black","until":"2099-01-01T00:00:00+08:00","reason":"guest"}"#)
            #expect(assigned.status == 201)
            #expect(assigned.json["cause"] == .string("manual"))
            #expect(assigned.json["from"] == .string("gold"))
            #expect(assigned.json["reason"] == .string("guest"))
            standing = try await app.call(.get, base, key: readOnly)
            #expect(standing.json["level"]?["code"] == .string("black"))
            #expect(standing.json["manual_until"] == .string("2098-12-31T16:00:00.000Z"))
            let page = try await app.call(.get, "\(base)/history?limit=1")
            #expect(page.json["items"]?.arrayValue?.count == 1)
            let cursor = try #require(page.json["next_cursor"]?.stringValue)
            let rest = try await app.call(.get, "\(base)/history?limit=1&cursor=\(cursor)")
            #expect(rest.json["items"]?.arrayValue?.first?["cause"] == .string("upgrade"))

            // The review job runs over HTTP and has nothing due yet
            let job = try await app.call(.post, "/v1/programs/shop/jobs/tier-review", json: "{}")
            #expect(job.status == 200)
            #expect(job.json["job"] == .string("tier-review"))
            #expect(job.json["reviews"] == .array([]))
            #expect(job.json["assignments_ended"] == .int(0))

            // An erased member's tier is gone; an unknown member is not found
            #expect(try await app.call(.delete, "/v1/programs/shop/members/\(member)").status == 200)
            #expect(try await app.call(.get, base).status == 410)
            #expect(try await app.call(.get, "/v1/programs/shop/members/0190b1c4-0000-7000-8000-000000000000/tier").status == 404)
        }
    }

    @Test("a program without tiers answers 409 no_tiers", arguments: TestStoreKind.available)
    func noTiers(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            let member = try await app.ledgerProgramWithMember()
            let calls: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/tier", nil), (.get, "/tier/history", nil), (.post, "/tier/assignments", #"{"level":"gold","reason":"x"}"#),
            ]
            for (method, path, json) in calls {
                let reply = try await app.call(method, "/v1/programs/shop/members/\(member)\(path)", json: json)
                #expect(reply.status == 409, "\(path)")
                #expect(reply.problemCode == "no_tiers", "\(path)")
            }
            let job = try await app.call(.post, "/v1/programs/shop/jobs/tier-review", json: "{}")
            #expect(job.status == 409)
        }
    }
}
