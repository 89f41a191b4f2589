import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// What the plans of a round record, in one statement: a data-modifying WITH with one part per table
// it adds rows to, each over `unnest` of the rows of every plan. A foreign key is checked at the end
// of the statement, after every part has run, so the parts may reference rows that other parts add
// (a lot its event, an allocation its transfer and lot); they are listed in the order that SQLite's
// writes take all the same. The statement is prepared once per connection: planning its parts
// costs more than running them for a small round.
//
// A prepared statement is planned generically after its first runs, and PostgreSQL keeps that plan
// until the table is analyzed again: on a young database, while the tables are nearly empty, it
// joins by reading the whole table (docs/PERFORMANCE.md, "What an event costs PostgreSQL"). So
// the prepared statement joins nothing. Its parts only insert, and the member's purchase count is
// an `INSERT … ON CONFLICT`, which finds the row through the unique index whatever the plan. The
// rows that plans change in place (lots, holds, events leaving review) are updated by a second
// statement, planned for its values at every run, and only in rounds that change any.

/// Every row that the plans of a round add or change.
struct PostgresLedgerRoundWrites: Sendable {
    /// Per member, the purchases to add to its count.
    var purchases: [String: Purchases] = [:]
    var events: [StoredEvent] = []
    /// Events held for review whose status and receipt change, provided they are still in review.
    var resolvedEvents: [StoredEvent] = []
    var createdLots: [Lot] = []
    var updatedLots: [Lot] = []
    var createdHolds: [Hold] = []
    var updatedHolds: [Hold] = []
    var transfers: [Transfer] = []
    /// Each member's balances after the write, per unit.
    var accounts: [Account] = []

    struct Purchases: Sendable {
        var programID: String
        /// Never negative: counts only grow. The upsert's proposed row must pass the row's CHECK
        /// before PostgreSQL looks for the row it conflicts with (SQLite's count upsert too).
        var added: Int64
    }

    struct Account: Sendable {
        var memberID: String
        var unit: LedgerUnit
        var balances: MemberAccount
    }

    /// A transfer's allocation, at its position among them.
    struct Allocation {
        var transferID: String
        var position: Int32
        var allocation: LotAllocation
    }

    var allocations: [Allocation] {
        transfers.flatMap { transfer in
            transfer.allocations.enumerated().map {
                Allocation(transferID: transfer.id, position: Int32($0.offset), allocation: $0.element)
            }
        }
    }

    var isEmpty: Bool { !addsRows && !changesRows }

    /// Adds what `plan` records, for the members `read` names.
    mutating func add(_ plan: LedgerPlan, read: LedgerRead) {
        guard plan.writes else { return }
        if plan.purchasesAdded != 0 {
            assert(plan.purchasesAdded > 0, "purchase counts only grow")
            purchases[read.memberID, default: Purchases(programID: read.programID, added: 0)].added += plan.purchasesAdded
        }
        if let event = plan.event { events.append(event) }
        if let resolved = plan.resolvedEvent { resolvedEvents.append(resolved) }
        if let changes = plan.counterpartChanges, let counterpartID = read.counterpartID {
            add(changes, memberID: counterpartID)
        }
        if let changes = plan.changes { add(changes, memberID: read.memberID) }
    }

    private mutating func add(_ changes: LedgerChanges, memberID: String) {
        createdLots += changes.createdLots
        updatedLots += changes.updatedLots
        createdHolds += changes.createdHolds
        updatedHolds += changes.updatedHolds
        transfers += changes.transfers
        accounts += changes.accounts.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { Account(memberID: memberID, unit: $0.key, balances: $0.value) }
    }

    /// Whether the round adds rows, or adds to purchase counts: what the prepared statement does.
    var addsRows: Bool {
        !purchases.isEmpty || !events.isEmpty || !createdLots.isEmpty || !createdHolds.isEmpty || !transfers.isEmpty
            || !accounts.isEmpty
    }

