import Foundation
import PatronCore

/// An event as the ledger keeps it: what was sent, and the answer given, which a retry with the
/// same client id receives again.
public struct StoredEvent: Sendable, Hashable {
    /// Patron's id for the event (UUIDv7).
    public var id: String
    public var programID: String
    public var memberID: String
    /// The client's id, unique in the program.
    public var clientID: String
    public var type: String
    public var occurredAt: Date
    public var recordedAt: Date
    public var amount: Int64
    public var orderID: String?
    /// Where the event happened (`channel` in the request), kept for back-tests to replay.
    public var channel: String?
    /// SHA-256 of the request body: the same client id with another body is refused.
    public var fingerprint: String
    /// `posted`; `review` when a limit held it for an operator, who may release it (`posted`) or
    /// reject it (`rejected`).
    public var status: String
    /// The answer, as JSON.
    public var receipt: Data
    /// The request body, as canonical JSON, kept for events held for review: a release plans the
    /// event again from it. Nil for events posted straight away.
    public var body: Data?

    public init(id: String, programID: String, memberID: String, clientID: String, type: String, occurredAt: Date,
                recordedAt: Date, amount: Int64, orderID: String?, channel: String? = nil, fingerprint: String, status: String,
                receipt: Data, body: Data? = nil) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.clientID = clientID
        self.type = type
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
        self.amount = amount
        self.orderID = orderID
        self.channel = channel
        self.fingerprint = fingerprint
        self.status = status
        self.receipt = receipt
        self.body = body
    }
}

/// What the ledger knows of a purchase order, for a refund of it.
public struct OrderFacts: Sendable, Hashable {
    /// The purchase event (Patron id) and its member.
    public var eventID: String
    public var memberID: String
    /// The purchase's status (`posted`, or `review` or `rejected` when a limit held it) and when it
    /// occurred.
    public var status: String
    public var occurredAt: Date
    /// The purchase amount, and what refunds have returned of it so far.
    public var amount: Int64
    public var refunded: Int64
    /// What the purchase earned and still stands, per member and unit: one member, or two when a
    /// B2B purchase split its awards between the organisation and the executor. An earning an
    /// operator reversed is not counted: there is nothing of it left for a refund to take back.
    public var earnedBy: [String: [LedgerUnit: Int64]]

    public init(eventID: String, memberID: String, status: String, occurredAt: Date, amount: Int64, refunded: Int64,
                earnedBy: [String: [LedgerUnit: Int64]]) {
        self.eventID = eventID
        self.memberID = memberID
        self.status = status
        self.occurredAt = occurredAt
        self.amount = amount
        self.refunded = refunded
        self.earnedBy = earnedBy
    }
}

/// An earning rule whose caps count what it gave the member, and the windows they count: the
/// day of the read's `capDay`, the member's whole history, or both. A window no cap counts is not
/// read, and its usage is 0: a lifetime's count reads every earning of the rule.
public struct CappedRule: Sendable, Hashable {
    public var code: String
    public var day: Bool
    public var lifetime: Bool

    public init(_ code: String, day: Bool, lifetime: Bool) {
        self.code = code
        self.day = day
        self.lifetime = lifetime
    }
}

/// What a ledger write needs read, under the member's lock, before it runs.
public struct LedgerRead: Sendable, Hashable {
    public var programID: String
    public var memberID: String
    /// The member's points lots with points left, their open holds, and every lot those holds took
    /// from: what spending, settling and refunds need.
    public var lots: Bool
    /// A hold to resolve, whatever its status, with the lots it took from.
    public var holdID: String?
    /// A transfer of the member to reverse, with every lot it names.
    public var transferID: String?
    /// The event with this client id, if the program has one.
    public var eventClientID: String?
    /// The purchase with this order id, if the program has one.
    public var orderID: String?
    /// The earning rules whose caps need what they gave the member, and the day the caps count.
    public var capRules: [CappedRule]
    public var capDay: DateInterval?
    /// The windows of `points.limits`: points earned in the day, events in the hour.
    public var limitDay: DateInterval?
    public var limitHour: DateInterval?
    /// A second member the write changes too (the recipient of a transfer): locked with the first,
    /// and read as with `lots`, into `LedgerSnapshot.counterpart`.
    public var counterpartID: String?

    public init(programID: String, memberID: String, lots: Bool = false, holdID: String? = nil,
                transferID: String? = nil, eventClientID: String? = nil, orderID: String? = nil, capRules: [CappedRule] = [], capDay: DateInterval? = nil,
                limitDay: DateInterval? = nil, limitHour: DateInterval? = nil, counterpartID: String? = nil) {
        self.programID = programID
        self.memberID = memberID
        self.lots = lots
        self.holdID = holdID
        self.transferID = transferID
        self.eventClientID = eventClientID
        self.orderID = orderID
        self.capRules = capRules
        self.capDay = capDay
        self.limitDay = limitDay
        self.limitHour = limitHour
        self.counterpartID = counterpartID
    }

    /// Every member the write locks: the member, and the counterpart if any.
    public var memberIDs: [String] {
        [memberID] + (counterpartID.map { [$0] } ?? [])
    }
}

