import Foundation

/// What a ledger account counts. Points are the program's currency; growth value qualifies for
/// tiers and is never spent; cash-back is money (minor units of the program's currency) that paid
/// plans return at renewal and that the member spends at checkout. Only points are kept in lots:
/// growth and cash-back neither wait nor expire.
public enum LedgerUnit: String, Sendable, Hashable, CaseIterable, Codable {
    case points
    case growth
    case cashback
}

/// The three accounts a member holds per unit: points waiting out the return window, points that
/// can be spent, and points reserved by an open hold.
public enum MemberBucket: String, Sendable, Hashable, CaseIterable {
    case pending
    case available
    case held
}

/// The program's own accounts: the other side of every movement of a member's points.
public enum SystemAccount: String, Sendable, Hashable, CaseIterable {
    /// Points and growth the earning rules gave, and cash-back paid plans gave.
    case issued
    /// Operator adjustments, both ways.
    case adjusted
    /// Points (and cash-back) spent by redemptions and captured holds.
    case redeemed
    /// Points that reached their expiry unspent.
    case expired
    /// Points taken back when a purchase was refunded.
    case clawedBack = "clawed_back"
    /// The clearing account of member-to-member transfers.
    case transfers
}

/// One side of a transfer: an account of the member the transfer belongs to, or a system account.
public enum LedgerAccount: Sendable, Hashable, CustomStringConvertible {
    case member(MemberBucket)
    case system(SystemAccount)

    /// The stored form: `member:available`, `system:issued`.
    public var code: String {
        switch self {
        case .member(let bucket): "member:\(bucket.rawValue)"
        case .system(let account): "system:\(account.rawValue)"
        }
    }

    public var description: String { code }

    public init?(code: String) {
        if code.hasPrefix("member:"), let bucket = MemberBucket(rawValue: String(code.dropFirst(7))) {
            self = .member(bucket)
        } else if code.hasPrefix("system:"), let account = SystemAccount(rawValue: String(code.dropFirst(7))) {
            self = .system(account)
        } else {
            return nil
        }
    }
}

/// Why a transfer was made.
public enum TransferKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// An earning rule awarded points or growth for an event.
    case earn
    /// Pending points matured and became available.
    case activate
    /// Points reached their expiry.
    case expire
    /// A redemption spent points.
    case redeem
    /// Points were reserved by a hold.
    case hold
    /// A hold was captured: its points are spent.
    case capture
    /// A hold (or its uncaptured rest) was voided or lapsed: its points are available again.
    case release
    /// A refund took points back.
    case clawback
    /// An operator added or removed points.
    case adjust
    /// A transfer was undone by its mirror image.
    case reversal
    /// Points moved between two members: one transfer on each member's side, through
    /// `system:transfers`, each naming the other in its reference (`transfer:<id>`).
    case transfer
}

/// Part of a transfer's amount taken from (or returned to) one lot.
public struct LotAllocation: Sendable, Hashable {
    public var lotID: String
    public var amount: Int64

    public init(lotID: String, amount: Int64) {
        self.lotID = lotID
        self.amount = amount
    }
}

/// One immutable movement of `amount` units from `debit` to `credit`, both accounts of one member
/// or a member's and a system account. Nothing about a transfer changes once it is recorded.
public struct Transfer: Sendable, Hashable {
    public var id: String
    public var programID: String
    /// The member whose account is on one side (or both sides).
    public var memberID: String
    public var unit: LedgerUnit
    public var debit: LedgerAccount
    public var credit: LedgerAccount
    /// Always above zero.
    public var amount: Int64
    public var kind: TransferKind
    /// A reason code: the earning rule, the operator's reason, `refund`, `expiry`…
    public var reason: String
    /// What caused it: `event:<id>`, `order:<id>` (a redemption's order), `hold:<id>`,
    /// `operator:<key id>` (an adjustment), `transfer:<id>` (the transfer a reversal undoes, or the
    /// other member's side of a member-to-member transfer), or `subscription:<id>` (a paid plan's
    /// cash-back).
    public var reference: String?
    public var eventID: String?
    public var lotID: String?
    public var holdID: String?
    /// The transfer this one reverses.
    public var reverses: String?
    /// The API key (or `system` for jobs) that made it.
    public var actor: String
    /// When it took effect: the event's time, a lot's maturity or expiry instant.
    public var occurredAt: Date
    /// When it was recorded.
    public var postedAt: Date
    /// The caller's idempotency key, for writes that are not events.
    public var requestKey: String?
    /// The lots the amount came from or went back to.
    public var allocations: [LotAllocation]

    public init(id: String, programID: String, memberID: String, unit: LedgerUnit, debit: LedgerAccount,
                credit: LedgerAccount, amount: Int64, kind: TransferKind, reason: String, reference: String? = nil,
                eventID: String? = nil, lotID: String? = nil, holdID: String? = nil, reverses: String? = nil,
                actor: String, occurredAt: Date, postedAt: Date, requestKey: String? = nil,
                allocations: [LotAllocation] = []) {
        precondition(amount > 0, "a transfer moves a positive amount")
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.unit = unit
        self.debit = debit
        self.credit = credit
        self.amount = amount
        self.kind = kind
        self.reason = reason
        self.reference = reference
        self.eventID = eventID
        self.lotID = lotID
        self.holdID = holdID
        self.reverses = reverses
        self.actor = actor
        self.occurredAt = occurredAt
        self.postedAt = postedAt
        self.requestKey = requestKey
        self.allocations = allocations
    }
}

