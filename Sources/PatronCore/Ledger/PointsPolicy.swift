import Foundation

/// The `points` section of a program's configuration, read into the rules the ledger applies
/// (see docs/CONFIG.md). The document has been validated before it is stored, so absent keys take
/// their defaults.
public struct PointsPolicy: Sendable, Hashable {
    /// How long points expire after they are earned.
    public enum Expiry: Sendable, Hashable {
        case never
        case daysAfterEarn(Int)
        case endOfMonthAfterEarn(months: Int)
        case endOfYearAfterEarn(years: Int)
    }

    /// What a refund takes back (see CONFIG.md, `refund`).
    public enum RefundPolicy: String, Sendable, Hashable {
        case withinBalance = "within_balance"
        case allowNegative = "allow_negative"
        case pendingOnly = "pending_only"
    }

    /// What happens to an event over a limit.
    public enum LimitAction: String, Sendable, Hashable {
        case refuse
        case review
    }

    /// Who earns from a B2B event, one that names an organisation (`buyer`) and the operator person
    /// who made the purchase for it (`executor`).
    public enum EarnTo: String, Sendable, Hashable, CaseIterable {
        /// The person who executed the purchase ("bind the executor"); the buyer when none is named.
        case executor
        /// The organisation.
        case buyer
        /// Both: the executor `executorPercent` of each award (rounded down), the buyer the rest.
        case split
    }

    public var valueMinorPerPoint: Int64 = 100
    public var pendingDays: Int = 0
    public var expiry: Expiry = .never
    public var refund: RefundPolicy = .withinBalance
    public var pointsPerMemberPerDay: Int64?
    public var eventsPerMemberPerHour: Int?
    public var onLimitExceeded: LimitAction = .refuse
    public var allowsTransfers = false
    public var earnTo: EarnTo = .executor
    /// With `split`: the executor's share of each award, 1 to 99.
    public var executorPercent: Int64 = 0
    /// The program's calendar: Gregorian in its time zone, for days and the ends of months and years.
    public let calendar: Calendar
    /// The same by integer arithmetic, where the zone's offset is fixed.
    public let arithmetic: ZoneArithmetic?

    public init(timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
        self.arithmetic = ZoneArithmetic.of(timeZone)
    }

    /// The program's zone.
    public var timeZone: TimeZone { calendar.timeZone }

    /// Reads the policy from a validated configuration document.
    public init(configuration document: JSONValue) {
        self.init(timeZone: TimeZone(identifier: document["time_zone"]?.stringValue ?? "UTC") ?? .gmt)
        guard let points = document["points"] else { return }
        if let value = points["value_minor_per_point"]?.intValue { valueMinorPerPoint = value }
        if let days = points["pending_days"]?.intValue { pendingDays = Int(days) }
        if let refund = points["refund"]?.stringValue.flatMap(RefundPolicy.init) { self.refund = refund }
        if let allows = points["allow_transfers"]?.boolValue { allowsTransfers = allows }
        if let b2b = points["b2b"] {
            if let earnTo = b2b["earn_to"]?.stringValue.flatMap(EarnTo.init) { self.earnTo = earnTo }
            if let percent = b2b["executor_percent"]?.intValue { executorPercent = percent }
        }
        if let expiry = points["expiry"] {
            switch expiry["policy"]?.stringValue {
            case "days_after_earn": self.expiry = .daysAfterEarn(Int(expiry["days"]?.intValue ?? 365))
            case "end_of_month_after_earn": self.expiry = .endOfMonthAfterEarn(months: Int(expiry["months"]?.intValue ?? 0))
            case "end_of_year_after_earn": self.expiry = .endOfYearAfterEarn(years: Int(expiry["years"]?.intValue ?? 0))
            default: self.expiry = .never
            }
        }
        if let limits = points["limits"] {
            pointsPerMemberPerDay = limits["points_per_member_per_day"]?.intValue
            eventsPerMemberPerHour = limits["events_per_member_per_hour"]?.intValue.map { Int($0) }
            if let action = limits["on_exceed"]?.stringValue.flatMap(LimitAction.init) { onLimitExceeded = action }
        }
    }

    /// The executor's share of an award under `split`: rounded down, so the buyer's share
    /// (`amount` minus this) is never less than the exact split.
    public func executorShare(of amount: Int64) -> Int64 {
        Int64(Int128(amount) * Int128(executorPercent) / 100)
    }

    /// What a refund of `refunding` takes back of the `earned` units of an order of `orderAmount`
    /// of which `refundedBefore` was already refunded: proportional and cumulative, each share
    /// rounded down (in the member's favour), so that refunds adding up to the whole order take
    /// back exactly what it earned. The server and the back-test both take back this much.
    public static func refundTakesBack(_ earned: Int64, orderAmount: Int64, refundedBefore: Int64, refunding: Int64) -> Int64 {
        guard orderAmount > 0 else { return 0 }
        func share(_ refunded: Int64) -> Int64 {
            Int64((Int128(earned) * Int128(min(refunded, orderAmount))) / Int128(orderAmount))
        }
        return share(refundedBefore + refunding) - share(refundedBefore)
    }

    /// When points earned at `earnedAt` can be spent: after the return window.
    public func availableAt(earnedAt: Date) -> Date {
        earnedAt.addingTimeInterval(TimeInterval(pendingDays) * 86_400)
    }

    /// The first instant at which points earned at `earnedAt` are gone, or nil when they never expire.
    /// Ends of months and years are midnights in the program's time zone.
    public func expiresAt(earnedAt: Date) -> Date? {
        switch expiry {
        case .never:
            return nil
        case .daysAfterEarn(let days):
            return earnedAt.addingTimeInterval(TimeInterval(days) * 86_400)
        case .endOfMonthAfterEarn(let months):
            let month = arithmetic.interval(of: .month, containing: earnedAt, calendar: calendar).start
            return arithmetic.adding(months: months + 1, to: month, calendar: calendar)
        case .endOfYearAfterEarn(let years):
            let year = arithmetic.interval(of: .year, containing: earnedAt, calendar: calendar).start
            return arithmetic.adding(months: 12 * (years + 1), to: year, calendar: calendar)
        }
    }

    /// The program-time day that holds `instant`, as the half-open interval of its instants.
    public func day(of instant: Date) -> DateInterval {
        arithmetic.interval(of: .day, containing: instant, calendar: calendar)
    }
}
