import Foundation
import Synchronization

// Time values of the rule language. Calendar arithmetic is done by hand (Howard Hinnant's
// civil-date algorithms) so that results do not depend on the platform's date formatters; only
// IANA zone rules come from Foundation.

private let nanosPerSecond: Int64 = 1_000_000_000
private let secondsPerDay: Int64 = 86_400

/// An instant in UTC with nanosecond precision, within the years 0001 to 9999 as CEL requires.
public struct CELTimestamp: Sendable, Hashable, Comparable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public let seconds: Int64
    /// Nanoseconds past `seconds`, in `0..<1_000_000_000`.
    public let nanos: Int32

    static let minSeconds: Int64 = -62_135_596_800  // 0001-01-01T00:00:00Z
    static let maxSeconds: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z
    static let outOfRange = CELEvalError("timestamp out of range")

    /// The instant `seconds` + `nanos` after the epoch; nanos outside `0..<1e9` carry into seconds.
    public init(seconds: Int64, nanos: Int32 = 0) throws(CELEvalError) {
        // Int128 holds any Int64 seconds in nanoseconds, so carrying can never trap.
        try self.init(totalNanos: Int128(seconds) * Int128(nanosPerSecond) + Int128(nanos))
    }

    private init(totalNanos: Int128) throws(CELEvalError) {
        let (quotient, remainder) = totalNanos.quotientAndRemainder(dividingBy: Int128(nanosPerSecond))
        let seconds = remainder < 0 ? quotient - 1 : quotient
        guard seconds >= Int128(Self.minSeconds), seconds <= Int128(Self.maxSeconds) else { throw .range }
        self.seconds = Int64(seconds)
        self.nanos = Int32(remainder < 0 ? remainder + Int128(nanosPerSecond) : remainder)
    }

    private var totalNanos: Int128 { Int128(seconds) * Int128(nanosPerSecond) + Int128(nanos) }

    /// Parses RFC 3339 text as `timestamp('…')` does: `2009-02-13T23:31:30.5Z`, `…+01:00`.
    public init(rfc3339 text: String) throws(CELEvalError) {
        let invalid = CELEvalError("invalid timestamp '\(text)'")
        var scan = ByteScanner(text)
        let yearDigits = scan.digitCount()
        guard yearDigits >= 4 else { throw invalid }
        // A longer year is well-formed text for a year past 9999, so it becomes a range error.
        let year: Int64?
        if yearDigits == 4 {
            year = scan.number(digits: 4)
        } else {
            scan.skip(yearDigits)
            year = nil
        }
        guard scan.take("-"), let month = scan.number(digits: 2), scan.take("-"), let day = scan.number(digits: 2),
              scan.take("T") || scan.take("t"), let hour = scan.number(digits: 2), scan.take(":"),
              let minute = scan.number(digits: 2), scan.take(":"), let second = scan.number(digits: 2)
        else { throw invalid }
        var nanos: Int64 = 0
        if scan.take(".") {
            let count = scan.digitCount()
            guard (1...9).contains(count), let fraction = scan.number(digits: count) else { throw invalid }
            nanos = fraction
            for _ in count..<9 { nanos *= 10 }
        }
        var offset: Int64 = 0
        if !(scan.take("Z") || scan.take("z")) {
            let sign: Int64 = scan.take("+") ? 1 : scan.take("-") ? -1 : 0
            guard sign != 0, let offsetHour = scan.number(digits: 2), scan.take(":"),
                  let offsetMinute = scan.number(digits: 2), offsetHour < 24, offsetMinute < 60
            else { throw invalid }
            offset = sign * (offsetHour * 3600 + offsetMinute * 60)
        }
        guard scan.atEnd, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { throw invalid }
        guard let year else { throw Self.outOfRange }
        guard day <= daysInMonth(year: year, month: month) else { throw invalid }
        // Year 0000 with a negative offset can still land on 0001-01-01 in UTC, so the range is
        // checked on the instant, not on the written year.
        let seconds = daysFromCivil(year: year, month: month, day: day) * secondsPerDay
            + hour * 3600 + minute * 60 + second - offset
        guard seconds >= Self.minSeconds, seconds <= Self.maxSeconds else { throw Self.outOfRange }
        self.seconds = seconds
        self.nanos = Int32(nanos)
    }

    /// The instant in UTC as Go's RFC3339Nano prints it: `2009-02-13T23:31:30.123Z`.
    public var rfc3339: String {
        let days = floorDivide(seconds, secondsPerDay)
        let secondOfDay = seconds - days * secondsPerDay
        let date = civilFromDays(days)
        var text = padded(date.year, 4) + "-" + padded(date.month, 2) + "-" + padded(date.day, 2)
        text += "T" + padded(secondOfDay / 3600, 2) + ":" + padded(secondOfDay / 60 % 60, 2) + ":"
            + padded(secondOfDay % 60, 2)
        if nanos != 0 { text += "." + trimmedFraction(Int64(nanos)) }
        return text + "Z"
    }

    /// The instant `duration` later; a range error past year 9999 or before year 1.
    public func adding(_ duration: CELDuration) throws(CELEvalError) -> CELTimestamp {
        try CELTimestamp(totalNanos: totalNanos + duration.totalNanos)
    }

    /// The instant `duration` earlier; a range error past year 9999 or before year 1.
    public func subtracting(_ duration: CELDuration) throws(CELEvalError) -> CELTimestamp {
        try CELTimestamp(totalNanos: totalNanos - duration.totalNanos)
    }

    /// The duration `self - other`; a range error when it exceeds about ±292 years.
    public func difference(from other: CELTimestamp) throws(CELEvalError) -> CELDuration {
        let span = totalNanos - other.totalNanos
        // Go's Time.Sub, and with it the CEL conformance suite, holds a span between instants to
        // Int64 nanoseconds (±292 years), narrower than the range a duration may have otherwise.
        guard span >= Int128(Int64.min), span <= Int128(Int64.max) else { throw .range }
        return try CELDuration(totalNanos: span)
    }

    /// One calendar field of the instant as seen in `zone`, with CEL's numbering (see `CELTimeComponent`).
    public func component(_ component: CELTimeComponent, in zone: CELTimeZone) -> Int64 {
        // Local time may fall just outside years 1...9999; the civil algorithms handle any year.
        let local = seconds + Int64(zone.offsetSeconds(at: seconds))
        let days = floorDivide(local, secondsPerDay)
        let secondOfDay = local - days * secondsPerDay
        switch component {
        case .fullYear: return civilFromDays(days).year
        case .month: return civilFromDays(days).month - 1
        case .date: return civilFromDays(days).day
        case .dayOfMonth: return civilFromDays(days).day - 1
        case .dayOfWeek: return floorModulo(days + 4, 7)  // 1970-01-01 was a Thursday
        case .dayOfYear: return days - daysFromCivil(year: civilFromDays(days).year, month: 1, day: 1)
        case .hours: return secondOfDay / 3600
        case .minutes: return secondOfDay / 60 % 60
        case .seconds: return secondOfDay % 60
        case .milliseconds: return Int64(nanos) / 1_000_000
        }
    }

    /// Whether `lhs` is the earlier instant.
    public static func < (lhs: CELTimestamp, rhs: CELTimestamp) -> Bool {
        (lhs.seconds, lhs.nanos) < (rhs.seconds, rhs.nanos)
    }
}

