import Foundation
import HTTPTypes
import PatronCore
import PatronTestSupport
import Testing

@Suite("The points ledger API")
struct LedgerAPITests {
    @Test("posts a purchase once: 201 with the receipt, 200 with the same body on replay, 409 for another body",
          arguments: TestStoreKind.available)
    func purchase(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program that gives a point per ¥1 and growth alike, and a member
            let member = try await app.ledgerProgramWithMember()
            let occurredAt = app.recently()
            let body = app.purchase(id: "evt-1", member: member, occurredAt: occurredAt, amount: 12_800, order: "o-1")

            // When the purchase is posted
            let posted = try await app.postEvent(body)

            // Then the receipt says what each rule gave, and the points can be spent at once
            #expect(posted.status == 201)
            #expect(posted.json["id"] == .string("evt-1"))
            #expect(posted.json["member"] == .string(member))
            #expect(posted.json["type"] == .string("purchase"))
            #expect(posted.json["status"] == .string("posted"))
            #expect(posted.json["occurred_at"] == .string(occurredAt))
            let awards = try #require(posted.json["awards"]?.arrayValue)
            #expect(awards.count == 2)
            let points = try #require(awards.first { $0["unit"] == .string("points") })
            #expect(points["rule"] == .string("base"))
            #expect(points["amount"] == .int(128))
            #expect(points["computed"] == .int(128))
            #expect(points["state"] == .string("available"))
            #expect(points["expires_at"] == nil, "points never expire by default")
            #expect(awards.contains { $0["unit"] == .string("growth") && $0["amount"] == .int(128) })
            #expect(posted.json["failures"] == .array([]))
            #expect(posted.json["clawbacks"] == .array([]))

            let balance = try await app.balance(member)
            #expect(balance.status == 200)
            #expect(balance.json["available"] == .int(128))
            #expect(balance.json["pending"] == .int(0))
            #expect(balance.json["lifetime_earned"] == .int(128))
            #expect(balance.json["growth"] == .int(128))
            #expect(balance.json["on_hold"] == .int(0))

            // When the same event is sent again, it is answered as the first time and posts nothing
            let replay = try await app.postEvent(body)
            #expect(replay.status == 200)
            #expect(replay.body == posted.body)
            #expect(try await app.balance(member).json["available"] == .int(128))

            // When the same id comes with another body, it is refused
            let reused = try await app.postEvent(
                app.purchase(id: "evt-1", member: member, occurredAt: occurredAt, amount: 99_900, order: "o-1"))
            #expect(reused.status == 409)
            #expect(reused.problemCode == "event_id_reused")
            #expect(reused.isProblem)

            // And the ledger lists the transfers newest first, page by page
            let ledger = try await app.ledger(member)
            #expect(ledger.status == 200)
            let transfers = try #require(ledger.json["items"]?.arrayValue)
            // (points with no return window go straight to the available account)
            #expect(Set(transfers.compactMap { $0["kind"]?.stringValue }) == ["earn"])
            let earned = try #require(transfers.first { $0["kind"] == .string("earn") && $0["unit"] == .string("points") })
            #expect(earned["from"] == .string("system:issued"))
            #expect(earned["to"] == .string("member:available"))
            #expect(earned["amount"] == .int(128))
            #expect(earned["event"] == posted.json["event"])
            #expect(earned["reason"] == .string("base"))
            let ids = transfers.compactMap { $0["id"]?.stringValue }
            #expect(ids == ids.sorted(by: >), "newest first")
            let first = try await app.ledger(member, query: "?limit=1")
            #expect(first.json["items"]?.arrayValue?.count == 1)
            let cursor = try #require(first.json["next_cursor"]?.stringValue)
            let second = try await app.ledger(member, query: "?limit=1&cursor=\(cursor)")
            #expect(second.json["items"]?.arrayValue?.first?["id"] == .string(ids[1]))
        }
    }

    @Test("takes back a refund's share of what the order earned, and refuses a refund of an unknown order",
          arguments: TestStoreKind.available)
    func refund(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member who earned 128 points on order o-1
            let member = try await app.ledgerProgramWithMember()
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                         amount: 12_800, order: "o-1")).status == 201)

            // When half the order is refunded, half its points and growth are taken back
            let refunded = try await app.postEvent(app.refund(id: "evt-2", member: member, amount: 6_400, order: "o-1"))
            #expect(refunded.status == 201)
            #expect(refunded.json["awards"] == .array([]))
            let clawbacks = try #require(refunded.json["clawbacks"]?.arrayValue)
            let points = try #require(clawbacks.first { $0["unit"] == .string("points") })
            #expect(points["requested"] == .int(64))
            #expect(points["from_available"] == .int(64))
            #expect(points["from_pending"] == .int(0))
            #expect(points["into_debt"] == .int(0))
            #expect(points["not_recovered"] == .int(0))
            #expect(try await app.balance(member).json["available"] == .int(64))

            // When a refund names an order that was never posted, it is refused at /order_id
            let unknown = try await app.postEvent(app.refund(id: "evt-3", member: member, amount: 100, order: "o-404"))
            #expect(unknown.status == 422)
            #expect(unknown.problemCode == "validation_failed")
            #expect(unknown.faultPointers == ["/order_id"])
            #expect(unknown.json["errors"]?.arrayValue?.first?["code"] == .string("unknown_order"))
            #expect(try await app.balance(member).json["available"] == .int(64), "nothing was taken")
        }
    }

    @Test("reports every fault of an event at once, with its pointer, and posts nothing", arguments: TestStoreKind.available)
    func badEvents(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member with no points
            let member = try await app.ledgerProgramWithMember()

            // When an event has a malformed time and a negative amount
            let faulty = try await app.postEvent(#"""
                {"id":"evt-1","type":"purchase","member":"\#(member)","occurred_at":"22/11/2026 08:30","amount":-5}
                """#)

            // Then both faults come back in one 422
            #expect(faulty.status == 422)
            #expect(faulty.isProblem)
            #expect(Set(faulty.faultPointers) == ["/occurred_at", "/amount"])
            #expect(faulty.json["errors"]?.arrayValue?.contains {
                $0["pointer"] == .string("/occurred_at") && $0["code"] == .string("invalid_timestamp")
            } == true)

            let cases: [(String, String, Int, String, [String])] = [
                ("malformed occurred_at",
                 app.purchase(id: "e-2", member: member, occurredAt: "2026-11-22 08:30:00", amount: 100, order: "o-2"),
                 422, "validation_failed", ["/occurred_at"]),
                ("occurred in the future",
                 app.purchase(id: "e-3", member: member, occurredAt: Timestamp.rfc3339(Date().addingTimeInterval(86_400)),
                              amount: 100, order: "o-3"),
                 422, "validation_failed", ["/occurred_at"]),
                ("unknown member",
                 app.purchase(id: "e-4", member: "0190b1c4-0000-7000-8000-000000000000", occurredAt: app.recently(),
                              amount: 100, order: "o-4"),
                 422, "validation_failed", ["/member"]),
                ("member and external_id",
                 #"{"id":"e-5","type":"check_in","member":"\#(member)","external_id":"C-1","occurred_at":"\#(app.recently())"}"#,
                 422, "validation_failed", ["/member"]),
                ("purchase without amount",
                 #"{"id":"e-6","type":"purchase","member":"\#(member)","occurred_at":"\#(app.recently())"}"#,
                 422, "validation_failed", ["/amount"]),
                ("type that is not a code",
                 #"{"id":"e-7","type":"Check In","member":"\#(member)","occurred_at":"\#(app.recently())"}"#,
                 422, "validation_failed", ["/type"]),
                ("wrong type", #"{"id":"e-8","type":"purchase","member":"\#(member)","occurred_at":"\#(app.recently())","amount":"12"}"#,
                 400, "malformed_request", []),
                ("unknown field", #"{"id":"e-9","type":"check_in","member":"\#(member)","occurred_at":"\#(app.recently())","vip":1}"#,
                 400, "malformed_request", []),
                ("missing id", #"{"type":"check_in","member":"\#(member)","occurred_at":"\#(app.recently())"}"#,
                 400, "malformed_request", []),
                ("trailing comma", #"{"id":"e-10","type":"check_in","member":"\#(member)","occurred_at":"\#(app.recently())",}"#,
                 400, "malformed_request", []),
            ]
            for (name, body, status, code, pointers) in cases {
                let reply = try await app.postEvent(body)
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
                #expect(reply.isProblem, "\(name)")
                #expect(reply.faultPointers == pointers, "\(name)")
            }
            #expect(try await app.call(.post, "/v1/programs/nope/events",
                                       json: app.purchase(id: "e", member: member, occurredAt: app.recently(), amount: 1,
                                                          order: "o")).status == 404)

            // And nothing was posted
            #expect(try await app.ledger(member).json["items"] == .array([]))
            #expect(try await app.balance(member).json["lifetime_earned"] == .int(0))
        }
    }

    @Test("refuses an event over a limit with 429, or holds it for review", arguments: [("refuse", 429), ("review", 201)])
    func limits(_ action: String, _ status: Int) async throws {
        try await TestApp.run(.sqlite) { app in
            // Given a program that allows one event per member per hour, and a member who just had one
            let member = try await app.ledgerProgramWithMember(points: #"{"pending_days":0,"limits":{"events_per_member_per_hour":1,"on_exceed":"\#(action)"}}"#)
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                         amount: 1_000, order: "o-1")).status == 201)

            // When another event comes within the hour
            let second = try await app.postEvent(app.purchase(id: "evt-2", member: member, occurredAt: app.recently(),
                                                              amount: 12_800, order: "o-2"))

            // Then it is refused, or recorded for review; either way it gives nothing yet
            #expect(second.status == status)
            if status == 429 {
                #expect(second.problemCode == "limit_exceeded")
                #expect(second.isProblem)
            } else {
                #expect(second.json["status"] == .string("review"))
            }
            #expect(try await app.balance(member).json["available"] == .int(10))
        }
    }

    @Test("keeps points pending for the return window", arguments: TestStoreKind.available)
    func pending(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program with a 7-day return window
            let member = try await app.ledgerProgramWithMember(points: #"{"pending_days":7}"#)

            // When a purchase is posted
            let posted = try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                              amount: 12_800, order: "o-1"))

            // Then its points are pending until the window has passed
            let award = posted.json["awards"]?.arrayValue?.first { $0["unit"] == .string("points") }
            #expect(award?["state"] == .string("pending"))
            let balance = try await app.balance(member)
            #expect(balance.json["available"] == .int(0))
            #expect(balance.json["pending"] == .int(128))
            #expect(balance.json["maturing"]?.arrayValue?.map { $0["points"] } == [.int(128)])
            #expect(balance.json["maturing"]?.arrayValue?.first?["at"] == award?["available_at"])
            let refused = try await app.call(.post, "/v1/programs/shop/members/\(member)/redemptions", json: #"{"points":1}"#)
            #expect(refused.json["available"] == .int(0))
        }
    }

    @Test("previews an event without posting it or taking its id", arguments: TestStoreKind.available)
    func preview(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member with no points
            let member = try await app.ledgerProgramWithMember()
            let body = app.purchase(id: "evt-1", member: member, occurredAt: app.recently(), amount: 12_800, order: "o-1")

            // When the purchase is previewed
            let preview = try await app.call(.post, "/v1/programs/shop/events/preview", json: body)

            // Then the answer says what it would give, and nothing is posted
            #expect(preview.status == 200)
            #expect(preview.json["status"] == .string("preview"))
            #expect(preview.json["awards"]?.arrayValue?.first { $0["unit"] == .string("points") }?["amount"] == .int(128))
            #expect(try await app.balance(member).json["available"] == .int(0))
            #expect(try await app.ledger(member).json["items"] == .array([]))

            // And the same event can still be posted afterwards
            let posted = try await app.postEvent(body)
            #expect(posted.status == 201)
            #expect(posted.json["status"] == .string("posted"))
            #expect(try await app.balance(member).json["available"] == .int(128))
        }
    }

    @Test("spends points: all or none, and holds captured in part or voided", arguments: TestStoreKind.available)
    func spending(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member with 128 points
            let member = try await app.ledgerProgramWithMember()
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                         amount: 12_800, order: "o-1")).status == 201)
            let path = "/v1/programs/shop/members/\(member)"

            // When a redemption asks for more than the balance, it is refused with what is available
            let tooMuch = try await app.call(.post, "\(path)/redemptions", json: #"{"points":500}"#)
            #expect(tooMuch.status == 409)
            #expect(tooMuch.problemCode == "insufficient_points")
            #expect(tooMuch.json["available"] == .int(128))
            #expect(tooMuch.json["requested"] == .int(500))

            // When one fits, it is spent once, however often it is sent with its Idempotency-Key
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "redeem-1"]
            let redeemed = try await app.call(.post, "\(path)/redemptions", json: #"{"points":28,"order_id":"o-9"}"#,
                                              headers: key)
            #expect(redeemed.status == 201)
            #expect(redeemed.json["kind"] == .string("redeem"))
            #expect(redeemed.json["from"] == .string("member:available"))
            #expect(redeemed.json["to"] == .string("system:redeemed"))
            #expect(redeemed.json["amount"] == .int(28))
            #expect(redeemed.json["reason"] == .string("redemption"))
            #expect(redeemed.json["reference"] == .string("order:o-9"))
            #expect(redeemed.json["allocations"]?.arrayValue?.first?["amount"] == .int(28))
            let retried = try await app.call(.post, "\(path)/redemptions", json: #"{"points":28,"order_id":"o-9"}"#,
                                             headers: key)
            #expect(retried.body == redeemed.body)
            #expect(try await app.balance(member).json["available"] == .int(100))

            // When 60 points are held, they cannot be spent elsewhere
            let held = try await app.call(.post, "\(path)/holds", json: #"{"points":60,"ttl_seconds":600,"reference":"cart-7"}"#)
            #expect(held.status == 201)
            let hold = try #require(held.json["id"]?.stringValue)
            #expect(held.headers[.location] == "\(path)/holds/\(hold)")
            #expect(held.json["status"] == .string("open"))
            #expect(held.json["points"] == .int(60))
            #expect(held.json["member"] == .string(member))
            var balance = try await app.balance(member)
            #expect(balance.json["available"] == .int(40))
            #expect(balance.json["on_hold"] == .int(60))

            // When 45 of them are captured, the rest is given back
            let captured = try await app.call(.post, "\(path)/holds/\(hold)/capture", json: #"{"points":45}"#)
            #expect(captured.status == 200)
            #expect(captured.json["status"] == .string("captured"))
            #expect(captured.json["captured"] == .int(45))
            #expect(captured.json["resolved_at"] != nil)
            balance = try await app.balance(member)
            #expect(balance.json["available"] == .int(55))
            #expect(balance.json["on_hold"] == .int(0))
            #expect(balance.json["redeemed"] == .int(73))
            #expect(try await app.call(.get, "\(path)/holds/\(hold)").json["status"] == .string("captured"))
            #expect(try await app.call(.post, "\(path)/holds/\(hold)/capture", json: #"{"points":45}"#).status == 200,
                    "capturing again as before is a retry")

            // Then a captured hold cannot be voided
            let void = try await app.call(.post, "\(path)/holds/\(hold)/void")
            #expect(void.status == 409)
            #expect(void.problemCode == "hold_not_open")
            #expect(void.isProblem)

            // And an open hold voids with no body or an empty one, and gives every point back
            let other = try #require(try await app.call(.post, "\(path)/holds", json: #"{"points":50,"ttl_seconds":60}"#)
                .json["id"]?.stringValue)
            let voided = try await app.call(.post, "\(path)/holds/\(other)/void")
            #expect(voided.status == 200)
            #expect(voided.json["status"] == .string("voided"))
            #expect(try await app.call(.post, "\(path)/holds/\(other)/void", json: "{}").status == 200,
                    "voiding again is a retry")
            #expect(try await app.balance(member).json["available"] == .int(55))

            let small = try #require(try await app.call(.post, "\(path)/holds", json: #"{"points":5,"ttl_seconds":60}"#)
                .json["id"]?.stringValue)
            let refusals: [(String, Reply, Int, String)] = [
                ("capture a voided hold", try await app.call(.post, "\(path)/holds/\(other)/capture"), 409, "hold_not_open"),
                ("capture beyond the hold", try await app.call(.post, "\(path)/holds/\(small)/capture", json: #"{"points":6}"#),
                 422, "validation_failed"),
                ("unknown hold", try await app.call(.get, "\(path)/holds/0190b1c4-0000-7000-8000-000000000000"), 404, "not_found"),
                ("hold too long", try await app.call(.post, "\(path)/holds", json: #"{"points":5,"ttl_seconds":9999999}"#),
                 422, "validation_failed"),
                ("hold beyond the balance", try await app.call(.post, "\(path)/holds", json: #"{"points":51,"ttl_seconds":60}"#),
                 409, "insufficient_points"),
                ("void with a body", try await app.call(.post, "\(path)/holds/\(other)/void", json: #"{"why":"x"}"#),
                 400, "malformed_request"),
                ("redeem zero", try await app.call(.post, "\(path)/redemptions", json: #"{"points":0}"#), 422, "validation_failed"),
            ]
            for (name, reply, status, code) in refusals {
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
            }
        }
    }

    @Test("adjusts points both ways for operators only", arguments: TestStoreKind.available)
    func adjustments(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member with no points, and an integration key
            let member = try await app.ledgerProgramWithMember()
            let path = "/v1/programs/shop/members/\(member)"
            let integration = try await app.createKey(role: "integration", program: "shop")

            // When an operator adds 50 points and removes 20
            let added = try await app.call(.post, "\(path)/adjustments", json: #"{"points":50,"reason":"goodwill"}"#)
            #expect(added.status == 201)
            #expect(added.json["kind"] == .string("adjust"))
            #expect(added.json["from"] == .string("system:adjusted"))
            #expect(added.json["amount"] == .int(50))
            #expect(added.json["reason"] == .string("goodwill"))
            let removed = try await app.call(.post, "\(path)/adjustments", json: #"{"points":-20,"reason":"correction"}"#)
            #expect(removed.status == 201)
            #expect(removed.json["from"] == .string("member:available"))
            #expect(removed.json["to"] == .string("system:adjusted"))
            #expect(removed.json["amount"] == .int(20))

            // Then the balance holds the difference
            #expect(try await app.balance(member).json["available"] == .int(30))

            let refusals: [(String, Reply, Int, String)] = [
                ("zero", try await app.call(.post, "\(path)/adjustments", json: #"{"points":0,"reason":"x"}"#), 422,
                 "validation_failed"),
                ("blank reason", try await app.call(.post, "\(path)/adjustments", json: #"{"points":5,"reason":"  "}"#), 422,
                 "validation_failed"),
                ("beyond the balance", try await app.call(.post, "\(path)/adjustments", json: #"{"points":-31,"reason":"x"}"#),
                 409, "insufficient_points"),
                ("integration key", try await app.call(.post, "\(path)/adjustments", json: #"{"points":5,"reason":"x"}"#,
                                                       key: integration), 403, "insufficient_role"),
            ]
            for (name, reply, status, code) in refusals {
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
            }
            #expect(try await app.balance(member).json["available"] == .int(30))
            #expect(try await app.call(.get, "\(path)/balance", key: integration).status == 200)
        }
    }

    @Test("reverses a transfer once, by its mirror image, and refuses what cannot be undone", arguments: TestStoreKind.available)
    func reversals(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member given 50 points who spent 20 of them
            let member = try await app.ledgerProgramWithMember()
            let path = "/v1/programs/shop/members/\(member)"
            let added = try await app.call(.post, "\(path)/adjustments", json: #"{"points":50,"reason":"goodwill"}"#)
            let spent = try await app.call(.post, "\(path)/redemptions", json: #"{"points":20}"#)
            let spentID = try #require(spent.json["id"]?.stringValue)
            let addedID = try #require(added.json["id"]?.stringValue)

            // When the redemption is reversed
            let reversed = try await app.call(.post, "\(path)/ledger/\(spentID)/reversal", json: #"{"reason":"order cancelled"}"#)

            // Then the points are back, and the reversal names what it undid
            #expect(reversed.status == 201)
            #expect(reversed.json["kind"] == .string("reversal"))
            #expect(reversed.json["reverses"] == .string(spentID))
            #expect(reversed.json["from"] == .string("system:redeemed"))
            #expect(reversed.json["to"] == .string("member:available"))
            #expect(try await app.balance(member).json["available"] == .int(50))

            // And it cannot be reversed twice, nor can a reversal, nor an adjustment whose points were spent
            let again = try await app.call(.post, "\(path)/ledger/\(spentID)/reversal", json: #"{"reason":"again"}"#)
            #expect(again.status == 409)
            #expect(again.problemCode == "already_reversed")
            let reversalID = try #require(reversed.json["id"]?.stringValue)
            let ofReversal = try await app.call(.post, "\(path)/ledger/\(reversalID)/reversal", json: #"{"reason":"x"}"#)
            #expect(ofReversal.problemCode == "not_reversible")
            _ = try await app.call(.post, "\(path)/redemptions", json: #"{"points":1}"#)
            let spentAdjustment = try await app.call(.post, "\(path)/ledger/\(addedID)/reversal", json: #"{"reason":"x"}"#)
            #expect(spentAdjustment.status == 409)
            #expect(spentAdjustment.problemCode == "already_spent")
            let unknown = try await app.call(.post, "\(path)/ledger/\(member)/reversal", json: #"{"reason":"x"}"#)
            #expect(unknown.status == 404)
            #expect(try await app.balance(member).json["available"] == .int(49))
        }
    }

    @Test("transfers points between members: 201, 200 for a retry whose answer was lost, 409 and 422",
          arguments: TestStoreKind.available)
    func transfers(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program that lets members transfer points, a member with 128 points and another with none
            let member = try await app.ledgerProgramWithMember(points: #"{"pending_days":0,"allow_transfers":true}"#)
            let other = try #require(try await app.enrol("shop", #"{"external_id":"C-2","channel":"app"}"#)
                .json["id"]?.stringValue)
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                         amount: 12_800, order: "o-1")).status == 201)
            let path = "/v1/programs/shop/members/\(member)/transfers"
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "gift-1"]
            let body = #"{"to":"\#(other)","points":28,"reason":"birthday"}"#

            // When 28 of them are sent to the other member
            let sent = try await app.call(.post, path, json: body, headers: key)

            // Then both sides come back, linked to each other
            #expect(sent.status == 201)
            let out = try #require(sent.json["sent"])
            let into = try #require(sent.json["received"])
            #expect(out["kind"] == .string("transfer") && into["kind"] == .string("transfer"))
            #expect(out["from"] == .string("member:available") && out["to"] == .string("system:transfers"))
            #expect(into["from"] == .string("system:transfers") && into["to"] == .string("member:available"))
            #expect(out["amount"] == .int(28) && into["amount"] == .int(28))
            #expect(out["reason"] == .string("birthday"))
            #expect(out["reference"]?.stringValue == "transfer:\(into["id"]?.stringValue ?? "")")
            #expect(into["reference"]?.stringValue == "transfer:\(out["id"]?.stringValue ?? "")")
            #expect(try await app.balance(member).json["available"] == .int(100))
            #expect(try await app.balance(other).json["available"] == .int(28))
            #expect(try await app.ledger(other).json["items"]?.arrayValue?.first?["id"] == into["id"])

            // When the answer was lost with its HTTP record, a retry gets 200 with what was recorded
            try await app.forgetIdempotencyRecords()
            let retried = try await app.call(.post, path, json: body, headers: key)
            #expect(retried.status == 200)
            #expect(retried.json["sent"]?["id"] == out["id"] && retried.json["received"]?["id"] == into["id"])
            #expect(try await app.balance(member).json["available"] == .int(100), "nothing moved twice")

            let readOnly = try await app.createKey(role: "read_only", program: "shop")
            let refusals: [(String, Reply, Int, String, [String])] = [
                ("more than the balance", try await app.call(.post, path, json: #"{"to":"\#(other)","points":101}"#),
                 409, "insufficient_points", []),
                ("to the sender", try await app.call(.post, path, json: #"{"to":"\#(member)","points":1}"#),
                 422, "validation_failed", ["/to"]),
                ("to nobody", try await app.call(.post, path, json: #"{"to":"0190b1c4-0000-7000-8000-000000000000","points":1}"#),
                 422, "validation_failed", ["/to"]),
                ("no points", try await app.call(.post, path, json: #"{"to":"\#(other)","points":0}"#),
                 422, "validation_failed", ["/points"]),
                ("no recipient", try await app.call(.post, path, json: #"{"points":1}"#), 400, "malformed_request", []),
                ("a read-only key", try await app.call(.post, path, json: #"{"to":"\#(other)","points":1}"#, key: readOnly),
                 403, "insufficient_role", []),
                ("an unknown sender", try await app.call(.post, "/v1/programs/shop/members/\(other)x/transfers",
                                                         json: #"{"to":"\#(member)","points":1}"#), 404, "not_found", []),
            ]
            for (name, reply, status, code, pointers) in refusals {
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
                #expect(reply.isProblem, "\(name)")
                #expect(reply.faultPointers == pointers, "\(name)")
            }
            #expect(try await app.balance(member).json["available"] == .int(100))
            #expect(try await app.balance(other).json["available"] == .int(28))
        }
    }

    @Test("refuses transfers where the program does not allow them", arguments: TestStoreKind.available)
    func transfersNotAllowed(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program that keeps the default (no transfers) and two members, one with points
            let member = try await app.ledgerProgramWithMember()
            let other = try #require(try await app.enrol("shop", #"{"external_id":"C-2","channel":"app"}"#)
                .json["id"]?.stringValue)
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                         amount: 12_800, order: "o-1")).status == 201)

            // When one sends points to the other
            let refused = try await app.call(.post, "/v1/programs/shop/members/\(member)/transfers",
                                             json: #"{"to":"\#(other)","points":1}"#)

            // Then it is refused as the configuration says, and nothing moves
            #expect(refused.status == 409)
            #expect(refused.problemCode == "transfers_not_allowed")
            #expect(refused.isProblem)
            #expect(try await app.balance(member).json["available"] == .int(128))
        }
    }

    @Test("releases or rejects events held for review, and lists and shows events", arguments: TestStoreKind.available)
    func review(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program that holds a member's second and third events within an hour for review
            let member = try await app.ledgerProgramWithMember(
                points: #"{"pending_days":0,"limits":{"events_per_member_per_hour":1,"on_exceed":"review"}}"#)
            let occurredAt = app.recently()
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: occurredAt,
                                                         amount: 1_000, order: "o-1")).status == 201)
            let second = app.purchase(id: "evt-2", member: member, occurredAt: occurredAt, amount: 12_800, order: "o-2")
            let third = app.purchase(id: "evt-3", member: member, occurredAt: occurredAt, amount: 5_000, order: "o-3")
            let held = try await app.postEvent(second)
            #expect(held.json["status"] == .string("review"))
            #expect(held.json["review"]?["held_for"]?.stringValue?.isEmpty == false)
            #expect(try await app.postEvent(third).json["status"] == .string("review"))

            // When an operator looks through what is held, page by page
            let events = "/v1/programs/shop/events"
            let firstPage = try await app.call(.get, "\(events)?limit=1")
            #expect(firstPage.status == 200)
            #expect(firstPage.json["items"]?.arrayValue?.map { $0["id"] } == [.string("evt-2")])
            let cursor = try #require(firstPage.json["next_cursor"]?.stringValue)
            let secondPage = try await app.call(.get, "\(events)?status=review&limit=1&cursor=\(cursor)")
            #expect(secondPage.json["items"]?.arrayValue?.map { $0["id"] } == [.string("evt-3")])
            #expect(try await app.call(.get, "\(events)/evt-2").json == held.json)

            // And releases one and rejects the other
            let integration = try await app.createKey(role: "integration", program: "shop")
            let forbidden = try await app.call(.post, "\(events)/evt-2/release", key: integration)
            #expect(forbidden.status == 403)
            #expect(forbidden.problemCode == "insufficient_role")
            let released = try await app.call(.post, "\(events)/evt-2/release", json: #"{"reason":"known customer"}"#)
            let rejected = try await app.call(.post, "\(events)/evt-3/reject")

            // Then the released one is posted and the rejected one gives nothing
            #expect(released.status == 200)
            #expect(released.json["status"] == .string("posted"))
            #expect(released.json["event"] == held.json["event"])
            #expect(released.json["review"]?["outcome"] == .string("released"))
            #expect(released.json["review"]?["reason"] == .string("known customer"))
            #expect(released.json["awards"]?.arrayValue?.first { $0["unit"] == .string("points") }?["state"]
                    == .string("available"))
            #expect(rejected.status == 200)
            #expect(rejected.json["status"] == .string("rejected"))
            #expect(rejected.json["review"]?["outcome"] == .string("rejected"))
            #expect(try await app.balance(member).json["available"] == .int(138))

            // And each decision stands: repeated, it answers the same; the other decision is a 409
            let again = try await app.call(.post, "\(events)/evt-2/release", json: "{}")
            #expect(again.status == 200)
            #expect(again.json == released.json)
            let reversed = try await app.call(.post, "\(events)/evt-3/release")
            #expect(reversed.status == 409)
            #expect(reversed.problemCode == "not_in_review")
            #expect(reversed.isProblem)
            let neverHeld = try await app.call(.post, "\(events)/evt-1/reject")
            #expect(neverHeld.status == 409)
            #expect(neverHeld.problemCode == "not_in_review")

            // And a retry of an event gets its receipt as it stands
            let retried = try await app.postEvent(second)
            #expect(retried.status == 200)
            #expect(retried.json == released.json)
            #expect(try await app.postEvent(third).json["status"] == .string("rejected"))
            #expect(try await app.call(.get, "\(events)").json["items"] == .array([]))
            #expect(try await app.call(.get, "\(events)?status=rejected").json["items"]?.arrayValue?.map { $0["id"] }
                    == [.string("evt-3")])
            #expect(try await app.balance(member).json["available"] == .int(138))

            let refusals: [(String, Reply, Int, String)] = [
                ("unknown event", try await app.call(.get, "\(events)/evt-404"), 404, "not_found"),
                ("release of an unknown event", try await app.call(.post, "\(events)/evt-404/release"), 404, "not_found"),
                ("posted events are not listed", try await app.call(.get, "\(events)?status=posted"), 400,
                 "malformed_request"),
                ("a reason too long", try await app.call(.post, "\(events)/evt-3/reject",
                                                         json: #"{"reason":"\#(String(repeating: "x", count: 201))"}"#),
                 422, "validation_failed"),
            ]
            for (name, reply, status, code) in refusals {
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
            }
        }
    }

    @Test("runs the ledger's jobs as of now or earlier, never later", arguments: TestStoreKind.available)
    func jobs(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a member with 128 points, 100 of them on a hold that lasts a second
            let member = try await app.ledgerProgramWithMember()
            #expect(try await app.postEvent(app.purchase(id: "evt-1", member: member, occurredAt: app.recently(),
                                                         amount: 12_800, order: "o-1")).status == 201)
            let path = "/v1/programs/shop/members/\(member)"
            let hold = try #require(try await app.call(.post, "\(path)/holds", json: #"{"points":100,"ttl_seconds":1}"#)
                .json["id"]?.stringValue)
            try await Task.sleep(for: .milliseconds(1_100))

            // When the lapse job runs as of now
            let lapsed = try await app.call(.post, "/v1/programs/shop/jobs/lapse-holds")

            // Then the hold lapses and its points are back
            #expect(lapsed.status == 200)
            #expect(lapsed.json["job"] == .string("lapse-holds"))
            #expect(lapsed.json["members"] == .int(1))
            #expect(lapsed.json["transfers"] == .int(1))
            #expect(lapsed.json["points"] == .int(100))
            #expect(try await app.call(.get, "\(path)/holds/\(hold)").json["status"] == .string("lapsed"))
            #expect(try await app.balance(member).json["available"] == .int(128))
            let again = try await app.call(.post, "/v1/programs/shop/jobs/lapse-holds", json: "{}")
            #expect(again.json["transfers"] == .int(0), "running again does nothing new")

            // And a job as of an earlier instant answers as of that instant
            let yesterday = Timestamp.rfc3339(Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 86_400).rounded(.down)))
            let past = try await app.call(.post, "/v1/programs/shop/jobs/expire-points", json: #"{"as_of":"\#(yesterday)"}"#)
            #expect(past.status == 200)
            #expect(past.json["as_of"] == .string(yesterday))

            let refusals: [(String, Reply, Int, String, [String])] = [
                ("as_of in the future",
                 try await app.call(.post, "/v1/programs/shop/jobs/expire-points",
                                    json: #"{"as_of":"\#(Timestamp.rfc3339(Date().addingTimeInterval(3_600)))"}"#),
                 422, "validation_failed", ["/as_of"]),
                ("malformed as_of", try await app.call(.post, "/v1/programs/shop/jobs/expire-points", json: #"{"as_of":"soon"}"#),
                 422, "validation_failed", ["/as_of"]),
                ("unknown job", try await app.call(.post, "/v1/programs/shop/jobs/tidy-up"), 404, "not_found", []),
                ("integration key", try await app.call(.post, "/v1/programs/shop/jobs/expire-points",
                                                       key: try await app.createKey(role: "integration")),
                 403, "insufficient_role", []),
            ]
            for (name, reply, status, code, pointers) in refusals {
                #expect(reply.status == status, "\(name)")
                #expect(reply.problemCode == code, "\(name)")
                #expect(reply.faultPointers == pointers, "\(name)")
            }
        }
    }
}

extension TestApp {
    /// Creates `shop` with a point and a unit of growth per ¥1 of purchases (by default available at
    /// once; `points` is the config's points section) and enrols member C-1; returns the member's id.
    func ledgerProgramWithMember(points: String = #"{"pending_days":0}"#) async throws -> String {
        #expect(try await createProgram().status == 201)
        let config = try await call(.put, "/v1/programs/shop/config", json: """
            {"currency":"CNY","time_zone":"Asia/Shanghai","points":\(points),
             "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                              {"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}]}
            """)
        #expect(config.status == 200)
        let enrolled = try await enrol("shop", #"{"external_id":"C-1","channel":"store"}"#)
        return try #require(enrolled.json["id"]?.stringValue)
    }

    /// An instant an hour ago, with milliseconds, as the API writes times.
    func recently() -> String {
        Timestamp.rfc3339(Date().addingTimeInterval(-3_600).addingTimeInterval(0.123))
    }

    func purchase(id: String, member: String, occurredAt: String, amount: Int, order: String) -> String {
        #"""
        {"id":"\#(id)","type":"purchase","member":"\#(member)","occurred_at":"\#(occurredAt)","amount":\#(amount),
         "order_id":"\#(order)","items":[{"sku":"SKU-1","category":"skincare","quantity":2,"amount":\#(amount)}],
         "channel":"store","store":"SH-01","attributes":{"campaign":"winter"}}
        """#
    }

    func refund(id: String, member: String, amount: Int, order: String) -> String {
        #"{"id":"\#(id)","type":"refund","member":"\#(member)","occurred_at":"\#(recently())","amount":\#(amount),"order_id":"\#(order)"}"#
    }

    func postEvent(_ json: String, program: String = "shop") async throws -> Reply {
        try await call(.post, "/v1/programs/\(program)/events", json: json)
    }

    func balance(_ member: String, program: String = "shop") async throws -> Reply {
        try await call(.get, "/v1/programs/\(program)/members/\(member)/balance")
    }

    func ledger(_ member: String, query: String = "", program: String = "shop") async throws -> Reply {
        try await call(.get, "/v1/programs/\(program)/members/\(member)/ledger\(query)")
    }
}
