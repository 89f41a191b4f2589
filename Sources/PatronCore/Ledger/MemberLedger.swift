import Foundation

/// Why a ledger operation was refused. Nothing was changed.
public enum LedgerFault: Error, Sendable, Hashable {
    /// The member cannot spend this many points; `available` is what they can spend now.
    case insufficientPoints(available: Int64, requested: Int64)
    /// No such hold for this member.
    case unknownHold(String)
    /// The hold was already captured, voided or lapsed.
    case holdNotOpen(HoldStatus)
    /// A capture asked for more than the hold reserved.
    case captureExceedsHold(held: Int64, requested: Int64)
    /// Transfers of this kind are not undone by a reversal (they follow from time or from others).
    case notReversible(TransferKind)
    /// The points a reversal would take back were spent, expired or taken back already.
    case alreadySpent(available: Int64, requested: Int64)
    /// The member has less of `unit` (not points, which have `insufficientPoints`) than asked for.
    case insufficientBalance(unit: LedgerUnit, available: Int64, requested: Int64)
}

/// One member's part of the ledger as a write sees it: their balances, the lots and holds the write
/// may touch, and the transfers it adds. Every operation keeps the ledger's invariants:
/// - each transfer moves a positive amount from one account to another, so debits equal credits;
/// - the pending account equals the pending lots' remainders, the available account equals the
///   available lots' remainders, and the held account equals the open holds;
/// - what a refund could not take back is `debt`, repaid from points as they become available;
/// - points are spent only from lots that are available and not expired, soonest expiry first.
///
/// An operation that throws leaves the ledger as it was. A store loads the member, runs the
/// operations, and writes `changes` in the same transaction, under the member's lock.
public struct MemberLedger: Sendable {
    public let programID: String
    public let memberID: String
    /// Who is acting (an API key id, or `system`) and when the write is recorded.
    public let actor: String
    public let postedAt: Date
    public private(set) var accounts: [LedgerUnit: MemberAccount]
    /// Points lots by id: those the store loaded and those created here.
    public private(set) var lots: [String: Lot]
    public private(set) var holds: [String: Hold]
    /// Transfers added by this write, in order.
    public private(set) var transfers: [Transfer] = []
    private let loadedLots: [String: Lot]
    private let loadedHolds: [String: Hold]
    private var createdLotIDs: [String] = []
    private var createdHoldIDs: [String] = []
    private let makeID: @Sendable (Date) -> String

    /// A member's ledger as loaded: `lots` must hold every points lot with points left that the
    /// operations may spend, and every lot an open hold in `holds` took from.
    public init(programID: String, memberID: String, accounts: [LedgerUnit: MemberAccount], lots: [Lot], holds: [Hold],
                actor: String, postedAt: Date, makeID: @escaping @Sendable (Date) -> String = Identifier.make(at:)) {
        self.programID = programID
        self.memberID = memberID
        self.accounts = accounts
        self.lots = Dictionary(uniqueKeysWithValues: lots.map { ($0.id, $0) })
        self.holds = Dictionary(uniqueKeysWithValues: holds.map { ($0.id, $0) })
        self.loadedLots = self.lots
        self.loadedHolds = self.holds
        self.actor = actor
        self.postedAt = postedAt
        self.makeID = makeID
    }

    public func account(_ unit: LedgerUnit) -> MemberAccount {
        accounts[unit] ?? MemberAccount()
    }

    /// What the write changed, for the store to record.
    public var changes: LedgerChanges {
        LedgerChanges(
            transfers: transfers,
            createdLots: createdLotIDs.map { lots[$0]! },
            updatedLots: lots.values.filter { lot in loadedLots[lot.id].map { $0 != lot } ?? false }.sorted { $0.id < $1.id },
            createdHolds: createdHoldIDs.map { holds[$0]! },
            updatedHolds: holds.values.filter { hold in loadedHolds[hold.id].map { $0 != hold } ?? false }
                .sorted { $0.id < $1.id },
            accounts: accounts)
    }

    // MARK: Time

