import Foundation
import GRDB
import PatronCore
import PatronEngine

// The ledger on SQLite. One writer: a batch is one IMMEDIATE transaction, so every read a work makes
// inside it already sees the state no other writer can change until commit.

extension SQLiteStore {
    public var maxConcurrentBatches: Int { 1 }

    /// Runs the batch in one transaction, each work after the last, with no savepoint per work: a
    /// savepoint makes SQLite copy every page the work first touches into a statement journal, and
    /// that was most of a batch's writes. A work whose plan throws has written nothing and fails
    /// alone. A write that fails part-way leaves the transaction with part of a work, so the whole
    /// batch is rolled back (thrown) and `LedgerWriter` runs each of its works alone; a work alone
    /// gets its failure as its result.
    public func perform(_ works: [LedgerWork]) async throws -> [Result<LedgerPlan, any Error>] {
        do {
            return try await pool.write { db in try Self.run(works, db) }
        } catch where works.count == 1 {
            return [.failure(Self.translate(error))]
        }
    }

    /// `perform` on the calling thread: GRDB runs a synchronous write on the thread that asks when
    /// no other write holds the connection.
    public var blockingPerform: (@Sendable ([LedgerWork]) throws -> [Result<LedgerPlan, any Error>])? {
        { [pool] works in
            do {
                return try pool.write { db in try Self.run(works, db) }
            } catch where works.count == 1 {
                return [.failure(Self.translate(error))]
            }
        }
    }

    /// The batch's works, one after another, in the transaction `db` is in.
    private static func run(_ works: [LedgerWork], _ db: Database) throws -> [Result<LedgerPlan, any Error>] {
        var results: [Result<LedgerPlan, any Error>] = []
        results.reserveCapacity(works.count)
        for work in works {
            let plan: LedgerPlan
            var positions: [String: ActivityPosition] = [:]
            do {
                plan = try work.plan(try snapshot(work.read, lock: true, db, positions: &positions))
            } catch {
                results.append(.failure(translate(error)))
                continue
            }
            try apply(plan, read: work.read, positions: positions, db)
            results.append(.success(plan))
        }
        return results
    }

    public func ledgerSnapshot(_ read: LedgerRead) async throws -> LedgerSnapshot {
        try await pool.read { db in try Self.snapshot(read, lock: false, db) }
    }

    public func transfers(programID: String, memberID: String, before: String?, limit: Int) async throws -> [Transfer] {
        try await pool.read { db in
            let rows = try db.rows("""
                SELECT * FROM ledger_transfers WHERE member_id = ? AND program_id = ? AND (? IS NULL OR id < ?)
                ORDER BY id DESC LIMIT ?
                """, [memberID, programID, before, before, limit])
            return try Self.transfers(rows, db)
        }
    }

    public func hold(programID: String, memberID: String, id: String) async throws -> Hold? {
        try await pool.read { db in
            try db.row("SELECT * FROM ledger_holds WHERE id = ? AND member_id = ? AND program_id = ?",
                       [id, memberID, programID]).map { try Self.hold($0, db) }
        }
    }

    public func transfer(programID: String, requestKey: String) async throws -> Transfer? {
        try await pool.read { db in
            let rows = try db.rows("SELECT * FROM ledger_transfers WHERE program_id = ? AND request_key = ?",
                                   [programID, requestKey])
            return try Self.transfers(rows, db).first
        }
    }

    public func hold(programID: String, requestKey: String) async throws -> Hold? {
        try await pool.read { db in
            try db.row("SELECT * FROM ledger_holds WHERE program_id = ? AND request_key = ?",
                       [programID, requestKey]).map { try Self.hold($0, db) }
        }
    }

