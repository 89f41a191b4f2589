import Foundation
import PatronCore
@testable import PatronEngine
import Testing

@Suite("Event receipts")
struct EventReceiptTests {
    static let occurred = Date(timeIntervalSince1970: 1_763_780_400.123)

    static let receipts: [EventReceipt] = [
        EventReceipt(
            id: "evt/1 \"quoted\" 中文", event: "0190b1c4-0000-7000-8000-000000000001", member: "m-1", type: "purchase",
            occurredAt: occurred, recordedAt: occurred.addingTimeInterval(2), status: "posted",
            awards: [
                .init(rule: "base", unit: .points, amount: 128, computed: 128, cappedBy: nil, state: "pending",
                      availableAt: occurred.addingTimeInterval(7 * 86_400), expiresAt: occurred.addingTimeInterval(400 * 86_400)),
                .init(rule: "growth", unit: .growth, amount: 5, computed: 9, cappedBy: "per_event", state: "available",
                      availableAt: nil, expiresAt: nil),
            ],
            failures: [.init(rule: "vip", error: "no such key: tier\n(at 1:8)")],
            clawbacks: [.init(unit: .points, requested: 10, fromPending: 4, fromAvailable: 3, intoDebt: 2, notRecovered: 1)],
            review: .init(heldFor: "points_per_member_per_day", outcome: "released", by: "key-1",
                          at: occurred.addingTimeInterval(3_600), reason: "checked by phone")),
        EventReceipt(id: "b2b", event: "z", member: "org-1", buyer: "org-1", executor: "person-1", type: "refund",
                     occurredAt: occurred, recordedAt: occurred, status: "posted",
                     awards: [.init(rule: "base", member: "person-1", unit: .cashback, amount: 0, computed: 0, cappedBy: "lifetime",
                                    state: "expired", availableAt: occurred, expiresAt: occurred)],
                     failures: [],
                     clawbacks: [.init(member: "org-1", unit: .growth, requested: 1, fromPending: 0, fromAvailable: 1,
                                       intoDebt: 0, notRecovered: 0),
                                 .init(member: "person-1", unit: .points, requested: 2, fromPending: 2, fromAvailable: 0,
                                       intoDebt: 0, notRecovered: 0)],
                     review: .init(heldFor: "h", outcome: "rejected", by: "key-2", at: nil, reason: "\u{01}")),
        EventReceipt(id: "e", event: "x", member: "m", type: "check_in", occurredAt: Date(timeIntervalSince1970: 0),
                     recordedAt: Date(timeIntervalSince1970: 0), status: "review", awards: [], failures: [], clawbacks: [],
                     review: .init(heldFor: "events_per_member_per_hour", outcome: nil, by: nil, at: nil, reason: nil)),
        EventReceipt(id: "p", event: "y", member: "m", type: "check_in", occurredAt: Date(timeIntervalSince1970: 0),
                     recordedAt: Date(timeIntervalSince1970: 0), status: "posted", awards: [], failures: [], clawbacks: [],
                     review: nil),
    ]

    @Test("the stored text reads back as the same receipt, and as Codable would have written it")
    func storedTextRoundTrips() throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .millisecondsSince1970
        for receipt in Self.receipts {
            let stored = receipt.storedText()
            #expect(try EventReceipt.decoder.decode(EventReceipt.self, from: stored) == receipt)
            // The same document as the Codable encoding it replaced (key for key, value for value).
            #expect(try JSONValue(parsing: stored) == JSONValue(parsing: encoder.encode(receipt)))
            // And the same text, byte for byte, as the document's canonical text.
            let document = receipt.json(time: { .int(Timestamp.milliseconds($0)) }, namingRecipients: false)
            #expect(String(decoding: stored, as: UTF8.self) == document.canonicalString())
        }
    }
}
