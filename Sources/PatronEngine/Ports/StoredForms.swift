import Foundation
import PatronCore

/// The text forms in which both stores keep a member's free-form columns, so that SQLite and
/// PostgreSQL hold the same bytes and read them back the same way.
public enum StoredForms {
    /// Attributes as canonical JSON text.
    public static func encode(attributes: [String: JSONValue]) -> String {
        JSONValue.object(attributes).canonicalString()
    }

    public static func decodeAttributes(_ text: String) throws -> [String: JSONValue] {
        try JSONValue(parsing: Data(text.utf8)).objectValue ?? [:]
    }

    /// Consents as `{"purpose": {"granted": true, "updated_at_ms": 1764000000000}}`.
    public static func encode(consents: [String: Consent]) -> String {
        JSONValue.object(consents.mapValues {
            .object(["granted": .bool($0.granted), "updated_at_ms": .int(Timestamp.milliseconds($0.updatedAt))])
        }).canonicalString()
    }

    public static func decodeConsents(_ text: String) throws -> [String: Consent] {
        var consents: [String: Consent] = [:]
        for (purpose, value) in try JSONValue(parsing: Data(text.utf8)).objectValue ?? [:] {
            consents[purpose] = Consent(granted: value["granted"]?.boolValue ?? false,
                                        updatedAt: Timestamp.date(milliseconds: value["updated_at_ms"]?.intValue ?? 0))
        }
        return consents
    }
}
