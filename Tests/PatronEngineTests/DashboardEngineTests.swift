import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// The dashboard's figures on a real store: months in the program's time zone, points issued,
/// redeemed and owed month by month, activity windows, levels and running plans.
@Suite("Dashboard on the stores")
struct DashboardEngineTests {
    typealias T = TierEngineTests

    @Test("counts members, activity, points, levels and plans by the program's calendar", arguments: TestStoreKind.available)
    func figures(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let clock = T.Clock("2026-01-10T09:00:00+08:00")
            let engine = Engine(store: store, clock: { clock.now() })
            _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY",
                                                            timeZone: "Asia/Shanghai"), by: T.owner)
            _ = try await engine.updateConfig(programCode: "shop", document: try T.json("""
                {"currency":"CNY","time_zone":"Asia/Shanghai",
                 "earning_rules":[{"code":"base","on":"purchase","award":"event.amount / 100"},
                                  {"code":"growth","on":"purchase","unit":"growth","award":"event.amount / 100"}],
                 "tiers":{"levels":[{"code":"silver","name":"银卡","threshold":0},{"code":"gold","name":"金卡","threshold":5000}]},
                 "plans":[{"code":"plus","name":"Plus","price":1900,"period":"month"},
                          {"code":"annual","name":"Annual","price":9900,"period":"year"}]}
                """), expectedVersion: nil, by: T.owner)
            let a = try await T.enrol(engine, "A")
            // 23:30 on the last of February in Shanghai is February; ten past midnight is March,
            // though both are 28 February in UTC.
            clock.set("2026-02-28T23:30:00+08:00")
            let b = try await T.enrol(engine, "B")
            clock.set("2026-03-01T00:10:00+08:00")
            let c = try await T.enrol(engine, "C")

            clock.set("2026-03-12T10:00:00+08:00")
            try await T.purchase(engine, a, "o-1", amount: 600_000, at: "2026-01-20T12:00:00+08:00")
            try await T.purchase(engine, b, "o-2", amount: 10_000, at: "2026-03-02T12:00:00+08:00")
            try await T.purchase(engine, c, "o-3", amount: 10_000, at: "2026-03-03T12:00:00+08:00")
            _ = try await engine.redeem(programCode: "shop", memberID: a, body: try T.json(#"{"points":1000,"reason":"gift"}"#),
                                        requestKey: nil, by: T.owner)
            _ = try await engine.subscribe(programCode: "shop", memberID: a,
                                           body: try T.json(#"{"plan":"plus","payment_ref":"p-1","paid_amount":1900}"#), by: T.owner)
            _ = try await engine.eraseMember(programCode: "shop", id: c, by: T.owner)

            clock.set("2026-03-15T12:00:00+08:00")
            let dashboard = try await engine.dashboard(programCode: "shop", months: 3, by: T.owner)
            #expect(dashboard.months.map(\.start) == ["2026-01-01", "2026-02-01", "2026-03-01"].map { T.at($0 + "T00:00:00+08:00") })
            #expect(dashboard.months.map(\.newMembers) == [1, 1, 1])
            #expect(dashboard.months.map(\.issued) == [6000, 0, 200])
            #expect(dashboard.months.map(\.redeemed) == [0, 0, 1000])
            #expect(dashboard.months.map(\.outstanding) == [6000, 6000, 5200], "the erased member's points are still owed")
            #expect(dashboard.members == 2, "the erased member is not counted")
            #expect(dashboard.active30 == 1, "B bought on 2 March; A's purchase was in January; C was erased")
            #expect(dashboard.active90 == 2)
            #expect(dashboard.levels.map(\.level.code) == ["silver", "gold"])
            #expect(dashboard.levels.map(\.members) == [1, 1])
            #expect(dashboard.plans.map(\.plan.code) == ["plus", "annual"])
            #expect(dashboard.plans.map(\.members) == [1, 0])
            #expect(dashboard.valueMinorPerPoint == 100)

            // Points from before the months shown still count in what is owed.
            let lastMonth = try await engine.dashboard(programCode: "shop", months: 1, by: T.owner)
            #expect(lastMonth.months.map(\.outstanding) == [5200])
            #expect(lastMonth.months.map(\.issued) == [200])
        }
    }
}
