import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// The ledger on PostgreSQL, shared by any number of nodes. A batch is one transaction that first
// locks the `ledger_members` rows of its members in ascending id order: two batches that share
// members queue on the first one they share instead of deadlocking, and every read a work makes
// afterwards sees data no other writer can change until commit. Each work runs in a savepoint.
//
// Round trips are the cost on this hot path, so each read or write that SQLite makes row by row is
// one statement here: related rows come back as arrays, and rows go in through `unnest`.

extension PostgresStore: LedgerStore {
    /// Batches of different members commit side by side; batches that share a member queue on its
    /// row lock. A batch spends its time waiting on round trips, not on this process's CPU, so more
    /// in flight is more throughput (`scripts/bench ledger`: 242 events/s with 10, 174 with 4):
    /// half the pool, leaving the other half to reads.
    public var maxConcurrentBatches: Int { max(1, maximumConnections / 2) }
    /// PostgreSQL keeps 64 subtransactions per backend in shared memory; a batch with more
    /// savepoints that write overflows it and slows every other connection down.
    public var maxBatchSize: Int { 64 }

    public func perform(_ works: [LedgerWork]) async throws -> [Result<LedgerPlan, any Error>] {
        guard !works.isEmpty else { return [] }
        let memberIDs = Set(works.flatMap(\.read.memberIDs)).sorted()
        return try await transaction { connection in
            try await lockMembers(memberIDs, on: connection)
            var results: [Result<LedgerPlan, any Error>] = []
            results.reserveCapacity(works.count)
            // ROLLBACK TO leaves savepoint w in place and empty: the next work runs inside it.
            var inSavepoint = false
            for work in works {
                if !inSavepoint {
                    try await connection.query("SAVEPOINT w", logger: logger)
                    inSavepoint = true
                }
                do {
                    let plan = try work.plan(try await snapshot(work.read, on: connection))
                    try await apply(plan, read: work.read, on: connection)
                    try await connection.query("RELEASE SAVEPOINT w", logger: logger)
                    inSavepoint = false
                    results.append(.success(plan))
                } catch {
                    try await connection.query("ROLLBACK TO SAVEPOINT w", logger: logger)
                    results.append(.failure(Self.translate(error)))
                }
            }
            return results
        }
    }

    public func ledgerSnapshot(_ read: LedgerRead) async throws -> LedgerSnapshot {
        try await transaction { connection in
            // Every statement reads the same moment, as SQLite's read transaction does.
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            return try await snapshot(read, on: connection)
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
            let snapshot = try await snapshot(LedgerRead(programID: programID, memberID: memberID), on: connection)
            let lots = try await rows("""
                SELECT * FROM ledger_lots WHERE member_id = \(memberID) AND program_id = \(programID) ORDER BY id
                """, on: connection).map { try Self.lot($0) }
            let holds = try await rows("""
                SELECT h.*, al.lot_ids, al.amounts FROM ledger_holds h \(unescaped: Self.holdAllocations)
                WHERE h.member_id = \(memberID) AND h.program_id = \(programID) ORDER BY h.id
                """, on: connection).map { try Self.hold($0) }
            let transfers = try await rows("""
                SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
                WHERE t.member_id = \(memberID) AND t.program_id = \(programID) ORDER BY t.id
                """, on: connection).map { try Self.transfer($0) }
            return MemberLedgerHistory(accounts: snapshot.accounts, lots: lots, holds: holds, transfers: transfers)
        }
    }
}

// MARK: - Locking

