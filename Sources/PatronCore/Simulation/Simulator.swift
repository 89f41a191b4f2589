import Dispatch
import Foundation
import Synchronization

/// What a back-test found (docs/SIMULATION.md).
public struct SimulationReport: Sendable, Hashable {
    public struct Points: Sendable, Hashable {
        /// Points the rules and upgrade rewards gave in `[from, to)`.
        public var issued: Int64 = 0
        /// Points refunds took back in `[from, to)`.
        public var clawedBack: Int64 = 0
        /// Points that expired in `(from, to]`.
        public var expired: Int64 = 0
        /// Points members hold at `to`: earned, not taken back, not expired (nothing is spent in a
        /// replay, so this is the most the program can owe).
        public var outstanding: Int64 = 0
        /// `outstanding` × `points.value_minor_per_point`, in minor units.
        public var liabilityMinor: Int64 = 0
    }

    public var from: Date
    public var to: Date
    /// The levels, lowest first.
    public var levels: [String]
    /// Members with at least one event before `to`.
    public var members: Int
    /// Events before `to` that were replayed, and those of them before `from` (the warm-up).
    public var events: Int
    public var warmupEvents: Int
    /// Level code → members at `to`.
    public var membersPerLevel: [String: Int]
    /// Level changes at instants from `from` to `to`.
    public var upgrades: Int
    public var downgrades: Int
    /// Level at `from` → level at `to` → members.
    public var migration: [String: [String: Int]]
    public var points: Points
    /// Benefit code → its estimated cost in minor units over `[from, to)`.
    public var benefitCost: [String: Int64]
    /// Rule evaluations that failed (an award that is not an int, a missing attribute).
    public var ruleFailures: Int
    /// With a baseline: its members per level at `to`, and baseline level → candidate level → members.
    public var baselineMembersPerLevel: [String: Int]?
    public var baselineMigration: [String: [String: Int]]?
}

/// Replays a history of events under a configuration with the live server's own rules: the earning
/// rules (`EarningRules`), the points policy (`PointsPolicy`: expiry, refunds), the tier model
/// (`TierPolicy`: windows, upgrades after every event, reviews at their instants) and the benefit
/// catalogue. Members are independent of each other, so they are replayed in parallel, each in
/// time order. A class: the replay's closures share it instead of copying (and retaining) every
/// part of it per event.
public final class Simulator: Sendable {
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case noTiers
        case emptyPeriod

