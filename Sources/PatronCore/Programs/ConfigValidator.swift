/// Validates a program configuration document (see docs/CONFIG.md) as a whole and reports every
/// fault with a JSON pointer. Later parts of Patron (the rule language, the ledger, tiers, plans,
/// benefits) deepen the checks of the sections they own; the shape checked here is the contract.
public struct ConfigValidator: Sendable {
    /// The program the document is for: its currency cannot change once amounts exist in it.
    public var programCurrency: String

    public init(programCurrency: String) {
        self.programCurrency = programCurrency
    }

    /// The largest document accepted, in bytes of canonical JSON.
    public static let maxDocumentBytes = 512 * 1024

    static let topLevelKeys: Set<String> = [
        "currency", "time_zone", "points", "earning_rules", "tiers", "plans", "benefits", "member_fields",
    ]

    /// Validates `document`; throws a `ValidationError` listing every fault.
    public func validate(_ document: JSONValue) throws(ValidationError) {
        var faults = FaultCollector()
        if document.canonicalData().count > Self.maxDocumentBytes {
            faults.add(.root, "too_large", "A configuration document is at most \(Self.maxDocumentBytes) bytes.")
            try faults.check()
        }
        guard let root = ObjectValidator(document, at: .root, allowedKeys: Self.topLevelKeys, faults: &faults) else {
            try faults.check()
            return
        }
        if let currency = root.string("currency", required: true, faults: &faults) {
            if !Currency.isKnown(currency) {
                faults.add(.root / "currency", "unknown_currency", "'\(currency)' is not an ISO 4217 currency code.")
            } else if currency != programCurrency {
                faults.add(.root / "currency", "currency_immutable",
                           "The program's currency is \(programCurrency); it cannot be changed.")
            }
        }
        if let zone = root.string("time_zone", required: true, faults: &faults), !ProgramTimeZone.isKnown(zone) {
            faults.add(.root / "time_zone", "unknown_time_zone", "'\(zone)' is not an IANA time zone such as Asia/Shanghai.")
        }
        if let points = root.value("points") { validatePoints(points, at: .root / "points", &faults) }
        let rules = root.array("earning_rules", faults: &faults)
        if let rules { validateEarningRules(rules, at: .root / "earning_rules", &faults) }
        var levelCodes: Set<String> = []
        var rewardBenefits: [(JSONPointer, String)] = []
        if let tiers = root.value("tiers") {
            levelCodes = validateTiers(tiers, at: .root / "tiers", rewardBenefits: &rewardBenefits, &faults)
        }
        var planCodes: Set<String> = []
        if let plans = root.array("plans", faults: &faults) {
            planCodes = validatePlans(plans, at: .root / "plans", &faults)
        }
        let benefits = root.array("benefits", faults: &faults)
        if let benefits {
            validateBenefits(benefits, at: .root / "benefits", levels: levelCodes, plans: planCodes, &faults)
        }
        let benefitCodes = Set((benefits ?? []).compactMap { $0["code"]?.stringValue })
        for (pointer, code) in rewardBenefits where !benefitCodes.contains(code) {
            faults.add(pointer, "unknown_benefit", "No benefit in 'benefits' has the code '\(code)'.")
        }
        if let fields = root.array("member_fields", faults: &faults) {
            _ = MemberFieldDefinition.parse(fields, at: .root / "member_fields", &faults)
        }
        try faults.check()
    }