    /// Whether the round changes rows in place, which `writeChanges` does.
    var changesRows: Bool { !resolvedEvents.isEmpty || !updatedLots.isEmpty || !updatedHolds.isEmpty }

    /// Whether two plans change the same row: they would have been in different rounds. An UPDATE
    /// over `unnest` would apply only one of two changes to a row, so the round is not written.
    var changesARowTwice: Bool {
        Set(updatedLots.map(\.id)).count != updatedLots.count
            || Set(updatedHolds.map(\.id)).count != updatedHolds.count
            || Set(resolvedEvents.map(\.id)).count != resolvedEvents.count
            || Set(accounts.map { "\($0.memberID) \($0.unit.rawValue)" }).count != accounts.count
    }
}

/// A round's rows changed what they must not: nothing of the round may stand.
struct PostgresLedgerRoundConflict: Error {}

/// `error` came from a connection that must not be used again: `PostgresStore.transaction` closes
/// it after the rollback, and throws `error`.
struct UnusableConnection: Error {
    var error: any Error
}

extension PostgresStore {
    /// Records every row of a round's plans: the rows they add in one prepared statement, the rows
    /// they change in another. Throws when a statement fails or a change finds its row gone or
    /// changed: the transaction must then be rolled back.
    func write(_ writes: PostgresLedgerRoundWrites, on connection: PostgresConnection) async throws {
        guard !writes.isEmpty else { return }
        guard !writes.changesARowTwice else { throw PostgresLedgerRoundConflict() }
        if writes.addsRows {
            var purchases: Int?
            do {
                for try await row in try await connection.execute(writes, logger: logger) { purchases = row }
            } catch let error as PSQLError where !writePrepared.withLock({ $0.contains(connection.id) }) {
                // postgres-nio keeps the error of a preparation that failed (a cancel, a lock
                // timeout, a deadlock while it waited) for the connection's life, and answers every
                // later run of the statement on it with that error, without asking the server. So
                // a connection on which the statement never ran is given up (`transaction`), and
                // the pool opens another. Once it has run, it stays prepared, and its failures are
                // of that run alone. A constraint's failure (class 23, such as a retried request's
                // unique violation) comes from running the statement, which was therefore prepared:
                // the connection is kept.
                if error.serverInfo?[.sqlState]?.hasPrefix("23") == true {
                    writePrepared.withLock { _ = $0.insert(connection.id) }
                    throw error
                }
                logger.warning("giving up a connection whose ledger write failed before it ever ran",
                               metadata: ["error": "\(String(reflecting: error))"])
                throw UnusableConnection(error: error)
            }
            writePrepared.withLock { _ = $0.insert(connection.id) }
            guard purchases == writes.purchases.count else { throw StoreError.missing }
        }
        if writes.changesRows { try await writeChanges(writes, on: connection) }
    }

    /// Changes the lots, holds and events that the round's plans change, in one statement planned
    /// for these rows: each table is read through its primary key, or, while it is small enough,
    /// scanned. Every row is there (the plans read them in this transaction, and no row of the
    /// ledger is ever deleted); an event is resolved only while it is in review, so only one
    /// decision ever stands.
    private func writeChanges(_ writes: PostgresLedgerRoundWrites, on connection: PostgresConnection) async throws {
        let lots = writes.updatedLots, holds = writes.updatedHolds, events = writes.resolvedEvents
        let row = try await rows("""
            WITH resolved AS (
                UPDATE ledger_events e SET status = u.status, receipt = u.receipt
                FROM unnest(\(events.map(\.id)), \(events.map(\.status)),
                            \(events.map { String(decoding: $0.receipt, as: UTF8.self) })) AS u(id, status, receipt)
                WHERE e.id = u.id AND e.status = 'review'
                RETURNING e.id
            ), updated_lots AS (
                UPDATE ledger_lots l SET remaining = u.remaining, state = u.state
                FROM unnest(\(lots.map(\.id)), \(lots.map(\.remaining)), \(lots.map(\.state.rawValue)))
                    AS u(id, remaining, state)
                WHERE l.id = u.id
                RETURNING l.id
            ), updated_holds AS (
                UPDATE ledger_holds h SET captured = u.captured, status = u.status, resolved_at = u.resolved_at
                FROM unnest(\(holds.map(\.id)), \(holds.map(\.captured)), \(holds.map(\.status.rawValue)),
                            \(PostgresNullableArray(holds.map(\.resolvedAt)))) AS u(id, captured, status, resolved_at)
                WHERE h.id = u.id
                RETURNING h.id
            )
            SELECT (SELECT count(*) FROM resolved) AS resolved, (SELECT count(*) FROM updated_lots) AS lots,
                (SELECT count(*) FROM updated_holds) AS holds
            """, on: connection).first
        guard let row, try row["lots"].decode(Int.self) == lots.count, try row["holds"].decode(Int.self) == holds.count else {
            throw StoreError.missing
        }
        guard try row["resolved"].decode(Int.self) == events.count else { throw StoreError.concurrentUpdate }
    }
}

