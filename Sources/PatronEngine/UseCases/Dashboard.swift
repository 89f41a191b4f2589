import Foundation
import PatronCore

/// A program at a glance, as the console's dashboard shows it.
public struct ProgramDashboard: Sendable, Hashable {
    /// One calendar month in the program's time zone; the last one runs to `asOf`.
    public struct Month: Sendable, Hashable {
        public var start: Date
        public var newMembers: Int
        /// Points the earning rules gave (pending or available).
        public var issued: Int64
        /// Points spent by redemptions and captured holds, less what reversals gave back.
        public var redeemed: Int64
        public var expired: Int64
        /// Points members held (pending, available and on hold) at the end of the month: what the
        /// program owes.
        public var outstanding: Int64
    }

    public struct LevelCount: Sendable, Hashable {
        public var level: TierLevel
        public var members: Int
    }

    public struct PlanCount: Sendable, Hashable {
        public var plan: PaidPlan
        public var members: Int
    }

    public var asOf: Date
    public var members: Int
    public var active30: Int
    public var active90: Int
    public var months: [Month]
    /// Per level of the tier model, lowest first; empty without one.
    public var levels: [LevelCount]
    /// Per plan of the catalogue, members whose paid period covers `asOf`.
    public var plans: [PlanCount]
    /// What one point is worth in minor units of the program's currency.
    public var valueMinorPerPoint: Int64
}

extension Engine {
    /// The program's members, activity, levels, points and plans, with the last `months` months
    /// of enrolments and points month by month.
    public func dashboard(programCode: String, months count: Int = 12, by principal: Principal) async throws
        -> ProgramDashboard {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let runtime = try await runtime(program)
        let now = now()
        let calendar = runtime.policy.calendar
        let thisMonth = calendar.dateInterval(of: .month, for: now)?.start ?? now
        let starts = (0..<max(1, count)).reversed().compactMap { calendar.date(byAdding: .month, value: -$0, to: thisMonth) }
        // Bucket 0 is before the first month; bucket i is month i-1; the last boundary is now.
        let boundaries = starts + [now]

        async let enrolments = store.enrolments(programID: program.id, boundaries: boundaries)
        async let flows = store.pointFlows(programID: program.id, boundaries: boundaries)
        async let members = store.memberCount(programID: program.id)
        async let active30 = store.activeMembers(programID: program.id, since: now.addingTimeInterval(-30 * 86_400))
        async let active90 = store.activeMembers(programID: program.id, since: now.addingTimeInterval(-90 * 86_400))
        async let perLevel = store.membersPerLevel(programID: program.id)
        async let perPlan = store.activeSubscriptions(programID: program.id, at: now)

        var byBucket: [Int: (issued: Int64, redeemed: Int64, expired: Int64, net: Int64)] = [:]
        for flow in try await flows {
            var sums = byBucket[flow.bucket] ?? (0, 0, 0, 0)
            switch (flow.debit, flow.credit) {
            case (.system(let from), .member):
                sums.net += flow.amount
                if from == .issued { sums.issued += flow.amount }
                if from == .redeemed { sums.redeemed -= flow.amount }
            case (.member, .system(let to)):
                sums.net -= flow.amount
                if to == .redeemed { sums.redeemed += flow.amount }
                if to == .expired { sums.expired += flow.amount }
            default:
                break  // between a member's own accounts, or the program's: nothing owed changes
            }
            byBucket[flow.bucket] = sums
        }
        let joined = try await enrolments
        var outstanding = byBucket[0]?.net ?? 0
        let monthly = starts.enumerated().map { offset, start in
            let sums = byBucket[offset + 1] ?? (0, 0, 0, 0)
            outstanding += sums.net
            return ProgramDashboard.Month(start: start, newMembers: joined[offset + 1] ?? 0, issued: sums.issued,
                                          redeemed: sums.redeemed, expired: sums.expired, outstanding: outstanding)
        }
        let levelCounts = try await perLevel
        let levels = (runtime.tiers?.levels ?? []).enumerated().map { index, level in
            ProgramDashboard.LevelCount(level: level, members: (levelCounts[level.code] ?? 0) + (index == 0 ? levelCounts[nil] ?? 0 : 0))
        }
        let planCounts = try await perPlan
        return ProgramDashboard(asOf: now, members: try await members, active30: try await active30,
                                active90: try await active90, months: monthly, levels: levels,
                                plans: runtime.plans.plans.map { ProgramDashboard.PlanCount(plan: $0, members: planCounts[$0.code] ?? 0) },
                                valueMinorPerPoint: runtime.policy.valueMinorPerPoint)
    }
}
