import Foundation
import PatronCore
import PatronEngine
import PostgresNIO

// What works read before they plan, for many reads at once: one statement per kind of thing read
// (balances, holds, transfers, lots, events, orders, cap and limit usage), whatever the number of
// reads, and none for a kind that no read needs. Each statement takes the reads' keys as arrays;
// rows come back with the key they answer, or with the read's position (`WITH ORDINALITY`).

extension PostgresStore {
    /// What SQLite's snapshot reads, for each of `reads`. A counterpart is read as a read of its
    /// own, with `lots`. Within a batch the reads of one round are independent (see
    /// `PostgresLedgerRounds`), but the answer is the same for any reads.
    func snapshots(_ reads: [LedgerRead], on connection: PostgresConnection) async throws -> [LedgerSnapshot] {
        let counterparts = reads.indices.compactMap { index in
            reads[index].counterpartID.map { (index, LedgerRead(programID: reads[index].programID, memberID: $0, lots: true)) }
        }
        var snapshots = try await memberSnapshots(reads + counterparts.map(\.1), on: connection)
        for (offset, (index, _)) in counterparts.enumerated() {
            snapshots[index].counterpart = CounterpartSnapshot(snapshots[reads.count + offset])
        }
        return Array(snapshots.prefix(reads.count))
    }

    private func memberSnapshots(_ reads: [LedgerRead], on connection: PostgresConnection) async throws -> [LedgerSnapshot] {
        var snapshots = Array(repeating: LedgerSnapshot(), count: reads.count)
        let byMember = Dictionary(grouping: reads.indices, by: { reads[$0].memberID })
        try await readAccounts(into: &snapshots, byMember: byMember, on: connection)
        try await readHolds(of: reads, into: &snapshots, on: connection)
        try await readTransfers(of: reads, into: &snapshots, on: connection)
        try await readLots(of: reads, into: &snapshots, on: connection)
        try await readEvents(of: reads, into: &snapshots, on: connection)
        try await readOrders(of: reads, into: &snapshots, on: connection)
        try await readUsage(of: reads, into: &snapshots, on: connection)
        return snapshots
    }

    /// Balances and purchases. Accounts need their `ledger_members` row (a foreign key): a member
    /// without one has no purchases and no accounts.
    private func readAccounts(into snapshots: inout [LedgerSnapshot], byMember: [String: [Int]],
                              on connection: PostgresConnection) async throws {
        for row in try await rows("""
            SELECT m.member_id, m.purchases, a.unit, a.pending, a.available, a.held, a.debt, a.earned, a.redeemed, a.expired
            FROM ledger_members m LEFT JOIN ledger_accounts a ON a.member_id = m.member_id
            WHERE m.member_id = ANY(\(Array(byMember.keys)))
            """, on: connection) {
            let memberID = try row["member_id"].decode(String.self)
            let purchases = try row["purchases"].decode(Int64.self)
            var account: MemberAccount?
            if try row["unit"].decode(String?.self) != nil {
                account = MemberAccount(
                    pending: try row["pending"].decode(Int64.self), available: try row["available"].decode(Int64.self),
                    held: try row["held"].decode(Int64.self), debt: try row["debt"].decode(Int64.self),
                    earned: try row["earned"].decode(Int64.self), redeemed: try row["redeemed"].decode(Int64.self),
                    expired: try row["expired"].decode(Int64.self))
            }
            let unit = account == nil ? nil : try decode(LedgerUnit.self, row["unit"])
            for index in byMember[memberID] ?? [] {
                snapshots[index].purchases = purchases
                if let unit { snapshots[index].accounts[unit] = account }
            }
        }
    }

    /// The open holds of reads with `lots`, and the hold a read names if it is its member's.
    private func readHolds(of reads: [LedgerRead], into snapshots: inout [LedgerSnapshot],
                           on connection: PostgresConnection) async throws {
        let openOf = reads.filter(\.lots).map(\.memberID)
        let holdIDs = reads.compactMap(\.holdID)
        guard !openOf.isEmpty || !holdIDs.isEmpty else { return }
        let holds = try await rows("""
            SELECT h.*, al.lot_ids, al.amounts FROM ledger_holds h \(unescaped: Self.holdAllocations)
            WHERE (h.member_id = ANY(\(openOf)) AND h.status = 'open') OR h.id = ANY(\(holdIDs))
            ORDER BY h.id
            """, on: connection).map { try Self.hold($0) }
        let byMember = Dictionary(grouping: holds, by: \.memberID)
        for (index, read) in reads.enumerated() where read.lots || read.holdID != nil {
            snapshots[index].holds = (byMember[read.memberID] ?? []).filter { hold in
                (read.lots && hold.status == .open) || hold.id == read.holdID
            }
        }
    }

