import Foundation
import PatronCore
import Synchronization

/// What the ledger needs of a program's configuration, read and compiled once per version.
public struct ProgramRuntime: Sendable {
    public let program: Program
    public let configVersion: Int
    public let policy: PointsPolicy
    public let rules: EarningRules
    /// The tier model; nil when the program has none.
    public let tiers: TierPolicy?
    public let benefits: BenefitCatalogue
    public let plans: PlanCatalogue
    private let periods = QuotaPeriods()

    init(program: Program, config: ConfigVersion) {
        self.program = program
        self.configVersion = config.number
        self.policy = PointsPolicy(configuration: config.document)
        self.rules = EarningRules(configuration: config.document)
        self.tiers = TierPolicy(configuration: config.document)
        self.benefits = BenefitCatalogue(configuration: config.document)
        self.plans = PlanCatalogue(configuration: config.document)
    }
}

extension ProgramRuntime {
    /// The current period of every benefit quota at `instant` (code → start and end), in the
    /// program's calendar. Every check in the same periods asks for the same answer, so it is kept
    /// until the soonest of them ends.
    func quotaPeriods(at instant: Date) -> [String: (start: Date, end: Date?)] {
        if let cached = periods.value.withLock({ $0 }), cached.from <= instant, instant < cached.until {
            return cached.periods
        }
        var result: [String: (start: Date, end: Date?)] = [:]
        var from = Date.distantPast, until = Date.distantFuture
        for benefit in benefits.benefits {
            guard let quota = benefit.quota else { continue }
            let period = quota.period(containing: instant, calendar: policy.calendar)
            result[benefit.code] = period
            from = max(from, period.start)
            if let end = period.end { until = min(until, end) }
        }
        periods.value.withLock { $0 = (from, until, result) }
        return result
    }
}

/// The last answer of `quotaPeriods`, and the instants it holds for.
private final class QuotaPeriods: Sendable {
    let value = Mutex<(from: Date, until: Date, periods: [String: (start: Date, end: Date?)])?>(nil)
}

/// Compiled runtimes by program and configuration version. A new version is compiled on first use;
/// old ones are dropped when replaced.
final class ProgramRuntimes: Sendable {
    private let cache = Mutex<[String: ProgramRuntime]>([:])

    func runtime(for program: Program, load: () async throws -> ConfigVersion) async throws -> ProgramRuntime {
        if let cached = cache.withLock({ $0[program.id] }), cached.configVersion == program.configVersion {
            return cached
        }
        let runtime = ProgramRuntime(program: program, config: try await load())
        cache.withLock { cache in
            if (cache[program.id]?.configVersion ?? 0) <= runtime.configVersion { cache[program.id] = runtime }
        }
        return runtime
    }

    /// The compiled runtime of the program's configuration version, if it is compiled already.
    func compiled(for program: Program) -> ProgramRuntime? {
        guard let cached = cache.withLock({ $0[program.id] }), cached.configVersion == program.configVersion else { return nil }
        return cached
    }
}
