import Foundation
import PatronCore
import PatronEngine

/// Builders of valid domain values for tests.
public enum Fixtures {
    public static let epoch = Date(timeIntervalSince1970: 1_790_000_000)

    public static func program(code: String = "shop", at date: Date = epoch) -> (Program, ConfigVersion) {
        let id = Identifier.make(at: date)
        let program = Program(id: id, code: code, name: "Shop \(code)", currency: "CNY", timeZone: "Asia/Shanghai",
                              configVersion: 1, createdAt: date)
        let config = ConfigVersion(programID: id, number: 1,
                                   document: .object(["currency": .string("CNY"), "time_zone": .string("Asia/Shanghai")]),
                                   createdBy: "test", createdAt: date)
        return (program, config)
    }

    public static func member(programID: String, externalID: String, at date: Date = epoch, phone: String? = nil,
                              email: String? = nil) -> Member {
        Member(id: Identifier.make(at: date), programID: programID, externalID: externalID, status: .active,
               profile: MemberProfile(name: "张伟", phone: phone, email: email, birthday: "1990-05-17", gender: .male,
                                      region: "CN-31"),
               channel: .store, attributes: ["favourite_category": .string("tea"), "visits": .int(3)],
               consents: ["marketing": Consent(granted: true, updatedAt: date)], enrolledAt: date, updatedAt: date,
               erasedAt: nil, revision: 0)
    }

    public static func apiKey(role: Role = .operator, programID: String? = nil, secret: String = UUID().uuidString,
                              at date: Date = epoch) -> APIKey {
        APIKey(id: Identifier.make(at: date), name: "key", role: role, programID: programID, secretHash: "hash-\(secret)",
               prefix: String(secret.prefix(6)), origin: "api", createdAt: date, revokedAt: nil)
    }
}
