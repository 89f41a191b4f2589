import Foundation
import PatronCore

/// A member's points and growth at an instant.
public struct PointsBalance: Sendable, Hashable {
    public struct Dated: Sendable, Hashable {
        public var at: Date
        public var points: Int64
    }

    public var asOf: Date
    /// What can be spent now (below zero only when a refund left the member owing points).
    public var available: Int64
    public var pending: Int64
    /// When pending points mature, soonest first.
    public var maturing: [Dated]
    public var onHold: Int64
    /// When available points expire, soonest first.
    public var expiring: [Dated]
    public var lifetimeEarned: Int64
    public var redeemed: Int64
    public var expired: Int64
    public var growth: Int64
    /// Cash-back from paid plans, in minor units.
    public var cashback: MemberAccount
}

/// Points moved from one member to another: the sender's side and the recipient's, each naming
/// the other in its reference.
public struct PointsTransfer: Sendable, Hashable {
    public var sent: Transfer
    public var received: Transfer
}

extension Engine {
    /// How many future dates a balance lists for maturing and expiring points.
    public static let balanceDates = 12
    /// The longest a hold may last.
    public static let maxHoldSeconds = 7 * 86_400
    /// The most points one request may move.
    public static let maxPointsPerRequest: Int64 = 1_000_000_000_000

    /// The member's balances now, exact whether or not the time-driven jobs have run.
    public func balance(programCode: String, memberID: String, by principal: Principal) async throws -> PointsBalance {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        let read = LedgerRead(programID: program.id, memberID: member.id, lots: true)
        let snapshot = try await store.ledgerSnapshot(read)
        let now = now()
        var ledger = MemberLedger(snapshot, of: read, actor: "system", postedAt: now)
        ledger.settle(asOf: now)
        let points = ledger.account(.points)
        let lots = ledger.lots.values.filter { $0.remaining > 0 }
        return PointsBalance(
            asOf: now, available: points.available - points.debt, pending: points.pending,
            maturing: Self.dated(lots.filter { $0.state == .pending }.map { ($0.availableAt, $0.remaining) }),
            onHold: points.held,
            expiring: Self.dated(lots.filter { $0.state == .available }.compactMap { lot in lot.expiresAt.map { ($0, lot.remaining) } }),
            lifetimeEarned: points.earned, redeemed: points.redeemed, expired: points.expired,
            growth: ledger.account(.growth).available, cashback: ledger.account(.cashback))
    }

    private static func dated(_ entries: [(Date, Int64)]) -> [PointsBalance.Dated] {
        Dictionary(entries.map { ($0.0, $0.1) }, uniquingKeysWith: +)
            .map { PointsBalance.Dated(at: $0.key, points: $0.value) }
            .sorted { $0.at < $1.at }
            .prefix(balanceDates).map { $0 }
    }

    /// Gives the member `amount` of `unit` from `system:issued`, as the system, available from `at`
    /// (points expiring at `expiresAt`), once per request key: a key already recorded, or recorded
    /// by a concurrent caller meanwhile, gives nothing more. For what the engine itself awards
    /// (upgrade rewards, plans' cash-back).
    func issueOnce(_ unit: LedgerUnit, _ amount: Int64, to memberID: String, programID: String, source: String, at: Date,
                   expiresAt: Date?, reference: String?, key: String) async throws {
        if try await store.transfer(programID: programID, requestKey: key) != nil { return }
        let read = LedgerRead(programID: programID, memberID: memberID)
        let postedAt = now()
        let work = LedgerWork(read: read) { snapshot in
            var ledger = MemberLedger(snapshot, of: read, actor: "system", postedAt: postedAt)
            ledger.earn(unit, amount, source: source, eventID: nil, orderID: nil, earnedAt: at, availableAt: at,
                        expiresAt: expiresAt, reference: reference, requestKey: key, asOf: postedAt)
            return LedgerPlan(changes: ledger.changes, outcome: ledger.transfers)
        }
        do {
            _ = try await ledgerWriter.submit(work)
        } catch StoreError.duplicate {
            // Given by a concurrent caller with the same key.
        }
    }

    /// The member's transfers, newest first.
    public func ledger(programCode: String, memberID: String, limit: Int?, cursor: String?,
                       by principal: Principal) async throws -> Page<Transfer> {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        let limit = try pageSize(limit)
        let fetched = try await store.transfers(programID: program.id, memberID: member.id,
                                                before: try decodeCursor(cursor), limit: limit + 1)
        return page(fetched, limit: limit, key: \.id)
    }

