import Foundation

/// How often a benefit's quota renews (CONFIG.md, `benefits[].quota`).
public struct BenefitQuota: Sendable, Hashable {
    public enum Per: String, Sendable, Hashable, CaseIterable {
        case day, month, year, lifetime
    }

    /// Uses allowed per period.
    public var quantity: Int64
    public var per: Per

    public init(quantity: Int64, per: Per) {
        self.quantity = quantity
        self.per = per
    }

    /// The quota period that holds `instant` in the program's calendar: `start` inclusive, `end`
    /// exclusive (nil for `lifetime`, which starts at the epoch and never renews).
    public func period(containing instant: Date, calendar: Calendar) -> (start: Date, end: Date?) {
        let component: Calendar.Component
        switch per {
        case .lifetime: return (Date(timeIntervalSince1970: 0), nil)
        case .day: component = .day
        case .month: component = .month
        case .year: component = .year
        }
        let interval = ZoneArithmetic.of(calendar.timeZone).interval(of: component, containing: instant, calendar: calendar)
        return (interval.start, interval.end)
    }
}

/// One benefit of the program's catalogue (CONFIG.md, `benefits`).
public struct Benefit: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case percentDiscount = "percent_discount"
        case fixedDiscount = "fixed_discount"
        case quota
        case access
        case partnerVoucher = "partner_voucher"
        case birthdayGift = "birthday_gift"
    }

    public var code: String
    public var name: String
    /// What members see; the name when not given.
    public var label: String
    public var description: String?
    public var kind: Kind
    /// The discount (percent, or minor units for `fixed_discount`), or the gift's value.
    public var value: Int64?
    /// Uses per period; nil for benefits that are not used up (an access flag, a discount).
    public var quota: BenefitQuota?
    /// The levels and paid plans that carry it.
    public var levels: [String]
    public var plans: [String]
    public var partner: String?

    public init(code: String, name: String, label: String? = nil, description: String? = nil, kind: Kind,
                value: Int64? = nil, quota: BenefitQuota? = nil, levels: [String] = [], plans: [String] = [],
                partner: String? = nil) {
        self.code = code
        self.name = name
        self.label = label ?? name
        self.description = description
        self.kind = kind
        self.value = value
        self.quota = quota
        self.levels = levels
        self.plans = plans
        self.partner = partner
    }
}

/// The program's benefit catalogue, read from a validated configuration, and what a member is
/// entitled to.
public struct BenefitCatalogue: Sendable, Hashable {
    public var benefits: [Benefit]

    public init(benefits: [Benefit]) {
        self.benefits = benefits
    }

    public init(configuration document: JSONValue) {
        let entries = document["benefits"]?.arrayValue ?? []
        benefits = entries.compactMap { entry in
            guard let code = entry["code"]?.stringValue, let name = entry["name"]?.stringValue,
                  let kind = entry["kind"]?.stringValue.flatMap(Benefit.Kind.init) else { return nil }
            var quota: BenefitQuota?
            if let quantity = entry["quota"]?["quantity"]?.intValue,
               let per = entry["quota"]?["per"]?.stringValue.flatMap(BenefitQuota.Per.init) {
                quota = BenefitQuota(quantity: quantity, per: per)
            }
            let codes = { (key: String) in entry[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            return Benefit(code: code, name: name, label: entry["label"]?.stringValue,
                           description: entry["description"]?.stringValue, kind: kind, value: entry["value"]?.intValue,
                           quota: quota, levels: codes("levels"), plans: codes("plans"),
                           partner: entry["partner"]?.stringValue)
        }
    }

    public func benefit(_ code: String) -> Benefit? {
        benefits.first { $0.code == code }
    }

    /// The benefits a member at `level` with the active paid `plans` enjoys, in catalogue order:
    /// those attached to the level or to one of the plans.
    public func entitled(level: String?, plans: Set<String>) -> [Benefit] {
        benefits.filter { benefit in
            (level.map(benefit.levels.contains) ?? false) || benefit.plans.contains(where: plans.contains)
        }
    }
}