    public func membersDue(programID: String, kind: DueKind, asOf: Date, after: String?, limit: Int) async throws -> [String] {
        let sql = switch kind {
        case .activation:
            "SELECT DISTINCT member_id FROM ledger_lots WHERE program_id = ? AND state = 'pending' AND available_at <= ?"
        case .expiry:
            """
            SELECT DISTINCT member_id FROM ledger_lots
            WHERE program_id = ? AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= ?
            """
        case .lapse:
            "SELECT DISTINCT member_id FROM ledger_holds WHERE program_id = ? AND status = 'open' AND expires_at <= ?"
        }
        return try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT member_id FROM (\(sql)) WHERE member_id > ? ORDER BY member_id LIMIT ?",
                                arguments: [programID, Timestamp.milliseconds(asOf), after ?? "", limit])
        }
    }

    public func ledgerMembers(programID: String, after: String?, limit: Int) async throws -> [String] {
        try await pool.read { db in
            try db.values("""
                SELECT member_id FROM ledger_members WHERE program_id = ? AND member_id > ? ORDER BY member_id LIMIT ?
                """, [programID, after ?? "", limit], as: String.self)
        }
    }

    public func ledgerHistory(programID: String, memberID: String) async throws -> MemberLedgerHistory {
        try await pool.read { db in
            let snapshot = try Self.snapshot(LedgerRead(programID: programID, memberID: memberID), lock: false, db)
            // The lots and holds still open, and those the member's transfers name (LedgerStore).
            let lots = try db.rows("""
                WITH named(id) AS (
                    SELECT id FROM ledger_lots WHERE member_id = ? AND remaining > 0
                    UNION SELECT lot_id FROM ledger_transfers WHERE member_id = ? AND lot_id IS NOT NULL
                    UNION SELECT a.lot_id FROM ledger_transfers t JOIN ledger_allocations a ON a.transfer_id = t.id
                        WHERE t.member_id = ?)
                SELECT l.* FROM named JOIN ledger_lots l ON l.id = named.id
                WHERE l.member_id = ? AND l.program_id = ? ORDER BY l.id
                """, [memberID, memberID, memberID, memberID, programID]).map(Self.lot)
            let holds = try db.rows("""
                WITH named(id) AS (
                    SELECT id FROM ledger_holds WHERE member_id = ? AND status = 'open'
                    UNION SELECT hold_id FROM ledger_transfers WHERE member_id = ? AND hold_id IS NOT NULL)
                SELECT h.* FROM named JOIN ledger_holds h ON h.id = named.id
                WHERE h.member_id = ? AND h.program_id = ? ORDER BY h.id
                """, [memberID, memberID, memberID, programID]).map { try Self.hold($0, db) }
            let rows = try db.rows("SELECT * FROM ledger_transfers WHERE member_id = ? AND program_id = ? ORDER BY id",
                                   [memberID, programID])
            return MemberLedgerHistory(accounts: snapshot.accounts, lots: lots, holds: holds,
                                       transfers: try Self.transfers(rows, db))
        }
    }

    public func ledgerRowCounts(programID: String) async throws -> LedgerRowCounts {
        try await pool.read { db in
            let row = try db.row("""
                SELECT (SELECT count(*) FROM ledger_lots WHERE program_id = ?) AS lots,
                    (SELECT count(*) FROM ledger_holds WHERE program_id = ?) AS holds
                """, [programID, programID])
            return LedgerRowCounts(lots: row?["lots"] ?? 0, holds: row?["holds"] ?? 0)
        }
    }

    /// The member activity (MemberActivity) against the events and earnings it is made from, row
    /// for row, and each member's count of it; and the events' receipts as JSON, which no CHECK
    /// tests as they are written (migration "2026-12-08-checks-without-lists").
    public func storedRecordBreaches(programID: String) async throws -> [String] {
        try await pool.read { db in
            let columns = "number, occurred_at, kind, code, unit, amount, status, event_id"
            let fromLedger = """
                SELECT m.number, e.occurred_at, 'event' AS kind, e.type AS code, NULL AS unit, e.amount, e.status,
                    e.id AS event_id
                FROM ledger_events e JOIN ledger_members m ON m.member_id = e.member_id WHERE e.program_id = :program
                UNION ALL
                SELECT m.number, t.occurred_at, 'earn', t.reason, t.unit, t.amount, NULL, NULL
                FROM ledger_transfers t JOIN ledger_members m ON m.member_id = t.member_id
                WHERE t.program_id = :program AND t.kind = 'earn'
                """
            let logged = """
                SELECT a.member_number AS number, a.occurred_at, a.kind, a.code, a.unit, a.amount, a.status, a.event_id
                FROM ledger_member_activity a JOIN ledger_members m ON m.number = a.member_number
                WHERE m.program_id = :program
                """
            // Each side's rows with how often they occur, so that a row logged twice is not taken for one.
            func counted(_ rows: String) -> String {
                "SELECT \(columns), count(*) FROM (\(rows)) GROUP BY \(columns)"
            }
            let arguments: StatementArguments = ["program": programID]
            let extra = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(counted(logged)) EXCEPT \(counted(fromLedger)))",
                                         arguments: arguments) ?? 0
            let missing = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(counted(fromLedger)) EXCEPT \(counted(logged)))",
                                           arguments: arguments) ?? 0
            let unrowed = try Int.fetchOne(db, sql: """
                SELECT count(DISTINCT member_id) FROM (SELECT member_id FROM ledger_events WHERE program_id = :program
                    UNION ALL SELECT member_id FROM ledger_transfers WHERE program_id = :program AND kind = 'earn')
                WHERE member_id NOT IN (SELECT member_id FROM ledger_members)
                """, arguments: arguments) ?? 0
            let miscounted = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM ledger_members m
                LEFT JOIN (SELECT member_number, count(*) AS rows, max(seq) AS last FROM ledger_member_activity
                           GROUP BY member_number) a ON a.member_number = m.number
                WHERE m.program_id = :program AND (coalesce(a.rows, 0) <> m.activity OR a.last > m.activity)
                """, arguments: arguments) ?? 0
            let malformed = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM ledger_events WHERE program_id = :program AND NOT json_valid(receipt)
                """, arguments: arguments) ?? 0
            var breaches: [String] = []
            if malformed > 0 { breaches.append("events: \(malformed) receipts are not JSON") }
            if extra > 0 { breaches.append("member activity: \(extra) rows that no event or earning of the program makes") }
            if missing > 0 { breaches.append("member activity: \(missing) of the program's events and earnings are not in it") }
            if unrowed > 0 { breaches.append("member activity: \(unrowed) members with events or earnings have no ledger row") }
            if miscounted > 0 { breaches.append("member activity: \(miscounted) members' counts differ from their rows") }
            return breaches
        }
    }

    /// Member activity under a number that is no member's: the log keys its rows by the member's
    /// number, which no foreign key ties to `ledger_members`, so the program's check cannot see them.
    public func strayRecordBreaches() async throws -> [String] {
        try await pool.read { db in
            let stray = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM ledger_member_activity
                WHERE member_number NOT IN (SELECT number FROM ledger_members)
                """) ?? 0
            return stray > 0 ? ["member activity: \(stray) rows under a number that is no member's"] : []
        }
    }

    /// A unique key of the ledger's own records broken is a duplicate of something already
    /// recorded; one of the member's number or activity is not: it means those are out of step
    /// with the ledger (which `patron ledger verify` reports), and stays an error.
    static func translate(_ error: any Error) -> any Error {
        if let error = error as? DatabaseError, error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            let message = error.message ?? "unique"
            guard !message.contains("ledger_member_activity."), !message.contains("ledger_members.number") else {
                return error
            }
            return StoreError.duplicate(constraint: message)
        }
        return error
    }
}

// MARK: - Reading

extension SQLiteStore {
    static func snapshot(_ read: LedgerRead, lock: Bool, _ db: Database) throws -> LedgerSnapshot {
        var positions: [String: ActivityPosition] = [:]
        return try snapshot(read, lock: lock, db, positions: &positions)
    }

    /// The snapshot, and in `positions` where the activity of each member it read stands, for the
    /// write that follows in the same transaction.
    static func snapshot(_ read: LedgerRead, lock: Bool, _ db: Database,
                         positions: inout [String: ActivityPosition]) throws -> LedgerSnapshot {
        var snapshot = LedgerSnapshot()
        // The member's number keys their activity (MemberActivity); nil before their first entry.
        var number: Int64?
        var activity: Int64 = 0
        // The reads every event makes run directly (Database+Direct.swift): this is the one writer.
        try db.direct(MemberRow.select, read.memberID) { row in
            snapshot.purchases = try row.int64(0)
            number = try row.int64(1)
            activity = try row.int64(2)
            // A unit whose columns are all zero is left out: an account of zeros is the same as none
            // to every reader (`MemberLedger.account`, `LedgerAudit`), and the write sets it to zeros.
            for (index, unit) in MemberRow.units.enumerated() {
                let first = Int32(MemberRow.firstBalanceColumn + index * MemberRow.fields.count)
                let account = MemberAccount(
                    pending: try row.int64(first), available: try row.int64(first + 1), held: try row.int64(first + 2),
                    debt: try row.int64(first + 3), earned: try row.int64(first + 4), redeemed: try row.int64(first + 5),
                    expired: try row.int64(first + 6))
                if account != MemberAccount() { snapshot.accounts[unit] = account }
            }
        }
        var holdRows: [Row] = []
        if read.lots {
            holdRows = try db.rows("SELECT * FROM ledger_holds WHERE member_id = ? AND status = 'open'",
                                   [read.memberID])
        }
        if let holdID = read.holdID, !holdRows.contains(where: { $0["id"] == holdID }),
           let row = try db.row("SELECT * FROM ledger_holds WHERE id = ? AND member_id = ?",
                                [holdID, read.memberID]) {
            holdRows.append(row)
        }
        snapshot.holds = try holdRows.map { try hold($0, db) }
        if let transferID = read.transferID {
            snapshot.transfer = try transfers(db.rows("SELECT * FROM ledger_transfers WHERE id = ? AND member_id = ?",
                                                      [transferID, read.memberID]), db).first
            snapshot.reversedBy = try db.value("SELECT id FROM ledger_transfers WHERE reverses = ?",
                                               [transferID], as: String.self)
        }
        if read.lots || !snapshot.holds.isEmpty || snapshot.transfer != nil {
            let named = (snapshot.transfer?.allocations.map(\.lotID) ?? []) + [snapshot.transfer?.lotID].compactMap { $0 }
            let heldLotIDs = Set(snapshot.holds.flatMap { $0.allocations.map(\.lotID) } + named)
            var lots = read.lots
                ? try db.rows("SELECT * FROM ledger_lots WHERE member_id = ? AND remaining > 0",
                              [read.memberID]).map(lot)
                : []
            let missing = heldLotIDs.subtracting(lots.map(\.id))
            if !missing.isEmpty {
                lots += try Row.fetchAll(db, sql: "SELECT * FROM ledger_lots WHERE id IN (\(placeholders(missing.count)))",
                                         arguments: StatementArguments(Array(missing))).map(lot)
            }
            snapshot.lots = lots
        }
        // An event sent again is rare: the probe runs directly, the whole row is read only then.
        if let clientID = read.eventClientID,
           let rowID = try db.directInt64("SELECT rowid FROM ledger_events WHERE program_id = ? AND client_id = ?",
                                          read.programID, clientID) {
            snapshot.event = try db.row("SELECT * FROM ledger_events WHERE rowid = ?", [rowID]).map(event)
        }
        var purchase: (id: String, memberID: String, amount: Int64, status: String, occurredAt: Int64)?
        if let orderID = read.orderID {
            try db.direct("""
                SELECT id, member_id, amount, status, occurred_at FROM ledger_events
                WHERE program_id = ? AND order_id = ? AND type = 'purchase'
                """, read.programID, orderID) { row in
                purchase = (try row.string(0), try row.string(1), try row.int64(2), try row.string(3), try row.int64(4))
            }
        }
        if let orderID = read.orderID, let purchase {
            let refunded = try db.value("""
                SELECT coalesce(sum(amount), 0) FROM ledger_events
                WHERE program_id = ? AND order_id = ? AND type = 'refund' AND status = 'posted'
                """, [read.programID, orderID], as: Int64.self) ?? 0
            var earnedBy: [String: [LedgerUnit: Int64]] = [:]
            for row in try db.rows("""
                SELECT member_id, unit, sum(amount) AS total FROM ledger_transfers t
                WHERE event_id = ? AND kind = 'earn' AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.reverses = t.id)
                GROUP BY member_id, unit
                """, [purchase.id]) {
                if let unit = LedgerUnit(rawValue: row["unit"]) { earnedBy[row["member_id"], default: [:]][unit] = row["total"] }
            }
            snapshot.order = OrderFacts(eventID: purchase.id, memberID: purchase.memberID, status: purchase.status,
                                        occurredAt: Timestamp.date(milliseconds: purchase.occurredAt), amount: purchase.amount,
                                        refunded: refunded, earnedBy: earnedBy)
        }
        for rule in read.capRules {
            var usage = CapUsage()
            if let number {
                if rule.lifetime {
                    usage.lifetime = try db.directInt64("""
                        SELECT coalesce(sum(amount), 0) FROM ledger_member_activity
                        WHERE member_number = ? AND kind = 'earn' AND code = ?
                        """, number, rule.code) ?? 0
                }
                if rule.day, let day = read.capDay {
                    usage.day = try db.directInt64("""
                        SELECT coalesce(sum(amount), 0) FROM ledger_member_activity
                        WHERE member_number = ? AND occurred_at >= ? AND occurred_at < ? AND kind = 'earn' AND code = ?
                        """, number, Timestamp.milliseconds(day.start), Timestamp.milliseconds(day.end), rule.code) ?? 0
                }
            }
            snapshot.capUsage[rule.code] = usage
        }
        if let day = read.limitDay {
            snapshot.pointsEarnedInDay = try number.flatMap { number in
                try db.directInt64("""
                    SELECT coalesce(sum(amount), 0) FROM ledger_member_activity
                    WHERE member_number = ? AND occurred_at >= ? AND occurred_at < ? AND kind = 'earn' AND unit = 'points'
                    """, number, Timestamp.milliseconds(day.start), Timestamp.milliseconds(day.end))
            } ?? 0
        }
        if let hour = read.limitHour {
            snapshot.eventsInHour = Int(try number.flatMap { number in
                try db.directInt64("""
                    SELECT count(*) FROM ledger_member_activity
                    WHERE member_number = ? AND occurred_at > ? AND occurred_at <= ? AND kind = 'event'
                    """, number, Timestamp.milliseconds(hour.start), Timestamp.milliseconds(hour.end))
            } ?? 0)
        }
        if let counterpartID = read.counterpartID {
            snapshot.counterpart = CounterpartSnapshot(
                try Self.snapshot(LedgerRead(programID: read.programID, memberID: counterpartID, lots: true), lock: lock, db,
                              positions: &positions))
        }
        positions[read.memberID] = ActivityPosition(number: number, count: activity)
        return snapshot
    }

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    static func lot(_ row: Row) throws -> Lot {
        Lot(id: row["id"], programID: row["program_id"], memberID: row["member_id"], eventID: row["event_id"],
            orderID: row["order_id"], source: row["source"], amount: row["amount"], remaining: row["remaining"],
            state: try decode(LotState.self, row["state"]), earnedAt: Timestamp.date(milliseconds: row["earned_at"]),
            availableAt: Timestamp.date(milliseconds: row["available_at"]),
            expiresAt: (row["expires_at"] as Int64?).map(Timestamp.date(milliseconds:)))
    }

    static func hold(_ row: Row, _ db: Database) throws -> Hold {
        let id: String = row["id"]
        let allocations = try db.rows("""
            SELECT a.lot_id, a.amount FROM ledger_allocations a JOIN ledger_transfers t ON t.id = a.transfer_id
            WHERE t.hold_id = ? AND t.kind = 'hold' ORDER BY a.position
            """, [id]).map { LotAllocation(lotID: $0["lot_id"], amount: $0["amount"]) }
        return Hold(id: id, programID: row["program_id"], memberID: row["member_id"], amount: row["amount"],
                    captured: row["captured"], status: try decode(HoldStatus.self, row["status"]), reference: row["reference"],
                    createdAt: Timestamp.date(milliseconds: row["created_at"]),
                    expiresAt: Timestamp.date(milliseconds: row["expires_at"]),
                    resolvedAt: (row["resolved_at"] as Int64?).map(Timestamp.date(milliseconds:)),
                    requestKey: row["request_key"], allocations: allocations)
    }

    static func event(_ row: Row) -> StoredEvent {
        StoredEvent(id: row["id"], programID: row["program_id"], memberID: row["member_id"], clientID: row["client_id"],
                    type: row["type"], occurredAt: Timestamp.date(milliseconds: row["occurred_at"]),
                    recordedAt: Timestamp.date(milliseconds: row["recorded_at"]), amount: row["amount"],
                    orderID: row["order_id"], channel: row["channel"], fingerprint: row["fingerprint"], status: row["status"],
                    receipt: Data((row["receipt"] as String).utf8), body: (row["body"] as String?).map { Data($0.utf8) })
    }

    static func transfers(_ rows: [Row], _ db: Database) throws -> [Transfer] {
        var allocations: [String: [LotAllocation]] = [:]
        if !rows.isEmpty {
            let ids = rows.map { $0["id"] as String }
            for row in try Row.fetchAll(db, sql: """
                SELECT transfer_id, lot_id, amount FROM ledger_allocations WHERE transfer_id IN (\(placeholders(ids.count)))
                ORDER BY transfer_id, position
                """, arguments: StatementArguments(ids)) {
                allocations[row["transfer_id"], default: []].append(LotAllocation(lotID: row["lot_id"], amount: row["amount"]))
            }
        }
        return try rows.map { row in
            guard let debit = LedgerAccount(code: row["debit"]), let credit = LedgerAccount(code: row["credit"]) else {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unexpected ledger account")
            }
            let id: String = row["id"]
            return Transfer(id: id, programID: row["program_id"], memberID: row["member_id"],
                            unit: try decode(LedgerUnit.self, row["unit"]), debit: debit, credit: credit,
                            amount: row["amount"], kind: try decode(TransferKind.self, row["kind"]), reason: row["reason"],
                            reference: row["reference"], eventID: row["event_id"], lotID: row["lot_id"],
                            holdID: row["hold_id"], reverses: row["reverses"], actor: row["actor"],
                            occurredAt: Timestamp.date(milliseconds: row["occurred_at"]),
                            postedAt: Timestamp.date(milliseconds: row["posted_at"]), requestKey: row["request_key"],
                            allocations: allocations[id] ?? [])
        }
    }
}

// MARK: - Writing

extension SQLiteStore {
    static func apply(_ plan: LedgerPlan, read: LedgerRead, positions: [String: ActivityPosition], _ db: Database) throws {
        guard plan.writes else { return }
        if let event = plan.event {
            try db.direct("""
                INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                    order_id, channel, fingerprint, status, receipt, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, event.id, event.programID, event.memberID, event.clientID, event.type,
                      Timestamp.milliseconds(event.occurredAt), Timestamp.milliseconds(event.recordedAt),
                      event.amount, event.orderID, event.channel, event.fingerprint, event.status,
                      UTF8Text(bytes: event.receipt), event.body.map(UTF8Text.init))
        }
        if let resolved = plan.resolvedEvent { try resolveEvent(resolved, db) }
        // The event goes into the activity of the member it is recorded under: the subject, or for
        // a refund the member whose order it was, who is then the counterpart.
        let eventOwner = plan.event?.memberID
        guard eventOwner == nil || eventOwner == read.memberID || eventOwner == read.counterpartID else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "an event recorded under a member the batch did not read")
        }
        if let counterpartID = read.counterpartID, plan.counterpartChanges != nil || eventOwner == counterpartID {
            try record(plan.counterpartChanges, event: eventOwner == counterpartID ? plan.event : nil, purchasesAdded: 0,
                       memberID: counterpartID, programID: read.programID, position: positions[counterpartID], db)
        }
        try record(plan.changes, event: eventOwner == read.memberID ? plan.event : nil, purchasesAdded: plan.purchasesAdded,
                   memberID: read.memberID, programID: read.programID, position: positions[read.memberID], db)
    }

    /// Records what a plan does to one member: their row, their changes, and their activity.
    private static func record(_ changes: LedgerChanges?, event: StoredEvent?, purchasesAdded: Int64, memberID: String,
                               programID: String, position: ActivityPosition?, _ db: Database) throws {
        let activity = MemberActivity(event: event, changes: changes)
        let number = try MemberRow.record(memberID: memberID, programID: programID, purchasesAdded: purchasesAdded,
                                          activityAdded: activity.count, position: position, accounts: changes?.accounts, db)
        if let changes { try write(changes, memberID: memberID, db) }
        try activity.insert(number: number, after: position?.count ?? 0, db)
    }

    /// Records one member's changes of a plan.
    static func write(_ changes: LedgerChanges, memberID: String, _ db: Database) throws {
        for lot in changes.createdLots {
            try db.direct("""
                INSERT INTO ledger_lots (id, program_id, member_id, event_id, order_id, source, amount, remaining, state,
                    earned_at, available_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, lot.id, lot.programID, lot.memberID, lot.eventID, lot.orderID, lot.source, lot.amount,
                      lot.remaining, lot.state.rawValue, Timestamp.milliseconds(lot.earnedAt),
                      Timestamp.milliseconds(lot.availableAt), lot.expiresAt.map(Timestamp.milliseconds))
        }
        for lot in changes.updatedLots {
            try db.direct("UPDATE ledger_lots SET remaining = ?, state = ? WHERE id = ?",
                          lot.remaining, lot.state.rawValue, lot.id)
        }
        for hold in changes.createdHolds {
            try db.direct("""
                INSERT INTO ledger_holds (id, program_id, member_id, amount, captured, status, reference, created_at,
                    expires_at, resolved_at, request_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, hold.id, hold.programID, hold.memberID, hold.amount, hold.captured, hold.status.rawValue,
                      hold.reference, Timestamp.milliseconds(hold.createdAt),
                      Timestamp.milliseconds(hold.expiresAt), hold.resolvedAt.map(Timestamp.milliseconds),
                      hold.requestKey)
        }
        for hold in changes.updatedHolds {
            try db.direct("UPDATE ledger_holds SET captured = ?, status = ?, resolved_at = ? WHERE id = ?",
                          hold.captured, hold.status.rawValue, hold.resolvedAt.map(Timestamp.milliseconds), hold.id)
        }
        for transfer in changes.transfers {
            try db.direct("""
                INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason,
                    reference, event_id, lot_id, hold_id, reverses, actor, occurred_at, posted_at, request_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, transfer.id, transfer.programID, transfer.memberID, transfer.unit.rawValue,
                      transfer.debit.code, transfer.credit.code, transfer.amount, transfer.kind.rawValue,
                      transfer.reason, transfer.reference, transfer.eventID, transfer.lotID, transfer.holdID,
                      transfer.reverses, transfer.actor, Timestamp.milliseconds(transfer.occurredAt),
                      Timestamp.milliseconds(transfer.postedAt), transfer.requestKey)
            for (position, allocation) in transfer.allocations.enumerated() {
                try db.direct("INSERT INTO ledger_allocations (transfer_id, position, lot_id, amount) VALUES (?, ?, ?, ?)",
                              transfer.id, position, allocation.lotID, allocation.amount)
            }
        }
    }
}

/// A member's row of the ledger: their purchase count, their number and the count of their
/// activity (MemberActivity), and their balances, a group of columns per unit (`<unit>_<field>`,
/// migrations "2026-12-06-member-balances" and "2026-12-07-member-activity"). Each event rewrites
/// this one row.
enum MemberRow {
    /// The units with columns, in their order in the row.
    static let units: [LedgerUnit] = [.points, .growth, .cashback]
    /// A unit's columns, in their order in its group; `record` binds `MemberAccount`'s fields in it.
    static let fields = ["pending", "available", "held", "debt", "earned", "redeemed", "expired"]
    static let balanceColumns = units.flatMap { unit in fields.map { "\(unit.rawValue)_\($0)" } }

    /// The position of the first balance column in `select`'s rows.
    static let firstBalanceColumn = 3
    static let select = """
        SELECT purchases, number, activity, \(balanceColumns.joined(separator: ", ")) FROM ledger_members WHERE member_id = ?
        """

    static let upsertCounts = """
        INSERT INTO ledger_members (member_id, program_id, purchases, activity, number) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (member_id) DO UPDATE SET purchases = purchases + excluded.purchases,
            activity = activity + excluded.activity
        """

    static let upsert = """
        INSERT INTO ledger_members (member_id, program_id, purchases, activity, number, \(balanceColumns.joined(separator: ", ")))
        VALUES (?, ?, ?, ?, ?, \(Array(repeating: "?", count: balanceColumns.count).joined(separator: ", ")))
        ON CONFLICT (member_id) DO UPDATE SET purchases = purchases + excluded.purchases,
            activity = activity + excluded.activity,
            \(balanceColumns.map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
        """

    /// Adds `purchasesAdded` to the member's count and `activityAdded` to their activity's and,
    /// when the write changed the ledger, sets their balances to `accounts`: every unit's, zeros for
    /// a unit it lacks. `accounts` and `position` come from a snapshot read in the same
    /// transaction, which leaves out only units whose columns are all zero. A member without a row
    /// gets the next number: one more than the highest (a search of its unique index). Returns the
    /// member's number.
    static func record(memberID: String, programID: String, purchasesAdded: Int64, activityAdded: Int,
                       position: ActivityPosition?, accounts: [LedgerUnit: MemberAccount]?, _ db: Database) throws
        -> Int64 {
        let number = try position?.number
            ?? db.directInt64("SELECT coalesce(max(number), 0) + 1 FROM ledger_members") ?? 1
        guard let accounts else {
            try db.direct(upsertCounts, memberID, programID, purchasesAdded, activityAdded, number)
            return number
        }
        let points = accounts[.points] ?? MemberAccount()
        let growth = accounts[.growth] ?? MemberAccount()
        let cashback = accounts[.cashback] ?? MemberAccount()
        try db.direct(upsert, memberID, programID, purchasesAdded, activityAdded, number,
                      points.pending, points.available, points.held, points.debt, points.earned, points.redeemed,
                      points.expired,
                      growth.pending, growth.available, growth.held, growth.debt, growth.earned, growth.redeemed,
                      growth.expired,
                      cashback.pending, cashback.available, cashback.held, cashback.debt, cashback.earned,
                      cashback.redeemed, cashback.expired)
        return number
    }
}

/// Where a member's activity stands when a write begins: their number (nil while they have no
/// ledger row) and how many rows it has, which is the sequence number of the last.
struct ActivityPosition {
    var number: Int64?
    var count: Int64
}

/// What one plan adds to a member's activity: the rows that the caps, the points and events
/// limits, the tier windows and the plans' qualifying spend read (migration
/// "2026-12-07-member-activity"). An event recorded under the member is a row of kind `event`
/// (its type, amount and status); each earning of theirs, in any unit, is a row of kind `earn` (its
/// reason, unit and amount). Rows are keyed by the member's number, the time they occurred, and
/// their sequence number among the member's rows.
struct MemberActivity {
    private let event: StoredEvent?
    private let transfers: [Transfer]
    let count: Int

    init(event: StoredEvent?, changes: LedgerChanges?) {
        self.event = event
        transfers = changes?.transfers ?? []
        count = (event == nil ? 0 : 1) + transfers.count { $0.kind == .earn }
    }

    /// The columns of a row, each bound for every row.
    private static let columns = ["member_number", "occurred_at", "seq", "kind", "code", "unit", "amount", "status", "event_id"]
    /// The insert of 1, 2, … rows; one statement a member and plan, since each statement run costs
    /// about as much as writing its rows.
    private static let inserts = (1...8).map { rows in
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        return "INSERT INTO ledger_member_activity (\(columns.joined(separator: ", "))) VALUES "
            + Array(repeating: row, count: rows).joined(separator: ", ")
    }

    /// Inserts the rows, numbered on from `after`.
    func insert(number: Int64, after: Int64, _ db: Database) throws {
        let width = Self.columns.count
        var seq = after
        var values: [any DirectBindable] = []
        values.reserveCapacity(min(count, Self.inserts.count) * width)
        func flush() throws {
            guard !values.isEmpty else { return }
            try db.direct(Self.inserts[values.count / width - 1], values: values)
            values.removeAll(keepingCapacity: true)
        }
        if let event {
            seq += 1
            values += [number, Timestamp.milliseconds(event.occurredAt), seq, "event", event.type, String?.none,
                       event.amount, event.status, event.id] as [any DirectBindable]
        }
        for transfer in transfers where transfer.kind == .earn {
            if values.count == Self.inserts.count * width { try flush() }
            seq += 1
            values += [number, Timestamp.milliseconds(transfer.occurredAt), seq, "earn", transfer.reason,
                       transfer.unit.rawValue, transfer.amount, String?.none, String?.none] as [any DirectBindable]
        }
        try flush()
    }
}