    /// Brings the loaded lots and holds up to `asOf`: holds past their deadline lapse, pending lots
    /// whose return window has passed become available, lots past their expiry expire, and debt is
    /// repaid from available points. Each step is recorded as of the instant it fell due.
    public mutating func settle(asOf: Date) {
        for hold in holds.values.sorted(by: { ($0.expiresAt, $0.id) < ($1.expiresAt, $1.id) })
        where hold.status == .open && hold.expiresAt <= asOf {
            release(hold.id, returning: hold.amount, status: .lapsed, at: hold.expiresAt, reason: "hold_lapsed")
        }
        for lot in lots.values.sorted(by: { ($0.availableAt, $0.id) < ($1.availableAt, $1.id) })
        where lot.state == .pending && lot.availableAt <= asOf && !lot.isExpired(at: lot.availableAt) {
            activate(lot.id)
        }
        for lot in lots.values.sorted(by: Lot.spendsBefore) where lot.remaining > 0 && lot.isExpired(at: asOf) {
            expire(lot.id)
        }
        repayDebt(asOf: asOf)
    }

    private mutating func activate(_ lotID: String) {
        var lot = lots[lotID]!
        lot.state = .available
        lots[lotID] = lot
        if lot.remaining > 0 {
            post(.points, from: .member(.pending), to: .member(.available), lot.remaining, kind: .activate,
                 reason: "return_window_passed", reference: lot.eventID.map { "event:\($0)" }, eventID: lot.eventID,
                 lotID: lot.id, occurredAt: lot.availableAt)
        }
    }

    private mutating func expire(_ lotID: String) {
        var lot = lots[lotID]!
        let amount = lot.remaining
        lot.remaining = 0
        lots[lotID] = lot
        post(.points, from: .member(lot.state == .pending ? .pending : .available), to: .system(.expired), amount,
             kind: .expire, reason: "expired", reference: lot.eventID.map { "event:\($0)" }, eventID: lot.eventID,
             lotID: lot.id, occurredAt: lot.expiresAt!)
        accounts[.points, default: MemberAccount()].expired += amount
    }

    /// Takes what the member owes out of points that are available again, soonest expiry first.
    private mutating func repayDebt(asOf: Date) {
        let debt = account(.points).debt
        guard debt > 0 else { return }
        var left = debt
        var parts: [LotAllocation] = []
        for lot in spendableLots(asOf: asOf) where left > 0 {
            let part = min(left, lot.remaining)
            lots[lot.id]!.remaining -= part
            parts.append(LotAllocation(lotID: lot.id, amount: part))
            left -= part
        }
        guard left < debt else { return }
        accounts[.points, default: MemberAccount()].debt = left
        post(.points, from: .member(.available), to: .system(.clawedBack), debt - left, kind: .clawback,
             reason: "refund_debt", reference: nil, occurredAt: asOf, allocations: parts)
    }

    // MARK: Earning

    /// Gives `amount` of `unit`. Points become a lot, pending until `availableAt` and gone at
    /// `expiresAt`; growth and cash-back go straight to the available account. Returns the lot
    /// (points only). The reference is the event's, else `reference`, else the actor's.
    @discardableResult
    public mutating func earn(_ unit: LedgerUnit, _ amount: Int64, source: String, from account: SystemAccount = .issued,
                              kind: TransferKind = .earn, eventID: String?, orderID: String?, earnedAt: Date,
                              availableAt: Date, expiresAt: Date?, reference: String? = nil, requestKey: String? = nil,
                              asOf: Date) -> Lot? {
        precondition(amount > 0)
        let reference = eventID.map { "event:\($0)" } ?? reference ?? "operator:\(actor)"
        if kind == .earn { accounts[unit, default: MemberAccount()].earned += amount }
        guard unit == .points else {
            post(unit, from: .system(account), to: .member(.available), amount, kind: kind, reason: source,
                 reference: reference, eventID: eventID, occurredAt: earnedAt, requestKey: requestKey)
            return nil
        }
        // Points whose return window has already passed (an adjustment, a back-dated event) are
        // available at once; the rest wait in the pending account.
        let matured = availableAt <= asOf && !(expiresAt.map { $0 <= availableAt } ?? false)
        let lot = Lot(id: makeID(postedAt), programID: programID, memberID: memberID, eventID: eventID, orderID: orderID,
                      source: source, amount: amount, remaining: amount, state: matured ? .available : .pending,
                      earnedAt: earnedAt, availableAt: availableAt, expiresAt: expiresAt)
        lots[lot.id] = lot
        createdLotIDs.append(lot.id)
        post(.points, from: .system(account), to: .member(matured ? .available : .pending), amount, kind: kind,
             reason: source, reference: reference, eventID: eventID, lotID: lot.id, occurredAt: earnedAt,
             requestKey: requestKey)
        settle(asOf: asOf)
        return lots[lot.id]
    }

    // MARK: Spending

