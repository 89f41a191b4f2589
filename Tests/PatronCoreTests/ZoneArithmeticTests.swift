import Foundation
@testable import PatronCore
import Testing

/// The integer calendar arithmetic against Foundation's Gregorian calendar, on random instants.
@Suite("Zone arithmetic")
struct ZoneArithmeticTests {
    @Test("exists for zones whose offset is fixed, and not for zones with daylight saving", arguments: [
        ("UTC", true), ("Asia/Shanghai", true), ("Asia/Kolkata", true), ("Asia/Kathmandu", true),
        ("America/New_York", false), ("Europe/London", false), ("Australia/Lord_Howe", false),
    ])
    func availability(_ zone: String, fixed: Bool) {
        #expect((ZoneArithmetic.of(TimeZone(identifier: zone)!) != nil) == fixed)
    }

    @Test("gives what Foundation's calendar gives: days, months and years, and months added",
          arguments: ["UTC", "Asia/Shanghai", "Asia/Kolkata", "Asia/Kathmandu"])
    func matchesFoundation(_ zone: String) throws {
        let timeZone = TimeZone(identifier: zone)!
        let arithmetic = try #require(ZoneArithmetic.of(timeZone))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var random = SeededGenerator(seed: 0x2_0E0E)
        let low = Timestamp.milliseconds(try Date("2000-01-01T00:00:00Z", strategy: .iso8601))
        let high = Timestamp.milliseconds(try Date("2100-01-01T00:00:00Z", strategy: .iso8601))
        for step in 0..<3_000 {
            // Random instants, and instants on and next to local midnights and ends of months.
            var milliseconds = Int64.random(in: low..<high, using: &random)
            if step % 3 == 1 { milliseconds = arithmetic.start(of: .month, milliseconds)! + Int64.random(in: -1...1, using: &random) }
            if step % 3 == 2 { milliseconds = arithmetic.start(of: .day, milliseconds)! - 1 }
            let date = Timestamp.date(milliseconds: milliseconds)
            for component in [Calendar.Component.day, .month, .year] {
                let expected = calendar.dateInterval(of: component, for: date)!
                let found = try #require(arithmetic.interval(of: component, milliseconds))
                #expect(found.start == Timestamp.milliseconds(expected.start), "\(zone) \(component) of \(date)")
                #expect(found.end == Timestamp.milliseconds(expected.end), "\(zone) \(component) end of \(date)")
            }
            // Within a year Foundation clamps the day as the arithmetic does (beyond it, it can
            // overflow into March: see `ZoneArithmetic?.adding(months:to:calendar:)`).
            let months = Int.random(in: -12...12, using: &random)
            let expected = calendar.date(byAdding: .month, value: months, to: date)!
            #expect(arithmetic.adding(months: Int64(months), to: milliseconds) == Timestamp.milliseconds(expected),
                    "\(zone) \(months) months from \(date)")
            // Further, both ways of adding agree: the arithmetic, and the calendar's components.
            let far = Int.random(in: -40...40, using: &random)
            let byComponents = ZoneArithmetic?.none.adding(months: far, to: date, calendar: calendar)
            #expect(arithmetic.adding(months: Int64(far), to: milliseconds) == Timestamp.milliseconds(byComponents),
                    "\(zone) \(far) months from \(date)")
        }
    }

    @Test("clamps the day to the target month, across years and leap years")
    func clamps() throws {
        let arithmetic = try #require(ZoneArithmetic.of(TimeZone(identifier: "UTC")!))
        func at(_ text: String) throws -> Int64 { Timestamp.milliseconds(try Date(text, strategy: .iso8601)) }
        #expect(arithmetic.adding(months: -23, to: try at("2036-01-31T01:59:53.752Z")) == (try at("2034-02-28T01:59:53.752Z")))
        #expect(arithmetic.adding(months: -1, to: try at("2024-03-31T10:00:00Z")) == (try at("2024-02-29T10:00:00Z")))
        #expect(arithmetic.adding(months: 12, to: try at("2024-02-29T10:00:00Z")) == (try at("2025-02-28T10:00:00Z")))
        #expect(arithmetic.adding(months: 48, to: try at("2024-02-29T10:00:00Z")) == (try at("2028-02-29T10:00:00Z")))
    }

    @Test("declines instants before the zone's last change of offset")
    func beforeTheFixedEra() throws {
        let arithmetic = try #require(ZoneArithmetic.of(TimeZone(identifier: "Asia/Shanghai")!))
        // Shanghai kept daylight saving until 1991.
        let summer1990 = Timestamp.milliseconds(try Date("1990-07-01T00:00:00Z", strategy: .iso8601))
        #expect(arithmetic.start(of: .day, summer1990) == nil)
        #expect(arithmetic.adding(months: 1, to: summer1990) == nil)
        let policy = PointsPolicy(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        #expect(policy.day(of: Timestamp.date(milliseconds: summer1990)) ==
                policy.calendar.dateInterval(of: .day, for: Timestamp.date(milliseconds: summer1990)))
    }
}