/// A calendar field of a timestamp, numbered as CEL's accessors (`getMonth`, `getDayOfWeek`, …) number it.
public enum CELTimeComponent: Sendable {
    /// The year, e.g. 2009.
    case fullYear
    /// The month, 0-based: January is 0.
    case month
    /// The day of the month, 1-based.
    case date
    /// The day of the month, 0-based.
    case dayOfMonth
    /// The day of the week, 0-based from Sunday.
    case dayOfWeek
    /// The day of the year, 0-based.
    case dayOfYear
    /// The hour, 0-23.
    case hours
    /// The minute, 0-59.
    case minutes
    /// The second, 0-59.
    case seconds
    /// The millisecond within the second, 0-999.
    case milliseconds
}

/// A time zone for the timestamp accessors: an IANA name or a fixed offset such as `+11:00`.
public struct CELTimeZone: Sendable {
    private enum Rule: Sendable {
        case fixed(Int)
        case named(TimeZone)
    }

    private let rule: Rule

    /// Coordinated Universal Time.
    public static let utc = CELTimeZone(rule: .fixed(0))

    private init(rule: Rule) {
        self.rule = rule
    }

    /// A zone named as CEL's accessors take it: `Asia/Shanghai`, `UTC`, `+11:00`, `-02:30`, `02:00`.
    public init(_ text: String) throws(CELEvalError) {
        if text == "UTC" {
            self = .utc
        } else if Self.looksLikeOffset(text), let offset = Self.fixedOffset(text) {
            rule = .fixed(offset)
        } else if let zone = Self.namedZone(text) {
            rule = .named(zone)
        } else {
            throw CELEvalError("unknown time zone '\(text)'")
        }
    }

