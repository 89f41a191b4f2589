import Foundation
import PatronCore
import Testing

/// Members' ledgers under thousands of random operations: earning (pending, back-dated, expiring),
/// refunds under each policy, redemptions, holds, adjustments, transfers between members and the
/// passing of time. After every step the audit must find nothing, and a refused operation must
/// change nothing. Between steps each ledger is written to an in-memory store and loaded back as a
/// database store loads it (only lots with points left, and the lots of open holds), so the loading
/// contract is exercised too.
@Suite("Ledger properties")
struct LedgerPropertyTests {
    static let seeds: [UInt64] = [0x1ED_0001, 0x1ED_0002, 0x1ED_0003, 0x1ED_0004]
    static let stepsPerSeed = 2_500

    static let members = ["m1", "m2", "m3"]

    /// The rows a store keeps for one member.
    struct Rows {
        let memberID: String
        var accounts: [LedgerUnit: MemberAccount] = [:]
        var lots: [String: Lot] = [:]
        var holds: [String: Hold] = [:]
        var transfers: [Transfer] = []

        mutating func record(_ changes: LedgerChanges) {
            transfers += changes.transfers
            for lot in changes.createdLots + changes.updatedLots { lots[lot.id] = lot }
            for hold in changes.createdHolds + changes.updatedHolds { holds[hold.id] = hold }
            accounts = changes.accounts
        }

        func load(at instant: Date, naming transfer: Transfer? = nil) -> MemberLedger {
            let open = holds.values.filter { $0.status == .open }
            let named = (transfer?.allocations.map(\.lotID) ?? []) + [transfer?.lotID].compactMap { $0 }
            let heldLots = Set(open.flatMap { $0.allocations.map(\.lotID) } + named)
            let loaded = lots.values.filter { $0.remaining > 0 || heldLots.contains($0.id) }
            return MemberLedger(programID: "p", memberID: memberID, accounts: accounts, lots: loaded, holds: open,
                                actor: "test", postedAt: instant)
        }
    }

