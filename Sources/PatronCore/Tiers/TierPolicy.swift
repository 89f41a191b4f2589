import Foundation

/// One level of a program's tier model (CONFIG.md, `tiers.levels`).
public struct TierLevel: Sendable, Hashable {
    public var code: String
    public var name: String
    /// The qualifying value at which a member moves up to this level.
    public var threshold: Int64
    /// The qualifying value a member must hold at a review to stay; the threshold when not given.
    public var retain: Int64
    /// Reached only by manual assignment, never by the upgrade rule.
    public var invitationOnly: Bool
    /// Points given to a member who reaches the level by the upgrade rule, once per review period.
    public var rewardPoints: Int64?
    /// Uses of catalogue benefits granted with it (`upgrade_reward.benefits`): benefit code → quantity.
    public var rewardBenefits: [RewardBenefit]

    public struct RewardBenefit: Sendable, Hashable {
        public var benefit: String
        public var quantity: Int64

        public init(benefit: String, quantity: Int64) {
            self.benefit = benefit
            self.quantity = quantity
        }
    }

    public init(code: String, name: String, threshold: Int64, retain: Int64? = nil, invitationOnly: Bool = false,
                rewardPoints: Int64? = nil, rewardBenefits: [RewardBenefit] = []) {
        self.code = code
        self.name = name
        self.threshold = threshold
        self.retain = retain ?? threshold
        self.invitationOnly = invitationOnly
        self.rewardPoints = rewardPoints
        self.rewardBenefits = rewardBenefits
    }
}

/// The `tiers` section of a program's configuration, and the rules that move members between its
/// levels: the same functions serve the live server, the review job and the back-test, so that a
/// simulation decides exactly as the server would. The document has been validated before it is
/// stored; absent keys take their defaults.
public struct TierPolicy: Sendable, Hashable {
    /// What qualifies (CONFIG.md, `tiers.metric`).
    public enum Metric: String, Sendable, Hashable, CaseIterable {
        /// Growth units posted by the earning rules, less what refunds took back, plus adjustments.
        case growth
        /// Purchase amounts less refunded amounts, in minor units.
        case spend
        /// Purchases, less those whose order has been refunded in full.
        case orders
        /// Points posted by the earning rules, less what refunds took back.
        case pointsEarned = "points_earned"
    }

    /// Which contributions count at an instant (CONFIG.md, `tiers.window`).
    public enum Window: Sendable, Hashable {
        case rollingMonths(Int)
        case calendarYear
        case lifetime
    }

    /// When levels are reviewed (CONFIG.md, `tiers.review`), at 00:00 program time.
    public enum Review: Sendable, Hashable {
        case yearly(month: Int, day: Int)
        case monthly
    }

    /// What a review does to a member below their level's `retain`.
    public enum Downgrade: String, Sendable, Hashable {
        case oneDown = "one_down"
        case toQualified = "to_qualified"
        case never
    }

    public var metric: Metric = .growth
    public var window: Window = .rollingMonths(12)
    public var review: Review = .yearly(month: 1, day: 1)
    public var downgrade: Downgrade = .oneDown
    /// From lowest to highest; the first has threshold 0 and is where every member starts.
    public var levels: [TierLevel]
    /// The program's calendar: Gregorian in its time zone.
    public let calendar: Calendar
    /// The same by integer arithmetic, where the zone's offset is fixed.
    let arithmetic: ZoneArithmetic?

    public init(levels: [TierLevel], timeZone: TimeZone) {
        precondition(!levels.isEmpty, "a tier model has at least one level")
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
        self.arithmetic = ZoneArithmetic.of(timeZone)
        self.levels = levels
    }