    /// The transfer a read names if it is its member's, and the transfer that reverses it, if any.
    private func readTransfers(of reads: [LedgerRead], into snapshots: inout [LedgerSnapshot],
                               on connection: PostgresConnection) async throws {
        let transferIDs = Array(Set(reads.compactMap(\.transferID)))
        guard !transferIDs.isEmpty else { return }
        var found: [String: (transfer: Transfer?, reversedBy: String?)] = [:]
        for row in try await rows("""
            SELECT w.id AS wanted, (SELECT r.id FROM ledger_transfers r WHERE r.reverses = w.id) AS reversed_by,
                t.*, al.lot_ids, al.amounts
            FROM unnest(\(transferIDs)) AS w(id)
            LEFT JOIN ledger_transfers t ON t.id = w.id \(unescaped: Self.transferAllocations)
            """, on: connection) {
            let transfer = try row["id"].decode(String?.self) == nil ? nil : try Self.transfer(row)
            found[try row["wanted"].decode(String.self)] = (transfer, try row["reversed_by"].decode(String?.self))
        }
        for (index, read) in reads.enumerated() {
            guard let transferID = read.transferID, let (transfer, reversedBy) = found[transferID] else { continue }
            snapshots[index].transfer = transfer?.memberID == read.memberID ? transfer : nil
            snapshots[index].reversedBy = reversedBy
        }
    }