        public var description: String {
            switch self {
            case .noTiers: "the configuration has no 'tiers' to simulate"
            case .emptyPeriod: "'from' must be before 'to'"
            }
        }
    }

    let programCode: String
    let rules: EarningRules
    /// The rules with a cap, whose use is tracked per member (a few at most: searched in order).
    let cappedRules: [String]
    /// What rules see as `program`.
    let programValue: CELValue
    let policy: PointsPolicy
    let tiers: TierPolicy
    let benefits: BenefitCatalogue
    /// Per level, the catalogue positions of the benefits it carries that have a value to cost.
    let costedBenefits: [[Int]]

    public init(configuration document: JSONValue, programCode: String = "simulation") throws(Failure) {
        guard let tiers = TierPolicy(configuration: document) else { throw .noTiers }
        self.programCode = programCode
        self.rules = EarningRules(configuration: document)
        self.cappedRules = rules.rules.filter { !$0.cap.isEmpty }.map(\.code)
        self.policy = PointsPolicy(configuration: document)
        self.programValue = .object(RuleEnvironment.program.make([
            "code": .string(programCode), "time_zone": .string(policy.timeZone.identifier),
        ]))
        self.tiers = tiers
        let benefits = BenefitCatalogue(configuration: document)
        self.benefits = benefits
        self.costedBenefits = tiers.levels.map { level in
            benefits.benefits.indices.filter { index in
                let benefit = benefits.benefits[index]
                return benefit.levels.contains(level.code) && (benefit.value ?? 0) > 0
            }
        }
    }

    /// The code of a level in `run`'s `levelAtEnd`; nil for a member with no event before `to`.
    public func levelCode(_ level: Int8) -> String? {
        level >= 0 ? tiers.levels[Int(level)].code : nil
    }

    /// Each member's level at `to`, and the report.
    public func run(_ history: SimulationHistory, from: Date, to: Date,
                    workers: Int = ProcessInfo.processInfo.activeProcessorCount) throws(Failure)
        -> (report: SimulationReport, levelAtEnd: [Int8]) {
        guard from < to else { throw .emptyPeriod }
        let fromMs = Timestamp.milliseconds(from), toMs = Timestamp.milliseconds(to)
        let order = Self.memberOrder(history)
        let firstAt = history.at.min() ?? toMs
        let reviews = tiers.reviewInstants(after: Timestamp.date(milliseconds: firstAt - 1), through: to)
            .map(Timestamp.milliseconds)
        let memberCount = history.members.count
        let chunks = max(1, min(workers, memberCount / 1000 + 1))
        let context = Context(history: history, order: order, reviews: reviews, fromMs: fromMs, toMs: toMs,
                              bindings: history.types.map { BindingPlan(rules.reads(forType: $0)) },
                              rules: history.types.map { rules.applicable(to: $0) })
        let results = Mutex<[(first: Int, tally: Tally, levels: [Int8])]>([])
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let first = memberCount * chunk / chunks, last = memberCount * (chunk + 1) / chunks
            var tally = Tally(levels: tiers.levels.count)
            var levels = [Int8](repeating: -1, count: last - first)
            for member in first..<last {
                if let level = replay(member: member, context, &tally) { levels[member - first] = Int8(level) }
            }
            results.withLock { $0.append((first, tally, levels)) }
        }
        var levelAtEnd = [Int8](repeating: -1, count: memberCount)
        var partials: [Tally] = []
        for result in results.withLock({ $0 }) {
            levelAtEnd.replaceSubrange(result.first..<(result.first + result.levels.count), with: result.levels)
            partials.append(result.tally)
        }
        var total = Tally(levels: tiers.levels.count)
        for partial in partials { total.add(partial) }
        let codes = tiers.levels.map(\.code)
        var migration: [String: [String: Int]] = [:]
        for (start, row) in total.migration.enumerated() {
            for (end, count) in row.enumerated() where count > 0 { migration[codes[start], default: [:]][codes[end]] = count }
        }
        var points = total.points
        points.liabilityMinor = points.outstanding * policy.valueMinorPerPoint
        let report = SimulationReport(
            from: Timestamp.date(milliseconds: fromMs), to: Timestamp.date(milliseconds: toMs), levels: codes,
            members: total.members, events: total.events, warmupEvents: total.warmupEvents,
            membersPerLevel: Dictionary(uniqueKeysWithValues: zip(codes, total.perLevel)), upgrades: total.upgrades,
            downgrades: total.downgrades, migration: migration, points: points, benefitCost: total.benefitCost,
            ruleFailures: total.ruleFailures)
        return (report, levelAtEnd)
    }

    /// Runs `candidate` and `baseline` over the same history and adds the comparison to the
    /// candidate's report.
    public static func compare(candidate: Simulator, baseline: Simulator, history: SimulationHistory, from: Date, to: Date)
        throws(Failure) -> SimulationReport {
        var (report, candidateLevels) = try candidate.run(history, from: from, to: to)
        let (baselineReport, baselineLevels) = try baseline.run(history, from: from, to: to)
        var matrix: [String: [String: Int]] = [:]
        for member in candidateLevels.indices where candidateLevels[member] >= 0 && baselineLevels[member] >= 0 {
            let before = baseline.tiers.levels[Int(baselineLevels[member])].code
            let after = candidate.tiers.levels[Int(candidateLevels[member])].code
            matrix[before, default: [:]][after, default: 0] += 1
        }
        report.baselineMembersPerLevel = baselineReport.membersPerLevel
        report.baselineMigration = matrix
        return report
    }

    // MARK: The replay of one member

    struct Context {
        let history: SimulationHistory
        /// Event indexes grouped by member, each member's in time order: `order[start[m]..<start[m + 1]]`.
        let order: (indexes: [Int32], start: [Int])
        let reviews: [Int64]
        let fromMs: Int64
        let toMs: Int64
        /// Per event type of the history: what its rules read, and the rules.
        let bindings: [BindingPlan]
        let rules: [[EarningRule]]
    }

    /// What the rules of one event type read of `event` and `member`: the replay builds only those
    /// fields (the rest stay null, which no rule of the type can tell), or nothing when no rule reads
    /// the variable, rather than both whole objects for every event.
    struct BindingPlan: Sendable {
        enum Need<Field: Sendable>: Sendable {
            case nothing
            case whole
            case fields([(slot: Int, field: Field)])
        }

        /// The fields of `event` a replay knows; the rest (`order_id`, `store`, B2B parties) are null in it.
        enum EventField: Sendable { case type, amount, occurredAt, channel, items, attributes, null }
        /// The fields of `member` a replay knows; `birthday` and `plan` are null in it.
        enum MemberField: Sendable { case id, tier, enrolledAt, tags, attributes, purchases, kind, null }

        let event: Need<EventField>
        let member: Need<MemberField>
        /// Whether the member's value depends on their purchase count (worked out once, asked per event).
        let memberReadsPurchases: Bool

        init(_ reads: [String: CELReads]) {
            event = Self.need(reads["event"], of: RuleEnvironment.event) { name in
                switch name {
                case "type": .type
                case "amount": .amount
                case "occurred_at": .occurredAt
                case "channel": .channel
                case "items": .items
                case "attributes": .attributes
                default: .null
                }
            }
            member = Self.need(reads["member"], of: RuleEnvironment.member) { name in
                switch name {
                case "id": .id
                case "tier": .tier
                case "enrolled_at": .enrolledAt
                case "tags": .tags
                case "attributes": .attributes
                case "purchases": .purchases
                case "kind": .kind
                default: .null
                }
            }
            switch member {
            case .nothing: memberReadsPurchases = false
            case .whole: memberReadsPurchases = true
            case .fields(let fields): memberReadsPurchases = fields.contains { if case .purchases = $0.field { true } else { false } }
            }
        }

        private static func need<Field>(_ reads: CELReads?, of type: CELObjectType, _ field: (String) -> Field) -> Need<Field> {
            switch reads {
            case nil: .nothing
            case .whole?: .whole
            case .fields(let names)?: .fields(names.compactMap { name in type.slot(of: name).map { ($0, field(name)) } })
            }
        }
    }

    /// What the replay of some members adds up to.
    struct Tally {
        var members = 0, events = 0, warmupEvents = 0, upgrades = 0, downgrades = 0, ruleFailures = 0
        var perLevel: [Int]
        var migration: [[Int]]
        var points = SimulationReport.Points()
        var benefitCost: [String: Int64] = [:]

        init(levels: Int) {
            perLevel = Array(repeating: 0, count: levels)
            migration = Array(repeating: Array(repeating: 0, count: levels), count: levels)
        }

        mutating func add(_ other: Tally) {
            members += other.members; events += other.events; warmupEvents += other.warmupEvents
            upgrades += other.upgrades; downgrades += other.downgrades; ruleFailures += other.ruleFailures
            for index in perLevel.indices { perLevel[index] += other.perLevel[index] }
            for row in migration.indices { for column in migration.indices { migration[row][column] += other.migration[row][column] } }
            points.issued += other.points.issued; points.clawedBack += other.points.clawedBack
            points.expired += other.points.expired; points.outstanding += other.points.outstanding
            benefitCost.merge(other.benefitCost, uniquingKeysWith: +)
        }
    }

    /// Values with their times, appended in time order and summed over windows whose start only
    /// moves forward (the replay asks at instants in time order, never before what it appended):
    /// what fell out of the window is dropped once, so each sum is O(1) amortised.
    struct WindowSum {
        private var entries: [(at: Int64, value: Int64)] = []
        private var total: Int64 = 0
        private var dropped = 0
        private var droppedValue: Int64 = 0

        mutating func append(_ entry: (at: Int64, value: Int64)) {
            entries.append(entry)
            total += entry.value
        }

        /// The sum of the values at or after `lower`.
        mutating func sum(from lower: Int64) -> Int64 {
            while dropped < entries.count, entries[dropped].at < lower {
                droppedValue += entries[dropped].value
                dropped += 1
            }
            return total - droppedValue
        }
    }

    /// What a capped rule gave a member on `day` (its start, in milliseconds) and ever.
    struct CapCount {
        var day: Int64 = .min
        var used: Int64 = 0
        var lifetime: Int64 = 0
    }

    struct Lot {
        var order: UInt64
        var earnedAt: Int64
        var availableAt: Int64
        var expiresAt: Int64?
        var remaining: Int64
    }

    struct Order {
        var amount: Int64
        var points: Int64
        var growth: Int64
        var refunded: Int64
        var at: Int64
    }

    /// Replays one member; returns their level at `to`, or nil when they had no event before it.
    func replay(member: Int, _ context: Context, _ tally: inout Tally) -> Int? {
        let history = context.history
        let slice = context.order.indexes[context.order.start[member]..<context.order.start[member + 1]]
        guard let firstIndex = slice.first, history.at[Int(firstIndex)] < context.toMs else { return nil }
        let memberID = history.members[member]
        let enrolledAt = history.at[Int(firstIndex)]
        var level = 0
        var levelAtFrom: Int?
        var growth = WindowSum(), pointsEarned = WindowSum(), spend = WindowSum()
        var purchases: [(at: Int64, order: UInt64, amount: Int64, fullyRefundedAt: Int64?)] = []
        var orders: [UInt64: Order] = [:]
        var lots: [Lot] = []
        var debt: Int64 = 0
        // Per capped rule (by its position in `cappedRules`): the day counted, what it gave then and ever.
        var capUsage = [CapCount](repeating: CapCount(), count: cappedRules.count)
        var rewarded: Set<String> = []
        // Per catalogue position: the cost so far (nil: none counted), and a quota's current period and uses in it.
        var cost = [Int64?](repeating: nil, count: benefits.benefits.count)
        var quotaPeriod = [Int64](repeating: .min, count: benefits.benefits.count)
        var quotaUsed = [Int64](repeating: 0, count: benefits.benefits.count)
        // The soonest expiry among lots with points left: nothing expires before it.
        var nextExpiry = Int64.max
        var reviewCursor = context.reviews.firstIndex { $0 >= enrolledAt } ?? context.reviews.count
        // The member's rule value, built again only when the event type or what it shows changes.
        var memberValue = CELValue.null
        var memberValueKey = (-1, -1, -1)
        let fromMs = context.fromMs, toMs = context.toMs

        func value(at instant: Int64) -> Int64 {
            let window = tiers.window(at: Timestamp.date(milliseconds: instant))
            let lower = window.from.map(Timestamp.milliseconds) ?? Int64.min
            switch tiers.metric {
            case .growth: return growth.sum(from: lower)
            case .pointsEarned: return pointsEarned.sum(from: lower)
            case .spend: return spend.sum(from: lower)
            case .orders:
                return Int64(purchases.filter { purchase in
                    purchase.at >= lower && purchase.at <= instant
                        && (purchase.fullyRefundedAt.map { $0 > instant } ?? true)
                }.count)
            }
        }
        func noteFrom(before instant: Int64) {
            if levelAtFrom == nil, instant >= fromMs { levelAtFrom = level }
        }
        func expire(through instant: Int64) {
            guard instant >= nextExpiry else { return }
            // Lots whose expiry has come are gone; those that expired in (from, to] are counted.
            nextExpiry = .max
            for index in lots.indices where lots[index].remaining > 0 {
                guard let expiresAt = lots[index].expiresAt else { continue }
                if expiresAt <= instant {
                    if expiresAt > fromMs { tally.points.expired += lots[index].remaining }
                    lots[index].remaining = 0
                } else {
                    nextExpiry = min(nextExpiry, expiresAt)
                }
            }
        }
        func earnPoints(_ amount: Int64, at instant: Int64, order: UInt64) {
            // Debt left by refunds is repaid first, as the live ledger does.
            var amount = amount
            let repaid = min(debt, amount)
            debt -= repaid
            amount -= repaid
            guard amount > 0 else { return }
            let earnedAt = Timestamp.date(milliseconds: instant)
            let expiresAt = policy.expiresAt(earnedAt: earnedAt).map(Timestamp.milliseconds)
            lots.append(Lot(order: order, earnedAt: instant,
                            availableAt: Timestamp.milliseconds(policy.availableAt(earnedAt: earnedAt)),
                            expiresAt: expiresAt, remaining: amount))
            if let expiresAt { nextExpiry = min(nextExpiry, expiresAt) }
        }
        func runReviews(through instant: Int64, inclusive: Bool) {
            while reviewCursor < context.reviews.count,
                  inclusive ? context.reviews[reviewCursor] <= instant : context.reviews[reviewCursor] < instant {
                let review = context.reviews[reviewCursor]
                reviewCursor += 1
                noteFrom(before: review)
                if let lower = tiers.review(from: level, value: value(at: review)) {
                    level = lower
                    if review >= fromMs { tally.downgrades += 1 }
                }
            }
        }

        for position in slice {
            let index = Int(position)
            let instant = history.at[index]
            guard instant < toMs else { break }
            runReviews(through: instant, inclusive: true)
            noteFrom(before: instant)
            expire(through: instant)
            tally.events += 1
            if instant < fromMs { tally.warmupEvents += 1 }
            let counted = instant >= fromMs
            let type = history.types[Int(history.type[index])]
            let amount = history.amount[index]
            let orderKey = history.order[index]
            let date = Timestamp.date(milliseconds: instant)
            if type == LedgerEvent.purchase, counted {
                addBenefitCost(level: level, amount: amount, at: date, cost: &cost, quotaPeriod: &quotaPeriod,
                               quotaUsed: &quotaUsed)
            }
            let plan = context.bindings[Int(history.type[index])]
            let channel = history.channel[index] == 0 ? nil : history.channels[Int(history.channel[index]) - 1]
            // The member's value changes with their level, and with their purchases if a rule reads
            // them; each event type's rules read their own fields of it.
            let memberKey = (Int(history.type[index]), level, plan.memberReadsPurchases ? purchases.count : -1)
            if memberKey != memberValueKey {
                memberValue = self.memberValue(plan.member, id: memberID, tier: tiers.levels[level].code,
                                               enrolledAt: enrolledAt, purchases: Int64(purchases.count))
                memberValueKey = memberKey
            }
            let bindings = RuleEnvironment.earningBindings(
                event: Self.eventValue(plan.event, memberID: memberID, type: type, amount: amount, at: date, channel: channel),
                member: memberValue, program: programValue)
            // The program-time day, for caps per day: worked out only where a capped rule is used.
            var dayStart: Int64?
            func today() -> Int64 {
                if let dayStart { return dayStart }
                let start = Timestamp.milliseconds(policy.day(of: date).start)
                dayStart = start
                return start
            }
            let outcome = rules.evaluate(context.rules[Int(history.type[index])], bindings: bindings) { rule in
                guard let position = cappedRules.firstIndex(of: rule.code) else { return CapUsage() }
                let used = capUsage[position]
                return CapUsage(day: used.day == today() ? used.used : 0, lifetime: used.lifetime)
            }
            tally.ruleFailures += outcome.failures.count
            if !cappedRules.isEmpty {
                for award in outcome.awards {
                    guard let position = cappedRules.firstIndex(of: award.rule) else { continue }
                    if capUsage[position].day != today() { capUsage[position] = CapCount(day: today(), lifetime: capUsage[position].lifetime) }
                    capUsage[position].used += award.amount
                    capUsage[position].lifetime += award.amount
                }
            }
            let earnedPoints = outcome.total(.points), earnedGrowth = outcome.total(.growth)
            if earnedPoints > 0 {
                earnPoints(earnedPoints, at: instant, order: orderKey)
                pointsEarned.append((instant, earnedPoints))
                if counted { tally.points.issued += earnedPoints }
            }
            if earnedGrowth > 0 { growth.append((instant, earnedGrowth)) }
            if type == LedgerEvent.purchase {
                purchases.append((instant, orderKey, amount, nil))
                spend.append((instant, amount))
                if orderKey != 0, orders[orderKey] == nil {
                    orders[orderKey] = Order(amount: amount, points: earnedPoints, growth: earnedGrowth, refunded: 0, at: instant)
                }
            } else if type == LedgerEvent.refund, orderKey != 0, var order = orders[orderKey] {
                let refunded = min(amount, order.amount - order.refunded)
                spend.append((instant, -refunded))
                let pointsBack = PointsPolicy.refundTakesBack(order.points, orderAmount: order.amount,
                                                              refundedBefore: order.refunded, refunding: refunded)
                let growthBack = PointsPolicy.refundTakesBack(order.growth, orderAmount: order.amount,
                                                              refundedBefore: order.refunded, refunding: refunded)
                order.refunded += refunded
                orders[orderKey] = order
                if order.refunded >= order.amount, order.amount > 0,
                   let purchase = purchases.lastIndex(where: { $0.order == orderKey }) {
                    purchases[purchase].fullyRefundedAt = instant
                }
                if growthBack > 0 { growth.append((instant, -growthBack)) }
                if pointsBack > 0 {
                    let taken = clawBack(pointsBack, order: orderKey, at: instant, lots: &lots, debt: &debt)
                    pointsEarned.append((instant, -taken))
                    if counted { tally.points.clawedBack += taken }
                }
            }
            // The upgrade rule, after the event.
            if let reached = tiers.upgrade(from: level, value: value(at: instant)) {
                level = reached
                if counted { tally.upgrades += 1 }
                let reward = tiers.levels[reached]
                if reward.rewardPoints != nil || !reward.rewardBenefits.isEmpty,
                   rewarded.insert("\(reward.code):\(Timestamp.milliseconds(tiers.reviewPeriod(containing: date).start))")
                    .inserted {
                    if let points = reward.rewardPoints {
                        earnPoints(points, at: instant, order: 0)
                        pointsEarned.append((instant, points))
                        if counted { tally.points.issued += points }
                    }
                    // A granted benefit with a value is counted at its value per use granted.
                    for grant in reward.rewardBenefits where counted {
                        if let value = benefits.benefit(grant.benefit)?.value, value > 0 {
                            tally.benefitCost[grant.benefit, default: 0] += value * grant.quantity
                        }
                    }
                }
            }
        }
        runReviews(through: toMs, inclusive: true)
        expire(through: toMs)
        noteFrom(before: toMs)
        for (index, value) in cost.enumerated() {
            if let value { tally.benefitCost[benefits.benefits[index].code, default: 0] += value }
        }
        tally.members += 1
        tally.perLevel[level] += 1
        tally.migration[levelAtFrom ?? level][level] += 1
        tally.points.outstanding += lots.reduce(0) { $0 + $1.remaining } - debt
        return level
    }

    /// The event as the rules of its type read it: whole, as the live server builds it, or only the
    /// fields they read.
    private static func eventValue(_ need: BindingPlan.Need<BindingPlan.EventField>, memberID: String, type: String,
                                   amount: Int64, at date: Date, channel: String?) -> CELValue {
        switch need {
        case .nothing:
            return .null
        case .whole:
            return LedgerEvent(clientID: "", type: type, memberID: memberID, externalID: nil, occurredAt: date, amount: amount,
                               orderID: nil, items: [], channel: channel, store: nil, attributes: [:]).ruleValue
        case .fields(let fields):
            var values = [CELValue](repeating: .null, count: RuleEnvironment.event.fields.count)
            for (slot, field) in fields {
                switch field {
                case .type: values[slot] = .string(type)
                case .amount: values[slot] = .int(amount)
                case .occurredAt: values[slot] = .timestamp(CELTimestamp(date))
                case .channel: values[slot] = channel.map(CELValue.string) ?? .null
                case .items: values[slot] = .list([])
                case .attributes: values[slot] = CELValue(json: .object([:]))
                case .null: break
                }
            }
            return .object(CELObject(type: RuleEnvironment.event, values: values))
        }
    }

    /// The member as the rules of an event's type read them (see `eventValue`).
    private func memberValue(_ need: BindingPlan.Need<BindingPlan.MemberField>, id: String, tier: String, enrolledAt: Int64,
                             purchases: Int64) -> CELValue {
        switch need {
        case .nothing:
            return .null
        case .whole:
            return RuleEnvironment.memberValue(id: id, tier: tier, enrolledAt: Timestamp.date(milliseconds: enrolledAt),
                                               birthday: nil, plan: nil, attributes: [:], purchases: purchases, kind: "person")
        case .fields(let fields):
            var values = [CELValue](repeating: .null, count: RuleEnvironment.member.fields.count)
            for (slot, field) in fields {
                switch field {
                case .id: values[slot] = .string(id)
                case .tier: values[slot] = .string(tier)
                case .enrolledAt: values[slot] = .timestamp(CELTimestamp(Timestamp.date(milliseconds: enrolledAt)))
                case .tags: values[slot] = .list([])
                case .attributes: values[slot] = CELValue(json: .object([:]))
                case .purchases: values[slot] = .int(purchases)
                case .kind: values[slot] = .string("person")
                case .null: break
                }
            }
            return .object(CELObject(type: RuleEnvironment.member, values: values))
        }
    }

    /// Takes back `points` for a refund by the program's `refund` policy: from the order's lots,
    /// pending ones first, then (`within_balance`, `allow_negative`) from the member's other lots,
    /// soonest-expiring first, and (`allow_negative`) into debt. Returns what was taken.
    private func clawBack(_ points: Int64, order: UInt64, at instant: Int64, lots: inout [Lot], debt: inout Int64) -> Int64 {
        var left = points
        func take(where predicate: (Lot) -> Bool, sortedBy areInOrder: ((Lot, Lot) -> Bool)? = nil) {
            var indexes = lots.indices.filter { lots[$0].remaining > 0 && predicate(lots[$0]) }
            if let areInOrder { indexes.sort { areInOrder(lots[$0], lots[$1]) } }
            for index in indexes where left > 0 {
                let taken = min(left, lots[index].remaining)
                lots[index].remaining -= taken
                left -= taken
            }
        }
        take { $0.order == order && $0.availableAt > instant }
        if policy.refund != .pendingOnly {
            take { $0.order == order }
            take(where: { _ in true }) { ($0.expiresAt ?? .max, $0.earnedAt) < ($1.expiresAt ?? .max, $1.earnedAt) }
        }
        if policy.refund == .allowNegative, left > 0 {
            debt += left
            left = 0
        }
        return points - left
    }

    /// Adds the estimated cost of the member's benefits for a purchase at `level`: a percent
    /// discount takes its share of the amount, a fixed one its value (at most the amount), and a
    /// benefit with a quota and a value is assumed used once per purchase while the quota lasts.
    private func addBenefitCost(level: Int, amount: Int64, at date: Date, cost: inout [Int64?], quotaPeriod: inout [Int64],
                                quotaUsed: inout [Int64]) {
        for index in costedBenefits[level] {
            let benefit = benefits.benefits[index]
            let value = benefit.value!
            switch benefit.kind {
            case .percentDiscount:
                cost[index] = (cost[index] ?? 0) + amount * value / 100
            case .fixedDiscount:
                cost[index] = (cost[index] ?? 0) + min(value, amount)
            default:
                guard let quota = benefit.quota else { continue }
                // Purchases come in time order, so only the current period's uses matter.
                let start = Timestamp.milliseconds(quota.period(containing: date, calendar: policy.calendar).start)
                if start != quotaPeriod[index] {
                    quotaPeriod[index] = start
                    quotaUsed[index] = 0
                }
                guard quotaUsed[index] < quota.quantity else { continue }
                quotaUsed[index] += 1
                cost[index] = (cost[index] ?? 0) + value
            }
        }
    }

    /// Event indexes grouped by member (a counting sort), each member's sorted by time, then by
    /// position in the file.
    static func memberOrder(_ history: SimulationHistory) -> (indexes: [Int32], start: [Int]) {
        let members = history.members.count
        var start = [Int](repeating: 0, count: members + 1)
        for member in history.member { start[Int(member) + 1] += 1 }
        for index in 0..<members { start[index + 1] += start[index] }
        var next = start
        var indexes = [Int32](repeating: 0, count: history.count)
        for (position, member) in history.member.enumerated() {
            indexes[next[Int(member)]] = Int32(position)
            next[Int(member)] += 1
        }
        let at = history.at
        for member in 0..<members {
            let range = start[member]..<start[member + 1]
            // Positions within a member are already ascending, so a stable sort by time keeps ties in
            // file order; most members' events are in time order already.
            var sorted = true
            for position in range.dropFirst() where at[Int(indexes[position - 1])] > at[Int(indexes[position])] {
                sorted = false
                break
            }
            if !sorted {
                let slice = indexes[range].sorted { (at[Int($0)], $0) < (at[Int($1)], $1) }
                indexes.replaceSubrange(range, with: slice)
            }
        }
        return (indexes, start)
    }
}

extension Simulator {
    /// A bound of the period a back-test reports on: `YYYY-MM-DD` as 00:00 in `timeZone`, or an
    /// RFC 3339 time as it is; nil for anything else (or a day the month does not have).
    public static func instant(_ text: String, timeZone: TimeZone) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
           let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
                  calendar.component(.day, from: date) == day, calendar.component(.month, from: date) == month else {
                return nil
            }
            return date
        }
        return try? Date(text, strategy: .iso8601)
    }
}