extension PostgresLedgerRoundWrites: PostgresPreparedStatement {
    /// How many members' purchase counts were recorded.
    typealias Row = Int

    static var sql: String { statement.sql }

    /// The statement, and the number of its parameters: each `unnest` takes the next ones, in the
    /// order `makeBindings` gives them.
    private static let statement: (sql: String, parameters: Int) = {
        var used = 0
        func next(_ count: Int) -> String {
            defer { used += count }
            return (used + 1...used + count).map { "$\($0)" }.joined(separator: ", ")
        }
        let sql = """
            WITH purchases AS (
                INSERT INTO ledger_members AS m (member_id, program_id, purchases)
                SELECT * FROM unnest(\(next(3)))
                ON CONFLICT (member_id) DO UPDATE SET purchases = m.purchases + excluded.purchases
                RETURNING m.member_id
            ), events AS (
                INSERT INTO ledger_events (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                    order_id, channel, fingerprint, status, receipt, body)
                SELECT * FROM unnest(\(next(14)))
            ), created_lots AS (
                INSERT INTO ledger_lots (id, program_id, member_id, event_id, order_id, source, amount, remaining, state,
                    earned_at, available_at, expires_at)
                SELECT * FROM unnest(\(next(12)))
            ), created_holds AS (
                INSERT INTO ledger_holds (id, program_id, member_id, amount, captured, status, reference, created_at,
                    expires_at, resolved_at, request_key)
                SELECT * FROM unnest(\(next(11)))
            ), transfers AS (
                INSERT INTO ledger_transfers (id, program_id, member_id, unit, debit, credit, amount, kind, reason,
                    reference, event_id, lot_id, hold_id, reverses, actor, occurred_at, posted_at, request_key)
                SELECT * FROM unnest(\(next(18)))
            ), allocations AS (
                INSERT INTO ledger_allocations (transfer_id, position, lot_id, amount)
                SELECT * FROM unnest(\(next(4)))
            ), accounts AS (
                INSERT INTO ledger_accounts (member_id, unit, pending, available, held, debt, earned, redeemed, expired)
                SELECT * FROM unnest(\(next(9)))
                ON CONFLICT (member_id, unit) DO UPDATE SET pending = excluded.pending, available = excluded.available,
                    held = excluded.held, debt = excluded.debt, earned = excluded.earned, redeemed = excluded.redeemed,
                    expired = excluded.expired
            )
            SELECT count(*) FROM purchases
            """
        return (sql, used)
    }()

