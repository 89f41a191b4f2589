import Foundation

/// Instants as Patron stores them: UTC, millisecond precision, so that a time written to either
/// store and read back compares equal.
public enum Timestamp {
    /// The instant truncated to whole milliseconds.
    public static func truncated(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    public static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The instant at the given milliseconds since the epoch.
    public static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// RFC 3339 text in UTC with milliseconds, e.g. `2026-11-22T08:30:00.000Z`.
    public static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }
}
