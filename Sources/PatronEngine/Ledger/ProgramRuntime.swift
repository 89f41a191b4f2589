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
}
