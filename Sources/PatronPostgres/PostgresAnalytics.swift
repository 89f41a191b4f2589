import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// MARK: - The dashboard's counts

extension PostgresStore {
    // `width_bucket(t, thresholds)` numbers the buckets exactly as `AnalyticsStore` does: 0 before
    // the first threshold, i from the i-th up to the next, and the count from the last on.

    public func enrolments(programID: String, boundaries: [Date]) async throws -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for row in try await rows("""
            SELECT width_bucket(enrolled_at, \(boundaries)::timestamptz[]) AS bucket, count(*) AS members
            FROM members WHERE program_id = \(programID) GROUP BY bucket
            """) {
            counts[Int(try row["bucket"].decode(Int32.self))] = Int(try row["members"].decode(Int64.self))
        }
        return counts
    }

    public func memberCount(programID: String) async throws -> Int {
        try await rows("SELECT count(*) AS members FROM members WHERE program_id = \(programID) AND status = 'active'")
            .first.map { Int(try $0["members"].decode(Int64.self)) } ?? 0
    }

    public func activeMembers(programID: String, since: Date) async throws -> Int {
        try await rows("""
            SELECT count(DISTINCT e.member_id) AS members FROM ledger_events e JOIN members m ON m.id = e.member_id
            WHERE e.program_id = \(programID) AND e.occurred_at >= \(since) AND m.status = 'active'
            """).first.map { Int(try $0["members"].decode(Int64.self)) } ?? 0
    }

    public func membersPerLevel(programID: String) async throws -> [String?: Int] {
        var counts: [String?: Int] = [:]
        for row in try await rows("""
            SELECT tier, count(*) AS members FROM members WHERE program_id = \(programID) AND status = 'active' GROUP BY tier
            """) {
            counts[try row["tier"].decode(String?.self)] = Int(try row["members"].decode(Int64.self))
        }
        return counts
    }

    public func pointFlows(programID: String, boundaries: [Date]) async throws -> [PointFlow] {
        try await rows("""
            SELECT width_bucket(occurred_at, \(boundaries)::timestamptz[]) AS bucket, debit, credit, sum(amount)::bigint AS amount
            FROM ledger_transfers WHERE program_id = \(programID) AND unit = 'points' GROUP BY bucket, debit, credit
            """).compactMap { row in
            guard let debit = LedgerAccount(code: try row["debit"].decode(String.self)),
                  let credit = LedgerAccount(code: try row["credit"].decode(String.self)) else { return nil }
            return PointFlow(bucket: Int(try row["bucket"].decode(Int32.self)), debit: debit, credit: credit,
                             amount: try row["amount"].decode(Int64.self))
        }
    }

    public func activeSubscriptions(programID: String, at instant: Date) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await rows("""
            SELECT plan, count(*) AS members FROM subscriptions
            WHERE program_id = \(programID) AND status = 'active' AND period_start <= \(instant) AND period_end > \(instant)
            GROUP BY plan
            """) {
            counts[try row["plan"].decode(String.self)] = Int(try row["members"].decode(Int64.self))
        }
        return counts
    }
}
