import Foundation
import Logging
import PatronCore
import PatronEngine
import Synchronization

/// The demo program (`demo`) that `patron serve --demo` creates once: a realistic configuration
/// with its version history, and a few hundred members enrolled over the past two years through
/// every channel, some of whom later changed their profile or consents. Seeded, so every demo
/// database holds the same people.
enum DemoProgram {
    static let code = "demo"
    static let memberCount = 320

    /// Creates the program unless it exists; returns whether it did.
    static func seedIfMissing(store: any PatronStore, logger: Logger) async throws -> Bool {
        if try await store.program(code: code) != nil { return false }
        let now = Date()
        let clock = Mutex(now.addingTimeInterval(-800 * 86_400))
        let engine = Engine(store: store, logger: logger, clock: { clock.withLock { $0 } })
        let seeder = Principal(keyID: "demo-seed", role: .owner, programID: nil)
        do {
            _ = try await engine.createProgram(ProgramDraft(code: code, name: "Patron Demo 星河会员",
                                                            currency: "CNY", timeZone: "Asia/Shanghai"), by: seeder)
        } catch EngineError.conflict {
            return false  // another node seeded it first
        }
        clock.withLock { $0 = now.addingTimeInterval(-790 * 86_400) }
        _ = try await engine.updateConfig(programCode: code, document: configuration(goldThreshold: 4000),
                                          expectedVersion: 1, by: seeder)
        var random = SeededGenerator(seed: 20_261_122)
        var enrolled: [(id: String, at: Date)] = []
        for index in 0..<memberCount {
            // Enrolments grow over time: later days are more likely.
            let fraction = (Double(random.next() % 10_000) / 10_000).squareRoot()
            let at = now.addingTimeInterval(-(1 - fraction) * 760 * 86_400 - 3600)
            clock.withLock { $0 = at }
            let member = try await engine.enrol(programCode: code, body: person(index, &random), by: seeder)
            enrolled.append((member.id, at))
        }
        clock.withLock { $0 = now.addingTimeInterval(-90 * 86_400) }
        _ = try await engine.updateConfig(programCode: code, document: configuration(goldThreshold: 5000),
                                          expectedVersion: 2, by: seeder)
        // Some members later withdraw marketing consent or move.
        for (offset, entry) in enrolled.enumerated() where offset % 9 == 0 {
            clock.withLock { $0 = min(now, entry.at.addingTimeInterval(Double(30 + offset) * 86_400)) }
            let change: JSONValue = offset % 2 == 0
                ? .object(["consents": .object(["marketing": .bool(false)])])
                : .object(["region": .string(regions[offset % regions.count])])
            _ = try await engine.updateMember(programCode: code, id: entry.id, body: change, by: seeder)
        }
        let history = History(engine: engine, setClock: { date in clock.withLock { $0 = date } }, seeder: seeder, now: now)
        try await history.play(for: enrolled, random: &random)
        return true
    }

    /// Two years of what members did, played through the engine in time order with the clock set
    /// to each moment, and the time-driven jobs run as the days pass: purchases (more on the
    /// member day), some refunded, redemptions, daily check-ins in the app, paid plans. So every
    /// chart and member page has something true to show.
    struct History {
        let engine: Engine
        let setClock: @Sendable (Date) -> Void
        let seeder: Principal
        let now: Date

        enum Action {
            case purchase(amount: Int64)
            case refund(order: Int, amount: Int64)
            case redeem(points: Int64)
            case checkIn
            case subscribe(plan: String, paid: Int64)
        }

        struct Step {
            var at: Date
            var member: String
            var action: Action
            var order: Int
        }

