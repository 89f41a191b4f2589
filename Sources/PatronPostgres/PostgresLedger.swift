import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// The ledger on PostgreSQL, shared by any number of nodes. A batch is one transaction that first
// locks the `ledger_members` rows of its members in ascending id order: two batches that share
// members queue on the first one they share instead of deadlocking, and every read a work makes
// afterwards sees data no other writer can change until commit.
//
// Round trips are the cost on this hot path, so a batch costs a few statements in all, not a few
// per work: the lock; then, for each round of independent works (`PostgresLedgerRounds`), one
// statement per kind of thing read for all of them (`snapshots`), their plans in memory, and one
// statement for all their writes (`write`); then the commit. There are no savepoints: a work whose
// plan throws wrote nothing, and a write that fails fails the transaction, whose works
// `LedgerWriter` then runs again one per transaction, so that the failure is the failing work's alone.

extension PostgresStore: LedgerStore {
    /// Batches of different members commit side by side; batches that share a member queue on its
    /// row lock. Two in flight: while one waits on its commit's flush, or on a member that a batch
    /// of another node holds, the other goes on. More split the waiting writes into smaller
    /// batches, each paying the fixed cost of its statements again, in this process and in the
    /// database (docs/PERFORMANCE.md: with 10 in flight, batches of 3.6 events and a quarter fewer
    /// events/s on a machine short of CPU). Never more than half the pool, leaving the rest to reads.
    public var maxConcurrentBatches: Int { max(1, min(2, maximumConnections / 2)) }
    /// A batch costs a few statements whatever its size; its arrays, its locks and the time its
    /// members wait on it grow with it.
    public var maxBatchSize: Int { 256 }

    public func perform(_ works: [LedgerWork]) async throws -> [Result<LedgerPlan, any Error>] {
        guard !works.isEmpty else { return [] }
        let memberIDs = Set(works.flatMap(\.read.memberIDs)).sorted()
        let rounds = PostgresLedgerRounds(works.map(\.read)).rounds
        do {
            return try await transaction { connection in
                try await lockMembers(memberIDs, on: connection)
                do {
                    return try await perform(works, in: rounds, on: connection)
                } catch let unusable as UnusableConnection where works.count == 1 {
                    throw UnusableConnection(error: LoneWorkFailure(error: unusable.error))
                } catch where works.count == 1 {
                    throw LoneWorkFailure(error: error)
                }
            }
        } catch let failure as LoneWorkFailure {
            // Rolled back: the work's failure is its answer, as it would be in a batch of others.
            return [.failure(Self.translate(failure.error))]
        }
    }

    /// Runs the rounds of a batch inside its transaction, after the lock.
    private func perform(_ works: [LedgerWork], in rounds: [[Int]],
                         on connection: PostgresConnection) async throws -> [Result<LedgerPlan, any Error>] {
        var results: [Result<LedgerPlan, any Error>?] = Array(repeating: nil, count: works.count)
        for round in rounds {
            let snapshots = try await snapshots(round.map { works[$0].read }, on: connection)
            var writes = PostgresLedgerRoundWrites()
            for (index, snapshot) in zip(round, snapshots) {
                do {
                    let plan = try works[index].plan(snapshot)
                    writes.add(plan, read: works[index].read)
                    results[index] = .success(plan)
                } catch {
                    results[index] = .failure(Self.translate(error))
                }
            }
            try await write(writes, on: connection)
        }
        return results.map { $0! }
    }

    public func ledgerSnapshot(_ read: LedgerRead) async throws -> LedgerSnapshot {
        try await transaction { connection in
            // Every statement reads the same moment, as SQLite's read transaction does.
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            return try await snapshots([read], on: connection)[0]
        }
    }

    public func transfers(programID: String, memberID: String, before: String?, limit: Int) async throws -> [Transfer] {
        try await rows("""
            SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
            WHERE t.member_id = \(memberID) AND t.program_id = \(programID) AND (\(before)::text IS NULL OR t.id < \(before))
            ORDER BY t.id DESC LIMIT \(limit)
            """).map { try Self.transfer($0) }
    }

    public func hold(programID: String, memberID: String, id: String) async throws -> Hold? {
        try await rows("""
            SELECT h.*, al.lot_ids, al.amounts FROM ledger_holds h \(unescaped: Self.holdAllocations)
            WHERE h.id = \(id) AND h.member_id = \(memberID) AND h.program_id = \(programID)
            """).first.map { try Self.hold($0) }
    }

    public func transfer(programID: String, requestKey: String) async throws -> Transfer? {
        try await rows("""
            SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
            WHERE t.program_id = \(programID) AND t.request_key = \(requestKey)
            """).first.map { try Self.transfer($0) }
    }

    public func hold(programID: String, requestKey: String) async throws -> Hold? {
        try await rows("""
            SELECT h.*, al.lot_ids, al.amounts FROM ledger_holds h \(unescaped: Self.holdAllocations)
            WHERE h.program_id = \(programID) AND h.request_key = \(requestKey)
            """).first.map { try Self.hold($0) }
    }

