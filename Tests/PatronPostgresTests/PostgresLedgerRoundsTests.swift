import PatronEngine
@testable import PatronPostgres
import Testing

@Suite("PostgreSQL ledger rounds")
struct PostgresLedgerRoundsTests {
    static func read(_ member: String, program: String = "p", lots: Bool = false, hold: String? = nil,
                     transfer: String? = nil, event: String? = nil, order: String? = nil,
                     counterpart: String? = nil) -> LedgerRead {
        LedgerRead(programID: program, memberID: member, lots: lots, holdID: hold, transferID: transfer,
                   eventClientID: event, orderID: order, counterpartID: counterpart)
    }

    @Test("works of different members share the first round")
    func independent() {
        let rounds = PostgresLedgerRounds([Self.read("a", event: "1"), Self.read("b", event: "2"), Self.read("c", order: "O")])
        #expect(rounds.rounds == [[0, 1, 2]])
    }

    @Test("works of one member run one round after another, in batch order")
    func sameMember() {
        let rounds = PostgresLedgerRounds([Self.read("a"), Self.read("a", lots: true), Self.read("a", hold: "h")])
        #expect(rounds.rounds == [[0], [1], [2]])
    }

    @Test("a work goes into the round after the last work it conflicts with, not after every round")
    func earliestRound() {
        let rounds = PostgresLedgerRounds([Self.read("a"), Self.read("a"), Self.read("b"), Self.read("a"), Self.read("b")])
        #expect(rounds.rounds == [[0, 2], [1, 4], [3]])
    }

    @Test("a transfer conflicts with works of its recipient, either way round")
    func counterparts() {
        let rounds = PostgresLedgerRounds([Self.read("a", counterpart: "b"), Self.read("b", counterpart: "a"),
                                           Self.read("c"), Self.read("b")])
        #expect(rounds.rounds == [[0, 2], [1], [3]])
    }

    @Test("a client id, an order, a hold or a transfer shared by two members' works puts them in two rounds",
          arguments: [
              (Self.read("a", event: "e"), Self.read("b", event: "e")),
              (Self.read("a", order: "o"), Self.read("b", order: "o")),
              (Self.read("a", hold: "h"), Self.read("b", hold: "h")),
              (Self.read("a", transfer: "t"), Self.read("b", transfer: "t")),
          ])
    func sharedKeys(_ first: LedgerRead, _ second: LedgerRead) {
        #expect(PostgresLedgerRounds([first, second]).rounds == [[0], [1]])
    }

    @Test("client ids and orders are keys within their program")
    func programs() {
        let rounds = PostgresLedgerRounds([Self.read("a", program: "p", event: "e", order: "o"),
                                           Self.read("b", program: "q", event: "e", order: "o")])
        #expect(rounds.rounds == [[0, 1]])
    }
}