/// What a store read of the second member of a write (`LedgerRead.counterpartID`).
public struct CounterpartSnapshot: Sendable {
    public var accounts: [LedgerUnit: MemberAccount]
    public var lots: [Lot]
    public var holds: [Hold]

    /// The parts of the counterpart's own snapshot that a write changes.
    public init(_ snapshot: LedgerSnapshot) {
        self.accounts = snapshot.accounts
        self.lots = snapshot.lots
        self.holds = snapshot.holds
    }
}

/// What a store read for a `LedgerRead`.
public struct LedgerSnapshot: Sendable {
    public var accounts: [LedgerUnit: MemberAccount]
    /// Purchases the member made before (events of type `purchase` posted).
    public var purchases: Int64
    public var lots: [Lot]
    public var holds: [Hold]
    /// The transfer named by `transferID`, if it is the member's.
    public var transfer: Transfer?
    /// The transfer that already reverses `transfer`, if any.
    public var reversedBy: String?
    public var event: StoredEvent?
    public var order: OrderFacts?
    /// Per capped rule: what it gave the member on `capDay` and ever.
    public var capUsage: [String: CapUsage]
    /// Points earning rules gave the member in `limitDay`.
    public var pointsEarnedInDay: Int64
    /// Events of the member that occurred in `limitHour`.
    public var eventsInHour: Int
    /// The second member's balances, lots and holds, when `counterpartID` named one.
    public var counterpart: CounterpartSnapshot?

    public init(accounts: [LedgerUnit: MemberAccount] = [:], purchases: Int64 = 0, lots: [Lot] = [], holds: [Hold] = [],
                event: StoredEvent? = nil, order: OrderFacts? = nil, capUsage: [String: CapUsage] = [:],
                pointsEarnedInDay: Int64 = 0, eventsInHour: Int = 0) {
        self.accounts = accounts
        self.purchases = purchases
        self.lots = lots
        self.holds = holds
        self.event = event
        self.order = order
        self.capUsage = capUsage
        self.pointsEarnedInDay = pointsEarnedInDay
        self.eventsInHour = eventsInHour
    }
}

extension MemberLedger {
    /// The member's ledger as a store read it for `read`.
    public init(_ snapshot: LedgerSnapshot, of read: LedgerRead, actor: String, postedAt: Date) {
        self.init(programID: read.programID, memberID: read.memberID, accounts: snapshot.accounts, lots: snapshot.lots,
                  holds: snapshot.holds, actor: actor, postedAt: postedAt)
    }

    /// The counterpart's ledger as a store read it for `read`; nil when the read named none.
    public init?(counterpartOf snapshot: LedgerSnapshot, of read: LedgerRead, actor: String, postedAt: Date) {
        self.init(counterpartOf: snapshot, id: read.counterpartID, programID: read.programID, actor: actor, postedAt: postedAt)
    }

    /// The ledger of the counterpart `id` (the read's `counterpartID`) as a store read it; nil when
    /// there is none.
    public init?(counterpartOf snapshot: LedgerSnapshot, id: String?, programID: String, actor: String, postedAt: Date) {
        guard let id, let counterpart = snapshot.counterpart else { return nil }
        self.init(programID: programID, memberID: id, accounts: counterpart.accounts, lots: counterpart.lots,
                  holds: counterpart.holds, actor: actor, postedAt: postedAt)
    }
}

/// What a planned write records: the ledger changes, the event (for events), and the change to the
/// member's purchase count.
public struct LedgerPlan: Sendable {
    public var changes: LedgerChanges?
    /// A new event to record.
    public var event: StoredEvent?
    public var purchasesAdded: Int64
    /// The counterpart's changes (`LedgerRead.counterpartID`), recorded in the same transaction.
    public var counterpartChanges: LedgerChanges?
    /// An event held for review, released or rejected: its status and receipt replace the stored
    /// ones, provided it is still in review.
    public var resolvedEvent: StoredEvent?
    /// The use case's answer, handed back to it.
    public var outcome: any Sendable

    public init(changes: LedgerChanges?, event: StoredEvent? = nil, purchasesAdded: Int64 = 0,
                counterpartChanges: LedgerChanges? = nil, resolvedEvent: StoredEvent? = nil, outcome: any Sendable) {
        self.changes = changes
        self.event = event
        self.purchasesAdded = purchasesAdded
        self.counterpartChanges = counterpartChanges
        self.resolvedEvent = resolvedEvent
        self.outcome = outcome
    }

    /// Whether the plan records anything at all.
    public var writes: Bool {
        changes != nil || event != nil || counterpartChanges != nil || resolvedEvent != nil
    }
}

/// One write to the ledger: what to read, and the pure function that turns what was read into
/// what to record. A store runs `plan` inside the transaction, under the member's lock.
public struct LedgerWork: Sendable {
    public var read: LedgerRead
    public var plan: @Sendable (LedgerSnapshot) throws -> LedgerPlan

    public init(read: LedgerRead, plan: @escaping @Sendable (LedgerSnapshot) throws -> LedgerPlan) {
        self.read = read
        self.plan = plan
    }
}