    @Test("random operations keep every invariant of the ledger", arguments: seeds)
    func invariantsHold(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var members = Dictionary(uniqueKeysWithValues: Self.members.map { ($0, Rows(memberID: $0)) })
        var clock = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        var orders: [(member: String, id: String, amount: Int64, refunded: Int64, earned: Int64)] = []
        let policies: [PointsPolicy.RefundPolicy] = [.withinBalance, .allowNegative, .pendingOnly]
        var policy = PointsPolicy(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        var failures = 0
        var refused = 0

        for step in 0..<Self.stepsPerSeed {
            clock += TimeInterval(Int.random(in: 0...(3 * 86_400), using: &random))
            let member = Self.members.randomElement(using: &random)!
            let recipient = Self.members.filter { $0 != member }.randomElement(using: &random)!
            var rows = members[member]!
            var ledger = rows.load(at: clock)
            var before = ledger
            // The other member of a transfer, when the step makes one.
            var other: MemberLedger?
            let otherBefore = members[recipient]!.load(at: clock)
            let choice = Int.random(in: 0..<104, using: &random)
            do {
                switch choice {
                case 0..<30:
                    // A purchase, possibly back-dated, under a random return window and expiry.
                    policy.pendingDays = [0, 0, 7, 14].randomElement(using: &random)!
                    policy.expiry = [.never, .daysAfterEarn(30), .endOfMonthAfterEarn(months: 1),
                                     .endOfYearAfterEarn(years: 0)].randomElement(using: &random)!
                    let earnedAt = clock - TimeInterval(Int.random(in: 0...(60 * 86_400), using: &random))
                    let amount = Int64.random(in: 1...500, using: &random)
                    let order = "o\(step)"
                    ledger.earn(.points, amount, source: "base", eventID: "e\(step)", orderID: order, earnedAt: earnedAt,
                                availableAt: policy.availableAt(earnedAt: earnedAt), expiresAt: policy.expiresAt(earnedAt: earnedAt),
                                asOf: clock)
                    ledger.earn(.growth, amount, source: "growth", eventID: "e\(step)", orderID: order, earnedAt: earnedAt,
                                availableAt: earnedAt, expiresAt: nil, asOf: clock)
                    orders.append((member, order, amount * 100, 0, amount))
                case 30..<42:
                    // A refund of part or all of what is left of an order.
                    guard let index = orders.indices.filter({ orders[$0].member == member }).randomElement(using: &random),
                          orders[index].refunded < orders[index].amount else { continue }
                    let order = orders[index]
                    let refund = Int64.random(in: 1...(order.amount - order.refunded), using: &random)
                    let share = { (refunded: Int64) in order.earned * refunded / order.amount }
                    let take = share(order.refunded + refund) - share(order.refunded)
                    let refundPolicy = policies.randomElement(using: &random)!
                    for unit in LedgerUnit.allCases {
                        let result = ledger.clawBack(unit, take, orderID: order.id, policy: refundPolicy, eventID: "r\(step)",
                                                     occurredAt: clock, asOf: clock)
                        #expect(result.taken + result.notRecovered == take, "step \(step): a clawback lost track of points")
                    }
                    orders[index].refunded += refund
                case 42..<58:
                    let spendable = ledger.spendable(asOf: clock)
                    let points = Int64.random(in: 1...max(1, spendable + 50), using: &random)
                    let transfer = try ledger.redeem(points, reason: "gift", reference: nil, requestKey: nil, asOf: clock)
                    #expect(points <= spendable)
                    checkSpendOrder(transfer.allocations, in: ledger, before: before, asOf: clock, step: step)
                case 58..<70:
                    let points = Int64.random(in: 1...max(1, ledger.spendable(asOf: clock) + 20), using: &random)
                    let ttl = TimeInterval(Int.random(in: 60...(5 * 86_400), using: &random))
                    _ = try ledger.placeHold(points, expiresAt: clock + ttl, reference: nil, requestKey: nil, asOf: clock)
                case 70..<80:
                    guard let hold = ledger.holds.values.randomElement(using: &random) else { continue }
                    let part = Bool.random(using: &random) ? nil : Int64.random(in: 1...(hold.amount + 5), using: &random)
                    _ = try ledger.capture(hold.id, points: part, asOf: clock)
                case 80..<86:
                    guard let hold = ledger.holds.values.randomElement(using: &random) else { continue }
                    _ = try ledger.void(hold.id, asOf: clock)
                case 97..<101:
                    // A transfer to another member: all or none, soonest-expiring first, never
                    // lengthening a point's life.
                    var recipientLedger = otherBefore
                    defer { other = recipientLedger }
                    let spendable = ledger.spendable(asOf: clock)
                    let points = Int64.random(in: 1...max(1, spendable + 50), using: &random)
                    let (sent, received) = try MemberLedger.transfer(points, from: &ledger, to: &recipientLedger,
                                                                     reason: "gift", requestKey: nil, asOf: clock)
                    #expect(points <= spendable && sent.amount == points && received.amount == points)
                    checkSpendOrder(sent.allocations, in: ledger, before: before, asOf: clock, step: step)
                    let expiries = { (allocations: [LotAllocation], lots: [String: Lot]) in
                        Dictionary(allocations.map { (lots[$0.lotID]!.expiresAt, $0.amount) }, uniquingKeysWith: +)
                    }
                    #expect(expiries(sent.allocations, ledger.lots) == expiries(received.allocations, recipientLedger.lots),
                            "seed \(seed) step \(step): received points expire otherwise than the points sent")
                case 94..<97:
                    // An operator reverses a random transfer: allowed for earnings, adjustments and
                    // redemptions not yet reversed, refused (changing nothing) otherwise.
                    guard let original = rows.transfers.randomElement(using: &random) else { continue }
                    let isBetweenMembers = original.kind == .transfer
                    guard !rows.transfers.contains(where: { $0.reverses == original.id }) else { continue }
                    ledger = rows.load(at: clock, naming: original)
                    before = ledger
                    _ = try ledger.reverse(original, reason: "mistake", requestKey: nil, asOf: clock)
                    #expect(!isBetweenMembers, "seed \(seed) step \(step): a transfer between members was reversed")
                case 86..<94:
                    let points = Int64.random(in: -300...300, using: &random)
                    guard points != 0 else { continue }
                    try ledger.adjust(points, reason: "goodwill", expiresAt: policy.expiresAt(earnedAt: clock), requestKey: nil,
                                      asOf: clock)
                default:
                    ledger.settle(asOf: clock)
                }
            } catch {
                // Then a refused operation changed nothing beyond settling the member up to now
                // (which the store discards with the rest of the refused write).
                var expected = before
                expected.settle(asOf: clock)
                #expect(ledger.transfers.count == expected.transfers.count, "seed \(seed) step \(step)")
                #expect(ledger.accounts == expected.accounts, "seed \(seed) step \(step)")
                #expect(ledger.lots == expected.lots, "seed \(seed) step \(step)")
                #expect(ledger.holds == expected.holds, "seed \(seed) step \(step)")
                // and nothing at all of the other member: their side is written only with the sender's.
                #expect(other.map { $0.transfers.isEmpty && $0.lots == otherBefore.lots } ?? true,
                        "seed \(seed) step \(step): a refused transfer changed the recipient")
                refused += 1
                continue
            }
            rows.record(ledger.changes)
            members[member] = rows
            if let other { members[recipient]!.record(other.changes) }
            // The audit reads the whole history, so it runs every few steps and at the end.
            guard step % 25 == 0 || step == Self.stepsPerSeed - 1 else { continue }
            var breaches = LedgerAudit.transferPairBreaches(members.values.flatMap(\.transfers))
            for rows in members.values {
                breaches += LedgerAudit.breaches(memberID: rows.memberID, accounts: rows.accounts,
                                                 lots: Array(rows.lots.values), holds: Array(rows.holds.values),
                                                 transfers: rows.transfers)
                // Once settled, no points of a lot past its expiry or inside its return window count as available.
                var settled = rows.load(at: clock)
                settled.settle(asOf: clock)
                for lot in settled.lots.values where lot.state == .available && lot.remaining > 0 {
                    #expect(lot.availableAt <= clock && !lot.isExpired(at: clock), "seed \(seed) step \(step): lot \(lot.id)")
                }
            }
            if !breaches.isEmpty {
                failures += 1
                if failures <= 3 { Issue.record("seed \(seed) step \(step) (choice \(choice)): \(breaches.prefix(5))") }
                return
            }
        }
        let transfers = members.values.flatMap(\.transfers)
        #expect(transfers.count > Self.stepsPerSeed / 2, "the run did too little to mean anything")
        #expect(refused > Self.stepsPerSeed / 50, "the run never tried what must be refused")
        #expect(transfers.contains { $0.kind == .reversal }, "the run never reversed a transfer")
        #expect(transfers.filter { $0.kind == .transfer }.count > Self.stepsPerSeed / 100,
                "the run moved too few points between members")
        // Every point a member sent, another received: the clearing account nets to zero.
        let cleared = transfers.filter { $0.kind == .transfer }.reduce(Int64(0)) { sum, transfer in
            sum + (transfer.credit == .system(.transfers) ? transfer.amount : -transfer.amount)
        }
        #expect(cleared == 0)
    }

    /// Spending takes the soonest-expiring lots first: every lot it took from, but the last, is now
    /// empty, and no lot that spends before the last one still has points.
    private func checkSpendOrder(_ allocations: [LotAllocation], in ledger: MemberLedger, before: MemberLedger, asOf: Date,
                                 step: Int) {
        guard let last = allocations.last, let lastLot = ledger.lots[last.lotID] else { return }
        for allocation in allocations.dropLast() {
            #expect(ledger.lots[allocation.lotID]?.remaining == 0, "step \(step): a lot was left half-spent before another")
        }
        for lot in ledger.lots.values where lot.isSpendable(at: asOf) && Lot.spendsBefore(lot, lastLot) {
            Issue.record("step \(step): lot \(lot.id) spends before \(lastLot.id) but kept \(lot.remaining) points")
        }
    }

    @Test("a redemption beyond the balance is refused whole, with what can be spent")
    func insufficientPoints() throws {
        // Given a member with 100 available points and 50 pending
        let start = Date(timeIntervalSince1970: 1_767_225_600)
        var ledger = MemberLedger(programID: "p", memberID: "m", accounts: [:], lots: [], holds: [], actor: "t", postedAt: start)
        ledger.earn(.points, 100, source: "base", eventID: "e1", orderID: nil, earnedAt: start, availableAt: start,
                    expiresAt: nil, asOf: start)
        ledger.earn(.points, 50, source: "base", eventID: "e2", orderID: nil, earnedAt: start,
                    availableAt: start + 86_400, expiresAt: nil, asOf: start)
        let before = ledger.changes.transfers.count
        // When 120 are asked for
        #expect(throws: LedgerFault.insufficientPoints(available: 100, requested: 120)) {
            try ledger.redeem(120, reason: "gift", reference: nil, requestKey: nil, asOf: start)
        }
        // Then nothing was spent
        #expect(ledger.changes.transfers.count == before)
        #expect(ledger.account(.points).available == 100)
    }

    @Test("a lot that expires at T is spendable just before T and gone at T")
    func expiryBoundary() throws {
        let earned = Date(timeIntervalSince1970: 1_767_225_600)
        let expiry = earned + 30 * 86_400
        var ledger = MemberLedger(programID: "p", memberID: "m", accounts: [:], lots: [], holds: [], actor: "t", postedAt: earned)
        ledger.earn(.points, 10, source: "base", eventID: "e", orderID: nil, earnedAt: earned, availableAt: earned,
                    expiresAt: expiry, asOf: earned)
        #expect(ledger.spendable(asOf: expiry - 0.001) == 10)
        #expect(ledger.spendable(asOf: expiry) == 0)
        #expect(throws: LedgerFault.insufficientPoints(available: 0, requested: 1)) {
            try ledger.redeem(1, reason: "gift", reference: nil, requestKey: nil, asOf: expiry)
        }
    }

    @Test("end-of-period expiry falls at midnight in the program's time zone")
    func expiryInProgramZone() throws {
        var policy = PointsPolicy(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        policy.expiry = .endOfYearAfterEarn(years: 1)
        // 2026-12-31T20:00:00Z is already 2027-01-01 04:00 in Shanghai: the earning year is 2027.
        let earned = try #require(ISO8601DateFormatter().date(from: "2026-12-31T20:00:00Z"))
        #expect(policy.expiresAt(earnedAt: earned) == ISO8601DateFormatter().date(from: "2028-12-31T16:00:00Z"))
        policy.expiry = .endOfMonthAfterEarn(months: 0)
        #expect(policy.expiresAt(earnedAt: earned) == ISO8601DateFormatter().date(from: "2027-01-31T16:00:00Z"))
    }
}
