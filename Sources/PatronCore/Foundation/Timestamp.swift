import Foundation

/// Instants as Patron stores them: UTC, millisecond precision, so that a time written to either
/// store and read back compares equal.
public enum Timestamp {
    /// The instant truncated to whole milliseconds.
    public static func truncated(_ date: Date) -> Date {
        Self.date(milliseconds: milliseconds(date))
    }

    /// Milliseconds since 1970-01-01T00:00:00Z, truncated. As a `Double`, an instant on an exact
    /// millisecond is often a hair below it (…021.9998 for …022): within rounding error of a whole
    /// millisecond (at least a microsecond), it is that millisecond.
    public static func milliseconds(_ date: Date) -> Int64 {
        let scaled = date.timeIntervalSince1970 * 1000
        let nearest = scaled.rounded()
        return Int64(abs(scaled - nearest) <= max(0.001, 8 * scaled.ulp) ? nearest : scaled.rounded(.down))
    }

    /// The instant at the given milliseconds since the epoch.
    public static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// RFC 3339 text in UTC with milliseconds, e.g. `2026-11-22T08:30:00.000Z`, truncated as
    /// `milliseconds` truncates. Written digit by digit: every answer carries times, and
    /// Foundation's formatter (through ICU) was a measured share of an answer's cost.
    public static func rfc3339(_ date: Date) -> String {
        let milliseconds = milliseconds(date)
        let seconds = floorDivide(milliseconds, 1000)
        let days = floorDivide(seconds, 86_400)
        let civil = civilFromDays(days)
        guard (0...9999).contains(civil.year) else {
            return date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
        }
        let secondOfDay = seconds - days * 86_400
        var text: [UInt8] = []
        text.reserveCapacity(24)
        func digits(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(civil.year, 4); text.append(UInt8(ascii: "-"))
        digits(civil.month, 2); text.append(UInt8(ascii: "-"))
        digits(civil.day, 2); text.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); text.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); text.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2); text.append(UInt8(ascii: "."))
        digits(milliseconds - seconds * 1000, 3); text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }
}
