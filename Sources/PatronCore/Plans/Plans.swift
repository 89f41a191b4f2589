import Foundation

/// A paid membership plan of the program's configuration (CONFIG.md, `plans`).
public struct PaidPlan: Sendable, Hashable {
    /// How long one paid period lasts.
    public enum Period: Sendable, Hashable {
        case day, month, quarter, year
        case days(Int)
    }

    public var code: String
    public var name: String
    /// The price of one period, in minor units.
    public var price: Int64
    public var period: Period
    /// Days free before the first paid period.
    public var trialDays: Int
    /// Whether the payment provider renews it; Patron records each renewal it is told of.
    public var autoRenew: Bool
    /// Whether its benefits add to the level's (双享); when false, the plan's benefits replace the
    /// level's while it is active.
    public var stacksWithTier: Bool
    /// The share of qualifying spend returned as cash-back, in percent, and its cap per year.
    public var rewardPercent: Double?
    public var rewardCap: Int64?
    /// A joint plan's partner, whose benefits the plan carries.
    public var partner: String?

    public init(code: String, name: String, price: Int64, period: Period, trialDays: Int = 0, autoRenew: Bool = false,
                stacksWithTier: Bool = true, rewardPercent: Double? = nil, rewardCap: Int64? = nil, partner: String? = nil) {
        self.code = code
        self.name = name
        self.price = price
        self.period = period
        self.trialDays = trialDays
        self.autoRenew = autoRenew
        self.stacksWithTier = stacksWithTier
        self.rewardPercent = rewardPercent
        self.rewardCap = rewardCap
        self.partner = partner
    }

    /// The end of the period that starts at `start`: calendar months, quarters and years in the
    /// program's calendar (a month from 31 January ends at the end of February), days as 24 hours
    /// of the calendar's days.
    public func periodEnd(from start: Date, calendar: Calendar) -> Date {
        switch period {
        case .day: calendar.date(byAdding: .day, value: 1, to: start)!
        case .month: calendar.date(byAdding: .month, value: 1, to: start)!
        case .quarter: calendar.date(byAdding: .month, value: 3, to: start)!
        case .year: calendar.date(byAdding: .year, value: 1, to: start)!
        case .days(let days): calendar.date(byAdding: .day, value: days, to: start)!
        }
    }

    /// The end of a trial that starts at `start`; `start` itself when the plan has none.
    public func trialEnd(from start: Date, calendar: Calendar) -> Date {
        trialDays == 0 ? start : calendar.date(byAdding: .day, value: trialDays, to: start)!
    }

    /// What is returned when a period paid `paid` and running from `start` to `end` is cancelled at
    /// `instant`: the unused share, by the millisecond, rounded down so that the refund never
    /// exceeds what the unused time is worth. Nothing after the end; all of it before the start.
    public static func proratedRefund(paid: Int64, start: Date, end: Date, cancelledAt instant: Date) -> Int64 {
        let total = Timestamp.milliseconds(end) - Timestamp.milliseconds(start)
        guard total > 0, paid > 0 else { return 0 }
        let unused = min(max(Timestamp.milliseconds(end) - Timestamp.milliseconds(instant), 0), total)
        return Int64(Int128(paid) * Int128(unused) / Int128(total))
    }
}

/// Cash-back a plan gave at a renewal (a Costco-style reward): `reward_percent` of the member's
/// qualifying spend while subscribed, from the previous renewal (or the start of the period being
/// closed) to this one, rounded down, and cut so that what a plan year gives stays within
/// `reward_cap`. Kept with the renewal's payment; the cash-back itself is a ledger transfer.
public struct PlanReward: Sendable, Hashable {
    /// The span whose purchases it rewards: `[from, to)`, counting only instants a paid period (or
    /// the trial) covered.
    public var from: Date
    public var to: Date
    /// Purchases less refunds in the span, in minor units (never below zero).
    public var spend: Int64
    /// What the percentage gave before the cap cut it.
    public var computed: Int64
    /// What was given, in minor units.
    public var amount: Int64
    /// The plan year it counts against: 0 for the year from the subscription's start, 1 for the
    /// next, in the program's calendar. It is the year in which the period being closed began.
    public var planYear: Int

