import Foundation
import PatronCore
@testable import PatronServer
import PatronTestSupport
import Testing

/// Benefits over HTTP: the effective set by level with labels and quotas, uses that never pass the
/// quota under concurrency, retries by reference, and the refusals.
@Suite("Benefit API")
struct BenefitAPITests {
    static let config = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "earning_rules":[{"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
         "tiers":{"levels":[{"code":"silver","name":"银卡","threshold":0},{"code":"gold","name":"金卡","threshold":5000}]},
         "benefits":[
           {"code":"skip_ads","name":"No ads","label":"免广告","kind":"access","levels":["silver","gold"]},
           {"code":"free_shipping","name":"Free shipping","label":"每月10次免运费","kind":"quota",
            "quota":{"quantity":10,"per":"month"},"levels":["gold"]},
           {"code":"gold_discount","name":"5% off","kind":"percent_discount","value":5,"levels":["gold"]}]}
        """

    @Test("lists the member's benefits by level, and 100 simultaneous uses of a 10-per-month quota grant exactly 10",
          arguments: TestStoreKind.available)
    func entitlements(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: Self.config).status == 200)
            let member = try #require(try await app.enrol("shop", #"{"external_id":"B-1","channel":"store"}"#).json["id"]?.stringValue)
            let base = "/v1/programs/shop/members/\(member)/entitlements"

            // A silver member has what silver carries, and cannot use gold's quota
            var set = try await app.call(.get, base)
            #expect(set.status == 200)
            #expect(set.json["level"] == .string("silver"))
            #expect(set.json["items"]?.arrayValue?.compactMap { $0["benefit"]?.stringValue } == ["skip_ads"])
            #expect(set.json["items"]?.arrayValue?.first?["label"] == .string("免广告"))
            var refused = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-0"}"#)
            #expect(refused.status == 409)
            #expect(refused.problemCode == "not_entitled")

            // Gold brings the quota, full, renewing on the 1st of next month in Shanghai
            let purchase = try await app.call(.post, "/v1/programs/shop/events", json: """
                {"id":"b-1","type":"purchase","member":"\(member)","occurred_at":"\(app.recently())","amount":500000,"order_id":"b-1"}
                """)
            #expect(purchase.status == 201)
            set = try await app.call(.get, base)
            #expect(set.json["items"]?.arrayValue?.compactMap { $0["benefit"]?.stringValue } ==
                    ["skip_ads", "free_shipping", "gold_discount"])
            let shipping = try #require(set.json["items"]?.arrayValue?.first { $0["benefit"] == .string("free_shipping") })
            #expect(shipping["quota"]?["remaining"] == .int(10))
            #expect(shipping["via"]?["level"] == .string("gold"))
            let resets = try #require(shipping["quota"]?["resets_at"]?.stringValue)
            #expect(resets.hasSuffix("T16:00:00.000Z"), "midnight in Shanghai: \(resets)")

            // 100 uses at once: exactly 10 succeed, the rest are refused with nothing left
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-\#(index)"}"#).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 10)
            #expect(statuses.filter { $0 == 409 }.count == 90)
            set = try await app.call(.get, base)
            let after = try #require(set.json["items"]?.arrayValue?.first { $0["benefit"] == .string("free_shipping") })
            #expect(after["quota"]?["used"] == .int(10))
            #expect(after["quota"]?["remaining"] == .int(0))
            refused = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-late"}"#)
            #expect(refused.status == 409)
            #expect(refused.problemCode == "quota_exceeded")
            #expect(refused.json["remaining"] == .int(0))
            #expect(refused.json["requested"] == .int(1))
        }
    }

    static let rewardConfig = """
        {"currency":"CNY","time_zone":"Asia/Shanghai",
         "earning_rules":[{"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
         "tiers":{"levels":[{"code":"silver","name":"银卡","threshold":0},
                            {"code":"gold","name":"金卡","threshold":5000,
                             "upgrade_reward":{"points":100,"benefits":[{"benefit":"welcome_gift","quantity":3},
                                                                        {"benefit":"free_shipping","quantity":2}]}}]},
         "benefits":[
           {"code":"welcome_gift","name":"Welcome gift","label":"升级礼","kind":"partner_voucher","value":2000},
           {"code":"free_shipping","name":"Free shipping","kind":"quota","quota":{"quantity":1,"per":"month"},
            "levels":["gold"]}]}
        """

    @Test("an upgrade reward grants uses of benefits, drawn on after the level's quota, never past what was granted",
          arguments: TestStoreKind.available)
    func grants(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: Self.rewardConfig).status == 200)
            let member = try #require(try await app.enrol("shop", #"{"external_id":"G-1","channel":"store"}"#).json["id"]?.stringValue)
            let base = "/v1/programs/shop/members/\(member)/entitlements"
            #expect(try await app.call(.get, base).json["items"]?.arrayValue?.isEmpty == true)

            // When the member reaches gold (twice over: the second purchase reaches nothing new)
            for number in 1...2 {
                #expect(try await app.call(.post, "/v1/programs/shop/events", json: """
                    {"id":"g-\(number)","type":"purchase","member":"\(member)","occurred_at":"\(app.recently())",
                     "amount":500000,"order_id":"g-\(number)"}
                    """).status == 201)
            }

            // Then the reward's uses are granted once, beside the level's monthly quota
            var set = try await app.call(.get, base)
            let items = try #require(set.json["items"]?.arrayValue)
            #expect(items.compactMap { $0["benefit"]?.stringValue } == ["welcome_gift", "free_shipping"])
            #expect(items[0]["granted"] == .object(["granted": .int(3), "used": .int(0), "remaining": .int(3)]))
            #expect(items[0]["quota"] == nil)
            #expect(items[0]["via"] == .object([:]), "granted, not carried by the level")
            #expect(items[1]["quota"]?["remaining"] == .int(1))
            #expect(items[1]["granted"]?["remaining"] == .int(2))
            #expect(try await app.call(.get, "/v1/programs/shop/members/\(member)/balance").json["available"] == .int(100))

            // Free shipping: the month's quota first, then the granted uses, then nothing
            var sources: [String] = []
            for number in 1...3 {
                let use = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"ship-\#(number)"}"#)
                #expect(use.status == 201)
                sources.append(use.json["source"]?.stringValue ?? "?")
            }
            #expect(sources == ["quota", "grant", "grant"])
            var refused = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"ship-4"}"#)
            #expect(refused.status == 409)
            #expect(refused.problemCode == "quota_exceeded")
            let retry = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"ship-2"}"#)
            #expect(retry.status == 200)
            #expect(retry.json["source"] == .string("grant"))

            // 20 simultaneous uses of 3 granted gifts: exactly 3 succeed
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await app.call(.post, "\(base)/welcome_gift/use", json: #"{"reference":"gift-\#(index)"}"#).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 3)
            #expect(statuses.filter { $0 == 409 }.count == 17)
            set = try await app.call(.get, base)
            #expect(set.json["items"]?.arrayValue?.first?["granted"]?["remaining"] == .int(0))
            refused = try await app.call(.post, "\(base)/welcome_gift/use", json: #"{"reference":"gift-x","quantity":1}"#)
            #expect(refused.json["remaining"] == .int(0))
        }
    }

    @Test("an upgrade reward's benefits must be in the catalogue", arguments: [TestStoreKind.sqlite])
    func rewardValidation(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            let unknown = Self.rewardConfig.replacingOccurrences(of: #""benefit":"welcome_gift""#, with: #""benefit":"spa_day""#)
            var reply = try await app.call(.put, "/v1/programs/shop/config", json: unknown)
            #expect(reply.status == 422)
            #expect(reply.faultPointers == ["/tiers/levels/1/upgrade_reward/benefits/0/benefit"])
            let empty = Self.rewardConfig.replacingOccurrences(
                of: #""upgrade_reward":{"points":100,"benefits":[{"benefit":"welcome_gift","quantity":3},"#,
                with: #""upgrade_reward":{"benefits":[],"x":[{"benefit":"welcome_gift","quantity":3},"#)
            reply = try await app.call(.put, "/v1/programs/shop/config", json: empty)
            #expect(reply.status == 422)
            #expect(Set(reply.faultPointers) == ["/tiers/levels/1/upgrade_reward", "/tiers/levels/1/upgrade_reward/x"])
        }
    }

    @Test("a use is once per reference, all or nothing, and refused where it cannot be", arguments: TestStoreKind.available)
    func uses(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: Self.config).status == 200)
            let member = try #require(try await app.enrol("shop", #"{"external_id":"B-2","channel":"store"}"#).json["id"]?.stringValue)
            _ = try await app.call(.post, "/v1/programs/shop/events", json: """
                {"id":"b-2","type":"purchase","member":"\(member)","occurred_at":"\(app.recently())","amount":500000,"order_id":"b-2"}
                """)
            let base = "/v1/programs/shop/members/\(member)/entitlements"

            let first = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-1","quantity":3}"#)
            #expect(first.status == 201)
            #expect(first.json["quota"]?["remaining"] == .int(7))
            let again = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-1","quantity":3}"#)
            #expect(again.status == 200)
            #expect(again.json["id"] == first.json["id"])
            #expect(again.json["quota"]?["remaining"] == .int(7))
            let reused = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-1","quantity":2}"#)
            #expect(reused.status == 409)
            #expect(reused.problemCode == "reference_reused")

            // More than is left: nothing is used
            let tooMany = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-2","quantity":8}"#)
            #expect(tooMany.status == 409)
            #expect(tooMany.problemCode == "quota_exceeded")
            #expect(tooMany.json["remaining"] == .int(7))
            let exact = try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-2","quantity":7}"#)
            #expect(exact.status == 201)
            #expect(exact.json["quota"]?["remaining"] == .int(0))

            let refusals: [(String, String, Int, String?)] = [
                ("skip_ads", #"{"reference":"x"}"#, 409, "no_quota"),
                ("nothing", #"{"reference":"x"}"#, 404, nil),
                ("free_shipping", #"{"reference":"  "}"#, 422, nil),
                ("free_shipping", #"{"reference":"x","quantity":0}"#, 422, nil),
                ("free_shipping", #"{"quantity":1}"#, 400, nil),
            ]
            for (benefit, body, status, code) in refusals {
                let reply = try await app.call(.post, "\(base)/\(benefit)/use", json: body)
                #expect(reply.status == status, "\(benefit) \(body)")
                #expect(reply.isProblem, "\(benefit) \(body)")
                if let code { #expect(reply.problemCode == code, "\(benefit) \(body)") }
            }

            // A read-only key may look, not use
            let readOnly = try await app.createKey(role: "read_only")
            #expect(try await app.call(.get, base, key: readOnly).status == 200)
            #expect(try await app.call(.post, "\(base)/free_shipping/use", json: #"{"reference":"order-3"}"#,
                                       key: readOnly).status == 403)
        }
    }
}
