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
                    for job in LedgerJob.allCases {
                        let report = try await engine.runJob(job, program: program, asOf: engine.now())
                        if report.transfers > 0 {
                            logger.debug("ledger job ran", metadata: [
                                "job": "\(job.rawValue)", "program": "\(program.code)", "transfers": "\(report.transfers)",
                            ])
                        }
                    }
                    let ended = try await engine.expireSubscriptions(program: program, asOf: engine.now())
                    if ended > 0 {
                        logger.debug("subscriptions ended", metadata: ["program": "\(program.code)", "count": "\(ended)"])
                    }
                    let rewards = try await engine.payPlanRewards(program: program, asOf: engine.now())
                    if rewards.payments > 0 {
                        logger.info("unpaid plan cash-back paid", metadata: [
                            "program": "\(program.code)", "payments": "\(rewards.payments)", "amount": "\(rewards.amount)",
                        ])
                    }
                    let review = try await engine.runTierReview(program: program, asOf: engine.now())
                    if !review.reviews.isEmpty || review.assignmentsEnded > 0 {
                        logger.info("tier review ran", metadata: [
                            "program": "\(program.code)", "reviews": "\(review.reviews.count)",
                            "downgraded": "\(review.downgraded)", "assignments_ended": "\(review.assignmentsEnded)",
                        ])
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
