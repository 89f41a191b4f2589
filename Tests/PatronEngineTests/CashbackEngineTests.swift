import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// Paid plans' cash-back (`reward_percent`, `reward_cap`) on a real store with the clock in hand:
/// issued at renewal for the purchases less refunds made while subscribed since the previous
/// renewal, capped per plan year, paid once into the member's cash-back account, and spent by a
/// redemption.
@Suite("Plan cash-back on the stores")
struct CashbackEngineTests {
    typealias T = TierEngineTests

    static func program(_ engine: Engine) async throws {
        _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY", timeZone: "Asia/Shanghai"),
                                           by: T.owner)
        _ = try await engine.updateConfig(programCode: "shop", document: try T.json("""
            {"currency":"CNY","time_zone":"Asia/Shanghai",
             "plans":[{"code":"exec","name":"Executive","price":12000,"period":"year","reward_percent":2.5,"reward_cap":3000},
                      {"code":"club","name":"Club","price":900,"period":"month","reward_percent":1.5,"reward_cap":400},
                      {"code":"plain","name":"Plain","price":900,"period":"month"}]}
            """), expectedVersion: nil, by: T.owner)
    }

    struct Shop {
        let engine: Engine
        let clock: T.Clock
        let member: String

        func subscribe(_ plan: String, _ ref: String) async throws -> Subscription {
            try await engine.subscribe(programCode: "shop", memberID: member,
                                       body: try T.json(#"{"plan":"\#(plan)","payment_ref":"\#(ref)","paid_amount":1}"#),
                                       by: T.owner).subscription
        }

        func renew(_ subscription: Subscription, _ ref: String) async throws
            -> (subscription: Subscription, payment: SubscriptionPayment, created: Bool) {
            try await engine.renewSubscription(programCode: "shop", memberID: member, subscriptionID: subscription.id,
                                               body: try T.json(#"{"payment_ref":"\#(ref)","paid_amount":1}"#), by: T.owner)
        }

        func purchase(_ id: String, at time: String, _ amount: Int64) async throws {
            _ = try await engine.recordEvent(programCode: "shop", body: try T.json("""
                {"id":"\(id)","type":"purchase","member":"\(member)","occurred_at":"\(time)","amount":\(amount),"order_id":"\(id)"}
                """), by: T.owner)
        }

        func refund(_ id: String, of order: String, at time: String, _ amount: Int64) async throws {
            _ = try await engine.recordEvent(programCode: "shop", body: try T.json("""
                {"id":"\(id)","type":"refund","member":"\(member)","occurred_at":"\(time)","amount":\(amount),"order_id":"\(order)"}
                """), by: T.owner)
        }

        func cashback() async throws -> MemberAccount {
            try await engine.balance(programCode: "shop", memberID: member, by: T.owner).cashback
        }

        func cashbackTransfers() async throws -> [Transfer] {
            try await engine.ledger(programCode: "shop", memberID: member, limit: 100, cursor: nil, by: T.owner).items
                .filter { $0.unit == .cashback }
        }
    }

    static func shop(_ store: any PatronStore, at time: String) async throws -> Shop {
        let clock = T.Clock(time)
        let engine = Engine(store: store, clock: { clock.now() })
        try await program(engine)
        return Shop(engine: engine, clock: clock, member: try await T.enrol(engine, "C"))
    }

    @Test("a yearly plan pays its percent of the year's net spend at renewal, once, and caps what a plan year gives",
          arguments: TestStoreKind.available)
    func yearlyReward(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let shop = try await Self.shop(store, at: "2026-01-10T09:00:00+08:00")
            try await shop.purchase("before", at: "2026-01-09T12:00:00+08:00", 100_000)
            let exec = try await shop.subscribe("exec", "e-1")

            shop.clock.set("2027-01-05T09:00:00+08:00")
            try await shop.purchase("p1", at: "2026-03-01T12:00:00+08:00", 40_000)
            try await shop.purchase("p2", at: "2026-06-01T12:00:00+08:00", 20_000)
            try await shop.refund("r2", of: "p2", at: "2026-06-10T12:00:00+08:00", 5_000)

            // Renewed five days early: the spend from the start to now, 55,000 less nothing, 2.5 %
            let first = try await shop.renew(exec, "e-2")
            #expect(first.created)
            let reward = try #require(first.payment.reward)
            #expect(reward.from == T.at("2026-01-10T09:00:00+08:00"))
            #expect(reward.to == T.at("2027-01-05T09:00:00+08:00"))
            #expect(reward.spend == 55_000, "the purchase before the subscription does not count; the refund does")
            #expect(reward.computed == 1_375)
            #expect(reward.amount == 1_375)
            #expect(reward.planYear == 0)
            var account = try await shop.cashback()
            #expect(account.available == 1_375)
            #expect(account.earned == 1_375)
            let transfers = try await shop.cashbackTransfers()
            #expect(transfers.count == 1)
            #expect(transfers.first?.debit == .system(.issued))
            #expect(transfers.first?.credit == .member(.available))
            #expect(transfers.first?.reference == "subscription:\(exec.id)")
            #expect(transfers.first?.reason == "plan_reward")

            // The same payment again: the same answer, paid once
            let again = try await shop.renew(exec, "e-2")
            #expect(!again.created)
            #expect(again.payment.reward == reward)
            #expect(try await shop.cashbackTransfers().count == 1)

            // The five days left of the first year count at the next renewal; the cap cuts year 1
            shop.clock.set("2028-01-08T09:00:00+08:00")
            try await shop.purchase("p3", at: "2027-01-07T12:00:00+08:00", 10_000)
            try await shop.purchase("p4", at: "2027-06-01T12:00:00+08:00", 200_000)
            let second = try await shop.renew(exec, "e-3")
            let capped = try #require(second.payment.reward)
            #expect(capped.from == T.at("2027-01-05T09:00:00+08:00"))
            #expect(capped.spend == 210_000)
            #expect(capped.computed == 5_250)
            #expect(capped.amount == 3_000, "reward_cap per plan year")
            #expect(capped.planYear == 1)
            account = try await shop.cashback()
            #expect(account.available == 4_375)

            let payments = try await shop.engine.subscriptionPayments(programCode: "shop", memberID: shop.member,
                                                                     subscriptionID: exec.id, by: T.owner)
            #expect(payments.map(\.paymentRef) == ["e-1", "e-2", "e-3"])
            #expect(payments.map { $0.reward?.amount } == [nil, 1_375, 3_000])

            // Spent at checkout, all or none
            let spent = try await shop.engine.redeem(programCode: "shop", memberID: shop.member,
                                                     body: try T.json(#"{"cashback":1000,"order_id":"o-9"}"#),
                                                     requestKey: "k-1", by: T.owner)
            #expect(spent.transfer.unit == .cashback)
            #expect(spent.transfer.credit == .system(.redeemed))
            await #expect(throws: EngineError.insufficientBalance(unit: .cashback, available: 3_375, requested: 5_000)) {
                _ = try await shop.engine.redeem(programCode: "shop", memberID: shop.member,
                                                 body: try T.json(#"{"cashback":5000}"#), requestKey: nil, by: T.owner)
            }
            for body in [#"{"points":1,"cashback":1}"#, #"{"reason":"x"}"#] {
                await #expect(throws: EngineError.self) {
                    _ = try await shop.engine.redeem(programCode: "shop", memberID: shop.member, body: try T.json(body),
                                                     requestKey: nil, by: T.owner)
                }
            }
            account = try await shop.cashback()
            #expect(account.available == 3_375)
            #expect(account.redeemed == 1_000)
            #expect(try await shop.engine.verifyLedger(programCode: "shop").isSound)
        }
    }

    @Test("a monthly plan: each renewal pays the month's spend until the year's cap; a lapse earns nothing; no reward without a percent",
          arguments: TestStoreKind.available)
    func monthlyRewardCapAndLapse(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let shop = try await Self.shop(store, at: "2026-01-01T10:00:00+08:00")
            let club = try await shop.subscribe("club", "c-1")
            let plain = try await shop.subscribe("plain", "n-1")

            shop.clock.set("2026-02-01T10:00:00+08:00")
            try await shop.purchase("p1", at: "2026-01-15T12:00:00+08:00", 10_000)
            #expect(try await shop.renew(club, "c-2").payment.reward?.amount == 150)
            #expect(try await shop.renew(plain, "n-2").payment.reward == nil)

            shop.clock.set("2026-03-01T10:00:00+08:00")
            try await shop.purchase("p2", at: "2026-02-10T12:00:00+08:00", 20_000)
            try await shop.refund("r2", of: "p2", at: "2026-02-12T12:00:00+08:00", 5_000)
            #expect(try await shop.renew(club, "c-3").payment.reward?.amount == 225)

            shop.clock.set("2026-04-01T10:00:00+08:00")
            try await shop.purchase("p3", at: "2026-03-10T12:00:00+08:00", 10_000)
            let third = try #require(try await shop.renew(club, "c-4").payment.reward)
            #expect(third.computed == 150)
            #expect(third.amount == 25, "400 a plan year: 150 and 225 were given")

            // Lapsed at 1 May, restarted on 20 May: the purchase in the gap earns nothing
            shop.clock.set("2026-05-20T10:00:00+08:00")
            try await shop.purchase("p4", at: "2026-04-10T12:00:00+08:00", 10_000)
            try await shop.purchase("gap", at: "2026-05-10T12:00:00+08:00", 50_000)
            _ = try await shop.engine.runJob(programCode: "shop", job: "expire-subscriptions", asOf: nil, by: T.owner)
            let restart = try await shop.renew(club, "c-5")
            #expect(restart.subscription.periodStart == T.at("2026-05-20T10:00:00+08:00"))
            let lapsed = try #require(restart.payment.reward)
            #expect(lapsed.to == T.at("2026-05-01T10:00:00+08:00"), "the span ends where what was paid for ended")
            #expect(lapsed.spend == 10_000, "April's purchase only")
            #expect(lapsed.amount == 0, "the year's cap was reached")

            let transfers = try await shop.cashbackTransfers()
            #expect(transfers.map(\.amount).sorted() == [25, 150, 225], "no transfer for a reward of nothing")
            #expect(try await shop.cashback().available == 400)
            #expect(try await shop.engine.verifyLedger(programCode: "shop").isSound)
        }
    }

    @Test("a renewal recorded before its cash-back was paid (the server stopped between) is paid when the payment is reported again",
          arguments: TestStoreKind.available)
    func retryPaysRecordedReward(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            // What a renewal records first, alone: the payment with its reward, no transfer yet
            let (shop, club) = try await Self.renewalLeftUnpaid(store, reward: 300)
            #expect(try await shop.cashback().available == 0)

            let retried = try await shop.renew(club, "c-2")
            #expect(!retried.created)
            #expect(try await shop.cashback().available == 300)
            _ = try await shop.renew(club, "c-2")
            #expect(try await shop.cashbackTransfers().count == 1)
        }
    }

    @Test("a renewal's cash-back left unpaid is paid by the pay-plan-rewards job, once, within the job's window",
          arguments: TestStoreKind.available)
    func sweepPaysRecordedReward(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            // Given a renewal recorded alone, as a stopped server leaves it, and never reported again
            let (shop, club) = try await Self.renewalLeftUnpaid(store, reward: 300)
            // and another member's renewal, paid the ordinary way
            let other = Shop(engine: shop.engine, clock: shop.clock, member: try await T.enrol(shop.engine, "D"))
            shop.clock.set("2026-01-01T10:00:00+08:00")
            let otherClub = try await other.subscribe("club", "d-1")
            shop.clock.set("2026-02-01T10:00:00+08:00")
            try await other.purchase("p2", at: "2026-01-16T12:00:00+08:00", 10_000)
            #expect(try await other.renew(otherClub, "d-2").payment.reward?.amount == 150)
            #expect(try await other.cashback().available == 150)
            #expect(try await shop.cashback().available == 0)

            // Run before the renewal was recorded, the job finds nothing
            let before = try await shop.engine.runJob(programCode: "shop", job: "pay-plan-rewards",
                                                      asOf: T.at("2026-02-01T09:00:00+08:00"), by: T.owner)
            #expect(before.transfers == 0)
            // Two days later it still reaches it, and pays it once
            shop.clock.set("2026-02-03T09:00:00+08:00")
            let report = try await shop.engine.runJob(programCode: "shop", job: "pay-plan-rewards", asOf: nil, by: T.owner)
            #expect(report.transfers == 1)
            #expect(report.points == 300)
            #expect(try await shop.cashback().available == 300)
            #expect(try await shop.cashbackTransfers().first?.reference == "subscription:\(club.id)")
            #expect(try await shop.engine.runJob(programCode: "shop", job: "pay-plan-rewards", asOf: nil, by: T.owner).transfers == 0)
            // and a retry of the renewal pays nothing more
            #expect(try await shop.renew(club, "c-2").created == false)
            #expect(try await shop.cashbackTransfers().count == 1)
            #expect(try await other.cashbackTransfers().count == 1)
            #expect(try await shop.engine.verifyLedger(programCode: "shop").isSound)
        }
    }

    @Test("a renewal's unpaid cash-back older than the job's window waits for a run with an earlier as_of",
          arguments: TestStoreKind.available)
    func sweepWindow(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let (shop, _) = try await Self.renewalLeftUnpaid(store, reward: 120)
            shop.clock.set("2026-02-04T10:00:00+08:00")
            #expect(try await shop.engine.runJob(programCode: "shop", job: "pay-plan-rewards", asOf: nil, by: T.owner).transfers == 0)
            let earlier = try await shop.engine.runJob(programCode: "shop", job: "pay-plan-rewards",
                                                       asOf: T.at("2026-02-02T10:00:00+08:00"), by: T.owner)
            #expect(earlier.transfers == 1)
            #expect(try await shop.cashback().available == 120)
        }
    }

    /// A member subscribed to the club on 1 January who bought in January, and the renewal of
    /// 1 February recorded with a cash-back of `reward` as a renewal's first step records it,
    /// without the second (the transfer), as a server stopped between them leaves it.
    static func renewalLeftUnpaid(_ store: any PatronStore, reward: Int64) async throws -> (Shop, Subscription) {
        let shop = try await Self.shop(store, at: "2026-01-01T10:00:00+08:00")
        let subscription = try await shop.subscribe("club", "c-1")
        shop.clock.set("2026-02-01T10:00:00+08:00")
        try await shop.purchase("p1", at: "2026-01-15T12:00:00+08:00", 20_000)
        var renewed = subscription
        renewed.periodStart = subscription.periodEnd
        renewed.periodEnd = subscription.periodEnd.addingTimeInterval(28 * 86_400)
        renewed.version += 1
        let now = shop.clock.now()
        try await store.updateSubscription(renewed, payment: SubscriptionPayment(
            id: Identifier.make(at: now), subscriptionID: subscription.id, paymentRef: "c-2", paidAmount: 1,
            periodStart: renewed.periodStart, periodEnd: renewed.periodEnd, recordedAt: now,
            reward: PlanReward(from: subscription.startedAt, to: now, spend: 20_000, computed: reward,
                               amount: reward, planYear: 0)))
        return (shop, subscription)
    }

    @Test("the reward is the percent of the spend rounded down, in decimal; plan years follow the program's calendar")
    func rewardArithmetic() {
        let plan = PaidPlan(code: "p", name: "P", price: 1, period: .year, rewardPercent: 1.1, rewardCap: 100)
        #expect(plan.reward(onSpend: 1_000) == 11)
        #expect(plan.reward(onSpend: 999) == 10)
        #expect(plan.reward(onSpend: 0) == 0)
        #expect(PaidPlan(code: "p", name: "P", price: 1, period: .year, rewardPercent: 0.29).reward(onSpend: 10_000) == 29)
        #expect(plan.reward(from: .distantPast, to: .distantPast, spend: 10_000, planYear: 0, givenInYear: 40).amount == 60)
        #expect(plan.reward(from: .distantPast, to: .distantPast, spend: -5, planYear: 0, givenInYear: 0).spend == 0)

        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let start = T.at("2024-02-29T10:00:00+08:00")
        #expect(PaidPlan.planYear(of: T.at("2025-02-28T09:59:59+08:00"), startedAt: start, calendar: calendar) == 0)
        #expect(PaidPlan.planYear(of: T.at("2025-02-28T10:00:00+08:00"), startedAt: start, calendar: calendar) == 1)
        #expect(PaidPlan.planYear(of: T.at("2027-03-01T00:00:00+08:00"), startedAt: start, calendar: calendar) == 3)
    }
}
