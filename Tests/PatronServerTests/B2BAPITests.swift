import Foundation
import Logging
import PatronCore
import PatronEngine
@testable import PatronServer
import PatronTestSupport
import Testing

@Suite("Organisations and B2B events")
struct B2BAPITests {
    @Test("enrols organisations and their operator persons, and refuses links that cannot be",
          arguments: TestStoreKind.available)
    func organisations(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program with an organisation and one of its operators
            _ = try await app.ledgerProgramWithMember()
            let acme = try await app.enrol("shop", #"{"external_id":"ORG-1","channel":"store","kind":"organisation","name":"Acme"}"#)
            #expect(acme.status == 201)
            #expect(acme.json["kind"] == .string("organisation"))
            #expect(acme.json["organisation"] == nil || acme.json["organisation"] == .null)
            let org = try #require(acme.json["id"]?.stringValue)
            let buyerPerson = try await app.enrol("shop", #"{"external_id":"P-1","channel":"store","organisation":"\#(org)"}"#)
            #expect(buyerPerson.status == 201)
            #expect(buyerPerson.json["kind"] == .string("person"))
            #expect(buyerPerson.json["organisation"] == .string(org))
            let person = try #require(buyerPerson.json["id"]?.stringValue)

            // Then the list finds the organisations, and an organisation's operators
            let organisations = try await app.call(.get, "/v1/programs/shop/members?kind=organisation")
            #expect(organisations.json["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [org])
            let operators = try await app.call(.get, "/v1/programs/shop/members?organisation=\(org)")
            #expect(operators.json["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [person])

            // And links that cannot be are refused at their field, changing nothing
            let count = try await app.memberCount()
            let refusals: [(String, Reply, String, String)] = [
                ("an organisation with a birthday",
                 try await app.enrol("shop", #"{"external_id":"ORG-2","channel":"store","kind":"organisation","birthday":"1990-01-01"}"#),
                 "/birthday", "not_for_organisations"),
                ("an organisation under an organisation",
                 try await app.enrol("shop", #"{"external_id":"ORG-3","channel":"store","kind":"organisation","organisation":"\#(org)"}"#),
                 "/organisation", "not_for_organisations"),
                ("a person as organisation",
                 try await app.enrol("shop", #"{"external_id":"P-2","channel":"store","organisation":"\#(person)"}"#),
                 "/organisation", "not_an_organisation"),
                ("an unknown organisation",
                 try await app.enrol("shop", #"{"external_id":"P-3","channel":"store","organisation":"0190b1c4-0000-7000-8000-000000000000"}"#),
                 "/organisation", "unknown_organisation"),
                ("a kind that does not exist",
                 try await app.enrol("shop", #"{"external_id":"P-4","channel":"store","kind":"robot"}"#),
                 "", ""),
            ]
            for (name, reply, pointer, code) in refusals {
                #expect(reply.isProblem, "\(name)")
                if pointer.isEmpty {
                    #expect(reply.status == 400, "\(name)")
                } else {
                    #expect(reply.status == 422, "\(name)")
                    #expect(reply.faultPointers == [pointer], "\(name)")
                    #expect(reply.json["errors"]?.arrayValue?.first?["code"] == .string(code), "\(name)")
                }
            }
            #expect(try await app.memberCount() == count)

            // When the person's link is cleared, they are nobody's operator; their kind cannot change
            let cleared = try await app.call(.patch, "/v1/programs/shop/members/\(person)", json: #"{"organisation":null}"#)
            #expect(cleared.status == 200)
            #expect(cleared.json["organisation"] == nil || cleared.json["organisation"] == .null)
            let kindChange = try await app.call(.patch, "/v1/programs/shop/members/\(person)", json: #"{"kind":"organisation"}"#)
            #expect(kindChange.status == 400)
            let relinked = try await app.call(.patch, "/v1/programs/shop/members/\(person)", json: #"{"organisation":"\#(org)"}"#)
            #expect(relinked.json["organisation"] == .string(org))
        }
    }

    @Test("splits a B2B purchase between the organisation and its executor, and a refund takes back each one's share",
          arguments: TestStoreKind.available)
    func split(_ kind: TestStoreKind) async throws {
        try await TestApp.run(kind) { app in
            // Given a program whose B2B purchases give the executor 30 % of each award, an
            // organisation with an operator, and another organisation
            let customer = try await app.ledgerProgramWithMember(points: #"{"pending_days":0,"b2b":{"earn_to":"split","executor_percent":30}}"#)
            let (org, person) = try await app.organisationWithOperator()
            let other = try #require(try await app.enrol("shop", #"{"external_id":"ORG-9","channel":"store","kind":"organisation"}"#)
                .json["id"]?.stringValue)

            // When the operator buys ¥128 for the organisation
            let posted = try await app.postEvent(app.b2bPurchase(id: "b-1", buyer: org, executor: person, amount: 12_800, order: "po-1"))

            // Then each award is split 30/70, rounded down for the executor: 38 and 90 of 128
            #expect(posted.status == 201)
            #expect(posted.json["member"] == .string(org))
            #expect(posted.json["buyer"] == .string(org))
            #expect(posted.json["executor"] == .string(person))
            let awards = try #require(posted.json["awards"]?.arrayValue)
            #expect(awards.count == 4)
            for unit in ["points", "growth"] {
                #expect(awards.contains { $0["unit"] == .string(unit) && $0["member"] == .string(org) && $0["amount"] == .int(90) })
                #expect(awards.contains { $0["unit"] == .string(unit) && $0["member"] == .string(person) && $0["amount"] == .int(38) })
            }
            #expect(try await app.balance(org).json["available"] == .int(90))
            #expect(try await app.balance(person).json["available"] == .int(38))
            #expect(try await app.balance(person).json["growth"] == .int(38))

            // When half the order is refunded, naming the same parties, each gives back half of their share
            let refunded = try await app.postEvent(app.b2bRefund(id: "b-2", buyer: org, executor: person, amount: 6_400, order: "po-1"))
            #expect(refunded.status == 201)
            let clawbacks = try #require(refunded.json["clawbacks"]?.arrayValue)
            #expect(clawbacks.contains { $0["unit"] == .string("points") && $0["member"] == .string(org) && $0["requested"] == .int(45) })
            #expect(clawbacks.contains { $0["unit"] == .string("points") && $0["member"] == .string(person) && $0["requested"] == .int(19) })
            #expect(try await app.balance(org).json["available"] == .int(45))
            #expect(try await app.balance(person).json["available"] == .int(19))

            // And events that name the parties wrongly are refused at the field at fault, posting nothing
            let refusals: [(String, Reply, [String], String)] = [
                ("a refund that leaves out the executor who earned",
                 try await app.postEvent(app.b2bRefund(id: "b-3", buyer: org, executor: nil, amount: 100, order: "po-1")),
                 ["/order_id"], "order_of_another_member"),
                ("an executor of another organisation",
                 try await app.postEvent(app.b2bPurchase(id: "b-4", buyer: other, executor: person, amount: 100, order: "po-4")),
                 ["/executor"], "not_an_operator_of_buyer"),
                ("an executor who is nobody's operator",
                 try await app.postEvent(app.b2bPurchase(id: "b-5", buyer: nil, executor: customer, amount: 100, order: "po-5")),
                 ["/executor"], "not_an_operator"),
                ("a person as buyer",
                 try await app.postEvent(app.b2bPurchase(id: "b-6", buyer: person, executor: nil, amount: 100, order: "po-6")),
                 ["/buyer"], "not_an_organisation"),
                ("an unknown executor",
                 try await app.postEvent(app.b2bPurchase(id: "b-7", buyer: org, executor: "0190b1c4-0000-7000-8000-000000000000",
                                                         amount: 100, order: "po-7")),
                 ["/executor"], "unknown_member"),
                ("a member and a buyer",
                 try await app.postEvent(#"{"id":"b-8","type":"purchase","member":"\#(customer)","buyer":"\#(org)","occurred_at":"\#(app.recently())","amount":100}"#),
                 ["/member"], "member_required"),
            ]
            for (name, reply, pointers, code) in refusals {
                #expect(reply.status == 422, "\(name)")
                #expect(reply.isProblem, "\(name)")
                #expect(reply.faultPointers == pointers, "\(name)")
                #expect(reply.json["errors"]?.arrayValue?.first?["code"] == .string(code), "\(name)")
            }
            #expect(try await app.balance(org).json["available"] == .int(45))
            #expect(try await app.balance(person).json["available"] == .int(19))
            #expect(try await app.balance(other).json["available"] == .int(0))

            // When the executor buys alone, they buy for their organisation, and the award is split as before
            let alone = try await app.postEvent(app.b2bPurchase(id: "b-9", buyer: nil, executor: person, amount: 1_000, order: "po-9"))
            #expect(alone.status == 201)
            #expect(alone.json["buyer"] == .string(org))
            #expect(try await app.balance(org).json["available"] == .int(45 + 7))
            #expect(try await app.balance(person).json["available"] == .int(19 + 3))

            // And the ledger adds up: every point came from a recorded transfer
            try await app.expectSoundLedger()
        }
    }

    @Test("gives a B2B purchase to whom points.b2b.earn_to names", arguments: [
        ("executor", true, "executor"), ("executor", false, "buyer"), ("buyer", true, "buyer"), ("buyer", false, "buyer"),
    ])
    func earnTo(_ earnTo: String, _ namesExecutor: Bool, _ earner: String) async throws {
        try await TestApp.run(.sqlite) { app in
            // Given a program whose B2B purchases earn to the executor or the buyer
            _ = try await app.ledgerProgramWithMember(points: #"{"pending_days":0,"b2b":{"earn_to":"\#(earnTo)"}}"#)
            let (org, person) = try await app.organisationWithOperator()

            // When the organisation buys, naming the executor or not
            let posted = try await app.postEvent(app.b2bPurchase(id: "b-1", buyer: org, executor: namesExecutor ? person : nil,
                                                                 amount: 12_800, order: "po-1"))

            // Then one of them earns everything, and the event is recorded under them
            let expected = earner == "buyer" ? org : person
            #expect(posted.status == 201)
            #expect(posted.json["member"] == .string(expected))
            #expect(try await app.balance(expected).json["available"] == .int(128))
            #expect(try await app.balance(expected == org ? person : org).json["available"] == .int(0))

            // And a full refund naming the same parties takes it all back
            let refunded = try await app.postEvent(app.b2bRefund(id: "b-2", buyer: org, executor: namesExecutor ? person : nil,
                                                                 amount: 12_800, order: "po-1"))
            #expect(refunded.status == 201)
            #expect(try await app.balance(expected).json["available"] == .int(0))
            try await app.expectSoundLedger()
        }
    }

    @Test("checks points.b2b when a configuration is stored")
    func config() async throws {
        try await TestApp.run(.sqlite) { app in
            #expect(try await app.createProgram().status == 201)
            let cases: [(String, [String])] = [
                (#"{"earn_to":"split"}"#, ["/points/b2b/executor_percent"]),
                (#"{"earn_to":"buyer","executor_percent":30}"#, ["/points/b2b/executor_percent"]),
                (#"{"earn_to":"split","executor_percent":100}"#, ["/points/b2b/executor_percent"]),
                (#"{"earn_to":"everyone"}"#, ["/points/b2b/earn_to"]),
                (#"{"executor_percent":30}"#, ["/points/b2b/earn_to"]),
            ]
            for (b2b, pointers) in cases {
                let reply = try await app.call(.put, "/v1/programs/shop/config", json: #"""
                    {"currency":"CNY","time_zone":"Asia/Shanghai","points":{"b2b":\#(b2b)}}
                    """#)
                #expect(reply.status == 422, "\(b2b)")
                #expect(reply.faultPointers == pointers, "\(b2b)")
            }
            let accepted = try await app.call(.put, "/v1/programs/shop/config", json: #"""
                {"currency":"CNY","time_zone":"Asia/Shanghai","points":{"b2b":{"earn_to":"split","executor_percent":50}},
                 "earning_rules":[{"code":"org","on":"purchase","when":"member.kind == 'organisation' && event.executor != null",
                                   "award":"1"}]}
                """#)
            #expect(accepted.status == 200)
        }
    }
}

extension TestApp {
    /// Enrols organisation ORG-1 and its operator person P-1; returns their ids.
    func organisationWithOperator() async throws -> (organisation: String, person: String) {
        let org = try #require(try await enrol("shop", #"{"external_id":"ORG-1","channel":"store","kind":"organisation"}"#)
            .json["id"]?.stringValue)
        let person = try #require(try await enrol("shop", #"{"external_id":"P-1","channel":"store","organisation":"\#(org)"}"#)
            .json["id"]?.stringValue)
        return (org, person)
    }

    func b2bPurchase(id: String, buyer: String?, executor: String?, amount: Int, order: String) -> String {
        let parties = [buyer.map { #""buyer":"\#($0)""# }, executor.map { #""executor":"\#($0)""# }].compactMap { $0 }
        return #"{"id":"\#(id)","type":"purchase",\#(parties.joined(separator: ",")),"occurred_at":"\#(recently())","amount":\#(amount),"order_id":"\#(order)"}"#
    }

    func b2bRefund(id: String, buyer: String?, executor: String?, amount: Int, order: String) -> String {
        b2bPurchase(id: id, buyer: buyer, executor: executor, amount: amount, order: order)
            .replacingOccurrences(of: #""type":"purchase""#, with: #""type":"refund""#)
    }

    /// `patron ledger verify` on the test's database finds nothing wrong.
    func expectSoundLedger() async throws {
        let verification = try await withStore(at: databaseURL, logger: Logger(label: "patron.test")) { store in
            try await Engine(store: store).verifyLedger(programCode: "shop")
        }
        #expect(verification.isSound, "\(verification.breaches)")
        #expect(verification.transfers > 0)
    }
}
