import Foundation
import PatronCore
import PatronEngine
import PatronTestSupport
import Testing

@Suite("Engine")
struct EngineTests {
    @Test("makes sure an owner key exists at start, once", arguments: TestStoreKind.available)
    func bootstrap(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let engine = Engine(store: store)
            let generated = try #require(try await engine.bootstrapOwnerKey(adminSecret: nil))
            #expect(try await engine.authenticate(secret: generated).role == .owner)
            #expect(try await engine.bootstrapOwnerKey(adminSecret: nil) == nil, "printed only once")
            // Setting PATRON_ADMIN_KEY replaces the bootstrap key.
            #expect(try await engine.bootstrapOwnerKey(adminSecret: "a-chosen-admin-key-1234") == nil)
            #expect(try await engine.authenticate(secret: "a-chosen-admin-key-1234").role == .owner)
            await #expect(throws: EngineError.self) { try await engine.authenticate(secret: generated) }
            await #expect(throws: EngineError.self) { try await engine.bootstrapOwnerKey(adminSecret: "short") }
        }
    }

    @Test("concurrent edits of one member all apply", arguments: TestStoreKind.available)
    func concurrentEdits(_ kind: TestStoreKind) async throws {
        try await kind.withStore { store in
            let engine = Engine(store: store)
            let owner = Principal(keyID: "test", role: .owner, programID: nil)
            _ = try await engine.createProgram(ProgramDraft(code: "shop", name: "Shop", currency: "CNY", timeZone: "UTC"), by: owner)
            let member = try await engine.enrol(programCode: "shop", body: .object(["external_id": .string("A"),
                                                                                   "channel": .string("app")]), by: owner)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for purpose in ["a", "b", "c", "d"] {
                    group.addTask {
                        _ = try await engine.updateMember(programCode: "shop", id: member.id,
                                                          body: .object(["consents": .object([purpose: .bool(true)])]), by: owner)
                    }
                }
                try await group.waitForAll()
            }
            let final = try await engine.member(programCode: "shop", id: member.id, by: owner)
            #expect(final.consents.keys.sorted() == ["a", "b", "c", "d"], "no edit was lost")
            #expect(final.revision == member.revision + 4)
        }
    }
}
