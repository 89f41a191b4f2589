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
