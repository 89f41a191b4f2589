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
}
