import Foundation
import PatronCore

/// The ledger's time-driven jobs.
public enum LedgerJob: String, Sendable, CaseIterable {
    /// Pending points whose return window has passed become available.
    case activatePending = "activate-pending"
    /// Points past their expiry expire.
    case expirePoints = "expire-points"
    /// Holds past their deadline lapse and their points become available again.
    case lapseHolds = "lapse-holds"

    var due: DueKind {
        switch self {
        case .activatePending: .activation
        case .expirePoints: .expiry
        case .lapseHolds: .lapse
        }
    }

    var kind: TransferKind {
        switch self {
        case .activatePending: .activate
        case .expirePoints: .expire
        case .lapseHolds: .release
        }
    }
}

/// The job that runs the tier model's reviews (and ends manual assignments); see Tiers.swift.
public let tierReviewJob = "tier-review"

/// What a job run did.
public struct JobReport: Sendable, Hashable {
    /// The job's name: a `LedgerJob`, or `tier-review`.
    public var job: String
    public var asOf: Date
    /// Members whose ledger the job brought up to `asOf`.
    public var members: Int
    /// Transfers of the job's own kind it recorded, and their total points (for `pay-plan-rewards`,
    /// cash-back payments and their total in minor units).
    public var transfers: Int
    public var points: Int64
    /// For `tier-review`: what the reviews did.
    public var tierReview: TierReviewReport?
    /// For `expire-subscriptions`: how many ended.
    public var subscriptionsEnded: Int?
}

extension Engine {
    /// How many members one round of a job loads.
    static let jobRoundSize = 200

    /// Runs a job for a program as of an instant (now by default; never in the future, since that
    /// would expire or release points before their time). Running it again does nothing new.
    public func runJob(programCode: String, job name: String, asOf requested: Date?, by principal: Principal) async throws
        -> JobReport {
        try require(.runJobs, principal)
        let program = try await program(code: programCode, by: principal)
        let job = LedgerJob(rawValue: name)
        guard job != nil || [tierReviewJob, expireSubscriptionsJob, payPlanRewardsJob].contains(name) else {
            throw EngineError.notFound(resource: "job", id: name)
        }
        let now = now()
        if let requested, requested > now {
            throw EngineError.invalid(ValidationError(pointer: "/as_of", code: "in_future",
                                                      message: "A job cannot run ahead of time."))
        }
        let asOf = requested.map(Timestamp.truncated) ?? now
        if name == payPlanRewardsJob {
            let paid = try await payPlanRewards(program: program, asOf: asOf)
            return JobReport(job: name, asOf: asOf, members: paid.payments, transfers: paid.payments, points: paid.amount)
        }
        if name == expireSubscriptionsJob {
            let ended = try await expireSubscriptions(program: program, asOf: asOf)
            return JobReport(job: name, asOf: asOf, members: ended, transfers: 0, points: 0, subscriptionsEnded: ended)
        }
        guard let job else {
            _ = try await tierPolicy(program)
            let review = try await runTierReview(program: program, asOf: asOf)
            return JobReport(job: name, asOf: asOf, members: review.members, transfers: 0, points: 0, tierReview: review)
        }
        return try await runJob(job, program: program, asOf: asOf, actor: principal.keyID)
    }

    /// Runs a job for a program, round after round, until no member has anything of its kind due.
    public func runJob(_ job: LedgerJob, program: Program, asOf: Date, actor: String = "system") async throws -> JobReport {
        var report = JobReport(job: job.rawValue, asOf: asOf, members: 0, transfers: 0, points: 0)
        var after: String?
        let postedAt = now()
        while true {
            let members = try await store.membersDue(programID: program.id, kind: job.due, asOf: asOf, after: after,
                                                      limit: Self.jobRoundSize)
            guard let last = members.last else { return report }
            after = last
            let plans = try await withThrowingTaskGroup(of: LedgerPlan.self) { group in
                for memberID in members {
                    let read = LedgerRead(programID: program.id, memberID: memberID, lots: true)
                    let work = LedgerWork(read: read) { snapshot in
                        var ledger = MemberLedger(snapshot, of: read, actor: actor, postedAt: postedAt)
                        ledger.settle(asOf: asOf)
                        return LedgerPlan(changes: ledger.changes, outcome: ledger.transfers)
                    }
                    group.addTask { try await ledgerWriter.submit(work) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for plan in plans {
                let own = (plan.outcome as! [Transfer]).filter { $0.kind == job.kind }
                report.members += 1
                report.transfers += own.count
                report.points += own.reduce(0) { $0 + $1.amount }
            }
        }
    }
}