    /// Whether `text` names a zone `init(_:)` accepts.
    public static func isValid(_ text: String) -> Bool {
        (try? CELTimeZone(text)) != nil
    }

    /// The zone's offset from UTC in seconds at the instant `seconds` after the epoch.
    public func offsetSeconds(at seconds: Int64) -> Int {
        switch rule {
        case .fixed(let offset): offset
        case .named(let zone): zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))
        }
    }

    /// `[+|-]H[H]:MM`; a missing sign means east of UTC, as in CEL's reference implementation.
    /// Whether the text starts like an offset (`+08:00`, `-02:30`, `02:00`), checked without
    /// copying it: rules resolve `program.time_zone` on every evaluation.
    private static func looksLikeOffset(_ text: String) -> Bool {
        guard let first = text.utf8.first else { return false }
        return first == UInt8(ascii: "+") || first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
    }

    private static func fixedOffset(_ text: String) -> Int? {
        var scan = ByteScanner(text)
        var sign = 1
        if scan.take("-") { sign = -1 } else { _ = scan.take("+") }
        let hourDigits = scan.digitCount()
        guard (1...2).contains(hourDigits), let hour = scan.number(digits: hourDigits), scan.take(":"),
              let minute = scan.number(digits: 2), scan.atEnd, hour < 24, minute < 60
        else { return nil }
        return sign * Int(hour * 3600 + minute * 60)
    }

    // Building a Foundation TimeZone reads and parses zone files, and rules look the same few
    // names up on every evaluation, so zones are kept for the life of the process. The bound
    // keeps arbitrary names from growing it without limit; invalid names are never stored.
    private static let cacheLimit = 1_024
    private static let cache = Mutex<[String: TimeZone]>([:])

    private static func namedZone(_ name: String) -> TimeZone? {
        if let zone = cache.withLock({ $0[name] }) { return zone }
        // Built outside the lock: a racing duplicate lookup costs less than serialising all of them.
        guard let zone = TimeZone(identifier: name) else { return nil }
        cache.withLock { zones in
            if zones.count < cacheLimit { zones[name] = zone }
        }
        return zone
    }
}

/// A signed span of time with nanosecond precision, within ±315,576,000,000 seconds (10,000 years).
public struct CELDuration: Sendable, Hashable, Comparable {
    /// Whole seconds, truncated toward zero.
    public let seconds: Int64
    /// The remaining nanoseconds, with the sign of `seconds` and magnitude below 1e9.
    public let nanos: Int32

    static let maxSeconds: Int64 = 315_576_000_000
    private static let maxNanos = Int128(maxSeconds) * Int128(nanosPerSecond) + Int128(nanosPerSecond - 1)