    /// Reads the model from a validated configuration document; nil when the program has no tiers.
    public init?(configuration document: JSONValue) {
        guard let tiers = document["tiers"], let levelValues = tiers["levels"]?.arrayValue, !levelValues.isEmpty else {
            return nil
        }
        let levels = levelValues.compactMap { value -> TierLevel? in
            guard let code = value["code"]?.stringValue, let threshold = value["threshold"]?.intValue else { return nil }
            return TierLevel(code: code, name: value["name"]?.stringValue ?? code, threshold: threshold,
                             retain: value["retain"]?.intValue, invitationOnly: value["invitation_only"]?.boolValue ?? false,
                             rewardPoints: value["upgrade_reward"]?["points"]?.intValue,
                             rewardBenefits: (value["upgrade_reward"]?["benefits"]?.arrayValue ?? []).compactMap { entry in
                                 entry["benefit"]?.stringValue.map {
                                     TierLevel.RewardBenefit(benefit: $0, quantity: entry["quantity"]?.intValue ?? 1)
                                 }
                             })
        }
        guard !levels.isEmpty else { return nil }
        self.init(levels: levels, timeZone: TimeZone(identifier: document["time_zone"]?.stringValue ?? "UTC") ?? .gmt)
        if let metric = tiers["metric"]?.stringValue.flatMap(Metric.init) { self.metric = metric }
        if let downgrade = tiers["downgrade"]?.stringValue.flatMap(Downgrade.init) { self.downgrade = downgrade }
        if let window = tiers["window"] {
            switch window["kind"]?.stringValue {
            case "calendar_year": self.window = .calendarYear
            case "lifetime": self.window = .lifetime
            default: self.window = .rollingMonths(Int(window["months"]?.intValue ?? 12))
            }
        }
        if let review = tiers["review"] {
            switch review["kind"]?.stringValue {
            case "monthly": self.review = .monthly
            default: self.review = .yearly(month: Int(review["month"]?.intValue ?? 1), day: Int(review["day"]?.intValue ?? 1))
            }
        }
    }

    /// The level every member starts at.
    public var baseLevel: TierLevel { levels[0] }

    /// The position of the level with this code, or nil.
    public func index(of code: String) -> Int? {
        levels.firstIndex { $0.code == code }
    }

    /// The position of a member's recorded level: the base level when none is recorded, or when the
    /// recorded level is no longer in the model (a configuration removed it).
    public func level(of tier: MemberTier?) -> Int {
        tier.flatMap { index(of: $0.level) } ?? 0
    }

    /// The code of a member's level, as `level(of:)` finds it.
    public func levelCode(of tier: MemberTier?) -> String {
        levels[level(of: tier)].code
    }

    // MARK: The qualifying window

    /// The contributions that count at `instant`: those whose time lies in `from...through`, both
    /// ends included (`from` nil: since the beginning). Times are whole milliseconds, so the open
    /// lower end of a rolling window is its first millisecond after `instant − months`.
    public func window(at instant: Date) -> (from: Date?, through: Date) {
        let through = Timestamp.truncated(instant)
        switch window {
        case .lifetime:
            return (nil, through)
        case .rollingMonths(let months):
            let start = arithmetic.adding(months: -months, to: through, calendar: calendar)
            return (Timestamp.date(milliseconds: Timestamp.milliseconds(start) + 1), through)
        case .calendarYear:
            // The year in which the instant just before `instant` lies: a review at the very start of
            // a year looks at the year that has just ended.
            let justBefore = Timestamp.date(milliseconds: Timestamp.milliseconds(through) - 1)
            return (arithmetic.interval(of: .year, containing: justBefore, calendar: calendar).start, through)
        }
    }

    /// The qualifying value at `instant` from contributions (time, value): the sum of those in the
    /// window. The back-test computes it so; the stores compute the same sum in SQL.
    public func qualifyingValue(_ contributions: some Sequence<TierContribution>, at instant: Date) -> Int64 {
        let (from, through) = window(at: instant)
        var total: Int64 = 0
        for contribution in contributions where contribution.at <= through && (from.map { contribution.at >= $0 } ?? true) {
            total += contribution.value
        }
        return total
    }

    // MARK: Moving between levels

    /// The highest level the upgrade rule reaches with `value`: the highest level, not invitation-only,
    /// whose threshold the value meets (the base level when none does).
    public func qualifiedLevel(for value: Int64) -> Int {
        var reached = 0
        for (index, level) in levels.enumerated() where !level.invitationOnly && level.threshold <= value {
            reached = index
        }
        return reached
    }

