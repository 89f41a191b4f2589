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

/// Every time-driven job of a program, by the name the API and the scheduler know it by, in the
/// order the scheduler runs them.
public enum ProgramJob: String, Sendable, CaseIterable {
    case activatePending = "activate-pending"
    case expirePoints = "expire-points"
    case lapseHolds = "lapse-holds"
    /// Ends subscriptions whose last paid period is over (Subscriptions.swift).
    case expireSubscriptions = "expire-subscriptions"
    /// Pays cash-back a renewal recorded and did not pay (Subscriptions.swift).
    case payPlanRewards = "pay-plan-rewards"
    /// Runs the tier model's reviews and ends manual assignments (Tiers.swift).
    case tierReview = "tier-review"
}

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

    /// Whether the run changed anything: recorded a transfer, ended a subscription, or moved a
    /// level.
    public var changedAnything: Bool {
        transfers > 0 || (subscriptionsEnded ?? 0) > 0
            || tierReview.map { !$0.reviews.isEmpty || $0.assignmentsEnded > 0 } ?? false
    }
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
        guard let job = ProgramJob(rawValue: name) else { throw EngineError.notFound(resource: "job", id: name) }
        let now = now()
        if let requested, requested > now {
            throw EngineError.invalid(ValidationError(pointer: "/as_of", code: "in_future",
                                                      message: "A job cannot run ahead of time."))
        }
        let asOf = requested.map(Timestamp.truncated) ?? now
        // Asked for by name, a review of a program without tiers is refused (409) rather than empty.
        if job == .tierReview { _ = try await tierPolicy(program) }
        return try await run(job, program: program, asOf: asOf, actor: principal.keyID)
    }

    /// Runs `job` for a program as of `asOf`: what the API's `runJob` and the scheduler both call.
    public func run(_ job: ProgramJob, program: Program, asOf: Date, actor: String = "system") async throws -> JobReport {
        switch job {
        case .activatePending: return try await runJob(.activatePending, program: program, asOf: asOf, actor: actor)
        case .expirePoints: return try await runJob(.expirePoints, program: program, asOf: asOf, actor: actor)
        case .lapseHolds: return try await runJob(.lapseHolds, program: program, asOf: asOf, actor: actor)
        case .expireSubscriptions:
            let ended = try await expireSubscriptions(program: program, asOf: asOf)
            return JobReport(job: job.rawValue, asOf: asOf, members: ended, transfers: 0, points: 0, subscriptionsEnded: ended)
        case .payPlanRewards:
            let paid = try await payPlanRewards(program: program, asOf: asOf)
            return JobReport(job: job.rawValue, asOf: asOf, members: paid.payments, transfers: paid.payments, points: paid.amount)
        case .tierReview:
            let review = try await runTierReview(program: program, asOf: asOf)
            return JobReport(job: job.rawValue, asOf: asOf, members: review.members, transfers: 0, points: 0, tierReview: review)
        }
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
