import Foundation
import PatronCore
@testable import PatronServer
import PatronTestSupport
import Testing

/// Paid plans over HTTP: recording, retrying a payment, renewing, cancelling, and the refusals.
@Suite("Subscription API")
struct SubscriptionAPITests {
    @Test("records, renews and cancels subscriptions, and refuses what cannot be", arguments: TestStoreKind.available)
    func subscriptions(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: """
                {"currency":"CNY","time_zone":"Asia/Shanghai",
                 "plans":[{"code":"plus","name":"Plus","price":1900,"period":"days","period_days":30,"trial_days":7}]}
                """).status == 200)
            let member = try #require(try await app.enrol("shop", #"{"external_id":"P-1","channel":"app"}"#).json["id"]?.stringValue)
            let base = "/v1/programs/shop/members/\(member)/subscriptions"

            let created = try await app.call(.post, base, json: #"{"plan":"plus","payment_ref":"pay-1","paid_amount":1900}"#)
            #expect(created.status == 201)
            #expect(created.json["status"] == .string("active"))
            #expect(created.json["in_trial"] == .bool(true))
            #expect(created.json["paid_amount"] == .int(1900))
            let id = try #require(created.json["id"]?.stringValue)
            let retried = try await app.call(.post, base, json: #"{"plan":"plus","payment_ref":"pay-1","paid_amount":1900}"#)
            #expect(retried.status == 200)
            #expect(retried.json["id"] == .string(id))

            let renewed = try await app.call(.post, "\(base)/\(id)/renew", json: #"{"payment_ref":"pay-2","paid_amount":1900}"#)
            #expect(renewed.status == 201)
            #expect(renewed.json["period_start"] == created.json["period_end"])
            #expect(try await app.call(.post, "\(base)/\(id)/renew", json: #"{"payment_ref":"pay-2","paid_amount":1900}"#).status == 200)

            let refusals: [(String, String, Int)] = [
                (base, #"{"plan":"nope","payment_ref":"x","paid_amount":1}"#, 422),
                (base, #"{"plan":"plus","payment_ref":"pay-5","paid_amount":1900}"#, 409),
                (base, #"{"plan":"plus","payment_ref":"pay-6","paid_amount":-1}"#, 422),
                (base, #"{"plan":"plus","payment_ref":"pay-7","paid_amount":1,"started_at":"2099-01-01T00:00:00Z"}"#, 422),
                ("\(base)/0190b1c4-0000-7000-8000-000000000000/renew", #"{"payment_ref":"pay-8","paid_amount":1}"#, 404),
                ("\(base)/\(id)/cancel", #"{"at":"tomorrow"}"#, 400),
                ("\(base)/\(id)/renew", #"{"payment_ref":"pay-1","paid_amount":1900}"#, 200),
            ]
            for (path, body, status) in refusals {
                let reply = try await app.call(.post, path, json: body)
                #expect(reply.status == status, "\(path) \(body)")
            }

            let cancelled = try await app.call(.post, "\(base)/\(id)/cancel", json: #"{"at":"now"}"#)
            #expect(cancelled.status == 200)
            #expect(cancelled.json["status"] == .string("cancelled"))
            #expect(cancelled.json["refund_amount"] == .int(3800), "still in the trial: both paid periods are unused")
            let again = try await app.call(.post, "\(base)/\(id)/cancel", json: #"{"at":"now"}"#)
            #expect(again.status == 409)
            #expect(again.problemCode == "subscription_ended")
            let list = try await app.call(.get, base)
            #expect(list.json["items"]?.arrayValue?.count == 1)
        }
    }

    @Test("a plan's cash-back: paid at renewal, listed with the payments, in the balance and the ledger, spent by a redemption",
          arguments: TestStoreKind.available)
    func cashback(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            #expect(try await app.createProgram().status == 201)
            #expect(try await app.call(.put, "/v1/programs/shop/config", json: """
                {"currency":"CNY","time_zone":"Asia/Shanghai",
                 "plans":[{"code":"club","name":"Club","price":900,"period":"days","period_days":30,"reward_percent":2}]}
                """).status == 200)
            let member = try #require(try await app.enrol("shop", #"{"external_id":"P-1","channel":"app"}"#).json["id"]?.stringValue)
            let base = "/v1/programs/shop/members/\(member)/subscriptions"
            let day = 86_400.0, now = Date()
            func time(_ daysAgo: Double) -> String {
                Date(timeIntervalSince1970: (now.timeIntervalSince1970 - daysAgo * day).rounded(.down))
                    .formatted(.iso8601)
            }

            // Started 40 days ago for 30 days; renewed 10 days after that period ended (before
            // the expiry job ran): it continues from the period's end
            let created = try await app.call(.post, base, json: """
                {"plan":"club","payment_ref":"pay-1","paid_amount":900,"started_at":"\(time(40))"}
                """)
            #expect(created.status == 201)
            let id = try #require(created.json["id"]?.stringValue)
            for (client, daysAgo, amount) in [("p-1", 20.0, 10_000), ("p-2", 5.0, 5_000), ("p-0", 45.0, 90_000)] {
                #expect(try await app.postEvent("""
                    {"id":"\(client)","type":"purchase","member":"\(member)","occurred_at":"\(time(daysAgo))",
                     "amount":\(amount),"order_id":"\(client)"}
                    """).status == 201)
            }
            let first = try await app.call(.post, "\(base)/\(id)/renew", json: #"{"payment_ref":"pay-2","paid_amount":900}"#)
            #expect(first.status == 201)
            #expect(first.json["reward"]?["spend"] == .int(10_000), "the first period's purchase; not the one before it began")
            #expect(first.json["reward"]?["amount"] == .int(200))
            #expect(first.json["reward"]?["to"] == created.json["period_end"])
            #expect(try await app.call(.post, "\(base)/\(id)/renew", json: #"{"payment_ref":"pay-2","paid_amount":900}"#)
                .json["reward"] == first.json["reward"])

            // Paid ahead at once: the days since that period ended count now
            let second = try await app.call(.post, "\(base)/\(id)/renew", json: #"{"payment_ref":"pay-3","paid_amount":900}"#)
            #expect(second.json["reward"]?["from"] == created.json["period_end"])
            #expect(second.json["reward"]?["spend"] == .int(5_000))
            #expect(second.json["reward"]?["amount"] == .int(100))

            let payments = try await app.call(.get, "\(base)/\(id)/payments")
            #expect(payments.status == 200)
            #expect(payments.json["items"]?.arrayValue?.map { $0["reward"]?["amount"] ?? .null } == [.null, .int(200), .int(100)])
            #expect(try await app.call(.get, "\(base)/0190b1c4-0000-7000-8000-000000000000/payments").status == 404)

            let members = "/v1/programs/shop/members/\(member)"
            var balance = try await app.call(.get, "\(members)/balance")
            #expect(balance.json["cashback"] == .object(["available": .int(300), "earned": .int(300), "redeemed": .int(0)]))
            let ledger = try await app.call(.get, "\(members)/ledger")
            let cashback = ledger.json["items"]?.arrayValue?.filter { $0["unit"] == .string("cashback") } ?? []
            #expect(cashback.count == 2)
            #expect(cashback.allSatisfy { $0["reference"] == .string("subscription:\(id)") })

            let spent = try await app.call(.post, "\(members)/redemptions", json: #"{"cashback":250,"order_id":"o-1"}"#)
            #expect(spent.status == 201)
            #expect(spent.json["unit"] == .string("cashback"))
            let short = try await app.call(.post, "\(members)/redemptions", json: #"{"cashback":100}"#)
            #expect(short.status == 409)
            #expect(short.problemCode == "insufficient_cashback")
            #expect(short.json["available"] == .int(50))
            #expect(try await app.call(.post, "\(members)/redemptions", json: #"{"cashback":1,"points":1}"#).status == 422)
            #expect(try await app.call(.post, "\(members)/redemptions", json: #"{"reason":"x"}"#).status == 422)
            balance = try await app.call(.get, "\(members)/balance")
            #expect(balance.json["cashback"]?["available"] == .int(50))
        }
    }
}
