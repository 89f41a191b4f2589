import Foundation
import Synchronization

/// Calendar arithmetic by integer arithmetic, for a time zone whose offset from UTC no longer
/// changes (Asia/Shanghai since 1991, UTC always): starts of days, months and years, and adding
/// months to a wall-clock time, as Foundation's Gregorian calendar in that zone computes them. It
/// answers nil for any instant, or result, before the zone's last change of offset, and a zone that
/// still observes daylight saving has none: callers then ask Foundation's `Calendar`, which is
/// exact everywhere but takes microseconds and a lock per call — most of a replay's time, and a
/// share of every event's.
public struct ZoneArithmetic: Sendable, Hashable {
    /// Seconds east of UTC, constant from `since` (milliseconds since the epoch) on.
    let offset: Int64
    let since: Int64

    private static let known = Mutex<[String: ZoneArithmetic?]>([:])

    /// The arithmetic of a zone, worked out once per zone and process.
    public static func of(_ zone: TimeZone) -> ZoneArithmetic? {
        if let known = known.withLock({ $0[zone.identifier] }) { return known }
        let made = ZoneArithmetic(zone)
        known.withLock { $0[zone.identifier] = .some(made) }
        return made
    }

    init?(_ zone: TimeZone) {
        // Walk the zone's transitions to its last; a zone with transitions past 2200 keeps changing.
        let horizon = Date(timeIntervalSince1970: 7_258_118_400)  // 2200-01-01
        var last = Date(timeIntervalSince1970: -2_208_988_800)  // 1900-01-01
        var cursor = last
        for _ in 0..<2_000 {
            guard let next = zone.nextDaylightSavingTimeTransition(after: cursor) else { break }
            guard next < horizon else { return nil }
            last = next
            cursor = next
        }
        guard zone.nextDaylightSavingTimeTransition(after: cursor) == nil else { return nil }
        let offset = Int64(zone.secondsFromGMT(for: horizon))
        // A margin of a day past the last transition, and the offset checked on both sides of it.
        let since = last.addingTimeInterval(86_400)
        guard Int64(zone.secondsFromGMT(for: since)) == offset else { return nil }
        self.offset = offset
        self.since = Timestamp.milliseconds(since)
    }

    private func local(_ milliseconds: Int64) -> (days: Int64, millisecondOfDay: Int64) {
        let local = milliseconds + offset * 1000
        let days = floorDivide(local, 86_400_000)
        return (days, local - days * 86_400_000)
    }

    private func instant(days: Int64, millisecondOfDay: Int64 = 0) -> Int64? {
        let milliseconds = days * 86_400_000 + millisecondOfDay - offset * 1000
        return milliseconds >= since ? milliseconds : nil
    }

    /// The start of the local day, month or year that holds the instant (milliseconds).
    public func start(of component: Calendar.Component, _ milliseconds: Int64) -> Int64? {
        guard milliseconds >= since else { return nil }
        let days = local(milliseconds).days
        switch component {
        case .day:
            return instant(days: days)
        case .month:
            let civil = civilFromDays(days)
            return instant(days: daysFromCivil(year: civil.year, month: civil.month, day: 1))
        case .year:
            return instant(days: daysFromCivil(year: civilFromDays(days).year, month: 1, day: 1))
        default:
            return nil
        }
    }

    /// The local day, month or year that holds the instant, as its start and end.
    public func interval(of component: Calendar.Component, _ milliseconds: Int64) -> (start: Int64, end: Int64)? {
        guard let start = start(of: component, milliseconds) else { return nil }
        let civil = civilFromDays(local(start).days)
        let endDays: Int64
        switch component {
        case .day: endDays = local(start).days + 1
        case .month: endDays = civil.month == 12 ? daysFromCivil(year: civil.year + 1, month: 1, day: 1)
            : daysFromCivil(year: civil.year, month: civil.month + 1, day: 1)
        case .year: endDays = daysFromCivil(year: civil.year + 1, month: 1, day: 1)
        default: return nil
        }
        guard let end = instant(days: endDays) else { return nil }
        return (start, end)
    }

    /// The instant `months` months (negative: earlier) from this one at the same wall-clock time,
    /// the day of month clamped to the target month's length.
    public func adding(months: Int64, to milliseconds: Int64) -> Int64? {
        guard milliseconds >= since else { return nil }
        let (days, time) = local(milliseconds)
        let civil = civilFromDays(days)
        let index = civil.year * 12 + (civil.month - 1) + months
        let year = floorDivide(index, 12), month = index - year * 12 + 1
        let day = min(civil.day, daysInMonth(year: year, month: month))
        return instant(days: daysFromCivil(year: year, month: month, day: day), millisecondOfDay: time)
    }

    /// 00:00 local on a date.
    public func midnight(year: Int64, month: Int64, day: Int64) -> Int64? {
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        return instant(days: daysFromCivil(year: year, month: month, day: day))
    }

    /// The local year of an instant.
    public func year(of milliseconds: Int64) -> Int64 {
        civilFromDays(local(milliseconds).days).year
    }
}

extension ZoneArithmetic? {
    /// The local day, month or year holding `instant`: by arithmetic where it applies, else by
    /// `calendar` (the same zone's Gregorian calendar).
    func interval(of component: Calendar.Component, containing instant: Date, calendar: Calendar) -> DateInterval {
        if let self, let interval = self.interval(of: component, Timestamp.milliseconds(instant)) {
            return DateInterval(start: Timestamp.date(milliseconds: interval.start), end: Timestamp.date(milliseconds: interval.end))
        }
        return calendar.dateInterval(of: component, for: instant)!
    }

    /// `months` months from `instant` at the same wall-clock time, the day clamped to the target
    /// month's length. Without arithmetic it goes through the calendar's date components rather
    /// than `date(byAdding: .month)`, which on Linux overflows into March instead of clamping when
    /// a shift of more than a year lands on a short February (2036-01-31 − 23 months gave
    /// 2034-03-01).
    func adding(months: Int, to instant: Date, calendar: Calendar) -> Date {
        if let self, let result = self.adding(months: Int64(months), to: Timestamp.milliseconds(instant)) {
            return Timestamp.date(milliseconds: result)
        }
        var parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: instant)
        let index = Int64(parts.year!) * 12 + Int64(parts.month! - 1) + Int64(months)
        let year = floorDivide(index, 12), month = index - year * 12 + 1
        parts.year = Int(year)
        parts.month = Int(month)
        parts.day = min(parts.day!, Int(daysInMonth(year: year, month: month)))
        return calendar.date(from: parts)!
    }
}