    private func validatePoints(_ value: JSONValue, at pointer: JSONPointer, _ faults: inout FaultCollector) {
        guard let points = ObjectValidator(value, at: pointer, allowedKeys: [
            "value_minor_per_point", "pending_days", "expiry", "refund", "limits", "allow_transfers", "b2b",
        ], faults: &faults) else { return }
        _ = points.integer("value_minor_per_point", in: 1...1_000_000, faults: &faults)
        _ = points.integer("pending_days", in: 0...365, faults: &faults)
        _ = points.choice("refund", ["within_balance", "allow_negative", "pending_only"], faults: &faults)
        _ = points.boolean("allow_transfers", faults: &faults)
        if let expiry = points.value("expiry"),
           let reader = ObjectValidator(expiry, at: pointer / "expiry", allowedKeys: ["policy", "days", "months", "years"],
                                        faults: &faults) {
            let policy = reader.choice("policy", ["never", "days_after_earn", "end_of_month_after_earn", "end_of_year_after_earn"],
                                       required: true, faults: &faults)
            let days = reader.integer("days", in: 1...36_500, faults: &faults)
            let months = reader.integer("months", in: 0...1_200, faults: &faults)
            let years = reader.integer("years", in: 0...100, faults: &faults)
            let needed: (String, Int64?)? = switch policy {
            case "days_after_earn": ("days", days)
            case "end_of_month_after_earn": ("months", months)
            case "end_of_year_after_earn": ("years", years)
            default: nil
            }
            if let (key, given) = needed, given == nil, reader.value(key) == nil {
                faults.add(pointer / "expiry" / key, "missing", "The policy '\(policy ?? "")' needs '\(key)'.")
            }
        }
        if let limits = points.value("limits"),
           let reader = ObjectValidator(limits, at: pointer / "limits", allowedKeys: [
               "points_per_member_per_day", "events_per_member_per_hour", "on_exceed",
           ], faults: &faults) {
            _ = reader.integer("points_per_member_per_day", in: 1...Int64(Int32.max), faults: &faults)
            _ = reader.integer("events_per_member_per_hour", in: 1...100_000, faults: &faults)
            _ = reader.choice("on_exceed", ["refuse", "review"], faults: &faults)
        }
        if let b2b = points.value("b2b"),
           let reader = ObjectValidator(b2b, at: pointer / "b2b", allowedKeys: ["earn_to", "executor_percent"], faults: &faults) {
            let earnTo = reader.choice("earn_to", PointsPolicy.EarnTo.allCases.map(\.rawValue), required: true, faults: &faults)
            let percent = reader.integer("executor_percent", in: 1...99, faults: &faults)
            if earnTo == PointsPolicy.EarnTo.split.rawValue, percent == nil, reader.value("executor_percent") == nil {
                faults.add(pointer / "b2b" / "executor_percent", "missing", "'split' needs 'executor_percent': the executor's share.")
            } else if let earnTo, earnTo != PointsPolicy.EarnTo.split.rawValue, reader.value("executor_percent") != nil {
                faults.add(pointer / "b2b" / "executor_percent", "not_allowed", "'executor_percent' applies only to 'split'.")
            }
        }
    }