    /// The level a member at `current` moves up to, at once, with qualifying value `value`; nil when
    /// the value reaches no higher level.
    public func upgrade(from current: Int, value: Int64) -> Int? {
        let reached = qualifiedLevel(for: value)
        return reached > current ? reached : nil
    }

    /// The level a member at `current` goes down to at a review, with qualifying value `value` at the
    /// review instant; nil when they stay.
    public func review(from current: Int, value: Int64) -> Int? {
        guard downgrade != .never, current > 0, value < levels[current].retain else { return nil }
        switch downgrade {
        case .never:
            return nil
        case .oneDown:
            // The next level down that the upgrade rule can reach: never onto an invitation-only one.
            var below = current - 1
            while below > 0, levels[below].invitationOnly { below -= 1 }
            return below
        case .toQualified:
            let qualified = qualifiedLevel(for: value)
            return qualified < current ? qualified : nil
        }
    }

    /// What a review at `instant` does to a member with `tier` and qualifying value `value`: the level
    /// they go down to, or nil. A manual assignment that has not ended by the review protects them.
    public func review(_ tier: MemberTier?, value: Int64, at instant: Date) -> Int? {
        if let until = tier?.manualUntil, until > instant { return nil }
        return review(from: level(of: tier), value: value)
    }

    // MARK: Review instants

    /// The review instants `after < R ≤ through`, in order.
    public func reviewInstants(after: Date, through: Date) -> [Date] {
        var instants: [Date] = []
        var cursor = after
        while let next = nextReview(after: cursor), next <= through {
            instants.append(next)
            cursor = next
        }
        return instants
    }

    /// The review period that holds `instant`: from the last review instant at or before it to the
    /// next one after it.
    public func reviewPeriod(containing instant: Date) -> (start: Date, end: Date) {
        let end = nextReview(after: instant)!
        let start = switch review {
        case .monthly: arithmetic.adding(months: -1, to: end, calendar: calendar)
        case .yearly: arithmetic.adding(months: -12, to: end, calendar: calendar)
        }
        return (start, end)
    }

    /// The first review instant strictly after `instant`.
    public func nextReview(after instant: Date) -> Date? {
        switch review {
        case .monthly:
            return arithmetic.interval(of: .month, containing: instant, calendar: calendar).end
        case .yearly(let month, let day):
            let milliseconds = Timestamp.milliseconds(instant)
            if let arithmetic, milliseconds >= arithmetic.since {
                let year = arithmetic.year(of: milliseconds)
                for candidateYear in year...(year + 1) {
                    if let candidate = arithmetic.midnight(year: candidateYear, month: Int64(month), day: Int64(day)),
                       candidate > milliseconds {
                        return Timestamp.date(milliseconds: candidate)
                    }
                }
            }
            let year = calendar.component(.year, from: instant)
            for candidateYear in year...(year + 1) {
                let components = DateComponents(year: candidateYear, month: month, day: day)
                if let candidate = calendar.date(from: components), candidate > instant { return candidate }
            }
            return nil
        }
    }
}

extension TierPolicy.Metric {
    /// For the metrics the ledger's transfers count (`growth`, `points_earned`): their unit; nil
    /// for those counted from events.
    public var unit: LedgerUnit? {
        switch self {
        case .growth: .growth
        case .pointsEarned: .points
        case .spend, .orders: nil
        }
    }

    /// The program's accounts whose movements with a member count, both ways: what the rules gave
    /// less what refunds took back (a reversal of either counts against it), and for growth also
    /// operators' adjustments, the way to correct a member's qualification. Expiry, spending and
    /// member-to-member transfers do not count.
    public var countedAccounts: [SystemAccount] {
        self == .growth ? [.issued, .clawedBack, .adjusted] : [.issued, .clawedBack]
    }
}

/// One contribution to a member's qualifying value: `value` units of the metric at `at`.
public struct TierContribution: Sendable, Hashable {
    public var at: Date
    public var value: Int64

    public init(at: Date, value: Int64) {
        self.at = at
        self.value = value
    }
}