    /// What the member can spend at `asOf`, after settling.
    public func spendable(asOf: Date) -> Int64 {
        var copy = self
        copy.settle(asOf: asOf)
        return copy.spendableNow(asOf: asOf)
    }

    private func spendableNow(asOf: Date) -> Int64 {
        spendableLots(asOf: asOf).reduce(0) { $0 + $1.remaining } - account(.points).debt
    }

    private func spendableLots(asOf: Date) -> [Lot] {
        lots.values.filter { $0.isSpendable(at: asOf) }.sorted(by: Lot.spendsBefore)
    }

    /// Takes `amount` points from spendable lots, soonest expiry first, or refuses the whole amount.
    private mutating func take(_ amount: Int64, asOf: Date) throws(LedgerFault) -> [LotAllocation] {
        settle(asOf: asOf)
        let available = spendableNow(asOf: asOf)
        guard amount <= available else { throw .insufficientPoints(available: max(0, available), requested: amount) }
        var allocations: [LotAllocation] = []
        var left = amount
        for lot in spendableLots(asOf: asOf) where left > 0 {
            let part = min(left, lot.remaining)
            lots[lot.id]!.remaining -= part
            allocations.append(LotAllocation(lotID: lot.id, amount: part))
            left -= part
        }
        return allocations
    }

    /// Spends points: all of them or none.
    @discardableResult
    public mutating func redeem(_ points: Int64, reason: String, reference: String?, requestKey: String?,
                                asOf: Date) throws(LedgerFault) -> Transfer {
        let allocations = try take(points, asOf: asOf)
        accounts[.points, default: MemberAccount()].redeemed += points
        return post(.points, from: .member(.available), to: .system(.redeemed), points, kind: .redeem, reason: reason,
                    reference: reference, occurredAt: asOf, requestKey: requestKey, allocations: allocations)
    }

    /// Spends `amount` of a unit kept without lots (cash-back): all of it or none.
    @discardableResult
    public mutating func redeem(_ unit: LedgerUnit, _ amount: Int64, reason: String, reference: String?,
                                requestKey: String?, asOf: Date) throws(LedgerFault) -> Transfer {
        precondition(unit != .points, "points are spent from lots")
        let available = account(unit).available
        guard amount <= available else {
            throw .insufficientBalance(unit: unit, available: max(0, available), requested: amount)
        }
        accounts[unit, default: MemberAccount()].redeemed += amount
        return post(unit, from: .member(.available), to: .system(.redeemed), amount, kind: .redeem, reason: reason,
                    reference: reference, occurredAt: asOf, requestKey: requestKey)
    }

    /// Reserves points until `expiresAt`: all of them or none.
    public mutating func placeHold(_ points: Int64, expiresAt: Date, reference: String?, requestKey: String?,
                                   asOf: Date) throws(LedgerFault) -> Hold {
        let allocations = try take(points, asOf: asOf)
        let hold = Hold(id: makeID(asOf), programID: programID, memberID: memberID, amount: points, captured: 0,
                        status: .open, reference: reference, createdAt: asOf, expiresAt: expiresAt, resolvedAt: nil,
                        requestKey: requestKey, allocations: allocations)
        holds[hold.id] = hold
        createdHoldIDs.append(hold.id)
        post(.points, from: .member(.available), to: .member(.held), points, kind: .hold, reason: "hold",
             reference: "hold:\(hold.id)", holdID: hold.id, occurredAt: asOf, requestKey: requestKey,
             allocations: allocations)
        return hold
    }

    /// Spends `points` of an open hold (all of it when nil); the rest is released.
    public mutating func capture(_ holdID: String, points: Int64?, asOf: Date) throws(LedgerFault) -> Hold {
        settle(asOf: asOf)
        guard let hold = holds[holdID] else { throw .unknownHold(holdID) }
        guard hold.status == .open else { throw .holdNotOpen(hold.status) }
        let captured = points ?? hold.amount
        guard captured <= hold.amount else { throw .captureExceedsHold(held: hold.amount, requested: captured) }
        // The points taken first (soonest expiring) are the ones spent; the rest go back.
        var left = captured
        var spent: [LotAllocation] = []
        for allocation in hold.allocations where left > 0 {
            let part = min(left, allocation.amount)
            spent.append(LotAllocation(lotID: allocation.lotID, amount: part))
            left -= part
        }
        accounts[.points, default: MemberAccount()].redeemed += captured
        post(.points, from: .member(.held), to: .system(.redeemed), captured, kind: .capture, reason: "hold_captured",
             reference: "hold:\(holdID)", holdID: holdID, occurredAt: asOf, allocations: spent)
        holds[holdID]!.captured = captured
        release(holdID, returning: hold.amount - captured, status: .captured, at: asOf, reason: "hold_captured")
        settle(asOf: asOf)
        return holds[holdID]!
    }

