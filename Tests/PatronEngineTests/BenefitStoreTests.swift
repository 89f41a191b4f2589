import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

/// Uses of benefits as the stores record them: what a use reports of the allowance it drew on.
@Suite("Benefit uses on the stores")
struct BenefitStoreTests {
    typealias T = TierEngineTests

    @Test("a use of granted uses reports the allowance as the store holds it after the use, a grant made since the caller read it included",
          arguments: TestStoreKind.available)
    func grantTally(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let engine = Engine(store: store)
            try await CashbackEngineTests.program(engine)
            let member = try await T.enrol(engine, "G")
            let programID = try #require(try await store.program(code: "shop")?.id)
            func grant(_ quantity: Int64, _ reference: String) async throws -> Bool {
                try await store.grantBenefit(BenefitGrant(id: Identifier.make(at: Date()), programID: programID, memberID: member,
                                                          benefit: "gift", quantity: quantity, reference: reference,
                                                          cause: "test", grantedAt: Date()))
            }
            func use(_ quantity: Int64, _ reference: String) async throws -> BenefitUseOutcome {
                try await store.useBenefit(BenefitUse(id: Identifier.make(at: Date()), programID: programID, memberID: member,
                                                      benefit: "gift", source: .grant, periodStart: Date(timeIntervalSince1970: 0),
                                                      quantity: quantity, reference: reference, actor: "test", usedAt: Date()),
                                           limit: 0)
            }
            #expect(try await grant(2, "g-1"))
            guard case .recorded(_, let first) = try await use(1, "u-1") else { Issue.record("not recorded"); return }
            #expect(first == BenefitTally(used: 1, limit: 2))
            // A grant after a caller read the allowance shows in the next use's tally
            #expect(try await grant(3, "g-2"))
            guard case .recorded(_, let second) = try await use(2, "u-2") else { Issue.record("not recorded"); return }
            #expect(second == BenefitTally(used: 3, limit: 5))
            guard case .earlier(_, let again) = try await use(2, "u-2") else { Issue.record("not a retry"); return }
            #expect(again == BenefitTally(used: 3, limit: 5))
            guard case .exceeded(let over) = try await use(3, "u-3") else { Issue.record("not refused"); return }
            #expect(over == BenefitTally(used: 3, limit: 5))
        }
    }
}
