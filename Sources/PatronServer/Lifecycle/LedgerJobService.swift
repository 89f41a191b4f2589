import Foundation
import Logging
import PatronCore
import PatronEngine
import ServiceLifecycle

/// Runs the time-driven jobs (activate pending points, expire points, lapse holds, end lapsed
/// subscriptions, pay plan cash-back a renewal left unpaid, and the tier reviews with the ends of manual assignments) for every program, every `interval`. Spending never
/// depends on it: a lot past its expiry or a hold past its deadline is treated as such whether or
/// not the job has run. Several nodes may run it at once; the work is idempotent, each member is
/// settled under its lock, and a tier change is recorded only on the version it was decided on.
struct LedgerJobService: Service {
    let engine: Engine
    let logger: Logger
    var interval: Duration = .seconds(60)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                await runOnce()
            }
        }
    }

    func runOnce() async {
        do {
            var after: String?
            while true {
                let programs = try await engine.store.programs(after: after, limit: Engine.maxPageSize, onlyID: nil)
                for program in programs {
                    for job in ProgramJob.allCases {
                        let report = try await engine.run(job, program: program, asOf: engine.now())
                        guard report.changedAnything else { continue }
                        var metadata: Logger.Metadata = [
                            "job": "\(job.rawValue)", "program": "\(program.code)", "members": "\(report.members)",
                            "transfers": "\(report.transfers)", "points": "\(report.points)",
                        ]
                        if let ended = report.subscriptionsEnded { metadata["subscriptions_ended"] = "\(ended)" }
                        if let review = report.tierReview {
                            metadata["reviews"] = "\(review.reviews.count)"
                            metadata["downgraded"] = "\(review.downgraded)"
                            metadata["assignments_ended"] = "\(review.assignmentsEnded)"
                        }
                        // What an operator wants to hear of: levels moved, and cash-back a renewal had left unpaid.
                        let level: Logger.Level = job == .tierReview || job == .payPlanRewards ? .info : .debug
                        logger.log(level: level, "scheduled job changed something", metadata: metadata)
                    }
                }
                guard let last = programs.last, programs.count == Engine.maxPageSize else { return }
                after = last.id
            }
        } catch {
            logger.warning("ledger jobs failed", metadata: ["error": "\(error)"])
        }
    }
}