        func play(for members: [(id: String, at: Date)], random: inout SeededGenerator) async throws {
            var steps: [Step] = []
            var orders = 0
            func uniform(_ range: ClosedRange<Double>) -> Double {
                range.lowerBound + Double(random.next() % 1_000_000) / 1_000_000 * (range.upperBound - range.lowerBound)
            }
            for member in members {
                // How often this member buys: some never do, most now and then, a few every week.
                let profile = random.next() % 100
                let meanGap: Double? = profile < 15 ? nil : profile < 70 ? 60 : profile < 95 ? 20 : 6
                // Some stop coming back.
                let leaves = random.next() % 10 < 3 ? member.at.addingTimeInterval(uniform(30...500) * 86_400) : now
                let end = min(leaves, now.addingTimeInterval(-3600))
                guard let meanGap else { continue }
                var at = member.at.addingTimeInterval(uniform(0.1...3) * 86_400)
                while at < end {
                    orders += 1
                    let amount = Int64(uniform(25...(meanGap < 10 ? 900 : 450))) * 100 + Int64(random.next() % 100)
                    steps.append(Step(at: at, member: member.id, action: .purchase(amount: amount), order: orders))
                    if random.next() % 25 == 0 {
                        let refunded = random.next() % 2 == 0 ? amount : amount / 2
                        steps.append(Step(at: at.addingTimeInterval(uniform(1...6) * 86_400), member: member.id,
                                          action: .refund(order: orders, amount: refunded), order: orders))
                    }
                    if random.next() % 6 == 0 {
                        steps.append(Step(at: at.addingTimeInterval(uniform(16...40) * 86_400), member: member.id,
                                          action: .redeem(points: Int64(uniform(1...8)) * 100), order: orders))
                    }
                    at = at.addingTimeInterval(-log(max(uniform(0...1), 0.0001)) * meanGap * 86_400)
                }
                // App users who come often check in on many of the last sixty days.
                if meanGap <= 20, leaves >= now, random.next() % 2 == 0 {
                    for day in 1...60 where random.next() % 10 < 4 {
                        let at = now.addingTimeInterval(-Double(day) * 86_400 + uniform(0...0.5) * 86_400)
                        if at > member.at { steps.append(Step(at: at, member: member.id, action: .checkIn, order: 0)) }
                    }
                }
                if meanGap <= 20, random.next() % 5 == 0 {
                    let yearly = random.next() % 3 != 0
                    let at = now.addingTimeInterval(-uniform(yearly ? 5...420 : 2...28) * 86_400)
                    if at > member.at {
                        steps.append(Step(at: at, member: member.id,
                                          action: .subscribe(plan: yearly ? "plus_year" : "plus_month", paid: yearly ? 14900 : 1500),
                                          order: 0))
                    }
                }
            }
            // What would come after today (a refund or redemption following a recent purchase) has not happened.
            steps.removeAll { $0.at >= now }
            steps.sort { ($0.at, $0.order) < ($1.at, $1.order) }
            // In time order, with the clock at each step, and the jobs run once a week.
            var checkpoint = (steps.first?.at ?? now).addingTimeInterval(7 * 86_400)
            for step in steps {
                while checkpoint <= step.at {
                    try await runJobs(asOf: checkpoint)
                    checkpoint = checkpoint.addingTimeInterval(7 * 86_400)
                }
                setClock(step.at)
                try await perform(step)
            }
            try await runJobs(asOf: now)
        }

        func perform(_ step: Step) async throws {
            let at = JSONValue.string(step.at.formatted(.iso8601))
            let member = JSONValue.string(step.member)
            switch step.action {
            case .purchase(let amount):
                _ = try await engine.recordEvent(programCode: code, body: .object([
                    "id": .string("demo-order-\(step.order)"), "type": "purchase", "member": member, "occurred_at": at,
                    "amount": .int(amount), "order_id": .string("D\(100_000 + step.order)"),
                ]), by: seeder)
            case .refund(let order, let amount):
                _ = try await engine.recordEvent(programCode: code, body: .object([
                    "id": .string("demo-refund-\(order)"), "type": "refund", "member": member, "occurred_at": at,
                    "amount": .int(amount), "order_id": .string("D\(100_000 + order)"),
                ]), by: seeder)
            case .redeem(let points):
                do {
                    _ = try await engine.redeem(programCode: code, memberID: step.member, body: .object([
                        "points": .int(points), "reason": "积分兑换", "order_id": .string("R\(100_000 + step.order)"),
                    ]), requestKey: "demo-redeem-\(step.order)", by: seeder)
                } catch EngineError.insufficientPoints {
                    // Not enough points by then: the member did not redeem.
                }
            case .checkIn:
                _ = try await engine.recordEvent(programCode: code, body: .object([
                    "id": .string("demo-check-in-\(step.member)-\(Int(step.at.timeIntervalSince1970))"), "type": "check_in",
                    "member": member, "occurred_at": at,
                ]), by: seeder)
            case .subscribe(let plan, let paid):
                _ = try await engine.subscribe(programCode: code, memberID: step.member, body: .object([
                    "plan": .string(plan), "payment_ref": .string("demo-pay-\(step.member)-\(plan)"), "paid_amount": .int(paid),
                    "started_at": at,
                ]), by: seeder)
            }
        }

        /// The jobs the server's scheduler would have run by `asOf`.
        func runJobs(asOf: Date) async throws {
            setClock(asOf)
            guard let program = try await engine.store.program(code: code) else { return }
            for job in [LedgerJob.activatePending, .expirePoints, .lapseHolds] {
                _ = try await engine.runJob(job, program: program, asOf: asOf)
            }
            _ = try await engine.runTierReview(program: program, asOf: asOf)
            _ = try await engine.expireSubscriptions(program: program, asOf: asOf)
        }
    }

