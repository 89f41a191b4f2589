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
        func digits(_ value: Int64, _ width: Int) { appendDigits(value, width, to: &text) }
        digits(civil.year, 4); text.append(UInt8(ascii: "-"))
        digits(civil.month, 2); text.append(UInt8(ascii: "-"))
        digits(civil.day, 2); text.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); text.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); text.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2); text.append(UInt8(ascii: "."))
        digits(milliseconds - seconds * 1000, 3); text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    /// The HTTP `Date` header's text (RFC 9110's IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func httpDate(_ date: Date) -> String {
        let seconds = floorDivide(milliseconds(date), 1000)
        let days = floorDivide(seconds, 86_400)
        let civil = civilFromDays(days)
        let secondOfDay = seconds - days * 86_400
        // 1970-01-01 was a Thursday.
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][Int(days - floorDivide(days, 7) * 7)]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][Int(civil.month - 1)]
        var text: [UInt8] = []
        text.reserveCapacity(29)
        text.append(contentsOf: weekday.utf8); text.append(contentsOf: ", ".utf8)
        appendDigits(civil.day, 2, to: &text); text.append(UInt8(ascii: " "))
        text.append(contentsOf: month.utf8); text.append(UInt8(ascii: " "))
        appendDigits(civil.year, 4, to: &text); text.append(UInt8(ascii: " "))
        appendDigits(secondOfDay / 3600, 2, to: &text); text.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, 2, to: &text); text.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, 2, to: &text); text.append(contentsOf: " GMT".utf8)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `value`'s last `width` decimal digits, zero-padded.
    private static func appendDigits(_ value: Int64, _ width: Int, to text: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}
