import Foundation
import Logging
import PatronCore
import PatronEngine
@testable import PatronServer
import PatronTestSupport
import Testing

/// `serve --demo`: the demo program is seeded once, with a history whose ledger is sound.
@Suite("Demo program")
struct DemoProgramTests {
    @Test("is seeded once, with two years of history that keep every ledger invariant", arguments: TestStoreKind.available)
    func seeded(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let logger = Logger(label: "patron.test.demo")
            #expect(try await DemoProgram.seedIfMissing(store: store, logger: logger))
            #expect(try await !DemoProgram.seedIfMissing(store: store, logger: logger))

            let engine = Engine(store: store, logger: logger)
            let verification = try await engine.verifyLedger(programCode: DemoProgram.code)
            #expect(verification.breaches == [])
            #expect(verification.members > 200)
            #expect(verification.transfers > 5_000)

            let owner = Principal(keyID: "test", role: .owner, programID: nil)
            let members = try await engine.listMembers(programCode: DemoProgram.code, query: MemberQuery(), limit: 200,
                                                       cursor: nil, by: owner).items
            var levels: Set<String> = [], plans = 0, redeemed: Int64 = 0
            for member in members {
                if let level = member.tier?.level { levels.insert(level) }
                plans += try await engine.subscriptions(programCode: DemoProgram.code, memberID: member.id, by: owner).count
                redeemed += try await engine.balance(programCode: DemoProgram.code, memberID: member.id, by: owner).redeemed
            }
            // Enough happened for every part of the console to show something.
            #expect(levels.isSuperset(of: ["gold", "platinum"]))
            #expect(plans > 0)
            #expect(redeemed > 0)
        }
    }
}
