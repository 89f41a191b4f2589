import Foundation
import GRDB
import PatronCore
import PatronEngine

extension SQLiteStore: ImmediateReaderSource {
    public func makeImmediateReader() throws -> any ImmediateBenefitReader {
        try SQLiteImmediateReader(path: path)
    }
}

/// A read-only connection of its own to the store's file, read on the calling thread: GRDB runs a
/// `DatabaseQueue`'s synchronous access there when the queue is idle, and nobody else uses this
/// one, so a read takes no lock that another thread holds (a pool's readers are handed out under
/// one).
final class SQLiteImmediateReader: ImmediateBenefitReader {
    private let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "patron.immediate-reader"
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    func entitlementState(programID: String, memberID: String, periods: [String: Date], plansAfter instant: Date) throws
        -> (state: EntitlementState, subscriptions: [Subscription])? {
        let periodStarts = JSONValue.object(periods.mapValues { .int(Timestamp.milliseconds($0)) }).canonicalString()
        let arguments: StatementArguments = [memberID, programID, periodStarts]
        guard let state = try queue.inDatabase({ db in try Self.standing(memberID: memberID, arguments, db) }) else { return nil }
        guard let until = state.planUntil, until > instant else { return (state, []) }
        // A running plan: the standing again with the subscriptions, in one transaction, so that
        // both are of one moment.
        return try queue.inDatabase { db in
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            defer { try? db.cachedStatement(sql: "COMMIT").execute() }
            guard let state = try Self.standing(memberID: memberID, arguments, db) else { return nil }
            return (state, try SQLiteStore.subscriptions(memberID: memberID, db))
        }
    }

    /// What `SQLiteStore.entitlementState` reads with three statements, in one (so of one moment
    /// without a transaction, which cost two more statements a check): the member's standing
    /// (`part` 0), their usage in the given periods (1, from a JSON object of benefit code →
    /// period start), and their allowances (2).
    private static let standingSQL = """
        SELECT 0 AS part, status, tier, tier_since, tier_until, tier_version, plan_until,
               NULL AS benefit, NULL AS used, NULL AS granted
          FROM members WHERE id = ?1 AND program_id = ?2
        UNION ALL
        SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, benefit, used, NULL FROM benefit_usage
         WHERE member_id = ?1 AND (benefit, period_start) IN (SELECT key, value FROM json_each(?3))
        UNION ALL
        SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, benefit, used, granted FROM benefit_allowances WHERE member_id = ?1
        """

    private static func standing(memberID: String, _ arguments: StatementArguments, _ db: Database) throws
        -> EntitlementState? {
        var member: Row?
        var usage = BenefitUsage()
        for row in try db.rows(standingSQL, arguments) {
            switch row["part"] as Int {
            case 0: member = row
            case 1: usage.used[row["benefit"]] = row["used"]
            default: usage.allowances[row["benefit"]] = BenefitAllowance(granted: row["granted"], used: row["used"])
            }
        }
        guard let member else { return nil }
        return EntitlementState(
            memberID: memberID, isActive: (member["status"] as String) == MemberStatus.active.rawValue,
            tier: SQLiteStore.memberTier(member),
            planUntil: (member["plan_until"] as Int64?).map(Timestamp.date(milliseconds:)), usage: usage)
    }
}
