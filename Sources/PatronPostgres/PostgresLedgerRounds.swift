import PatronEngine

/// A batch split into rounds of works that read and write nothing in common, so that a round's
/// snapshots can be read together and its plans written together. A work goes into the round after
/// the last one holding a work it conflicts with: two works that conflict run in batch order, as
/// they would one after the other; works that do not conflict commute, so where they run relative
/// to each other changes nothing.
///
/// Two works conflict when they share a member (either's `memberIDs`), an event client id or an
/// order id (in the same program), a hold or a transfer. Everything a work reads is one of these,
/// or belongs to one of its members: balances, lots, holds, transfers, cap and limit usage, the
/// event with its client id, the purchase and refunds of its order, the reversal of its transfer.
/// Everything a plan writes is keyed the same way.
struct PostgresLedgerRounds {
    /// Each round's works, as indexes into the batch, in batch order.
    let rounds: [[Int]]

    init(_ reads: [LedgerRead]) {
        var rounds: [[Int]] = []
        var lastRound: [Key: Int] = [:]
        for (index, read) in reads.enumerated() {
            let keys = Self.keys(read)
            let round = keys.map { lastRound[$0].map { $0 + 1 } ?? 0 }.max() ?? 0
            if round == rounds.count { rounds.append([]) }
            rounds[round].append(index)
            for key in keys { lastRound[key] = round }
        }
        self.rounds = rounds
    }

    enum Key: Hashable {
        case member(String)
        case event(programID: String, clientID: String)
        case order(programID: String, orderID: String)
        case hold(String)
        case transfer(String)
    }

    static func keys(_ read: LedgerRead) -> [Key] {
        var keys = read.memberIDs.map(Key.member)
        if let clientID = read.eventClientID { keys.append(.event(programID: read.programID, clientID: clientID)) }
        if let orderID = read.orderID { keys.append(.order(programID: read.programID, orderID: orderID)) }
        if let holdID = read.holdID { keys.append(.hold(holdID)) }
        if let transferID = read.transferID { keys.append(.transfer(transferID)) }
        return keys
    }
}
