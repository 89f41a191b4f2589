import Foundation
import PatronCore

/// What `patron ledger verify` found.
public struct LedgerVerification: Sendable {
    public var programs = 0
    public var members = 0
    public var transfers = 0
    /// Per unit and account (`member:available`, `system:issued`…): credits less debits over every
    /// transfer checked. Each unit's balances add up to zero: debits equal credits.
    public var balances: [LedgerUnit: [String: Int64]] = [:]
    /// Every breach, naming the member and what does not add up; empty when the ledger is sound.
    public var breaches: [String] = []

    public var isSound: Bool { breaches.isEmpty }
}

extension Engine {
    /// Checks every invariant of the ledger, member by member, for one program or all of them.
    public func verifyLedger(programCode: String? = nil) async throws -> LedgerVerification {
        var result = LedgerVerification()
        var programs: [Program] = []
        if let programCode {
            guard let program = try await store.program(code: programCode) else {
                throw EngineError.notFound(resource: "program", id: programCode)
            }
            programs = [program]
        } else {
            var after: String?
            while true {
                let page = try await store.programs(after: after, limit: Self.maxPageSize, onlyID: nil)
                programs += page
                guard let last = page.last, page.count == Self.maxPageSize else { break }
                after = last.id
            }
        }
        for program in programs {
            result.programs += 1
            // Transfers between members are checked against each other once the program is read.
            var betweenMembers: [Transfer] = []
            // Counted before the members are read: a lot or hold made while they are can only add to
            // what the histories hold, so fewer than this means some are in no member's history.
            let counted = try await store.ledgerRowCounts(programID: program.id)
            var seen = LedgerRowCounts(lots: 0, holds: 0)
            var after: String?
            while true {
                let members = try await store.ledgerMembers(programID: program.id, after: after, limit: Self.maxPageSize)
                for memberID in members {
                    let history = try await store.ledgerHistory(programID: program.id, memberID: memberID)
                    result.members += 1
                    result.transfers += history.transfers.count
                    seen.lots += history.lots.count
                    seen.holds += history.holds.count
                    result.breaches += LedgerAudit.breaches(memberID: memberID, accounts: history.accounts, lots: history.lots,
                                                            holds: history.holds, transfers: history.transfers)
                    for transfer in history.transfers {
                        result.balances[transfer.unit, default: [:]][transfer.credit.code, default: 0] += transfer.amount
                        result.balances[transfer.unit, default: [:]][transfer.debit.code, default: 0] -= transfer.amount
                        if transfer.kind == .transfer { betweenMembers.append(transfer) }
                    }
                }
                guard let last = members.last, members.count == Self.maxPageSize else { break }
                after = last
            }
            result.breaches += LedgerAudit.transferPairBreaches(betweenMembers)
            if seen.lots < counted.lots {
                result.breaches.append("program \(program.code): \(counted.lots - seen.lots) lots are in no member's history")
            }
            if seen.holds < counted.holds {
                result.breaches.append("program \(program.code): \(counted.holds - seen.holds) holds are in no member's history")
            }
            result.breaches += try await store.storedRecordBreaches(programID: program.id).map { "program \(program.code): \($0)" }
        }
        // Whichever program is checked: such rows belong to none.
        result.breaches += try await store.strayRecordBreaches().map { "store: \($0)" }
        for (unit, accounts) in result.balances where accounts.values.reduce(0, +) != 0 {
            result.breaches.append("\(unit.rawValue): debits and credits differ by \(accounts.values.reduce(0, +))")
        }
        return result
    }
}