/// Everything the ledger holds of one member, for audits.
public struct MemberLedgerHistory: Sendable {
    public var accounts: [LedgerUnit: MemberAccount]
    public var lots: [Lot]
    public var holds: [Hold]
    /// Oldest first.
    public var transfers: [Transfer]

    public init(accounts: [LedgerUnit: MemberAccount], lots: [Lot], holds: [Hold], transfers: [Transfer]) {
        self.accounts = accounts
        self.lots = lots
        self.holds = holds
        self.transfers = transfers
    }
}

/// Members with something due at an instant: a pending lot to activate, a lot to expire, a hold to lapse.
public enum DueKind: String, Sendable, CaseIterable {
    case activation
    case expiry
    case lapse
}

/// The ledger's storage. Writes are batched: `perform` runs every work of a batch in one database
/// transaction and returns once the batch is durable. A work whose plan throws changes nothing and
/// does not fail the others. A work whose writes fail fails the whole batch, which `perform` then
/// throws, having written nothing, and `LedgerWriter` runs each of its works again in a transaction
/// of its own (neither store uses savepoints: they cost SQLite a statement journal and PostgreSQL
/// round trips and subtransactions). In a batch of one work, the work's failure is its result, not
/// an error thrown.
public protocol LedgerStore: Sendable {
    /// How many batches may be in flight at once: 1 where the database has a single writer.
    var maxConcurrentBatches: Int { get }
    /// The most writes one batch may hold.
    var maxBatchSize: Int { get }
    func perform(_ works: [LedgerWork]) async throws -> [Result<LedgerPlan, any Error>]
    /// `perform` on the calling thread, blocking it, for a store with one writer connection that a
    /// thread can hold (SQLite's); nil for a store whose writes suspend (PostgreSQL's round trips).
    /// With it, `LedgerWriter` runs batch after batch on a thread of its own, with no hop between
    /// threads from one batch to the next.
    var blockingPerform: (@Sendable ([LedgerWork]) throws -> [Result<LedgerPlan, any Error>])? { get }
    /// The same reads as a write, without a lock or transaction: for balances and previews.
    func ledgerSnapshot(_ read: LedgerRead) async throws -> LedgerSnapshot
    /// The member's transfers, newest first, below the transfer id `before` when given.
    func transfers(programID: String, memberID: String, before: String?, limit: Int) async throws -> [Transfer]
    func hold(programID: String, memberID: String, id: String) async throws -> Hold?
    /// The transfer or hold a write with this request key recorded, if any.
    func transfer(programID: String, requestKey: String) async throws -> Transfer?
    /// A transfer of the program by its id, whichever member it belongs to.
    func transfer(programID: String, id: String) async throws -> Transfer?
    /// The event with this client id, if the program has one.
    func event(programID: String, clientID: String) async throws -> StoredEvent?
    /// The program's events in `status` (`review` or `rejected`), oldest first, after the event
    /// (Patron id) `after` when given.
    func events(programID: String, status: String, after: String?, limit: Int) async throws -> [StoredEvent]
    func hold(programID: String, requestKey: String) async throws -> Hold?
    /// Members of the program with something of `kind` due at `asOf`, in id order after `after`.
    func membersDue(programID: String, kind: DueKind, asOf: Date, after: String?, limit: Int) async throws -> [String]
    /// Members of the program that have a ledger, in id order after `after`.
    func ledgerMembers(programID: String, after: String?, limit: Int) async throws -> [String]
    /// Every balance, lot, hold and transfer of the member, read in one consistent snapshot. The
    /// lots and holds are those still open and those the member's transfers name: every one of the
    /// member's that a transfer made or touched. Read through the member's transfers, they cost what
    /// the member's history costs, not a pass over every lot of the program.
    func ledgerHistory(programID: String, memberID: String) async throws -> MemberLedgerHistory
    /// How many lots and holds the program has: `patron ledger verify` checks that it met each one
    /// in some member's history.
    func ledgerRowCounts(programID: String) async throws -> LedgerRowCounts
    /// Where the program's records break what the store keeps of them without checking it at each
    /// write: what it derives from the events and transfers for its own queries agrees with them,
    /// and what it stores as given is well formed. In words; empty when all of it holds, or when
    /// the store's writes check everything. `patron ledger verify` reports each as a breach.
    func storedRecordBreaches(programID: String) async throws -> [String]
    /// Records the store derives for a program's members that no longer belong to any member, and
    /// so to no program, which `storedRecordBreaches` cannot see. In words; empty when there are none.
    func strayRecordBreaches() async throws -> [String]
}

/// How many lots and holds a program has.
public struct LedgerRowCounts: Sendable, Equatable {
    public var lots: Int
    public var holds: Int

    public init(lots: Int, holds: Int) {
        self.lots = lots
        self.holds = holds
    }
}

extension LedgerStore {
    public var maxBatchSize: Int { 256 }
    public var blockingPerform: (@Sendable ([LedgerWork]) throws -> [Result<LedgerPlan, any Error>])? { nil }
}