    private func validateEarningRules(_ rules: [JSONValue], at pointer: JSONPointer, _ faults: inout FaultCollector) {
        var seen: Set<String> = []
        for (index, rule) in rules.enumerated() {
            let here = pointer / index
            guard let reader = ObjectValidator(rule, at: here, allowedKeys: [
                "code", "name", "description", "on", "when", "award", "unit", "cap", "active",
            ], faults: &faults) else { continue }
            if let code = reader.code("code", faults: &faults), !seen.insert(code).inserted {
                faults.add(here / "code", "duplicate_code", "Another earning rule already has the code '\(code)'.")
            }
            _ = reader.string("name", maxLength: 200, faults: &faults)
            _ = reader.string("description", maxLength: 2000, faults: &faults)
            _ = reader.code("on", faults: &faults)
            for (key, role) in [("when", RuleEnvironment.Role.condition), ("award", .award)] {
                guard let expression = reader.string(key, required: key == "award", maxLength: 4096, faults: &faults) else {
                    continue
                }
                if expression.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    faults.add(here / key, "empty_expression", "An expression cannot be blank.")
                    continue
                }
                do throws(CELCompileError) {
                    _ = try RuleEnvironment.compile(expression, as: role)
                } catch {
                    faults.add(here / key, "invalid_expression", "\(error.description)")
                }
            }
            _ = reader.choice("unit", ["points", "growth"], faults: &faults)
            _ = reader.boolean("active", faults: &faults)
            if let cap = reader.value("cap"),
               let capReader = ObjectValidator(cap, at: here / "cap", allowedKeys: [
                   "per_event", "per_member_per_day", "per_member_lifetime",
               ], faults: &faults) {
                for key in ["per_event", "per_member_per_day", "per_member_lifetime"] {
                    _ = capReader.integer(key, in: 0...Int64(Int32.max), faults: &faults)
                }
            }
        }
    }

    private func validateTiers(_ value: JSONValue, at pointer: JSONPointer, rewardBenefits: inout [(JSONPointer, String)],
                               _ faults: inout FaultCollector) -> Set<String> {
        guard let tiers = ObjectValidator(value, at: pointer, allowedKeys: [
            "metric", "window", "review", "downgrade", "levels",
        ], faults: &faults) else { return [] }
        _ = tiers.choice("metric", ["growth", "spend", "orders", "points_earned"], faults: &faults)
        _ = tiers.choice("downgrade", ["one_down", "to_qualified", "never"], faults: &faults)
        if let window = tiers.value("window"),
           let reader = ObjectValidator(window, at: pointer / "window", allowedKeys: ["kind", "months"], faults: &faults) {
            let kind = reader.choice("kind", ["rolling_months", "calendar_year", "lifetime"], required: true, faults: &faults)
            let months = reader.integer("months", in: 1...120, faults: &faults)
            if kind == "rolling_months", months == nil, reader.value("months") == nil {
                faults.add(pointer / "window" / "months", "missing", "A rolling window needs 'months'.")
            }
        }
        if let review = tiers.value("review"),
           let reader = ObjectValidator(review, at: pointer / "review", allowedKeys: ["kind", "month", "day"], faults: &faults) {
            let kind = reader.choice("kind", ["yearly", "monthly"], required: true, faults: &faults)
            if kind == "yearly" {
                let month = reader.integer("month", in: 1...12, required: true, faults: &faults)
                if let day = reader.integer("day", in: 1...31, required: true, faults: &faults), let month {
                    let daysInMonth: [Int64] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
                    if day > daysInMonth[Int(month) - 1] || (month == 2 && day == 29) {
                        faults.add(pointer / "review" / "day", "invalid_date",
                                   "Month \(month) has no day \(day) in every year.")
                    }
                }
            }
        }
        var codes: Set<String> = []
        guard let levels = tiers.array("levels", required: true, faults: &faults) else { return codes }
        if levels.isEmpty {
            faults.add(pointer / "levels", "empty", "At least one level is needed.")
        }
        var previousThreshold: Int64?
        for (index, level) in levels.enumerated() {
            let here = pointer / "levels" / index
            guard let reader = ObjectValidator(level, at: here, allowedKeys: [
                "code", "name", "threshold", "retain", "invitation_only", "description", "upgrade_reward",
            ], faults: &faults) else { continue }
            if let reward = reader.value("upgrade_reward"),
               let rewardReader = ObjectValidator(reward, at: here / "upgrade_reward", allowedKeys: ["points", "benefits"],
                                                  faults: &faults) {
                let points = rewardReader.integer("points", in: 1...1_000_000_000_000, faults: &faults)
                let grants = rewardReader.array("benefits", faults: &faults)
                if points == nil, grants?.isEmpty ?? true, rewardReader.value("points") == nil {
                    faults.add(here / "upgrade_reward", "empty_reward", "Give 'points', 'benefits' or both.")
                }
                var granted: Set<String> = []
                for (position, grant) in (grants ?? []).enumerated() {
                    let at = here / "upgrade_reward" / "benefits" / position
                    guard let grantReader = ObjectValidator(grant, at: at, allowedKeys: ["benefit", "quantity"],
                                                            faults: &faults) else { continue }
                    _ = grantReader.integer("quantity", in: 1...1_000_000, faults: &faults)
                    if let code = grantReader.string("benefit", required: true, maxLength: 64, faults: &faults) {
                        rewardBenefits.append((at / "benefit", code))
                        if !granted.insert(code).inserted {
                            faults.add(at / "benefit", "duplicate_benefit", "'\(code)' is granted twice; give one quantity.")
                        }
                    }
                }
                if index == 0 {
                    faults.add(here / "upgrade_reward", "base_level_reward",
                               "Every member starts at the first level; nobody reaches it by an upgrade.")
                }
            }
            if let code = reader.code("code", faults: &faults), !codes.insert(code).inserted {
                faults.add(here / "code", "duplicate_code", "Another level already has the code '\(code)'.")
            }
            _ = reader.string("name", required: true, maxLength: 100, faults: &faults)
            _ = reader.string("description", maxLength: 2000, faults: &faults)
            _ = reader.boolean("invitation_only", faults: &faults)
            let threshold = reader.integer("threshold", in: 0...Int64.max / 2, required: true, faults: &faults)
            if index == 0, let threshold, threshold != 0 {
                faults.add(here / "threshold", "first_level_threshold",
                           "The first level is where every member starts: its threshold must be 0.")
            }
            if let threshold, let previousThreshold, threshold <= previousThreshold {
                faults.add(here / "threshold", "not_ascending",
                           "Levels are listed from lowest to highest: \(threshold) is not above \(previousThreshold).")
            }
            if let retain = reader.integer("retain", in: 0...Int64.max / 2, faults: &faults),
               let threshold, retain > threshold {
                faults.add(here / "retain", "retain_above_threshold",
                           "'retain' (\(retain)) cannot exceed the level's threshold (\(threshold)).")
            }
            previousThreshold = threshold ?? previousThreshold
        }
        return codes
    }

    private func validatePlans(_ plans: [JSONValue], at pointer: JSONPointer, _ faults: inout FaultCollector) -> Set<String> {
        var codes: Set<String> = []
        for (index, plan) in plans.enumerated() {
            let here = pointer / index
            guard let reader = ObjectValidator(plan, at: here, allowedKeys: [
                "code", "name", "description", "price", "period", "period_days", "trial_days", "auto_renew",
                "stacks_with_tier", "reward_percent", "reward_cap", "partner",
            ], faults: &faults) else { continue }
            if let code = reader.code("code", faults: &faults), !codes.insert(code).inserted {
                faults.add(here / "code", "duplicate_code", "Another plan already has the code '\(code)'.")
            }
            _ = reader.string("name", required: true, maxLength: 100, faults: &faults)
            _ = reader.string("description", maxLength: 2000, faults: &faults)
            _ = reader.integer("price", in: 0...Int64(Int32.max) * 100, required: true, faults: &faults)
            let period = reader.choice("period", ["day", "month", "quarter", "year", "days"], required: true, faults: &faults)
            let days = reader.integer("period_days", in: 1...3660, faults: &faults)
            if period == "days", days == nil, reader.value("period_days") == nil {
                faults.add(here / "period_days", "missing", "A plan of period 'days' needs 'period_days'.")
            }
            _ = reader.integer("trial_days", in: 0...366, faults: &faults)
            _ = reader.boolean("auto_renew", faults: &faults)
            _ = reader.boolean("stacks_with_tier", faults: &faults)
            _ = reader.number("reward_percent", in: 0...100, faults: &faults)
            _ = reader.integer("reward_cap", in: 0...Int64(Int32.max) * 100, faults: &faults)
            _ = reader.string("partner", maxLength: 200, faults: &faults)
        }
        return codes
    }

    private func validateBenefits(_ benefits: [JSONValue], at pointer: JSONPointer, levels: Set<String>,
                                  plans: Set<String>, _ faults: inout FaultCollector) {
        var codes: Set<String> = []
        for (index, benefit) in benefits.enumerated() {
            let here = pointer / index
            guard let reader = ObjectValidator(benefit, at: here, allowedKeys: [
                "code", "name", "label", "description", "kind", "value", "quota", "levels", "plans", "partner",
            ], faults: &faults) else { continue }
            if let code = reader.code("code", faults: &faults), !codes.insert(code).inserted {
                faults.add(here / "code", "duplicate_code", "Another benefit already has the code '\(code)'.")
            }
            _ = reader.string("name", required: true, maxLength: 100, faults: &faults)
            _ = reader.string("label", maxLength: 200, faults: &faults)
            _ = reader.string("description", maxLength: 2000, faults: &faults)
            _ = reader.string("partner", maxLength: 200, faults: &faults)
            _ = reader.choice("kind", ["percent_discount", "fixed_discount", "quota", "access", "partner_voucher", "birthday_gift"],
                              required: true, faults: &faults)
            _ = reader.integer("value", in: 0...Int64(Int32.max) * 100, faults: &faults)
            if let quota = reader.value("quota"),
               let quotaReader = ObjectValidator(quota, at: here / "quota", allowedKeys: ["quantity", "per"], faults: &faults) {
                _ = quotaReader.integer("quantity", in: 1...1_000_000, required: true, faults: &faults)
                _ = quotaReader.choice("per", ["day", "month", "year", "lifetime"], required: true, faults: &faults)
            }
            for (key, known, noun) in [("levels", levels, "level"), ("plans", plans, "plan")] {
                guard let references = reader.array(key, faults: &faults) else { continue }
                for (position, reference) in references.enumerated() {
                    guard let code = reference.stringValue else {
                        faults.add(here / key / position, "wrong_type", "Expected a \(noun) code.")
                        continue
                    }
                    if !known.contains(code) {
                        faults.add(here / key / position, "unknown_reference", "No \(noun) has the code '\(code)'.")
                    }
                }
            }
        }
    }
}