/// Whether a lot's points still wait out the return window.
public enum LotState: String, Sendable, Hashable {
    case pending
    case available
}

/// Points earned together: one award of one rule for one event (or one positive adjustment). Its
/// `remaining` falls as it is spent, expired or taken back; the transfers say why.
public struct Lot: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    public var eventID: String?
    public var orderID: String?
    /// The rule code, or `adjustment`.
    public var source: String
    public var amount: Int64
    public var remaining: Int64
    public var state: LotState
    /// When the points were earned (the event's `occurred_at`).
    public var earnedAt: Date
    /// When the points can be spent.
    public var availableAt: Date
    /// The first instant at which the points are gone; nil never expires.
    public var expiresAt: Date?

    public init(id: String, programID: String, memberID: String, eventID: String?, orderID: String?, source: String,
                amount: Int64, remaining: Int64, state: LotState, earnedAt: Date, availableAt: Date, expiresAt: Date?) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.eventID = eventID
        self.orderID = orderID
        self.source = source
        self.amount = amount
        self.remaining = remaining
        self.state = state
        self.earnedAt = earnedAt
        self.availableAt = availableAt
        self.expiresAt = expiresAt
    }

    /// Whether the lot's points can be spent at `instant`.
    public func isSpendable(at instant: Date) -> Bool {
        state == .available && remaining > 0 && !isExpired(at: instant)
    }

    public func isExpired(at instant: Date) -> Bool {
        expiresAt.map { $0 <= instant } ?? false
    }

    /// The order in which points are spent: soonest expiry first, then oldest, never-expiring last.
    public static func spendsBefore(_ lhs: Lot, _ rhs: Lot) -> Bool {
        switch (lhs.expiresAt, rhs.expiresAt) {
        case let (left?, right?) where left != right: return left < right
        case (.some, .none): return true
        case (.none, .some): return false
        default: return (lhs.earnedAt, lhs.id) < (rhs.earnedAt, rhs.id)
        }
    }
}

/// Where a hold stands.
public enum HoldStatus: String, Sendable, Hashable, Codable {
    case open
    case captured
    case voided
    case lapsed
}

/// Points reserved for a checkout: captured (all or part) or voided before `expiresAt`, or lapsed.
public struct Hold: Sendable, Hashable {
    public var id: String
    public var programID: String
    public var memberID: String
    public var amount: Int64
    /// How much was captured (0 unless captured).
    public var captured: Int64
    public var status: HoldStatus
    public var reference: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var resolvedAt: Date?
    public var requestKey: String?
    /// The lots the reserved points came from, in the order they were taken.
    public var allocations: [LotAllocation]

    public init(id: String, programID: String, memberID: String, amount: Int64, captured: Int64, status: HoldStatus,
                reference: String?, createdAt: Date, expiresAt: Date, resolvedAt: Date?, requestKey: String?,
                allocations: [LotAllocation]) {
        self.id = id
        self.programID = programID
        self.memberID = memberID
        self.amount = amount
        self.captured = captured
        self.status = status
        self.reference = reference
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.resolvedAt = resolvedAt
        self.requestKey = requestKey
        self.allocations = allocations
    }
}

/// A member's balances in one unit, as cached beside the transfers (each is derivable from them).
public struct MemberAccount: Sendable, Hashable {
    /// The pending account's balance: what pending lots still hold.
    public var pending: Int64 = 0
    /// The available account's balance: what available lots still hold.
    public var available: Int64 = 0
    /// Reserved by open holds.
    public var held: Int64 = 0
    /// What refunds under `allow_negative` could not take back: owed by the member and taken from
    /// points as they become available. The member's spendable balance is `available - debt`.
    public var debt: Int64 = 0
    /// Everything earning rules gave, ever.
    public var earned: Int64 = 0
    /// Everything spent, ever.
    public var redeemed: Int64 = 0
    /// Everything that expired, ever.
    public var expired: Int64 = 0

    public init(pending: Int64 = 0, available: Int64 = 0, held: Int64 = 0, debt: Int64 = 0, earned: Int64 = 0,
                redeemed: Int64 = 0, expired: Int64 = 0) {
        self.pending = pending
        self.available = available
        self.held = held
        self.debt = debt
        self.earned = earned
        self.redeemed = redeemed
        self.expired = expired
    }

    /// The balance of one of the member's accounts.
    public subscript(bucket: MemberBucket) -> Int64 {
        get {
            switch bucket {
            case .pending: pending
            case .available: available
            case .held: held
            }
        }
        set {
            switch bucket {
            case .pending: pending = newValue
            case .available: available = newValue
            case .held: held = newValue
            }
        }
    }
}