    /// Spends points (soonest-expiring first) or cash-back (minor units): all or none.
    public func redeem(programCode: String, memberID: String, body: JSONValue, requestKey: String?,
                       by principal: Principal) async throws -> (transfer: Transfer, created: Bool) {
        try require(.postEvents, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["points", "cashback", "reason", "order_id"],
                                     faults: &faults)
        let points = reader?.integer("points", in: 1...Self.maxPointsPerRequest, faults: &faults)
        let cashback = reader?.integer("cashback", in: 1...Self.maxPointsPerRequest, faults: &faults)
        let reason = reader?.string("reason", maxLength: 200, faults: &faults)
        let orderID = reader?.string("order_id", maxLength: 128, faults: &faults)
        if reader != nil, (body["points"] ?? .null) == .null, (body["cashback"] ?? .null) == .null {
            faults.add(.root / "points", "missing", "Say how many points (or, as `cashback`, how much cash-back) to spend.")
        } else if points != nil, cashback != nil {
            faults.add(.root / "cashback", "both_units", "A redemption spends points or cash-back, not both.")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let reference = orderID.map { "order:\($0)" }
        return try await spendOnce(program: program, memberID: memberID, operation: "redeem", body: body,
                                   requestKey: requestKey, principal: principal,
                                   existing: { try await store.transfer(programID: $0, requestKey: $1) }) { ledger, now, key, _ in
            if let cashback {
                return try ledger.redeem(.cashback, cashback, reason: reason ?? "redemption", reference: reference,
                                         requestKey: key, asOf: now)
            }
            return try ledger.redeem(points!, reason: reason ?? "redemption", reference: reference, requestKey: key, asOf: now)
        }
    }

    /// Reserves points for a checkout until it is captured, voided, or lapses after `ttl_seconds`.
    public func placeHold(programCode: String, memberID: String, body: JSONValue, requestKey: String?,
                          by principal: Principal) async throws -> (hold: Hold, created: Bool) {
        try require(.postEvents, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["points", "ttl_seconds", "reference"], faults: &faults)
        let points = reader?.integer("points", in: 1...Self.maxPointsPerRequest, required: true, faults: &faults)
        let ttl = reader?.integer("ttl_seconds", in: 1...Int64(Self.maxHoldSeconds), required: true, faults: &faults)
        let reference = reader?.string("reference", maxLength: 200, faults: &faults)
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        return try await spendOnce(program: program, memberID: memberID, operation: "hold", body: body,
                                   requestKey: requestKey, principal: principal,
                                   existing: { try await store.hold(programID: $0, requestKey: $1) }) { ledger, now, key, _ in
            try ledger.placeHold(points!, expiresAt: now.addingTimeInterval(TimeInterval(ttl!)), reference: reference,
                                 requestKey: key, asOf: now)
        }
    }

    /// Captures all (`points` absent) or part of an open hold; the rest is released.
    public func captureHold(programCode: String, memberID: String, holdID: String, body: JSONValue,
                            by principal: Principal) async throws -> Hold {
        try require(.postEvents, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["points"], faults: &faults)
        let points = reader?.integer("points", in: 1...Self.maxPointsPerRequest, faults: &faults)
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        // Capturing again what was captured is a retry, not a conflict.
        return try await resolveHold(program: program, memberID: memberID, holdID: holdID, principal: principal,
                                     alreadyDone: { $0.status == .captured && $0.captured == (points ?? $0.amount) }) {
            ledger, now in try ledger.capture(holdID, points: points, asOf: now)
        }
    }

    /// Releases an open hold.
    public func voidHold(programCode: String, memberID: String, holdID: String, by principal: Principal) async throws -> Hold {
        try require(.postEvents, principal)
        let program = try await program(code: programCode, by: principal)
        return try await resolveHold(program: program, memberID: memberID, holdID: holdID, principal: principal,
                                     alreadyDone: { $0.status == .voided }) {
            ledger, now in try ledger.void(holdID, asOf: now)
        }
    }

    /// A hold, as it stands now (one past its deadline shows as lapsed even before the job ran).
    public func hold(programCode: String, memberID: String, holdID: String, by principal: Principal) async throws -> Hold {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        guard Identifier.isWellFormed(holdID), var hold = try await store.hold(programID: program.id, memberID: member.id, id: holdID)
        else { throw EngineError.notFound(resource: "hold", id: holdID) }
        let now = now()
        if hold.status == .open, hold.expiresAt <= now {
            hold.status = .lapsed
            hold.resolvedAt = hold.expiresAt
        }
        return hold
    }

    /// Adds (positive) or removes (negative) points by an operator, with the reason recorded.
    public func adjust(programCode: String, memberID: String, body: JSONValue, requestKey: String?,
                       by principal: Principal) async throws -> (transfer: Transfer, created: Bool) {
        try require(.adjustPoints, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["points", "reason"], faults: &faults)
        let points = reader?.integer("points", in: -Self.maxPointsPerRequest...Self.maxPointsPerRequest, required: true,
                                     faults: &faults)
        let reason = reader?.string("reason", required: true, maxLength: 200, faults: &faults)
        if points == 0 { faults.add(.root / "points", "zero", "An adjustment adds or removes at least one point.") }
        if let reason, reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            faults.add(.root / "reason", "blank", "Say why the points are adjusted.")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let policy = try await runtime(program).policy
        return try await spendOnce(program: program, memberID: memberID, operation: "adjust", body: body,
                                   requestKey: requestKey, principal: principal,
                                   existing: { try await store.transfer(programID: $0, requestKey: $1) }) { ledger, now, key, _ in
            try ledger.adjust(points!, reason: reason!, expiresAt: policy.expiresAt(earnedAt: now), requestKey: key,
                              asOf: now)
        }
    }

    /// Undoes one of the member's transfers by an operator, with the reason recorded.
    public func reverse(programCode: String, memberID: String, transferID: String, body: JSONValue, requestKey: String?,
                        by principal: Principal) async throws -> (transfer: Transfer, created: Bool) {
        try require(.adjustPoints, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["reason"], faults: &faults)
        let reason = reader?.string("reason", required: true, maxLength: 200, faults: &faults)
        if let reason, reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            faults.add(.root / "reason", "blank", "Say why the transfer is reversed.")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        guard Identifier.isWellFormed(transferID) else { throw EngineError.notFound(resource: "transfer", id: transferID) }
        do {
            return try await spendOnce(program: program, memberID: memberID, operation: "reverse:\(transferID)",
                                       body: body, requestKey: requestKey, principal: principal, transferID: transferID,
                                       existing: { try await store.transfer(programID: $0, requestKey: $1) }) {
                ledger, now, key, snapshot in
                guard let original = snapshot.transfer else { throw EngineError.notFound(resource: "transfer", id: transferID) }
                guard snapshot.reversedBy == nil else {
                    throw EngineError.conflict(code: "already_reversed",
                                               detail: "The transfer '\(transferID)' was reversed by '\(snapshot.reversedBy!)'.")
                }
                return try ledger.reverse(original, reason: reason!, requestKey: key, asOf: now)
            }
        } catch EngineError.conflict(let code, _) where code == "concurrent_update" {
            throw EngineError.conflict(code: "already_reversed", detail: "The transfer '\(transferID)' was reversed already.")
        }
    }

    /// Moves points from the member to another member of the program, where the configuration
    /// allows it (`points.allow_transfers`): all or none, soonest-expiring first, the recipient's
    /// new lots keeping the expiry of the points they came from. Both sides are written in one
    /// transaction under both members' locks.
    public func transferPoints(programCode: String, memberID: String, body: JSONValue, requestKey: String?,
                               by principal: Principal) async throws -> (transfer: PointsTransfer, created: Bool) {
        try require(.postEvents, principal)
        let program = try await program(code: programCode, by: principal)
        guard try await runtime(program).policy.allowsTransfers else {
            throw EngineError.conflict(code: "transfers_not_allowed",
                                       detail: "The program does not let members transfer points (points.allow_transfers).")
        }
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["to", "points", "reason"], faults: &faults)
        let recipientID = reader?.string("to", required: true, maxLength: 64, faults: &faults)
        let points = reader?.integer("points", in: 1...Self.maxPointsPerRequest, required: true, faults: &faults)
        let reason = reader?.string("reason", maxLength: 200, faults: &faults)
        if let recipientID {
            let recipient = Identifier.isWellFormed(recipientID)
                ? try await store.member(programID: program.id, id: recipientID) : nil
            if recipientID == memberID {
                faults.add(.root / "to", "same_member", "A member cannot transfer points to themselves.")
            } else if recipient == nil {
                faults.add(.root / "to", "unknown_member", "The program has no member '\(recipientID)'.")
            } else if recipient?.status != .active {
                faults.add(.root / "to", "member_erased", "The member '\(recipientID)' was erased and cannot receive points.")
            }
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let sender = try await heldMember(program: program, id: memberID)
        let read = LedgerRead(programID: program.id, memberID: sender.id, lots: true, counterpartID: recipientID!)
        return try await writeOnce(program: program, member: sender, operation: "transfer", body: body,
                                   requestKey: requestKey, principal: principal,
                                   existing: { try await storedTransfer(programID: $0, requestKey: $1) }) { key, now in
            LedgerWork(read: read) { snapshot in
                var from = MemberLedger(snapshot, of: read, actor: principal.keyID, postedAt: now)
                guard var to = MemberLedger(counterpartOf: snapshot, of: read, actor: principal.keyID, postedAt: now) else {
                    throw StoreError.missing
                }
                let (sent, received) = try MemberLedger.transfer(points!, from: &from, to: &to, reason: reason ?? "transfer",
                                                                 requestKey: key, asOf: now)
                return LedgerPlan(changes: from.changes, counterpartChanges: to.changes,
                                  outcome: PointsTransfer(sent: sent, received: received))
            }
        }
    }

    /// The member-to-member transfer a request key recorded: the sender's side carries the key and
    /// names the recipient's.
    private func storedTransfer(programID: String, requestKey: String) async throws -> PointsTransfer? {
        guard let sent = try await store.transfer(programID: programID, requestKey: requestKey) else { return nil }
        guard sent.kind == .transfer, let reference = sent.reference, reference.hasPrefix("transfer:"),
              let received = try await store.transfer(programID: programID, id: String(reference.dropFirst(9))) else {
            throw StoreError.missing
        }
        return PointsTransfer(sent: sent, received: received)
    }

    /// Runs one change of a member's points in the next batch, once per request key: a request whose
    /// key already took effect (a retry after a lost answer, or a race) gets what it recorded.
    private func spendOnce<T: Sendable>(
        program: Program, memberID: String, operation: String, body: JSONValue, requestKey: String?, principal: Principal,
        transferID: String? = nil, existing: @escaping (String, String) async throws -> T?,
        _ change: @escaping @Sendable (inout MemberLedger, Date, String?, LedgerSnapshot) throws -> T
    ) async throws -> (T, Bool) {
        let member = try await heldMember(program: program, id: memberID)
        let read = LedgerRead(programID: program.id, memberID: member.id, lots: true, transferID: transferID)
        return try await writeOnce(program: program, member: member, operation: operation, body: body,
                                   requestKey: requestKey, principal: principal, existing: existing) { key, now in
            LedgerWork(read: read) { snapshot in
                var ledger = MemberLedger(snapshot, of: read, actor: principal.keyID, postedAt: now)
                let result = try change(&ledger, now, key, snapshot)
                return LedgerPlan(changes: ledger.changes, outcome: result)
            }
        }
    }

    /// Runs the ledger write `work` makes (given the scoped request key and the instant) in the next
    /// batch, once per request key; `existing` finds what a key recorded.
    private func writeOnce<T: Sendable>(
        program: Program, member: Member, operation: String, body: JSONValue, requestKey: String?, principal: Principal,
        existing: @escaping (String, String) async throws -> T?, work: (String?, Date) -> LedgerWork
    ) async throws -> (T, Bool) {
        // A key names one request of one caller: the same key for another member, operation or body
        // is another request.
        let fingerprint = Self.sha256(body.canonicalData()).prefix(16)
        let scopedKey = requestKey.map { "\(principal.keyID):\(operation):\(member.id):\(fingerprint):\($0)" }
        if let scopedKey, let found = try await existing(program.id, scopedKey) { return (found, false) }
        do {
            return (try await ledgerWriter.submit(work(scopedKey, now())).outcome as! T, true)
        } catch let fault as LedgerFault {
            throw Self.engineError(fault)
        } catch StoreError.duplicate {
            // The same key took effect in a racing request, or (for a reversal) the transfer was reversed.
            if let scopedKey, let found = try await existing(program.id, scopedKey) { return (found, false) }
            throw EngineError.conflict(code: "concurrent_update", detail: "The request raced with another; try again.")
        }
    }

    private func resolveHold(program: Program, memberID: String, holdID: String, principal: Principal,
                             alreadyDone: @escaping @Sendable (Hold) -> Bool,
                             _ change: @escaping @Sendable (inout MemberLedger, Date) throws -> Hold) async throws -> Hold {
        let member = try await heldMember(program: program, id: memberID)
        guard Identifier.isWellFormed(holdID) else { throw EngineError.notFound(resource: "hold", id: holdID) }
        let actor = principal.keyID
        let now = now()
        let read = LedgerRead(programID: program.id, memberID: member.id, lots: true, holdID: holdID)
        let work = LedgerWork(read: read) { snapshot in
            var ledger = MemberLedger(snapshot, of: read, actor: actor, postedAt: now)
            let hold = try change(&ledger, now)
            return LedgerPlan(changes: ledger.changes, outcome: hold)
        }
        do {
            return try await ledgerWriter.submit(work).outcome as! Hold
        } catch LedgerFault.holdNotOpen(let status) {
            if let hold = try await store.hold(programID: program.id, memberID: member.id, id: holdID), alreadyDone(hold) {
                return hold
            }
            throw Self.engineError(.holdNotOpen(status))
        } catch let fault as LedgerFault {
            throw Self.engineError(fault)
        }
    }
}