    /// The zero-length duration.
    public static let zero = CELDuration(uncheckedSeconds: 0, nanos: 0)

    private init(uncheckedSeconds seconds: Int64, nanos: Int32) {
        self.seconds = seconds
        self.nanos = nanos
    }

    /// The span `seconds` + `nanos`, normalized so both share a sign; a range error beyond ±10,000 years.
    public init(seconds: Int64, nanos: Int32 = 0) throws(CELEvalError) {
        try self.init(totalNanos: Int128(seconds) * Int128(nanosPerSecond) + Int128(nanos))
    }

    init(totalNanos: Int128) throws(CELEvalError) {
        guard totalNanos >= -Self.maxNanos, totalNanos <= Self.maxNanos else { throw .range }
        // Truncating division gives quotient and remainder the same sign, the normal form.
        let (quotient, remainder) = totalNanos.quotientAndRemainder(dividingBy: Int128(nanosPerSecond))
        self.init(uncheckedSeconds: Int64(quotient), nanos: Int32(remainder))
    }

    /// The whole span in nanoseconds; Int128 because ±10,000 years overflows Int64 nanoseconds.
    var totalNanos: Int128 { Int128(seconds) * Int128(nanosPerSecond) + Int128(nanos) }

    /// Parses Go's duration syntax as `duration('…')` does: `1h2m3.5s`, `-999999999ns`, `1.5h`, `0`.
    public init(parsing text: String) throws(CELEvalError) {
        let invalid = CELEvalError("invalid duration '\(text)'")
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var negative = false
        if let first = scalars.first, first == "-" || first == "+" {
            negative = first == "-"
            index = 1
        }
        // Go accepts a bare zero without a unit, and only zero.
        if scalars.count == index + 1, scalars[index] == "0" {
            self = .zero
            return
        }
        guard index < scalars.count else { throw invalid }
        // Values saturate just past the limit so huge inputs stay range errors without overflowing.
        let saturation = Self.maxNanos + 1
        var total: Int128 = 0
        while index < scalars.count {
            var whole: Int128 = 0
            var wholeDigits = 0
            while index < scalars.count, let digit = asciiDigit(scalars[index]) {
                whole = min(whole * 10 + Int128(digit), saturation)
                wholeDigits += 1
                index += 1
            }
            var fraction: ArraySlice<Unicode.Scalar> = []
            if index < scalars.count, scalars[index] == "." {
                index += 1
                let fractionStart = index
                while index < scalars.count, asciiDigit(scalars[index]) != nil { index += 1 }
                fraction = scalars[fractionStart..<index]
            }
            // Either side of the point may be empty (`1.s`, `.5s`), but not both.
            guard wholeDigits > 0 || !fraction.isEmpty else { throw invalid }
            let unitStart = index
            while index < scalars.count, scalars[index] != ".", asciiDigit(scalars[index]) == nil { index += 1 }
            guard let unit = Self.unitNanos(String(String.UnicodeScalarView(scalars[unitStart..<index])))
            else { throw invalid }
            // floor(unit × 0.fraction) by long multiplication from the last digit: exact for any
            // number of digits, and the carry stays below 10 × unit.
            var carry: Int64 = 0
            for scalar in fraction.reversed() { carry = (unit * asciiDigit(scalar)! + carry) / 10 }
            total = min(total + min(whole * Int128(unit), saturation) + Int128(carry), saturation)
        }
        try self.init(totalNanos: negative ? -total : total)
    }

    private static func unitNanos(_ unit: String) -> Int64? {
        switch unit {
        case "ns": 1
        case "us", "\u{B5}s", "\u{3BC}s": 1_000  // micro sign and Greek mu both spell micro
        case "ms": 1_000_000
        case "s": 1_000_000_000
        case "m": 60_000_000_000
        case "h": 3_600_000_000_000
        default: nil
        }
    }

