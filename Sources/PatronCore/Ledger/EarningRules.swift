import Foundation

/// Limits on what one rule gives one member (CONFIG.md, `cap`).
public struct EarningCap: Sendable, Hashable {
    public var perEvent: Int64?
    public var perMemberPerDay: Int64?
    public var perMemberLifetime: Int64?

    public init(perEvent: Int64? = nil, perMemberPerDay: Int64? = nil, perMemberLifetime: Int64? = nil) {
        self.perEvent = perEvent
        self.perMemberPerDay = perMemberPerDay
        self.perMemberLifetime = perMemberLifetime
    }

    public var isEmpty: Bool { perMemberPerDay == nil && perMemberLifetime == nil }
}

/// What a rule has already given a member, for its caps.
public struct CapUsage: Sendable, Hashable {
    /// On the program-time day of the event.
    public var day: Int64
    public var lifetime: Int64

    public init(day: Int64 = 0, lifetime: Int64 = 0) {
        self.day = day
        self.lifetime = lifetime
    }
}

/// One earning rule of a program's configuration, compiled.
public struct EarningRule: Sendable {
    public var code: String
    /// The event type it applies to.
    public var on: String
    public var unit: LedgerUnit
    public var cap: EarningCap
    public var isActive: Bool
    /// nil when the expression does not compile (a document stored before a language change);
    /// the rule then fails at every event with `compileError`.
    var condition: CELProgram?
    var award: CELProgram?
    var compileError: String?
}

/// What one rule gave for an event.
public struct RuleAward: Sendable, Hashable {
    public var rule: String
    public var unit: LedgerUnit
    /// What the award expression yielded.
    public var computed: Int64
    /// What the member gets after caps.
    public var amount: Int64
    /// The cap that cut the award: `per_event`, `per_member_per_day` or `per_member_lifetime`.
    public var cappedBy: String?
}

/// A rule that could not be applied to an event, and why.
public struct RuleFailure: Sendable, Hashable {
    public var rule: String
    public var message: String
}

/// The rules that applied to an event.
public struct EarningOutcome: Sendable, Hashable {
    public var awards: [RuleAward] = []
    public var failures: [RuleFailure] = []

    /// The total of `unit` the event earns.
    public func total(_ unit: LedgerUnit) -> Int64 {
        var total: Int64 = 0
        for award in awards where award.unit == unit { total += award.amount }
        return total
    }
}

/// A program's earning rules, compiled once per configuration version.
public struct EarningRules: Sendable {
    public let rules: [EarningRule]
    /// The largest award one rule may give for one event, far from overflowing any balance.
    public static let maxAward: Int64 = 1_000_000_000_000

    /// Compiles the rules of a validated configuration document.
    public init(configuration document: JSONValue) {
        var rules: [EarningRule] = []
        for value in document["earning_rules"]?.arrayValue ?? [] {
            var rule = EarningRule(
                code: value["code"]?.stringValue ?? "", on: value["on"]?.stringValue ?? "",
                unit: value["unit"]?.stringValue.flatMap(LedgerUnit.init) ?? .points,
                cap: EarningCap(perEvent: value["cap"]?["per_event"]?.intValue,
                                perMemberPerDay: value["cap"]?["per_member_per_day"]?.intValue,
                                perMemberLifetime: value["cap"]?["per_member_lifetime"]?.intValue),
                isActive: value["active"]?.boolValue ?? true)
            do throws(CELCompileError) {
                if let source = value["when"]?.stringValue {
                    rule.condition = try RuleEnvironment.compile(source, as: .condition)
                }
                rule.award = try RuleEnvironment.compile(value["award"]?.stringValue ?? "", as: .award)
            } catch {
                rule.compileError = "does not compile: \(error.description)"
            }
            rules.append(rule)
        }
        self.rules = rules
        self.byType = Dictionary(grouping: rules.filter(\.isActive), by: \.on)
        self.readsByType = byType.mapValues { rules in
            rules.flatMap { [$0.condition, $0.award].compactMap { $0 } }
                .reduce(into: [String: CELReads]()) { reads, program in
                    reads.merge(program.reads) { $0.union($1) }
                }
        }
    }

    /// The active rules by event type, worked out once.
    private let byType: [String: [EarningRule]]
    private let readsByType: [String: [String: CELReads]]

    /// What the active rules for events of `type` may read of each variable (`event`, `member`,
    /// `program`); a variable none of them reads is absent, and its binding may be left null.
    public func reads(forType type: String) -> [String: CELReads] {
        readsByType[type] ?? [:]
    }

    /// The active rules for events of `type`.
    public func applicable(to type: String) -> [EarningRule] {
        byType[type] ?? []
    }

    /// Applies the rules for the event's type. A rule whose condition is false gives nothing and is
    /// not listed; one that fails at run time gives nothing and is listed with its error.
    public func evaluate(type: String, bindings: CELBindings, usage: (EarningRule) -> CapUsage) -> EarningOutcome {
        evaluate(applicable(to: type), bindings: bindings, usage: usage)
    }

    /// The same for rules already looked up with `applicable(to:)`: a replay does it once per type.
    public func evaluate(_ applicable: [EarningRule], bindings: CELBindings, usage: (EarningRule) -> CapUsage)
        -> EarningOutcome {
        var outcome = EarningOutcome()
        // By position: the rule is read in place, not copied with all it holds for every event.
        for position in applicable.indices {
            guard let award = applicable[position].award else {
                let rule = applicable[position]
                outcome.failures.append(RuleFailure(rule: rule.code, message: rule.compileError ?? "does not compile"))
                continue
            }
            do throws(CELEvalError) {
                if let condition = applicable[position].condition {
                    guard case .bool(let fires) = try condition.evaluate(bindings) else {
                        throw CELEvalError("the condition did not yield a bool")
                    }
                    guard fires else { continue }
                }
                guard case .int(let computed) = try award.evaluate(bindings) else {
                    throw CELEvalError("the award did not yield an int")
                }
                guard computed >= 0 else { throw CELEvalError("the award is negative (\(computed))") }
                guard computed <= Self.maxAward else { throw CELEvalError("the award \(computed) exceeds \(Self.maxAward)") }
                guard computed > 0 else { continue }
                var amount = computed
                var cappedBy: String?
                let cap = applicable[position].cap
                let used = cap.isEmpty ? CapUsage() : usage(applicable[position])
                func limit(_ bound: Int64?, _ name: String) {
                    if let bound, bound < amount {
                        amount = bound
                        cappedBy = name
                    }
                }
                limit(cap.perEvent, "per_event")
                limit(cap.perMemberPerDay.map { max(0, $0 - used.day) }, "per_member_per_day")
                limit(cap.perMemberLifetime.map { max(0, $0 - used.lifetime) }, "per_member_lifetime")
                outcome.awards.append(RuleAward(rule: applicable[position].code, unit: applicable[position].unit,
                                                computed: computed, amount: amount, cappedBy: cappedBy))
            } catch {
                outcome.failures.append(RuleFailure(rule: applicable[position].code, message: error.message))
            }
        }
        return outcome
    }
}