    /// Releases every point of an open hold.
    public mutating func void(_ holdID: String, asOf: Date) throws(LedgerFault) -> Hold {
        settle(asOf: asOf)
        guard let hold = holds[holdID] else { throw .unknownHold(holdID) }
        guard hold.status == .open else { throw .holdNotOpen(hold.status) }
        release(holdID, returning: hold.amount, status: .voided, at: asOf, reason: "hold_voided")
        settle(asOf: asOf)
        return holds[holdID]!
    }

    /// Closes a hold, giving back its last `amount` points to the lots they came from (the
    /// latest-expiring first).
    private mutating func release(_ holdID: String, returning amount: Int64, status: HoldStatus, at instant: Date,
                                  reason: String) {
        var hold = holds[holdID]!
        hold.status = status
        hold.resolvedAt = instant
        holds[holdID] = hold
        guard amount > 0 else { return }
        var left = amount
        var returned: [LotAllocation] = []
        for allocation in hold.allocations.reversed() where left > 0 {
            let part = min(left, allocation.amount)
            lots[allocation.lotID]!.remaining += part
            returned.append(LotAllocation(lotID: allocation.lotID, amount: part))
            left -= part
        }
        post(.points, from: .member(.held), to: .member(.available), amount, kind: .release, reason: reason,
             reference: "hold:\(holdID)", holdID: holdID, occurredAt: instant, allocations: returned)
    }

    // MARK: Operators

    /// Adds points (a new lot, available at once, expiring by the policy) or removes them (spent
    /// like a redemption, all or none).
    @discardableResult
    public mutating func adjust(_ points: Int64, reason: String, expiresAt: Date?, requestKey: String?,
                                asOf: Date) throws(LedgerFault) -> Transfer {
        precondition(points != 0)
        if points > 0 {
            earn(.points, points, source: reason, from: .adjusted, kind: .adjust, eventID: nil, orderID: nil,
                 earnedAt: asOf, availableAt: asOf, expiresAt: expiresAt, requestKey: requestKey, asOf: asOf)
            return transfers.last { $0.kind == .adjust }!
        }
        let allocations = try take(-points, asOf: asOf)
        return post(.points, from: .member(.available), to: .system(.adjusted), -points, kind: .adjust, reason: reason,
                    reference: "operator:\(actor)", occurredAt: asOf, requestKey: requestKey, allocations: allocations)
    }

    // MARK: Member to member

    /// Moves `points` from `sender` to `recipient`, all or none, as one pair of `transfer` transfers
    /// through `system:transfers`, each naming the other in its reference (`transfer:<id>`). The
    /// sender's points leave soonest-expiring first, as a redemption's would; the recipient gets
    /// them as new lots, available at once, that keep the expiry of the lots they came from, so a
    /// transfer never lengthens the life of a point. Returns the sender's and the recipient's side.
    public static func transfer(_ points: Int64, from sender: inout MemberLedger, to recipient: inout MemberLedger,
                                reason: String, requestKey: String?,
                                asOf: Date) throws(LedgerFault) -> (sent: Transfer, received: Transfer) {
        precondition(sender.programID == recipient.programID && sender.memberID != recipient.memberID,
                     "a transfer is between two members of one program")
        let sentID = sender.makeID(sender.postedAt)
        let receivedID = recipient.makeID(recipient.postedAt)
        let allocations = try sender.take(points, asOf: asOf)
        // Spending order puts lots of equal expiry side by side: each run becomes one new lot.
        var parts: [(amount: Int64, expiresAt: Date?)] = []
        for allocation in allocations {
            let expiresAt = sender.lots[allocation.lotID]!.expiresAt
            if let last = parts.last, last.expiresAt == expiresAt {
                parts[parts.count - 1].amount += allocation.amount
            } else {
                parts.append((allocation.amount, expiresAt))
            }
        }
        let sent = sender.post(.points, from: .member(.available), to: .system(.transfers), points, kind: .transfer,
                               reason: reason, reference: "transfer:\(receivedID)", occurredAt: asOf,
                               requestKey: requestKey, allocations: allocations, id: sentID)
        let received = recipient.receive(parts, reason: reason, reference: "transfer:\(sentID)", id: receivedID, asOf: asOf)
        return (sent, received)
    }