    /// The open lots of reads with `lots`, and every lot their holds and transfer name. Runs after
    /// `readHolds` and `readTransfers`.
    private func readLots(of reads: [LedgerRead], into snapshots: inout [LedgerSnapshot],
                          on connection: PostgresConnection) async throws {
        var named: [Int: Set<String>] = [:]
        for (index, read) in reads.enumerated() {
            let snapshot = snapshots[index]
            guard read.lots || !snapshot.holds.isEmpty || snapshot.transfer != nil else { continue }
            let transferLots = (snapshot.transfer?.allocations.map(\.lotID) ?? []) + [snapshot.transfer?.lotID].compactMap { $0 }
            named[index] = Set(snapshot.holds.flatMap { $0.allocations.map(\.lotID) } + transferLots)
        }
        guard !named.isEmpty else { return }
        let openOf = reads.filter(\.lots).map(\.memberID)
        let lots = try await rows("""
            SELECT * FROM ledger_lots
            WHERE (member_id = ANY(\(openOf)) AND remaining > 0) OR id = ANY(\(Array(Set(named.values.joined()))))
            ORDER BY id
            """, on: connection).map { try Self.lot($0) }
        let byMember = Dictionary(grouping: lots, by: \.memberID)
        let byID = Dictionary(lots.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for (index, ids) in named {
            let read = reads[index]
            var chosen = read.lots ? (byMember[read.memberID] ?? []).filter { $0.remaining > 0 } : []
            let open = Set(chosen.map(\.id))
            chosen += ids.subtracting(open).compactMap { byID[$0] }
            snapshots[index].lots = chosen.sorted { $0.id < $1.id }
        }
    }

    /// The event with each read's client id, in its program.
    private func readEvents(of reads: [LedgerRead], into snapshots: inout [LedgerSnapshot],
                            on connection: PostgresConnection) async throws {
        try await read(\.eventClientID, of: reads, into: &snapshots, at: \.event) { wanted in
            var events: [ProgramKey: StoredEvent] = [:]
            for row in try await rows("""
                SELECT e.* FROM unnest(\(wanted.map(\.programID)), \(wanted.map(\.key))) AS w(program_id, client_id)
                JOIN ledger_events e ON e.program_id = w.program_id AND e.client_id = w.client_id
                """, on: connection) {
                let event = try Self.event(row)
                events[ProgramKey(event.programID, event.clientID)] = event
            }
            return events
        }
    }

    /// The purchase with each read's order id, in its program: its member, status, time and
    /// amount, what posted refunds returned of it, and what it earned and still stands per member
    /// and unit.
    ///
    /// A purchase names an order that is not yet posted, so most reads find none: they are looked
    /// for first by a search of the order index alone, and only purchases found are read in full.
    /// (One statement did both, and PostgreSQL took longer planning it than a probe takes to run.)
    private func readOrders(of reads: [LedgerRead], into snapshots: inout [LedgerSnapshot],
                            on connection: PostgresConnection) async throws {
        try await read(\.orderID, of: reads, into: &snapshots, at: \.order) { wanted in
            var purchases: [(key: ProgramKey, id: String, memberID: String, amount: Int64, status: String, occurredAt: Date)] = []
            for row in try await rows("""
                SELECT e.program_id, e.order_id, e.id, e.member_id, e.amount, e.status, e.occurred_at
                FROM unnest(\(wanted.map(\.programID)), \(wanted.map(\.key))) AS w(program_id, order_id)
                JOIN ledger_events e ON e.program_id = w.program_id AND e.order_id = w.order_id AND e.type = 'purchase'
                """, on: connection) {
                purchases.append((ProgramKey(try row["program_id"].decode(String.self), try row["order_id"].decode(String.self)),
                                  try row["id"].decode(String.self), try row["member_id"].decode(String.self),
                                  try row["amount"].decode(Int64.self), try row["status"].decode(String.self),
                                  try row["occurred_at"].decode(Date.self)))
            }
            guard !purchases.isEmpty else { return [:] }
            // Per purchase found: what refunds returned, and what it earned per member and unit.
            var details: [String: (refunded: Int64, earnedBy: [String: [LedgerUnit: Int64]])] = [:]
            for row in try await rows("""
                SELECT e.id,
                    (SELECT coalesce(sum(r.amount), 0) FROM ledger_events r
                     WHERE r.program_id = e.program_id AND r.order_id = e.order_id AND r.type = 'refund'
                       AND r.status = 'posted')::bigint AS refunded,
                    earned.members, earned.units, earned.totals
                FROM ledger_events e
                LEFT JOIN LATERAL (
                    SELECT array_agg(g.member_id ORDER BY g.member_id, g.unit) AS members,
                        array_agg(g.unit ORDER BY g.member_id, g.unit) AS units,
                        array_agg(g.total ORDER BY g.member_id, g.unit) AS totals
                    FROM (SELECT t.member_id, t.unit, sum(t.amount)::bigint AS total FROM ledger_transfers t
                          WHERE t.event_id = e.id AND t.kind = 'earn'
                            AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.reverses = t.id)
                          GROUP BY t.member_id, t.unit) g
                ) earned ON true
                WHERE e.id = ANY(\(purchases.map(\.id)))
                """, on: connection) {
                var earnedBy: [String: [LedgerUnit: Int64]] = [:]
                let members = try row["members"].decode([String]?.self) ?? []
                let units = try row["units"].decode([String]?.self) ?? []
                let totals = try row["totals"].decode([Int64]?.self) ?? []
                for (member, (unit, total)) in zip(members, zip(units, totals)) {
                    if let unit = LedgerUnit(rawValue: unit) { earnedBy[member, default: [:]][unit] = total }
                }
                details[try row["id"].decode(String.self)] = (try row["refunded"].decode(Int64.self), earnedBy)
            }
            var orders: [ProgramKey: OrderFacts] = [:]
            for purchase in purchases {
                // Events are never deleted: a purchase the probe found is read in full.
                guard let detail = details[purchase.id] else { throw StoreError.missing }
                orders[purchase.key] = OrderFacts(eventID: purchase.id, memberID: purchase.memberID, status: purchase.status,
                                                  occurredAt: purchase.occurredAt, amount: purchase.amount,
                                                  refunded: detail.refunded, earnedBy: detail.earnedBy)
            }
            return orders
        }
    }

    /// Has `fetch` read, for the distinct keys that reads name at `key` (a key unique within the
    /// program), what each names, and gives every such read what was found for its key at `field`.
    private func read<Found>(_ key: KeyPath<LedgerRead, String?>, of reads: [LedgerRead],
                             into snapshots: inout [LedgerSnapshot], at field: WritableKeyPath<LedgerSnapshot, Found?>,
                             fetch: ([ProgramKey]) async throws -> [ProgramKey: Found]) async throws {
        let wanted = Set(reads.compactMap { read in read[keyPath: key].map { ProgramKey(read.programID, $0) } })
        guard !wanted.isEmpty else { return }
        let found = try await fetch(Array(wanted))
        for (index, read) in reads.enumerated() {
            guard let value = read[keyPath: key] else { continue }
            snapshots[index][keyPath: field] = found[ProgramKey(read.programID, value)]
        }
    }

    /// What each capped rule gave the read's member on `capDay` and ever (each only if the rule's
    /// `CappedRule` asks for it, else 0), the points earned in `limitDay` and the events in
    /// `limitHour`. One row per read and capped rule (one row with no rule for a read without one).
    /// A window not asked for is bound as NULL, which no time falls in: its count is 0, as unread.
    private func readUsage(of reads: [LedgerRead], into snapshots: inout [LedgerSnapshot],
                           on connection: PostgresConnection) async throws {
        let wanted = reads.indices.filter { index in
            !reads[index].capRules.isEmpty || reads[index].limitDay != nil || reads[index].limitHour != nil
        }
        guard !wanted.isEmpty else { return }
        let usage = wanted.map { reads[$0] }
        // Each capped rule with the position of its read in `usage`, counted from 1 as ORDINALITY is.
        let caps = usage.enumerated().flatMap { position, read in read.capRules.map { (Int64(position + 1), $0) } }
        // A window no cap of the rule counts is not summed (`CappedRule`).
        let lifetimes = caps.map(\.1.lifetime), days = caps.map(\.1.day)
        for row in try await rows("""
            SELECT w.n, l.points_earned_in_day, l.events_in_hour, c.code, c.lifetime, c.day
            FROM unnest(\(usage.map(\.memberID)),
                        \(PostgresNullableArray(usage.map(\.limitDay?.start))), \(PostgresNullableArray(usage.map(\.limitDay?.end))),
                        \(PostgresNullableArray(usage.map(\.limitHour?.start))), \(PostgresNullableArray(usage.map(\.limitHour?.end))),
                        \(PostgresNullableArray(usage.map(\.capDay?.start))), \(PostgresNullableArray(usage.map(\.capDay?.end))))
                WITH ORDINALITY AS w(member_id, day_start, day_end, hour_start, hour_end, cap_start, cap_end, n)
            CROSS JOIN LATERAL (SELECT
                (SELECT coalesce(sum(amount), 0) FROM ledger_transfers
                 WHERE member_id = w.member_id AND kind = 'earn' AND unit = 'points'
                   AND occurred_at >= w.day_start AND occurred_at < w.day_end)::bigint AS points_earned_in_day,
                (SELECT count(*) FROM ledger_events
                 WHERE member_id = w.member_id AND occurred_at > w.hour_start AND occurred_at <= w.hour_end
                ) AS events_in_hour
            ) l
            LEFT JOIN LATERAL (
                SELECT r.code,
                    (SELECT coalesce(sum(amount), 0) FROM ledger_transfers
                     WHERE r.lifetime AND member_id = w.member_id AND kind = 'earn' AND reason = r.code)::bigint AS lifetime,
                    (SELECT coalesce(sum(amount), 0) FROM ledger_transfers
                     WHERE r.day AND member_id = w.member_id AND kind = 'earn' AND reason = r.code
                       AND occurred_at >= w.cap_start AND occurred_at < w.cap_end)::bigint AS day
                FROM unnest(\(caps.map { $0.0 }), \(caps.map(\.1.code)), \(lifetimes), \(days)) AS r(n, code, lifetime, day)
                WHERE r.n = w.n
            ) c ON true
            """, on: connection) {
            let index = wanted[try row["n"].decode(Int.self) - 1]
            snapshots[index].pointsEarnedInDay = try row["points_earned_in_day"].decode(Int64.self)
            snapshots[index].eventsInHour = try row["events_in_hour"].decode(Int.self)
            if let code = try row["code"].decode(String?.self) {
                snapshots[index].capUsage[code] = CapUsage(day: try row["day"].decode(Int64.self),
                                                           lifetime: try row["lifetime"].decode(Int64.self))
            }
        }
    }
}

/// A key unique within a program: an event's client id, a purchase's order id.
private struct ProgramKey: Hashable {
    var programID: String
    var key: String

    init(_ programID: String, _ key: String) {
        self.programID = programID
        self.key = key
    }
}

// MARK: - Rows

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
                    orderID: try row["order_id"].decode(String?.self),
                    channel: try row["channel"].decode(String?.self), fingerprint: try row["fingerprint"].decode(String.self),
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