extension PostgresStore {
    /// Creates the members' `ledger_members` rows where missing, then locks them, both in ascending
    /// id order. The row is made from `members`, so a member that does not exist gets none and only
    /// its own work fails (on a foreign key), not the batch.
    func lockMembers(_ memberIDs: [String], on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO ledger_members (member_id, program_id, purchases)
            SELECT id, program_id, 0 FROM members WHERE id = ANY(\(memberIDs)) ORDER BY id
            ON CONFLICT (member_id) DO NOTHING
            """, logger: logger)
        _ = try await execute("""
            SELECT member_id FROM ledger_members WHERE member_id = ANY(\(memberIDs)) ORDER BY member_id FOR UPDATE
            """, on: connection)
    }
}

// MARK: - Reading

extension PostgresStore {
    /// Each transfer `t`'s allocations in order, as `lot_ids` and `amounts` (NULL when it has none).
    static let transferAllocations = """
        LEFT JOIN LATERAL (
            SELECT array_agg(a.lot_id ORDER BY a.position) AS lot_ids, array_agg(a.amount ORDER BY a.position) AS amounts
            FROM ledger_allocations a WHERE a.transfer_id = t.id
        ) al ON true
        """

    /// Each hold `h`'s allocations: those of its `hold` transfer, in order, as `lot_ids` and `amounts`.
    static let holdAllocations = """
        LEFT JOIN LATERAL (
            SELECT array_agg(a.lot_id ORDER BY a.position) AS lot_ids, array_agg(a.amount ORDER BY a.position) AS amounts
            FROM ledger_transfers ht JOIN ledger_allocations a ON a.transfer_id = ht.id
            WHERE ht.hold_id = h.id AND ht.kind = 'hold'
        ) al ON true
        """

    /// What SQLite's snapshot reads, in one statement per kind of thing read.
    func snapshot(_ read: LedgerRead, on connection: PostgresConnection) async throws -> LedgerSnapshot {
        var snapshot = LedgerSnapshot()
        // Accounts need their `ledger_members` row (a foreign key): none means no purchases, no accounts.
        for row in try await rows("""
            SELECT m.purchases, a.unit, a.pending, a.available, a.held, a.debt, a.earned, a.redeemed, a.expired
            FROM ledger_members m LEFT JOIN ledger_accounts a ON a.member_id = m.member_id
            WHERE m.member_id = \(read.memberID)
            """, on: connection) {
            snapshot.purchases = try row["purchases"].decode(Int64.self)
            guard try row["unit"].decode(String?.self) != nil else { continue }
            snapshot.accounts[try decode(LedgerUnit.self, row["unit"])] = MemberAccount(
                pending: try row["pending"].decode(Int64.self), available: try row["available"].decode(Int64.self),
                held: try row["held"].decode(Int64.self), debt: try row["debt"].decode(Int64.self),
                earned: try row["earned"].decode(Int64.self), redeemed: try row["redeemed"].decode(Int64.self),
                expired: try row["expired"].decode(Int64.self))
        }
        if read.lots || read.holdID != nil {
            snapshot.holds = try await rows("""
                SELECT h.*, al.lot_ids, al.amounts FROM ledger_holds h \(unescaped: Self.holdAllocations)
                WHERE h.member_id = \(read.memberID) AND ((\(read.lots) AND h.status = 'open') OR h.id = \(read.holdID))
                ORDER BY h.id
                """, on: connection).map { try Self.hold($0) }
        }
        if let transferID = read.transferID {
            snapshot.transfer = try await rows("""
                SELECT t.*, al.lot_ids, al.amounts FROM ledger_transfers t \(unescaped: Self.transferAllocations)
                WHERE t.id = \(transferID) AND t.member_id = \(read.memberID)
                """, on: connection).first.map { try Self.transfer($0) }
            snapshot.reversedBy = try await rows("SELECT id FROM ledger_transfers WHERE reverses = \(transferID)",
                                                 on: connection).first?["id"].decode(String.self)
        }
        if read.lots || !snapshot.holds.isEmpty || snapshot.transfer != nil {
            let named = (snapshot.transfer?.allocations.map(\.lotID) ?? []) + [snapshot.transfer?.lotID].compactMap { $0 }
            let heldLotIDs = Set(snapshot.holds.flatMap { $0.allocations.map(\.lotID) } + named).sorted()
            snapshot.lots = try await rows("""
                SELECT * FROM ledger_lots
                WHERE (\(read.lots) AND member_id = \(read.memberID) AND remaining > 0) OR id = ANY(\(heldLotIDs))
                ORDER BY id
                """, on: connection).map { try Self.lot($0) }
        }
        if let clientID = read.eventClientID {
            snapshot.event = try await rows("""
                SELECT * FROM ledger_events WHERE program_id = \(read.programID) AND client_id = \(clientID)
                """, on: connection).first.map { try Self.event($0) }
        }
        if let orderID = read.orderID, let row = try await rows("""
            SELECT e.id, e.member_id, e.amount,
                (SELECT coalesce(sum(r.amount), 0) FROM ledger_events r
                 WHERE r.program_id = e.program_id AND r.order_id = e.order_id AND r.type = 'refund'
                   AND r.status = 'posted')::bigint AS refunded,
                earned.members, earned.units, earned.totals
            FROM ledger_events e
            LEFT JOIN LATERAL (
                SELECT array_agg(g.member_id ORDER BY g.member_id, g.unit) AS members,
                    array_agg(g.unit ORDER BY g.member_id, g.unit) AS units,
                    array_agg(g.total ORDER BY g.member_id, g.unit) AS totals
                FROM (SELECT member_id, unit, sum(amount)::bigint AS total FROM ledger_transfers
                      WHERE event_id = e.id AND kind = 'earn' GROUP BY member_id, unit) g
            ) earned ON true
            WHERE e.program_id = \(read.programID) AND e.order_id = \(orderID) AND e.type = 'purchase'
            """, on: connection).first {
            var earnedBy: [String: [LedgerUnit: Int64]] = [:]
            let members = try row["members"].decode([String]?.self) ?? []
            let units = try row["units"].decode([String]?.self) ?? []
            let totals = try row["totals"].decode([Int64]?.self) ?? []
            for (member, (unit, total)) in zip(members, zip(units, totals)) {
                if let unit = LedgerUnit(rawValue: unit) { earnedBy[member, default: [:]][unit] = total }
            }
            snapshot.order = OrderFacts(eventID: try row["id"].decode(String.self),
                                        memberID: try row["member_id"].decode(String.self),
                                        amount: try row["amount"].decode(Int64.self),
                                        refunded: try row["refunded"].decode(Int64.self), earnedBy: earnedBy)
        }
        if !read.capRules.isEmpty || read.limitDay != nil || read.limitHour != nil {
            // One row per capped rule (or one row with no rule), each carrying the limits' counts. A
            // window not asked for is bound as NULL, which no time falls in: its count is 0, as unread.
            for row in try await rows("""
                SELECT l.points_earned_in_day, l.events_in_hour, c.code, c.lifetime, c.day
                FROM (SELECT
                        (SELECT coalesce(sum(amount), 0) FROM ledger_transfers
                         WHERE member_id = \(read.memberID) AND kind = 'earn' AND unit = 'points'
                           AND occurred_at >= \(read.limitDay?.start) AND occurred_at < \(read.limitDay?.end)
                        )::bigint AS points_earned_in_day,
                        (SELECT count(*) FROM ledger_events
                         WHERE member_id = \(read.memberID)
                           AND occurred_at > \(read.limitHour?.start) AND occurred_at <= \(read.limitHour?.end)
                        ) AS events_in_hour
                     ) l
                LEFT JOIN (
                    SELECT r.code,
                        (SELECT coalesce(sum(amount), 0) FROM ledger_transfers
                         WHERE member_id = \(read.memberID) AND kind = 'earn' AND reason = r.code)::bigint AS lifetime,
                        (SELECT coalesce(sum(amount), 0) FROM ledger_transfers
                         WHERE member_id = \(read.memberID) AND kind = 'earn' AND reason = r.code
                           AND occurred_at >= \(read.capDay?.start) AND occurred_at < \(read.capDay?.end))::bigint AS day
                    FROM unnest(\(read.capRules)) AS r(code)
                ) c ON true
                """, on: connection) {
                snapshot.pointsEarnedInDay = try row["points_earned_in_day"].decode(Int64.self)
                snapshot.eventsInHour = try row["events_in_hour"].decode(Int.self)
                if let code = try row["code"].decode(String?.self) {
                    snapshot.capUsage[code] = CapUsage(day: try row["day"].decode(Int64.self),
                                                       lifetime: try row["lifetime"].decode(Int64.self))
                }
            }
        }
        if let counterpartID = read.counterpartID {
            snapshot.counterpart = CounterpartSnapshot(
                try await self.snapshot(LedgerRead(programID: read.programID, memberID: counterpartID, lots: true),
                                        on: connection))
        }
        return snapshot
    }

    static func lot(_ row: PostgresRandomAccessRow) throws -> Lot {
        Lot(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
            memberID: try row["member_id"].decode(String.self), eventID: try row["event_id"].decode(String?.self),
            orderID: try row["order_id"].decode(String?.self), source: try row["source"].decode(String.self),
            amount: try row["amount"].decode(Int64.self), remaining: try row["remaining"].decode(Int64.self),
            state: try decode(LotState.self, row["state"]), earnedAt: try row["earned_at"].decode(Date.self),
            availableAt: try row["available_at"].decode(Date.self), expiresAt: try row["expires_at"].decode(Date?.self))
    }

    /// A hold from a row of `ledger_holds` joined with `holdAllocations`.
    static func hold(_ row: PostgresRandomAccessRow) throws -> Hold {
        Hold(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
             memberID: try row["member_id"].decode(String.self), amount: try row["amount"].decode(Int64.self),
             captured: try row["captured"].decode(Int64.self), status: try decode(HoldStatus.self, row["status"]),
             reference: try row["reference"].decode(String?.self), createdAt: try row["created_at"].decode(Date.self),
             expiresAt: try row["expires_at"].decode(Date.self), resolvedAt: try row["resolved_at"].decode(Date?.self),
             requestKey: try row["request_key"].decode(String?.self), allocations: try allocations(row))
    }

    static func event(_ row: PostgresRandomAccessRow) throws -> StoredEvent {
        StoredEvent(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                    memberID: try row["member_id"].decode(String.self), clientID: try row["client_id"].decode(String.self),
                    type: try row["type"].decode(String.self), occurredAt: try row["occurred_at"].decode(Date.self),
                    recordedAt: try row["recorded_at"].decode(Date.self), amount: try row["amount"].decode(Int64.self),
                    orderID: try row["order_id"].decode(String?.self), fingerprint: try row["fingerprint"].decode(String.self),
                    status: try row["status"].decode(String.self), receipt: Data(try row["receipt"].decode(String.self).utf8),
                    body: try row["body"].decode(String?.self).map { Data($0.utf8) })
    }

    /// A transfer from a row of `ledger_transfers` joined with `transferAllocations`.
    static func transfer(_ row: PostgresRandomAccessRow) throws -> Transfer {
        Transfer(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
                 memberID: try row["member_id"].decode(String.self), unit: try decode(LedgerUnit.self, row["unit"]),
                 debit: try ledgerAccount(row["debit"]), credit: try ledgerAccount(row["credit"]),
                 amount: try row["amount"].decode(Int64.self), kind: try decode(TransferKind.self, row["kind"]),
                 reason: try row["reason"].decode(String.self), reference: try row["reference"].decode(String?.self),
                 eventID: try row["event_id"].decode(String?.self), lotID: try row["lot_id"].decode(String?.self),
                 holdID: try row["hold_id"].decode(String?.self), reverses: try row["reverses"].decode(String?.self),
                 actor: try row["actor"].decode(String.self), occurredAt: try row["occurred_at"].decode(Date.self),
                 postedAt: try row["posted_at"].decode(Date.self), requestKey: try row["request_key"].decode(String?.self),
                 allocations: try allocations(row))
    }

    static func allocations(_ row: PostgresRandomAccessRow) throws -> [LotAllocation] {
        let lotIDs = try row["lot_ids"].decode([String]?.self) ?? []
        let amounts = try row["amounts"].decode([Int64]?.self) ?? []
        return zip(lotIDs, amounts).map { LotAllocation(lotID: $0, amount: $1) }
    }

    static func ledgerAccount(_ cell: PostgresCell) throws -> LedgerAccount {
        let code = try cell.decode(String.self)
        guard let account = LedgerAccount(code: code) else {
            throw UnexpectedStoredValue(type: "LedgerAccount", value: code)
        }
        return account
    }
}

// MARK: - Writing

extension PostgresStore {
    /// Records a plan in SQLite's order, with one statement for each table it adds rows to or changes.
    func apply(_ plan: LedgerPlan, read: LedgerRead, on connection: PostgresConnection) async throws {
        guard plan.writes else { return }
        if plan.purchasesAdded != 0 {
            // The row exists for every member that does (`lockMembers`).
            guard try await execute("""
                UPDATE ledger_members SET purchases = purchases + \(plan.purchasesAdded)
                WHERE member_id = \(read.memberID) RETURNING member_id
                """, on: connection) == 1 else { throw StoreError.missing }
        }
        if let event = plan.event {
            try await connection.query("""
                INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                    order_id, fingerprint, status, receipt, body)
                VALUES (\(event.id), \(event.programID), \(event.memberID), \(event.clientID), \(event.type),
                    \(event.occurredAt), \(event.recordedAt), \(event.amount), \(event.orderID), \(event.fingerprint),
                    \(event.status), \(String(decoding: event.receipt, as: UTF8.self)),
                    \(event.body.map { String(decoding: $0, as: UTF8.self) }))
                """, logger: logger)
        }
        if let resolved = plan.resolvedEvent { try await resolveEvent(resolved, on: connection) }
        // The counterpart's `ledger_members` row exists: `lockMembers` made it.
        if let changes = plan.counterpartChanges, let counterpartID = read.counterpartID {
            try await write(changes, memberID: counterpartID, on: connection)
        }
        guard let changes = plan.changes else { return }
        try await write(changes, memberID: read.memberID, on: connection)
    }

    /// Records one member's changes of a plan.
    func write(_ changes: LedgerChanges, memberID: String, on connection: PostgresConnection) async throws {
        let lots = changes.createdLots
        if !lots.isEmpty {
            try await connection.query("""
                INSERT INTO ledger_lots (id, program_id, member_id, event_id, order_id, source, amount, remaining, state,
                    earned_at, available_at, expires_at)
                SELECT * FROM unnest(\(lots.map(\.id)), \(lots.map(\.programID)), \(lots.map(\.memberID)),
                    \(PostgresNullableArray(lots.map(\.eventID))), \(PostgresNullableArray(lots.map(\.orderID))),
                    \(lots.map(\.source)), \(lots.map(\.amount)), \(lots.map(\.remaining)), \(lots.map(\.state.rawValue)),
                    \(lots.map(\.earnedAt)), \(lots.map(\.availableAt)), \(PostgresNullableArray(lots.map(\.expiresAt))))
                """, logger: logger)
        }
        let updatedLots = changes.updatedLots
        if !updatedLots.isEmpty {
            try await connection.query("""
                UPDATE ledger_lots l SET remaining = u.remaining, state = u.state
                FROM unnest(\(updatedLots.map(\.id)), \(updatedLots.map(\.remaining)), \(updatedLots.map(\.state.rawValue)))
                    AS u(id, remaining, state)
                WHERE l.id = u.id
                """, logger: logger)
        }
        let holds = changes.createdHolds
        if !holds.isEmpty {
            try await connection.query("""
                INSERT INTO ledger_holds (id, program_id, member_id, amount, captured, status, reference, created_at,
                    expires_at, resolved_at, request_key)
                SELECT * FROM unnest(\(holds.map(\.id)), \(holds.map(\.programID)), \(holds.map(\.memberID)),
                    \(holds.map(\.amount)), \(holds.map(\.captured)), \(holds.map(\.status.rawValue)),
                    \(PostgresNullableArray(holds.map(\.reference))), \(holds.map(\.createdAt)), \(holds.map(\.expiresAt)),
                    \(PostgresNullableArray(holds.map(\.resolvedAt))), \(PostgresNullableArray(holds.map(\.requestKey))))
                """, logger: logger)
        }
        let updatedHolds = changes.updatedHolds
        if !updatedHolds.isEmpty {
            try await connection.query("""
                UPDATE ledger_holds h SET captured = u.captured, status = u.status, resolved_at = u.resolved_at
                FROM unnest(\(updatedHolds.map(\.id)), \(updatedHolds.map(\.captured)),
                    \(updatedHolds.map(\.status.rawValue)), \(PostgresNullableArray(updatedHolds.map(\.resolvedAt))))
                    AS u(id, captured, status, resolved_at)
                WHERE h.id = u.id
                """, logger: logger)
        }
        let transfers = changes.transfers
        if !transfers.isEmpty {
            try await connection.query("""
                INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason,
                    reference, event_id, lot_id, hold_id, reverses, actor, occurred_at, posted_at, request_key)
                SELECT * FROM unnest(\(transfers.map(\.id)), \(transfers.map(\.programID)), \(transfers.map(\.memberID)),
                    \(transfers.map(\.unit.rawValue)), \(transfers.map(\.debit.code)), \(transfers.map(\.credit.code)),
                    \(transfers.map(\.amount)), \(transfers.map(\.kind.rawValue)), \(transfers.map(\.reason)),
                    \(PostgresNullableArray(transfers.map(\.reference))), \(PostgresNullableArray(transfers.map(\.eventID))),
                    \(PostgresNullableArray(transfers.map(\.lotID))), \(PostgresNullableArray(transfers.map(\.holdID))),
                    \(PostgresNullableArray(transfers.map(\.reverses))), \(transfers.map(\.actor)),
                    \(transfers.map(\.occurredAt)), \(transfers.map(\.postedAt)),
                    \(PostgresNullableArray(transfers.map(\.requestKey))))
                """, logger: logger)
            let allocations = transfers.flatMap { transfer in
                transfer.allocations.enumerated().map { (transfer.id, Int32($0.offset), $0.element) }
            }
            if !allocations.isEmpty {
                try await connection.query("""
                    INSERT INTO ledger_allocations (transfer_id, position, lot_id, amount)
                    SELECT * FROM unnest(\(allocations.map(\.0)), \(allocations.map(\.1)), \(allocations.map(\.2.lotID)),
                        \(allocations.map(\.2.amount)))
                    """, logger: logger)
            }
        }
        let accounts = changes.accounts.sorted { $0.key.rawValue < $1.key.rawValue }
        if !accounts.isEmpty {
            try await connection.query("""
                INSERT INTO ledger_accounts (member_id, unit, pending, available, held, debt, earned, redeemed, expired)
                SELECT \(memberID), * FROM unnest(\(accounts.map(\.key.rawValue)), \(accounts.map(\.value.pending)),
                    \(accounts.map(\.value.available)), \(accounts.map(\.value.held)), \(accounts.map(\.value.debt)),
                    \(accounts.map(\.value.earned)), \(accounts.map(\.value.redeemed)), \(accounts.map(\.value.expired)))
                ON CONFLICT (member_id, unit) DO UPDATE SET pending = excluded.pending, available = excluded.available,
                    held = excluded.held, debt = excluded.debt, earned = excluded.earned, redeemed = excluded.redeemed,
                    expired = excluded.expired
                """, logger: logger)
        }
    }
}