    /// Takes in points another member sent, one new available lot per part.
    private mutating func receive(_ parts: [(amount: Int64, expiresAt: Date?)], reason: String, reference: String,
                                  id: String, asOf: Date) -> Transfer {
        settle(asOf: asOf)
        var allocations: [LotAllocation] = []
        for part in parts {
            let lot = Lot(id: makeID(asOf), programID: programID, memberID: memberID, eventID: nil, orderID: nil,
                          source: "transfer", amount: part.amount, remaining: part.amount, state: .available,
                          earnedAt: asOf, availableAt: asOf, expiresAt: part.expiresAt)
            lots[lot.id] = lot
            createdLotIDs.append(lot.id)
            allocations.append(LotAllocation(lotID: lot.id, amount: part.amount))
        }
        let received = post(.points, from: .system(.transfers), to: .member(.available),
                            allocations.reduce(0) { $0 + $1.amount }, kind: .transfer, reason: reason,
                            reference: reference, occurredAt: asOf, allocations: allocations, id: id)
        // Points that arrive repay what the member owes, as any points that become available do.
        settle(asOf: asOf)
        return received
    }

    // MARK: Reversals

    /// Undoes `original` with its mirror image: points an earning or a positive adjustment gave are
    /// taken back from their lot (all of them, or the reversal is refused), growth and cash-back
    /// from the balance; points a redemption or a negative adjustment took go back to the lots they
    /// came from (and expire at once if those lots have expired since), cash-back to the balance.
    /// Other kinds are not reversible: among them member-to-member transfers, whose points the
    /// recipient may have spent already.
    public mutating func reverse(_ original: Transfer, reason: String, requestKey: String?,
                                 asOf: Date) throws(LedgerFault) -> Transfer {
        settle(asOf: asOf)
        let reference = "transfer:\(original.id)"
        switch (original.kind, original.debit, original.credit) {
        case (.earn, .system, .member), (.adjust, .system, .member):
            if original.unit != .points {
                let available = account(original.unit).available
                guard available >= original.amount else {
                    throw .alreadySpent(available: available, requested: original.amount)
                }
                return post(original.unit, from: .member(.available), to: original.debit, original.amount, kind: .reversal,
                            reason: reason, reference: reference, reverses: original.id, occurredAt: asOf,
                            requestKey: requestKey)
            }
            guard let lotID = original.lotID, let lot = lots[lotID], lot.remaining == original.amount else {
                let left = original.lotID.flatMap { lots[$0]?.remaining } ?? 0
                throw .alreadySpent(available: left, requested: original.amount)
            }
            lots[lotID]!.remaining = 0
            return post(.points, from: .member(lot.state == .pending ? .pending : .available), to: original.debit,
                        original.amount, kind: .reversal, reason: reason, reference: reference, lotID: lotID,
                        reverses: original.id, occurredAt: asOf, requestKey: requestKey,
                        allocations: [LotAllocation(lotID: lotID, amount: original.amount)])
        case (.redeem, .member(.available), .system), (.adjust, .member(.available), .system):
            for allocation in original.allocations {
                lots[allocation.lotID]!.remaining += allocation.amount
            }
            let transfer = post(original.unit, from: original.credit, to: .member(.available), original.amount, kind: .reversal,
                                reason: reason, reference: reference, reverses: original.id, occurredAt: asOf,
                                requestKey: requestKey, allocations: original.allocations)
            settle(asOf: asOf)
            return transfer
        default:
            throw .notReversible(original.kind)
        }
    }

    // MARK: Refunds

    /// What a refund took back of one unit.
    public struct Clawback: Sendable, Hashable {
        public var unit: LedgerUnit
        /// What the refund should take back.
        public var requested: Int64
        public var fromPending: Int64 = 0
        public var fromAvailable: Int64 = 0
        /// Owed beyond the member's points (`allow_negative`), taken from their next available points.
        public var intoDebt: Int64 = 0
        /// What the policy let the member keep.
        public var notRecovered: Int64 = 0

        public var taken: Int64 { fromPending + fromAvailable + intoDebt }
    }