    public init(from: Date, to: Date, spend: Int64, computed: Int64, amount: Int64, planYear: Int) {
        self.from = from
        self.to = to
        self.spend = spend
        self.computed = computed
        self.amount = amount
        self.planYear = planYear
    }
}

extension PaidPlan {
    /// Whether the plan returns cash-back at renewals.
    public var givesReward: Bool { (rewardPercent ?? 0) > 0 }

    /// `reward_percent` of `spend`, rounded down, computed in decimal so that a percent such as
    /// 1.1 gives exactly 11 of 1,000.
    public func reward(onSpend spend: Int64) -> Int64 {
        guard let percent = rewardPercent, percent > 0, spend > 0,
              let exact = Decimal(string: String(describing: percent), locale: Locale(identifier: "en_US_POSIX"))
        else { return 0 }
        var share = Decimal(spend) * exact / 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &share, 0, .down)
        return NSDecimalNumber(decimal: rounded).int64Value
    }

    /// The plan year (0 the first) that `instant` falls in, for a subscription started at `start`.
    public static func planYear(of instant: Date, startedAt start: Date, calendar: Calendar) -> Int {
        var year = 0
        while let next = calendar.date(byAdding: .year, value: year + 1, to: start), next <= instant { year += 1 }
        return year
    }

    /// The reward of a renewal for `spend` over the span, counted against `planYear`, of which
    /// earlier renewals already gave `givenInYear`.
    public func reward(from: Date, to: Date, spend: Int64, planYear: Int, givenInYear: Int64) -> PlanReward {
        let spend = max(0, spend)
        let computed = reward(onSpend: spend)
        let room = rewardCap.map { max(0, $0 - givenInYear) } ?? computed
        return PlanReward(from: from, to: to, spend: spend, computed: computed, amount: min(computed, room),
                          planYear: planYear)
    }

    /// The parts of `[from, to)` that the paid `periods` cover: where purchases count for a reward.
    public static func rewardSpans(from: Date, to: Date, periods: [DateInterval]) -> [DateInterval] {
        periods.compactMap { period in
            let start = max(from, period.start), end = min(to, period.end)
            return start < end ? DateInterval(start: start, end: end) : nil
        }
    }
}

/// The program's paid plans, read from a validated configuration.
public struct PlanCatalogue: Sendable, Hashable {
    public var plans: [PaidPlan]

    public init(plans: [PaidPlan]) {
        self.plans = plans
    }

    public init(configuration document: JSONValue) {
        plans = (document["plans"]?.arrayValue ?? []).compactMap { entry in
            guard let code = entry["code"]?.stringValue, let name = entry["name"]?.stringValue,
                  let price = entry["price"]?.intValue else { return nil }
            let period: PaidPlan.Period
            switch entry["period"]?.stringValue {
            case "day": period = .day
            case "month": period = .month
            case "quarter": period = .quarter
            case "year": period = .year
            case "days": period = .days(Int(entry["period_days"]?.intValue ?? 1))
            default: return nil
            }
            return PaidPlan(code: code, name: name, price: price, period: period,
                            trialDays: Int(entry["trial_days"]?.intValue ?? 0),
                            autoRenew: entry["auto_renew"]?.boolValue ?? false,
                            stacksWithTier: entry["stacks_with_tier"]?.boolValue ?? true,
                            rewardPercent: entry["reward_percent"]?.doubleValue, rewardCap: entry["reward_cap"]?.intValue,
                            partner: entry["partner"]?.stringValue)
        }
    }

    public func plan(_ code: String) -> PaidPlan? {
        plans.first { $0.code == code }
    }
}
