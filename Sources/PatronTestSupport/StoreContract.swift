import Foundation
import PatronCore
import PatronEngine
import Testing

/// One behaviour every store must have, run against each store by its test target.
public struct StoreContractCase: Sendable, CustomTestStringConvertible {
    public let name: String
    public let run: @Sendable (any PatronStore) async throws -> Void

    public var testDescription: String { name }
}

/// The contract of `PatronStore`: what the engine relies on, whatever the database.
public enum StoreContract {
    public static let cases: [StoreContractCase] = [
        StoreContractCase(name: "a program code is unique") { store in
            let (program, config) = Fixtures.program(code: "shop")
            try await store.insertProgram(program, firstConfig: config)
            let (twin, twinConfig) = Fixtures.program(code: "shop")
            await #expect(throws: StoreError.self) { try await store.insertProgram(twin, firstConfig: twinConfig) }
            #expect(try await store.program(code: "shop") == program)
            #expect(try await store.program(id: program.id) == program)
            #expect(try await store.configVersion(programID: program.id, number: 1) == config)
        },
        StoreContractCase(name: "programs page in id order and honour a scope") { store in
            var ids: [String] = []
            for index in 0..<5 {
                let (program, config) = Fixtures.program(code: "p\(index)", at: Fixtures.epoch.addingTimeInterval(Double(index)))
                try await store.insertProgram(program, firstConfig: config)
                ids.append(program.id)
            }
            let first = try await store.programs(after: nil, limit: 2, onlyID: nil)
            #expect(first.map(\.id) == Array(ids.prefix(2)))
            let rest = try await store.programs(after: first.last?.id, limit: 10, onlyID: nil)
            #expect(rest.map(\.id) == Array(ids.dropFirst(2)))
            #expect(try await store.programs(after: nil, limit: 10, onlyID: ids[3]).map(\.id) == [ids[3]])
        },
        StoreContractCase(name: "a config version is appended only on top of the one it follows") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            let document = JSONValue.object(["currency": .string("CNY"), "time_zone": .string("Europe/Paris"),
                                             "points": .object(["pending_days": .int(7)])])
            let second = ConfigVersion(programID: program.id, number: 2, document: document, createdBy: "k",
                                       createdAt: Fixtures.epoch.addingTimeInterval(60))
            try await store.appendConfigVersion(second, timeZone: "Europe/Paris")
            await #expect(throws: StoreError.concurrentUpdate) {
                try await store.appendConfigVersion(second, timeZone: "Europe/Paris")
            }
            let stored = try await store.program(id: program.id)
            #expect(stored?.configVersion == 2)
            #expect(stored?.timeZone == "Europe/Paris")
            #expect(try await store.configVersion(programID: program.id, number: 2) == second)
            #expect(try await store.configVersions(programID: program.id, before: nil, limit: 10).map(\.number) == [2, 1])
            #expect(try await store.configVersions(programID: program.id, before: 2, limit: 10).map(\.number) == [1])
        },
        StoreContractCase(name: "a member reads back exactly as written") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            let member = Fixtures.member(programID: program.id, externalID: "M-1", phone: "+8613800000000", email: "a@b.cn")
            let event = ConsentEvent(memberID: member.id, purpose: "marketing", granted: true, at: Fixtures.epoch,
                                     source: "enrolment")
            try await store.insertMember(member, consentEvents: [event])
            #expect(try await store.member(programID: program.id, id: member.id) == member)
            #expect(try await store.consentEvents(memberID: member.id) == [event])
            #expect(try await store.member(programID: "other", id: member.id) == nil)
        },
        StoreContractCase(name: "an external id is unique within a program only") { store in
            let (shop, shopConfig) = Fixtures.program(code: "shop")
            let (cafe, cafeConfig) = Fixtures.program(code: "cafe")
            try await store.insertProgram(shop, firstConfig: shopConfig)
            try await store.insertProgram(cafe, firstConfig: cafeConfig)
            try await store.insertMember(Fixtures.member(programID: shop.id, externalID: "M-1"), consentEvents: [])
            await #expect(throws: StoreError.self) {
                try await store.insertMember(Fixtures.member(programID: shop.id, externalID: "M-1"), consentEvents: [])
            }
            try await store.insertMember(Fixtures.member(programID: cafe.id, externalID: "M-1"), consentEvents: [])
        },
        StoreContractCase(name: "a member update applies only on top of the revision it read") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            let member = Fixtures.member(programID: program.id, externalID: "M-1")
            try await store.insertMember(member, consentEvents: [])
            var next = member
            next.profile.name = "李娜"
            next.revision = 1
            try await store.updateMember(next, consentEvents: [])
            var stale = member
            stale.profile.name = "王芳"
            stale.revision = 1
            await #expect(throws: StoreError.concurrentUpdate) { try await store.updateMember(stale, consentEvents: []) }
            #expect(try await store.member(programID: program.id, id: member.id)?.profile.name == "李娜")
        },
        StoreContractCase(name: "of concurrent updates from one revision exactly one wins") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            let member = Fixtures.member(programID: program.id, externalID: "M-1")
            try await store.insertMember(member, consentEvents: [])
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        var next = member
                        next.profile.region = "R\(index)"
                        next.revision = 1
                        do {
                            try await store.updateMember(next, consentEvents: [])
                            return true
                        } catch StoreError.concurrentUpdate {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        },
        StoreContractCase(name: "members are found by exact external id, phone and e-mail, a page at a time") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            var members: [Member] = []
            for index in 0..<5 {
                let member = Fixtures.member(programID: program.id, externalID: "M-\(index)",
                                             at: Fixtures.epoch.addingTimeInterval(Double(index)),
                                             phone: "+861380000000\(index % 2)", email: "m\(index)@example.com")
                try await store.insertMember(member, consentEvents: [])
                members.append(member)
            }
            #expect(try await store.members(programID: program.id, matching: MemberQuery(externalID: "M-3"), after: nil,
                                            limit: 10).map(\.id) == [members[3].id])
            #expect(try await store.members(programID: program.id, matching: MemberQuery(phone: "+8613800000001"), after: nil,
                                            limit: 10).map(\.id) == [members[1].id, members[3].id])
            #expect(try await store.members(programID: program.id, matching: MemberQuery(email: "m4@example.com"), after: nil,
                                            limit: 10).map(\.id) == [members[4].id])
            let page = try await store.members(programID: program.id, matching: MemberQuery(), after: members[1].id, limit: 2)
            #expect(page.map(\.id) == [members[2].id, members[3].id])
        },
        StoreContractCase(name: "members are found by part of their name, ignoring the case of letters of any script") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            var members: [Member] = []
            for (index, name) in ["张伟", "王伟明", "Anna Lee", "LEE Wei", nil, "Zoë ÖSTBERG", "Łucja Żółć"].enumerated() {
                var member = Fixtures.member(programID: program.id, externalID: "M-\(index)",
                                             at: Fixtures.epoch.addingTimeInterval(Double(index)))
                member.profile.name = name
                try await store.insertMember(member, consentEvents: [])
                members.append(member)
            }
            func named(_ text: String) async throws -> [String] {
                try await store.members(programID: program.id, matching: MemberQuery(nameContains: text), after: nil,
                                        limit: 10).map(\.id)
            }
            #expect(try await named("伟") == [members[0].id, members[1].id])
            #expect(try await named("lee") == [members[2].id, members[3].id])
            #expect(try await named("östberg") == [members[5].id])
            #expect(try await named("ZOË") == [members[5].id])
            #expect(try await named("łucja żÓŁĆ") == [members[6].id])
            #expect(try await named("%") == [])
            #expect(try await named("_") == [])
            let (erased, events) = members[0].erased(at: Fixtures.epoch.addingTimeInterval(9))
            try await store.updateMember(erased, consentEvents: events)
            #expect(try await named("伟") == [members[1].id])
        },
        StoreContractCase(name: "an erased member keeps its row and frees its external id") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            let member = Fixtures.member(programID: program.id, externalID: "M-1")
            try await store.insertMember(member, consentEvents: [])
            let (erased, events) = member.erased(at: Fixtures.epoch.addingTimeInterval(5))
            try await store.updateMember(erased, consentEvents: events)
            let stored = try await store.member(programID: program.id, id: member.id)
            #expect(stored == erased)
            #expect(stored?.profile == MemberProfile())
            #expect(try await store.members(programID: program.id, matching: MemberQuery(), after: nil, limit: 10).isEmpty)
            #expect(try await store.members(programID: program.id, matching: MemberQuery(includeErased: true), after: nil,
                                            limit: 10).map(\.id) == [member.id])
            #expect(try await store.consentEvents(memberID: member.id).map(\.granted) == [false])
            try await store.insertMember(Fixtures.member(programID: program.id, externalID: "M-1",
                                                         at: Fixtures.epoch.addingTimeInterval(9)), consentEvents: [])
        },
        StoreContractCase(name: "the schema refuses an erased member that still holds personal data") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            let member = Fixtures.member(programID: program.id, externalID: "M-1")
            try await store.insertMember(member, consentEvents: [])
            var broken = member
            broken.status = .erased
            broken.erasedAt = Fixtures.epoch
            broken.revision = 1
            await #expect(throws: (any Error).self) { try await store.updateMember(broken, consentEvents: []) }
        },
        StoreContractCase(name: "API keys are found by hash and revoked once") { store in
            let owner = Fixtures.apiKey(role: .owner, secret: "owner-secret")
            let reader = Fixtures.apiKey(role: .readOnly, secret: "reader-secret")
            try await store.insertAPIKey(owner)
            try await store.insertAPIKey(reader)
            #expect(try await store.apiKey(secretHash: owner.secretHash) == owner)
            #expect(try await store.apiKey(id: reader.id) == reader)
            #expect(try await store.activeOwnerKeyCount() == 1)
            #expect(try await store.revokeAPIKey(id: owner.id, at: Fixtures.epoch))
            #expect(try await store.revokeAPIKey(id: owner.id, at: Fixtures.epoch) == false)
            #expect(try await store.activeOwnerKeyCount() == 0)
            #expect(try await store.apiKey(id: owner.id)?.revokedAt == Fixtures.epoch)
            #expect(try await store.apiKeys(after: nil, limit: 10).count == 2)
            await #expect(throws: StoreError.self) { try await store.insertAPIKey(Fixtures.apiKey(secret: "reader-secret")) }
        },
        StoreContractCase(name: "an idempotency key is claimed once, replayed after, and refused for another request") { store in
            let now = Fixtures.epoch
            let stale = now.addingTimeInterval(-120)
            #expect(try await store.claimIdempotencyKey(scope: "k", key: "a", fingerprint: "f1", at: now, staleBefore: stale) == .claimed)
            #expect(try await store.claimIdempotencyKey(scope: "k", key: "a", fingerprint: "f1", at: now, staleBefore: stale) == .inProgress)
            #expect(try await store.claimIdempotencyKey(scope: "k", key: "a", fingerprint: "f2", at: now, staleBefore: stale) == .mismatch)
            #expect(try await store.claimIdempotencyKey(scope: "other", key: "a", fingerprint: "f2", at: now, staleBefore: stale) == .claimed)
            let response = StoredResponse(status: 201, contentType: "application/json", location: "/v1/x", body: Data("{}".utf8))
            try await store.completeIdempotencyKey(scope: "k", key: "a", response: response)
            #expect(try await store.claimIdempotencyKey(scope: "k", key: "a", fingerprint: "f1", at: now, staleBefore: stale) == .replay(response))
            try await store.releaseIdempotencyKey(scope: "other", key: "a")
            #expect(try await store.claimIdempotencyKey(scope: "other", key: "a", fingerprint: "f3", at: now, staleBefore: stale) == .claimed)
            let later = now.addingTimeInterval(300)
            #expect(try await store.claimIdempotencyKey(scope: "other", key: "a", fingerprint: "f3", at: later,
                                                        staleBefore: later.addingTimeInterval(-120)) == .claimed)
            #expect(try await store.purgeIdempotencyKeys(createdBefore: now.addingTimeInterval(1)) == 1)
            #expect(try await store.claimIdempotencyKey(scope: "k", key: "a", fingerprint: "f9", at: later, staleBefore: stale) == .claimed)
        },
        StoreContractCase(name: "of concurrent claims of one idempotency key exactly one succeeds") { store in
            let claims = try await withThrowingTaskGroup(of: IdempotencyClaim.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await store.claimIdempotencyKey(scope: "k", key: "same", fingerprint: "f", at: Fixtures.epoch,
                                                            staleBefore: Fixtures.epoch.addingTimeInterval(-120))
                    }
                }
                return try await group.reduce(into: [IdempotencyClaim]()) { $0.append($1) }
            }
            #expect(claims.filter { $0 == .claimed }.count == 1)
            #expect(claims.filter { $0 == .inProgress }.count == 9)
        },
        StoreContractCase(name: "migrating twice changes nothing") { store in
            let (program, config) = Fixtures.program()
            try await store.insertProgram(program, firstConfig: config)
            try await store.migrate()
            #expect(try await store.program(id: program.id) == program)
            try await store.checkHealth()
        },
    ]
}
