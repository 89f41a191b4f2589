import Foundation
import Logging
import PatronCore
import PatronEngine
@testable import PatronServer
import PatronTestSupport
import Testing

@Suite("Ledger job service")
struct LedgerJobServiceTests {
    @Test("the background run matures and expires the points of members nobody touched", arguments: TestStoreKind.available)
    func settlesUntouchedMembers(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            // Given a purchase whose 100 points wait 7 days and expire 30 days after it
            let fixture = try await LedgerFixture.make(store: store, members: 1, pendingDays: 7)
            let member = fixture.members[0]
            try await fixture.purchase(member, amount: 10_000, order: "J-1")
            let service = LedgerJobService(engine: fixture.engine, logger: Logger(label: "test"))
            func kinds() async throws -> [TransferKind] {
                try await fixture.engine.ledger(programCode: "shop", memberID: member, limit: 50, cursor: nil,
                                                by: fixture.owner).items.map(\.kind)
            }

            // When the service runs before the window has passed, nothing happens
            fixture.clock.advance(6 * 86_400)
            await service.runOnce()
            #expect(try await kinds().contains(.activate) == false)

            // When it runs after the window, the points mature; after the expiry, they expire
            fixture.clock.advance(2 * 86_400)
            await service.runOnce()
            #expect(try await kinds().filter { $0 == .activate }.count == 1)
            fixture.clock.advance(30 * 86_400)
            await service.runOnce()
            #expect(try await kinds().filter { $0 == .expire }.count == 1)

            // Then the ledger holds: nothing left, 100 expired, and running again changes nothing
            let balance = try await fixture.engine.balance(programCode: "shop", memberID: member, by: fixture.owner)
            #expect(balance.available == 0 && balance.expired == 100)
            await service.runOnce()
            #expect(try await kinds().count == 4)  // earn points, earn growth, activate, expire
            #expect(try await fixture.audit() == [])
        }
    }
}