    /// One array per column, in the order of the statement's columns.
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: Self.statement.parameters)
        let purchases = self.purchases.sorted { $0.key < $1.key }
        bindings.append(purchases.map { $0.key })
        bindings.append(purchases.map { $0.value.programID })
        bindings.append(purchases.map { $0.value.added })

        bindings.append(events.map(\.id))
        bindings.append(events.map(\.programID))
        bindings.append(events.map(\.memberID))
        bindings.append(events.map(\.clientID))
        bindings.append(events.map(\.type))
        bindings.append(events.map(\.occurredAt))
        bindings.append(events.map(\.recordedAt))
        bindings.append(events.map(\.amount))
        bindings.append(PostgresNullableArray(events.map(\.orderID)))
        bindings.append(PostgresNullableArray(events.map(\.channel)))
        bindings.append(events.map(\.fingerprint))
        bindings.append(events.map(\.status))
        bindings.append(events.map { String(decoding: $0.receipt, as: UTF8.self) })
        bindings.append(PostgresNullableArray(events.map { $0.body.map { String(decoding: $0, as: UTF8.self) } }))

        bindings.append(createdLots.map(\.id))
        bindings.append(createdLots.map(\.programID))
        bindings.append(createdLots.map(\.memberID))
        bindings.append(PostgresNullableArray(createdLots.map(\.eventID)))
        bindings.append(PostgresNullableArray(createdLots.map(\.orderID)))
        bindings.append(createdLots.map(\.source))
        bindings.append(createdLots.map(\.amount))
        bindings.append(createdLots.map(\.remaining))
        bindings.append(createdLots.map(\.state.rawValue))
        bindings.append(createdLots.map(\.earnedAt))
        bindings.append(createdLots.map(\.availableAt))
        bindings.append(PostgresNullableArray(createdLots.map(\.expiresAt)))

        bindings.append(createdHolds.map(\.id))
        bindings.append(createdHolds.map(\.programID))
        bindings.append(createdHolds.map(\.memberID))
        bindings.append(createdHolds.map(\.amount))
        bindings.append(createdHolds.map(\.captured))
        bindings.append(createdHolds.map(\.status.rawValue))
        bindings.append(PostgresNullableArray(createdHolds.map(\.reference)))
        bindings.append(createdHolds.map(\.createdAt))
        bindings.append(createdHolds.map(\.expiresAt))
        bindings.append(PostgresNullableArray(createdHolds.map(\.resolvedAt)))
        bindings.append(PostgresNullableArray(createdHolds.map(\.requestKey)))

        bindings.append(transfers.map(\.id))
        bindings.append(transfers.map(\.programID))
        bindings.append(transfers.map(\.memberID))
        bindings.append(transfers.map(\.unit.rawValue))
        bindings.append(transfers.map(\.debit.code))
        bindings.append(transfers.map(\.credit.code))
        bindings.append(transfers.map(\.amount))
        bindings.append(transfers.map(\.kind.rawValue))
        bindings.append(transfers.map(\.reason))
        bindings.append(PostgresNullableArray(transfers.map(\.reference)))
        bindings.append(PostgresNullableArray(transfers.map(\.eventID)))
        bindings.append(PostgresNullableArray(transfers.map(\.lotID)))
        bindings.append(PostgresNullableArray(transfers.map(\.holdID)))
        bindings.append(PostgresNullableArray(transfers.map(\.reverses)))
        bindings.append(transfers.map(\.actor))
        bindings.append(transfers.map(\.occurredAt))
        bindings.append(transfers.map(\.postedAt))
        bindings.append(PostgresNullableArray(transfers.map(\.requestKey)))

        let allocations = self.allocations
        bindings.append(allocations.map(\.transferID))
        bindings.append(allocations.map(\.position))
        bindings.append(allocations.map(\.allocation.lotID))
        bindings.append(allocations.map(\.allocation.amount))

        bindings.append(accounts.map(\.memberID))
        bindings.append(accounts.map(\.unit.rawValue))
        bindings.append(accounts.map(\.balances.pending))
        bindings.append(accounts.map(\.balances.available))
        bindings.append(accounts.map(\.balances.held))
        bindings.append(accounts.map(\.balances.debt))
        bindings.append(accounts.map(\.balances.earned))
        bindings.append(accounts.map(\.balances.redeemed))
        bindings.append(accounts.map(\.balances.expired))
        assert(bindings.count == Self.statement.parameters, "one binding per parameter of the statement")
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Int.self)
    }
}
