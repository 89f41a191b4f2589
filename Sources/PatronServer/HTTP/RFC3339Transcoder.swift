import Foundation
import OpenAPIRuntime
import PatronCore

/// Times in requests and answers as RFC 3339 text with milliseconds (`2026-11-22T08:30:00.000Z`),
/// the text the generated code's ISO 8601 transcoder gave, written and read without ICU. A text
/// the fast reader does not take goes to that transcoder, so nothing it accepted is refused now.
struct RFC3339Transcoder: DateTranscoder {
    private let fallback = ISO8601DateTranscoder.iso8601WithFractionalSeconds

    func encode(_ date: Date) throws -> String {
        Timestamp.rfc3339(date)
    }

    func decode(_ text: String) throws -> Date {
        if let parsed = try? CELTimestamp(rfc3339: text) {
            return Date(timeIntervalSince1970: Double(parsed.seconds) + Double(parsed.nanos) / 1_000_000_000)
        }
        return try fallback.decode(text)
    }
}
