import Foundation

/// Checks one member's whole ledger history against every invariant the ledger keeps. Used by
/// `patron ledger verify` and by the tests; an empty answer means the member's ledger is sound.
public enum LedgerAudit {
    /// The breaches found, each a sentence naming what does not add up.
    public static func breaches(memberID: String, accounts: [LedgerUnit: MemberAccount], lots: [Lot], holds: [Hold],
                                transfers: [Transfer]) -> [String] {
        var found: [String] = []
        func breach(_ text: String) { found.append("member \(memberID): \(text)") }
        let lotsByID = Dictionary(lots.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let holdsByID = Dictionary(holds.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        // Every transfer is well-formed and points at things of this member.
        for transfer in transfers {
            if transfer.amount <= 0 { breach("transfer \(transfer.id) moves \(transfer.amount)") }
            if transfer.debit == transfer.credit { breach("transfer \(transfer.id) moves within one account") }
            if transfer.memberID != memberID { breach("transfer \(transfer.id) belongs to member \(transfer.memberID)") }
            if let lotID = transfer.lotID, lotsByID[lotID] == nil { breach("transfer \(transfer.id) names unknown lot \(lotID)") }
            if let holdID = transfer.holdID, holdsByID[holdID] == nil {
                breach("transfer \(transfer.id) names unknown hold \(holdID)")
            }
            let allocated = transfer.allocations.reduce(Int64(0)) { $0 + $1.amount }
            if !transfer.allocations.isEmpty, allocated != transfer.amount {
                breach("transfer \(transfer.id) allocates \(allocated) of \(transfer.amount)")
            }
            for allocation in transfer.allocations where lotsByID[allocation.lotID] == nil || allocation.amount <= 0 {
                breach("transfer \(transfer.id) allocates \(allocation.amount) to unknown lot \(allocation.lotID)")
            }
            if transfer.kind == .transfer {
                let sides: Set<LedgerAccount> = [transfer.debit, transfer.credit]
                if transfer.unit != .points || sides != [.member(.available), .system(.transfers)] {
                    breach("transfer \(transfer.id) between members moves \(transfer.unit.rawValue) from \(transfer.debit) to \(transfer.credit)")
                }
                if transfer.reference?.hasPrefix(transferPrefix) != true {
                    breach("transfer \(transfer.id) between members names no other side")
                }
            }
        }

        for unit in LedgerUnit.allCases {
            let account = accounts[unit] ?? MemberAccount()
            let ofUnit = transfers.filter { $0.unit == unit }
            // Cached balances equal what the transfers add up to.
            for bucket in MemberBucket.allCases {
                let derived = ofUnit.reduce(Int64(0)) { sum, transfer in
                    sum + (transfer.credit == .member(bucket) ? transfer.amount : 0)
                        - (transfer.debit == .member(bucket) ? transfer.amount : 0)
                }
                if derived != account[bucket] {
                    breach("\(unit.rawValue) \(bucket.rawValue) is \(account[bucket]) but its transfers add up to \(derived)")
                }
                if account[bucket] < 0 { breach("\(unit.rawValue) \(bucket.rawValue) is below zero (\(account[bucket]))") }
            }
            if account.debt < 0 { breach("\(unit.rawValue) debt is below zero") }
            let totals: [(String, Int64, Set<TransferKind>)] = [
                ("earned", account.earned, [.earn]), ("redeemed", account.redeemed, [.redeem, .capture]),
                ("expired", account.expired, [.expire]),
            ]
            for (name, cached, kinds) in totals {
                let derived = ofUnit.filter { kinds.contains($0.kind) }.reduce(Int64(0)) { $0 + $1.amount }
                if derived != cached { breach("\(unit.rawValue) \(name) is \(cached) but its transfers add up to \(derived)") }
            }
        }

        // Lots: the accounts hold exactly what the lots hold, and each lot's remainder is its amount
        // less what transfers took from it, plus what they gave back.
        let points = accounts[.points] ?? MemberAccount()
        for state in [LotState.pending, .available] {
            let held = lots.filter { $0.state == state }.reduce(Int64(0)) { $0 + $1.remaining }
            let account = state == .pending ? points.pending : points.available
            if held != account { breach("points \(state.rawValue) is \(account) but its lots hold \(held)") }
        }
        var change: [String: Int64] = [:]
        var created: [String: Int64] = [:]
        for transfer in transfers where transfer.unit == .points {
            if let lotID = transfer.lotID, transfer.kind == .earn || transfer.kind == .adjust {
                created[lotID, default: 0] += transfer.amount
            }
            // Points another member sent arrive as new lots, one per allocation.
            if transfer.kind == .transfer, transfer.credit == .member(.available) {
                for allocation in transfer.allocations { created[allocation.lotID, default: 0] += allocation.amount }
                continue
            }
            if let lotID = transfer.lotID, transfer.kind == .expire { change[lotID, default: 0] -= transfer.amount }
            let takes = transfer.debit == .member(.available) || transfer.debit == .member(.pending)
            let returns = transfer.kind == .release || (transfer.kind == .reversal && transfer.credit == .member(.available))
            for allocation in transfer.allocations where takes || returns {
                change[allocation.lotID, default: 0] += returns ? allocation.amount : -allocation.amount
            }
        }
        for lot in lots {
            if lot.remaining < 0 || lot.remaining > lot.amount {
                breach("lot \(lot.id) has \(lot.remaining) left of \(lot.amount)")
            }
            if created[lot.id] != lot.amount {
                breach("lot \(lot.id) of \(lot.amount) was created by transfers of \(created[lot.id] ?? 0)")
            }
            let derived = lot.amount + (change[lot.id] ?? 0)
            if derived != lot.remaining { breach("lot \(lot.id) has \(lot.remaining) left but its transfers leave \(derived)") }
        }

        // Holds: open ones are what the held account holds; closed ones were settled in full.
        let openHeld = holds.filter { $0.status == .open }.reduce(Int64(0)) { $0 + $1.amount }
        if openHeld != points.held { breach("points held is \(points.held) but open holds reserve \(openHeld)") }
        let byHold = Dictionary(grouping: transfers.filter { $0.holdID != nil }, by: { $0.holdID! })
        for hold in holds {
            let ofHold = byHold[hold.id] ?? []
            let reserved = ofHold.filter { $0.kind == .hold }.reduce(Int64(0)) { $0 + $1.amount }
            let captured = ofHold.filter { $0.kind == .capture }.reduce(Int64(0)) { $0 + $1.amount }
            let released = ofHold.filter { $0.kind == .release }.reduce(Int64(0)) { $0 + $1.amount }
            if reserved != hold.amount { breach("hold \(hold.id) of \(hold.amount) reserved \(reserved)") }
            if captured != hold.captured { breach("hold \(hold.id) captured \(hold.captured) but its transfers \(captured)") }
            let settled = hold.status == .open ? 0 : hold.amount
            if captured + released != settled {
                breach("hold \(hold.id) (\(hold.status.rawValue)) settled \(captured + released) of \(hold.amount)")
            }
        }
        return found
    }

    private static let transferPrefix = "transfer:"

    /// Checks the member-to-member transfers of a whole program (every transfer of kind `transfer`,
    /// of all its members) against each other: each side names the other, which belongs to another
    /// member and moves the same points the other way, so `system:transfers` nets to zero.
    public static func transferPairBreaches(_ transfers: [Transfer]) -> [String] {
        let byID = Dictionary(transfers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var found: [String] = []
        for transfer in transfers.sorted(by: { $0.id < $1.id }) where transfer.kind == .transfer {
            let otherID = transfer.reference.flatMap { $0.hasPrefix(transferPrefix) ? String($0.dropFirst(transferPrefix.count)) : nil }
            guard let otherID, let other = byID[otherID] else {
                found.append("member \(transfer.memberID): transfer \(transfer.id) names a missing other side")
                continue
            }
            if other.reference != "\(transferPrefix)\(transfer.id)" || other.memberID == transfer.memberID
                || other.amount != transfer.amount || other.unit != transfer.unit || other.debit != transfer.credit
                || other.credit != transfer.debit {
                found.append("member \(transfer.memberID): transfer \(transfer.id) and its other side \(other.id) do not mirror each other")
            }
        }
        return found
    }
}