    /// The duration as `string(duration)` prints it: `100s`, `1.5s`, `-0.000000001s`, `0s`.
    public var text: String {
        let sign = seconds < 0 || nanos < 0 ? "-" : ""
        let fraction = nanos == 0 ? "" : "." + trimmedFraction(Int64(nanos.magnitude))
        return sign + String(seconds.magnitude) + fraction + "s"
    }

    /// The sum `self + other`; a range error beyond ±10,000 years.
    public func adding(_ other: CELDuration) throws(CELEvalError) -> CELDuration {
        try CELDuration(totalNanos: totalNanos + other.totalNanos)
    }

    /// The difference `self - other`; a range error beyond ±10,000 years.
    public func subtracting(_ other: CELDuration) throws(CELEvalError) -> CELDuration {
        try CELDuration(totalNanos: totalNanos - other.totalNanos)
    }

    /// The opposite span `-self`.
    public func negated() throws(CELEvalError) -> CELDuration {
        try CELDuration(totalNanos: -totalNanos)
    }

    /// Whole hours, truncated toward zero.
    public var totalHours: Int64 { seconds / 3600 }
    /// Whole minutes, truncated toward zero.
    public var totalMinutes: Int64 { seconds / 60 }
    /// Whole seconds, truncated toward zero.
    public var totalSeconds: Int64 { seconds }
    /// Whole milliseconds, truncated toward zero.
    public var totalMilliseconds: Int64 { seconds * 1_000 + Int64(nanos) / 1_000_000 }

    /// Whether `lhs` is the shorter (more negative) span.
    public static func < (lhs: CELDuration, rhs: CELDuration) -> Bool {
        lhs.totalNanos < rhs.totalNanos
    }
}

// MARK: - Civil calendar (proleptic Gregorian), after Howard Hinnant's chrono algorithms

/// Days from 1970-01-01 to the given date.
func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
    let year = month <= 2 ? year - 1 : year
    let era = floorDivide(year, 400)
    let yearOfEra = year - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// The date `days` after 1970-01-01.
func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let shifted = days + 719_468
    let era = floorDivide(shifted, 146_097)
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthFromMarch = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
    let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

func daysInMonth(year: Int64, month: Int64) -> Int64 {
    switch month {
    case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    let quotient = value / divisor
    return value % divisor < 0 ? quotient - 1 : quotient
}

private func floorModulo(_ value: Int64, _ divisor: Int64) -> Int64 {
    let remainder = value % divisor
    return remainder < 0 ? remainder + divisor : remainder
}

private func padded(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

/// Nanoseconds `1...999_999_999` as the digits after a decimal point, without trailing zeros.
private func trimmedFraction(_ nanos: Int64) -> String {
    var value = nanos
    var width = 9
    while value % 10 == 0 {
        value /= 10
        width -= 1
    }
    return padded(value, width)
}

private func asciiDigit(_ scalar: Unicode.Scalar) -> Int64? {
    ("0"..."9").contains(scalar) ? Int64(scalar.value - 48) : nil
}

/// A cursor over the UTF-8 bytes of fixed-layout text.
private struct ByteScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    var atEnd: Bool { index == bytes.count }

    /// Consumes `character` if it is next.
    mutating func take(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    /// How many ASCII digits follow, without consuming them.
    func digitCount() -> Int {
        var end = index
        while end < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) { end += 1 }
        return end - index
    }

    /// Consumes exactly `digits` (at most 18) ASCII digits as a number, or nothing.
    mutating func number(digits: Int) -> Int64? {
        guard digits <= 18, digitCount() >= digits else { return nil }
        var value: Int64 = 0
        for byte in bytes[index..<index + digits] { value = value * 10 + Int64(byte - UInt8(ascii: "0")) }
        index += digits
        return value
    }

    /// Consumes `count` bytes unread.
    mutating func skip(_ count: Int) {
        index += count
    }
}
