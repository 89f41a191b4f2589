import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// Paid plans on a real store with the clock in hand: trials, periods by the program's calendar,
/// payments counted once, renewals, cancellations now (with the prorated refund) or at the period's
/// end, the expiry job, and what a plan changes for the member (`member.plan`, benefits).
@Suite("Subscriptions on the stores")
struct SubscriptionEngineTests {
    typealias T = TierEngineTests

    static func program(_ engine: Engine) async throws {
        _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY", timeZone: "Asia/Shanghai"),
                                           by: T.owner)
        _ = try await engine.updateConfig(programCode: "shop", document: try T.json("""
            {"currency":"CNY","time_zone":"Asia/Shanghai",
             "earning_rules":[{"code":"plus_bonus","on":"check_in","when":"member.plan == 'plus'","award":"9"}],
             "tiers":{"levels":[{"code":"silver","name":"银卡","threshold":0}]},
             "plans":[{"code":"plus","name":"Plus","price":1900,"period":"month","trial_days":7,"stacks_with_tier":false},
                      {"code":"annual","name":"Annual","price":9900,"period":"year","auto_renew":true}],
             "benefits":[{"code":"silver_ads","name":"No ads","kind":"access","levels":["silver"]},
                         {"code":"plus_shipping","name":"Free shipping","kind":"quota","quota":{"quantity":5,"per":"month"},
                          "plans":["plus"]},
                         {"code":"annual_lounge","name":"Lounge","kind":"access","plans":["annual"]}]}
            """), expectedVersion: nil, by: T.owner)
    }

    static func subscribe(_ engine: Engine, _ member: String, _ body: String) async throws -> (Subscription, Bool) {
        let result = try await engine.subscribe(programCode: "shop", memberID: member, body: try T.json(body), by: T.owner)
        return (result.subscription, result.created)
    }

    @Test("a plan with a trial: one payment counted once, benefits and member.plan while it runs, a prorated refund when cancelled",
          arguments: TestStoreKind.available)
    func trialAndCancelNow(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = T.Clock("2026-01-31T10:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            try await Self.program(engine)
            let member = try await T.enrol(engine, "S")

            let (plus, created) = try await Self.subscribe(engine, member, #"{"plan":"plus","payment_ref":"pay-1","paid_amount":1900}"#)
            #expect(created)
            #expect(plus.trialEndsAt == T.at("2026-02-07T10:00:00+08:00"))
            #expect(plus.periodEnd == T.at("2026-03-07T10:00:00+08:00"), "a calendar month after the trial")
            let (again, createdAgain) = try await Self.subscribe(engine, member, #"{"plan":"plus","payment_ref":"pay-1","paid_amount":1900}"#)
            #expect(!createdAgain)
            #expect(again.id == plus.id)
            await #expect(throws: EngineError.conflict(code: "already_subscribed",
                                                       detail: "The member already has 'plus' running; renew it instead.")) {
                _ = try await Self.subscribe(engine, member, #"{"plan":"plus","payment_ref":"pay-2","paid_amount":1900}"#)
            }
            await #expect(throws: EngineError.self) {
                _ = try await Self.subscribe(engine, member, #"{"plan":"gold","payment_ref":"pay-3","paid_amount":1}"#)
            }
            #expect(try await engine.subscriptions(programCode: "shop", memberID: member, by: T.owner).count == 1)

            // While it runs: its benefits, and not the level's (it does not stack); rules see the plan
            var entitlements = try await engine.entitlements(programCode: "shop", memberID: member, by: T.owner)
            #expect(entitlements.plans == ["plus"])
            #expect(entitlements.items.map(\.benefit.code) == ["plus_shipping"])
            clock.set("2026-02-21T10:00:00+08:00")
            let checkIn = try await engine.recordEvent(programCode: "shop", body: try T.json("""
                {"id":"c1","type":"check_in","member":"\(member)","occurred_at":"2026-02-10T10:00:00+08:00"}
                """), by: T.owner).receipt
            #expect(checkIn.awards.first { $0.rule == "plus_bonus" }?.amount == 9)

            // Cancelled now, halfway through the first paid period (7 Feb to 7 Mar, 28 days): half back
            let cancelled = try await engine.cancelSubscription(programCode: "shop", memberID: member, subscriptionID: plus.id,
                                                                body: try T.json(#"{"at":"now"}"#), by: T.owner)
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.refundAmount == 950)
            #expect(cancelled.endedAt == T.at("2026-02-21T10:00:00+08:00"))
            entitlements = try await engine.entitlements(programCode: "shop", memberID: member, by: T.owner)
            #expect(entitlements.plans.isEmpty)
            #expect(entitlements.items.map(\.benefit.code) == ["silver_ads"])
            let later = try await engine.recordEvent(programCode: "shop", body: try T.json("""
                {"id":"c2","type":"check_in","member":"\(member)","occurred_at":"2026-02-21T10:00:00+08:00"}
                """), by: T.owner).receipt
            #expect(!later.awards.contains { $0.rule == "plus_bonus" })
            await #expect(throws: EngineError.self) {
                _ = try await engine.renewSubscription(programCode: "shop", memberID: member, subscriptionID: plus.id,
                                                       body: try T.json(#"{"payment_ref":"pay-9","paid_amount":1900}"#), by: T.owner)
            }

            // Cancelled in its trial, the paid period is all unused: all of it back
            clock.set("2026-04-01T10:00:00+08:00")
            let (trial, _) = try await Self.subscribe(engine, member, #"{"plan":"plus","payment_ref":"pay-4","paid_amount":1900}"#)
            clock.set("2026-04-03T10:00:00+08:00")
            let ended = try await engine.cancelSubscription(programCode: "shop", memberID: member, subscriptionID: trial.id,
                                                            body: try T.json(#"{"at":"now"}"#), by: T.owner)
            #expect(ended.refundAmount == 1900, "the whole paid period is unused")
        }
    }

    @Test("renewals extend by a period, counted once; a cancellation at period end and the expiry job end it there",
          arguments: TestStoreKind.available)
    func renewAndExpire(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = T.Clock("2026-03-01T00:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            try await Self.program(engine)
            let member = try await T.enrol(engine, "A")
            let (annual, _) = try await Self.subscribe(engine, member,
                                                       #"{"plan":"annual","payment_ref":"y-1","paid_amount":9900}"#)
            #expect(annual.periodEnd == T.at("2027-03-01T00:00:00+08:00"))
            #expect(annual.autoRenew)

            func renew(_ ref: String) async throws -> (Subscription, Bool) {
                let result = try await engine.renewSubscription(
                    programCode: "shop", memberID: member, subscriptionID: annual.id,
                    body: try T.json(#"{"payment_ref":"\#(ref)","paid_amount":9900}"#), by: T.owner)
                return (result.subscription, result.created)
            }
            clock.set("2027-02-20T00:00:00+08:00")
            var (renewed, created) = try await renew("y-2")
            #expect(created)
            #expect(renewed.periodStart == T.at("2027-03-01T00:00:00+08:00"))
            #expect(renewed.periodEnd == T.at("2028-03-01T00:00:00+08:00"))
            (renewed, created) = try await renew("y-2")
            #expect(!created)
            #expect(renewed.periodEnd == T.at("2028-03-01T00:00:00+08:00"), "the same payment extends once")

            // Cancelled at period end: still running until then
            clock.set("2027-06-01T00:00:00+08:00")
            let cancelled = try await engine.cancelSubscription(programCode: "shop", memberID: member, subscriptionID: annual.id,
                                                                body: try T.json(#"{"at":"period_end"}"#), by: T.owner)
            #expect(cancelled.status == .active)
            #expect(cancelled.cancelAtPeriodEnd)
            #expect(!cancelled.autoRenew)
            #expect(cancelled.refundAmount == nil)
            #expect(try await engine.entitlements(programCode: "shop", memberID: member, by: T.owner).plans == ["annual"])

            // The job ends it at the period's end, not before
            clock.set("2028-03-05T00:00:00+08:00")
            var report = try await engine.runJob(programCode: "shop", job: "expire-subscriptions",
                                                 asOf: T.at("2028-02-29T23:59:59.999+08:00"), by: T.owner)
            #expect(report.subscriptionsEnded == 0)
            report = try await engine.runJob(programCode: "shop", job: "expire-subscriptions", asOf: nil, by: T.owner)
            #expect(report.subscriptionsEnded == 1)
            let expired = try #require(try await engine.subscriptions(programCode: "shop", memberID: member, by: T.owner).first)
            #expect(expired.status == .expired)
            #expect(expired.endedAt == T.at("2028-03-01T00:00:00+08:00"))
            report = try await engine.runJob(programCode: "shop", job: "expire-subscriptions", asOf: nil, by: T.owner)
            #expect(report.subscriptionsEnded == 0)
            #expect(try await engine.entitlements(programCode: "shop", memberID: member, by: T.owner).plans.isEmpty)

            // A lapsed subscription renewed restarts now
            let (restarted, _) = try await renew("y-3")
            #expect(restarted.status == .active)
            #expect(restarted.periodStart == T.at("2028-03-05T00:00:00+08:00"))
            #expect(try await engine.entitlements(programCode: "shop", memberID: member, by: T.owner).plans == ["annual"])
        }
    }

    @Test("the prorated refund is the unused share, rounded down, and never more than was paid")
    func proratedRefund() {
        let start = T.at("2026-01-01T00:00:00Z"), end = T.at("2026-01-04T00:00:00Z")
        #expect(PaidPlan.proratedRefund(paid: 1000, start: start, end: end, cancelledAt: T.at("2026-01-02T00:00:00Z")) == 666)
        #expect(PaidPlan.proratedRefund(paid: 1000, start: start, end: end, cancelledAt: start) == 1000)
        #expect(PaidPlan.proratedRefund(paid: 1000, start: start, end: end, cancelledAt: T.at("2025-12-01T00:00:00Z")) == 1000)
        #expect(PaidPlan.proratedRefund(paid: 1000, start: start, end: end, cancelledAt: end) == 0)
        #expect(PaidPlan.proratedRefund(paid: 0, start: start, end: end, cancelledAt: start) == 0)
    }
}