    public func membersDue(programID: String, kind: DueKind, asOf: Date, after: String?, limit: Int) async throws -> [String] {
        let query: PostgresQuery = switch kind {
        case .activation:
            """
            SELECT DISTINCT member_id FROM ledger_lots
            WHERE program_id = \(programID) AND state = 'pending' AND available_at <= \(asOf) AND member_id > \(after ?? "")
            ORDER BY member_id LIMIT \(limit)
            """
        case .expiry:
            """
            SELECT DISTINCT member_id FROM ledger_lots
            WHERE program_id = \(programID) AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= \(asOf)
              AND member_id > \(after ?? "")
            ORDER BY member_id LIMIT \(limit)
            """
        case .lapse:
            """
            SELECT DISTINCT member_id FROM ledger_holds
            WHERE program_id = \(programID) AND status = 'open' AND expires_at <= \(asOf) AND member_id > \(after ?? "")
            ORDER BY member_id LIMIT \(limit)
            """
        }
        return try await rows(query).map { try $0["member_id"].decode(String.self) }
    }

    public func ledgerMembers(programID: String, after: String?, limit: Int) async throws -> [String] {
        // `lockMembers` makes a row for every member a batch touches, even one whose work wrote
        // nothing; SQLite makes it only when a write is recorded, and every such write leaves an
        // account or an event. The LIMIT 1 probes use the indexes row by row, where EXISTS would
        // be planned as a hash of the whole table on every page.
        try await rows("""
            SELECT member_id FROM ledger_members m
            WHERE program_id = \(programID) AND member_id > \(after ?? "")
              AND ((SELECT true FROM ledger_accounts a WHERE a.member_id = m.member_id LIMIT 1)
                   OR (SELECT true FROM ledger_events e WHERE e.member_id = m.member_id LIMIT 1))
            ORDER BY member_id LIMIT \(limit)
            """).map { try $0["member_id"].decode(String.self) }
    }

    public func ledgerHistory(programID: String, memberID: String) async throws -> MemberLedgerHistory {
        try await transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            let snapshot = try await snapshots([LedgerRead(programID: programID, memberID: memberID)], on: connection)[0]
            // The lots and holds still open, and those the member's transfers name (LedgerStore).
            let lots = try await rows("""
                WITH named(id) AS (
                    SELECT id FROM ledger_lots WHERE member_id = \(memberID) AND remaining > 0
                    UNION SELECT lot_id FROM ledger_transfers WHERE member_id = \(memberID) AND lot_id IS NOT NULL
                    UNION SELECT a.lot_id FROM ledger_transfers t JOIN ledger_allocations a ON a.transfer_id = t.id
                        WHERE t.member_id = \(memberID))
                SELECT l.* FROM named JOIN ledger_lots l ON l.id = named.id
                WHERE l.member_id = \(memberID) AND l.program_id = \(programID) ORDER BY l.id
                """, on: connection).map { try Self.lot($0) }
            let holds = try await rows("""
                WITH named(id) AS (
                    SELECT id FROM ledger_holds WHERE member_id = \(memberID) AND status = 'open'
                    UNION SELECT hold_id FROM ledger_transfers WHERE member_id = \(memberID) AND hold_id IS NOT NULL)
                SELECT h.*, al.lot_ids, al.amounts FROM named JOIN ledger_holds h ON h.id = named.id
                    \(unescaped: Self.holdAllocations)
                WHERE h.member_id = \(memberID) AND h.program_id = \(programID) ORDER BY h.id
                """, on: connection).map { try Self.hold($0) }
            let transfers = try await rows("""
                SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
                WHERE t.member_id = \(memberID) AND t.program_id = \(programID) ORDER BY t.id
                """, on: connection).map { try Self.transfer($0) }
            return MemberLedgerHistory(accounts: snapshot.accounts, lots: lots, holds: holds, transfers: transfers)
        }
    }

    public func ledgerRowCounts(programID: String) async throws -> LedgerRowCounts {
        let row = try await rows("""
            SELECT (SELECT count(*) FROM ledger_lots WHERE program_id = \(programID)) AS lots,
                (SELECT count(*) FROM ledger_holds WHERE program_id = \(programID)) AS holds
            """).first
        guard let row else { return LedgerRowCounts(lots: 0, holds: 0) }
        return LedgerRowCounts(lots: Int(try row["lots"].decode(Int64.self)), holds: Int(try row["holds"].decode(Int64.self)))
    }

    /// Nothing: the indexes the ledger's queries use are PostgreSQL's own, and its columns' types
    /// and checks hold at every write.
    public func storedRecordBreaches(programID: String) async throws -> [String] { [] }

    /// Nothing: every row of the ledger refers to its member by a foreign key.
    public func strayRecordBreaches() async throws -> [String] { [] }
}

// MARK: - Locking

extension PostgresStore {
    /// Creates the members' `ledger_members` rows where missing and locks the others, in one pass
    /// in ascending id order. `ON CONFLICT DO UPDATE` locks every row it finds (`FOR NO KEY
    /// UPDATE`, which this statement in another transaction waits for), although its `WHERE false`
    /// leaves the row as it is; and it also locks a row that another transaction inserted and
    /// committed while this one waited for it. The rows are made from `members`, so a member that
    /// does not exist gets none, and only its own work fails (on a foreign key).
    func lockMembers(_ memberIDs: [String], on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO ledger_members (member_id, program_id, purchases)
            SELECT id, program_id, 0 FROM members WHERE id = ANY(\(memberIDs)) ORDER BY id
            ON CONFLICT (member_id) DO UPDATE SET purchases = ledger_members.purchases WHERE false
            """, logger: logger)
    }
}

/// The error of a batch of one work, after the lock: the work's answer, once rolled back.
private struct LoneWorkFailure: Error {
    var error: any Error
}