    static let regions = ["CN-31", "CN-11", "CN-44", "CN-33", "CN-32", "CN-51", "CN-42", "CN-50", "CN-81"]
    static let surnames = Array("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗")
    static let givenNames = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明",
                             "超", "秀英", "霞", "平", "刚", "桂英", "晨", "欣怡", "子轩", "雨涵", "浩然", "梓萱"]

    static func person(_ index: Int, _ random: inout SeededGenerator) -> JSONValue {
        let channels = ["app", "app", "app", "store", "store", "ecommerce", "ecommerce", "referral"]
        let genders = ["female", "female", "male", "male", "undisclosed"]
        let categories = ["wine", "tea", "snacks", "beauty", "home"]
        var body: [String: JSONValue] = [
            "external_id": .string(String(format: "DEMO-%05d", index + 1)),
            "name": .string(String(surnames[Int(random.next() % UInt64(surnames.count))])
                + givenNames[Int(random.next() % UInt64(givenNames.count))]),
            "phone": .string("+86 13\(random.next() % 10)\(String(format: "%08d", random.next() % 100_000_000))"),
            "gender": .string(genders[Int(random.next() % UInt64(genders.count))]),
            "region": .string(regions[Int(random.next() % UInt64(regions.count))]),
            "channel": .string(channels[Int(random.next() % UInt64(channels.count))]),
            "attributes": .object(["favourite_category": .string(categories[Int(random.next() % UInt64(categories.count))])]),
        ]
        if random.next() % 3 != 0 {
            body["email"] = .string(String(format: "member%05d@example.com", index + 1))
        }
        let year = 1965 + Int(random.next() % 40)
        let month = 1 + Int(random.next() % 12)
        let day = 1 + Int(random.next() % 28)
        body["birthday"] = .string(random.next() % 4 == 0 ? String(format: "%02d-%02d", month, day)
                                                           : String(format: "%04d-%02d-%02d", year, month, day))
        let marketing = random.next() % 10 < 7
        let personalisation = random.next() % 10 < 4
        body["consents"] = .object(["marketing": .bool(marketing), "personalisation": .bool(personalisation)])
        if personalisation {
            var attributes = body["attributes"]?.objectValue ?? [:]
            attributes["skin_type"] = .string(["dry", "oily", "combination", "sensitive"][Int(random.next() % 4)])
            body["attributes"] = .object(attributes)
        }
        return .object(body)
    }

    /// The demo configuration: the document of docs/CONFIG.md with plans, benefits and member fields.
    static func configuration(goldThreshold: Int64) -> JSONValue {
        let json = """
            {
              "currency": "CNY",
              "time_zone": "Asia/Shanghai",
              "points": {
                "value_minor_per_point": 100,
                "pending_days": 14,
                "expiry": {"policy": "end_of_year_after_earn", "years": 1},
                "refund": "within_balance",
                "limits": {"points_per_member_per_day": 20000, "events_per_member_per_hour": 60}
              },
              "earning_rules": [
                {"code": "base", "name": "每消费1元积1分", "on": "purchase", "award": "event.amount / 100"},
                {"code": "growth", "name": "消费得成长值", "on": "purchase", "unit": "growth", "award": "event.amount / 100"},
                {"code": "member_day", "name": "会员日双倍积分", "on": "purchase",
                 "when": "event.occurred_at.getDayOfWeek(program.time_zone) == 3",
                 "award": "event.amount / 100", "cap": {"per_member_per_day": 500}},
                {"code": "check_in", "name": "每日签到", "on": "check_in", "award": "10", "cap": {"per_member_per_day": 10}}
              ],
              "tiers": {
                "metric": "growth",
                "window": {"kind": "rolling_months", "months": 12},
                "review": {"kind": "yearly", "month": 1, "day": 1},
                "downgrade": "one_down",
                "levels": [
                  {"code": "silver", "name": "银卡", "threshold": 0},
                  {"code": "gold", "name": "金卡", "threshold": \(goldThreshold), "retain": \(goldThreshold * 4 / 5)},
                  {"code": "platinum", "name": "白金卡", "threshold": 20000, "retain": 16000}
                ]
              },
              "plans": [
                {"code": "plus_month", "name": "PLUS 月卡", "price": 1500, "period": "month", "auto_renew": true,
                 "stacks_with_tier": true},
                {"code": "plus_year", "name": "PLUS 年卡", "price": 14900, "period": "year", "trial_days": 7,
                 "auto_renew": true, "stacks_with_tier": true, "reward_percent": 2, "reward_cap": 100000}
              ],
              "benefits": [
                {"code": "free_shipping", "name": "免运费", "label": "会员免运费", "kind": "quota",
                 "quota": {"quantity": 5, "per": "month"}, "levels": ["gold", "platinum"], "plans": ["plus_month", "plus_year"]},
                {"code": "member_price", "name": "会员价 95折", "label": "会员专享95折", "kind": "percent_discount", "value": 5,
                 "plans": ["plus_year"]},
                {"code": "priority_support", "name": "专属客服", "label": "白金专线", "kind": "access", "levels": ["platinum"]},
                {"code": "birthday_gift", "name": "生日礼", "label": "生日快乐", "kind": "birthday_gift",
                 "levels": ["silver", "gold", "platinum"]}
              ],
              "member_fields": [
                {"code": "favourite_category", "name": "偏好品类", "type": "enum",
                 "values": ["wine", "tea", "snacks", "beauty", "home"]},
                {"code": "skin_type", "name": "肤质", "type": "enum", "values": ["dry", "oily", "combination", "sensitive"],
                 "sensitive": true, "purpose": "personalisation"}
              ]
            }
            """
        // The text above is a literal this file controls; failing to parse it is a programming error.
        return try! JSONValue(parsing: Data(json.utf8))
    }
}