    /// Takes back `amount` of `unit` for a refund of `orderID` by `policy`: points from the order's
    /// pending lots, then its available lots, then (unless `pending_only`) any available points, then
    /// (`allow_negative`) below zero. Growth is taken down to zero, never below.
    public mutating func clawBack(_ unit: LedgerUnit, _ amount: Int64, orderID: String, policy: PointsPolicy.RefundPolicy,
                                  eventID: String, occurredAt: Date, asOf: Date) -> Clawback {
        var result = Clawback(unit: unit, requested: amount)
        guard amount > 0 else { return result }
        let reference = "event:\(eventID)"
        guard unit == .points else {
            let taken = min(amount, max(0, account(unit).available))
            if taken > 0 {
                post(unit, from: .member(.available), to: .system(.clawedBack), taken, kind: .clawback, reason: "refund",
                     reference: reference, eventID: eventID, occurredAt: occurredAt)
            }
            result.fromAvailable = taken
            result.notRecovered = amount - taken
            return result
        }
        settle(asOf: asOf)
        var left = amount
        var pendingParts: [LotAllocation] = []
        var availableParts: [LotAllocation] = []
        let orderLots = lots.values.filter { $0.orderID == orderID && $0.remaining > 0 && !$0.isExpired(at: asOf) }
            .sorted(by: Lot.spendsBefore)
        for lot in orderLots where lot.state == .pending && left > 0 {
            let part = min(left, lot.remaining)
            lots[lot.id]!.remaining -= part
            pendingParts.append(LotAllocation(lotID: lot.id, amount: part))
            left -= part
        }
        if policy != .pendingOnly {
            let others = spendableLots(asOf: asOf).filter { $0.orderID != orderID }
            for lot in orderLots.filter({ $0.state == .available }) + others where left > 0 {
                let part = min(left, lots[lot.id]!.remaining)
                guard part > 0 else { continue }
                lots[lot.id]!.remaining -= part
                availableParts.append(LotAllocation(lotID: lot.id, amount: part))
                left -= part
            }
            if policy == .allowNegative, left > 0 {
                result.intoDebt = left
                left = 0
            }
        }
        result.fromPending = pendingParts.reduce(0) { $0 + $1.amount }
        result.fromAvailable = availableParts.reduce(0) { $0 + $1.amount }
        result.notRecovered = left
        if result.fromPending > 0 {
            post(.points, from: .member(.pending), to: .system(.clawedBack), result.fromPending, kind: .clawback,
                 reason: "refund", reference: reference, eventID: eventID, occurredAt: occurredAt, allocations: pendingParts)
        }
        if result.fromAvailable > 0 {
            post(.points, from: .member(.available), to: .system(.clawedBack), result.fromAvailable,
                 kind: .clawback, reason: "refund", reference: reference, eventID: eventID, occurredAt: occurredAt,
                 allocations: availableParts)
        }
        // What could not be taken now is owed, and taken as soon as points become available.
        accounts[.points, default: MemberAccount()].debt += result.intoDebt
        return result
    }

    // MARK: Posting

    /// Records a transfer and moves the member's balances with it.
    @discardableResult
    private mutating func post(_ unit: LedgerUnit, from debit: LedgerAccount, to credit: LedgerAccount, _ amount: Int64,
                               kind: TransferKind, reason: String, reference: String?, eventID: String? = nil,
                               lotID: String? = nil, holdID: String? = nil, reverses: String? = nil, occurredAt: Date,
                               requestKey: String? = nil, allocations: [LotAllocation] = [], id: String? = nil) -> Transfer {
        let transfer = Transfer(id: id ?? makeID(postedAt), programID: programID, memberID: memberID, unit: unit, debit: debit,
                                credit: credit, amount: amount, kind: kind, reason: reason, reference: reference,
                                eventID: eventID, lotID: lotID, holdID: holdID, reverses: reverses, actor: actor,
                                occurredAt: occurredAt,
                                postedAt: postedAt, requestKey: requestKey, allocations: allocations)
        if case .member(let bucket) = debit { accounts[unit, default: MemberAccount()][bucket] -= amount }
        if case .member(let bucket) = credit { accounts[unit, default: MemberAccount()][bucket] += amount }
        transfers.append(transfer)
        return transfer
    }
}

/// What one write adds to the ledger and changes in its caches, for a store to record atomically.
public struct LedgerChanges: Sendable {
    public var transfers: [Transfer]
    public var createdLots: [Lot]
    /// Loaded lots whose remainder or state changed.
    public var updatedLots: [Lot]
    public var createdHolds: [Hold]
    public var updatedHolds: [Hold]
    /// The member's balances after the write, per unit.
    public var accounts: [LedgerUnit: MemberAccount]
}
