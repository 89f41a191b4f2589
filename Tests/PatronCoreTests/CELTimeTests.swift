import Foundation
@testable import PatronCore
import Testing

private func timestamp(_ text: String) throws -> CELTimestamp {
    try CELTimestamp(rfc3339: text)
}

private func duration(_ text: String) throws -> CELDuration {
    try CELDuration(parsing: text)
}

@Suite("CEL timestamps")
struct CELTimestampTests {
    @Test("accessors in UTC", arguments: [
        (CELTimeComponent.date, 13), (.dayOfMonth, 12), (.dayOfWeek, 5), (.dayOfYear, 43), (.fullYear, 2009),
        (.hours, 23), (.minutes, 31), (.month, 1), (.seconds, 30), (.milliseconds, 0),
    ] as [(CELTimeComponent, Int64)])
    func accessorsInUTC(component: CELTimeComponent, expected: Int64) throws {
        #expect(try timestamp("2009-02-13T23:31:30Z").component(component, in: .utc) == expected)
    }

    @Test("accessors in a zone", arguments: [
        ("2009-02-13T23:31:30Z", CELTimeComponent.dayOfMonth, "US/Central", 12),
        ("2009-02-13T23:31:30Z", .dayOfYear, "US/Central", 43),
        ("2009-02-13T23:31:30Z", .dayOfMonth, "+11:00", 13),
        ("2009-02-13T02:00:00Z", .dayOfMonth, "-02:30", 11),
        ("2009-02-13T02:00:00Z", .dayOfMonth, "America/St_Johns", 11),
        ("2009-02-13T23:31:30Z", .fullYear, "-09:30", 2009),
        ("2009-02-13T23:31:30Z", .hours, "02:00", 1),
        ("2009-02-13T23:31:30Z", .minutes, "Asia/Kathmandu", 16),
        ("2009-02-13T23:31:30Z", .seconds, "-00:00", 30),
        ("2009-02-13T23:31:30Z", .hours, "Asia/Shanghai", 7),
        ("2009-02-13T23:31:30Z", .dayOfWeek, "Asia/Shanghai", 6),
        ("2009-12-31T23:00:00Z", .fullYear, "+01:00", 2010),
        ("2009-12-31T23:00:00Z", .month, "+01:00", 0),
        ("2009-12-31T23:00:00Z", .dayOfYear, "UTC", 364),
        ("2000-12-31T00:00:00Z", .dayOfYear, "UTC", 365),
    ] as [(String, CELTimeComponent, String, Int64)])
    func accessorsInZone(instant: String, component: CELTimeComponent, zone: String, expected: Int64) throws {
        #expect(try timestamp(instant).component(component, in: CELTimeZone(zone)) == expected)
    }

    @Test("milliseconds come from the nanoseconds")
    func milliseconds() throws {
        #expect(try timestamp("2009-02-13T23:31:20.123456789Z").component(.milliseconds, in: .utc) == 123)
    }

    @Test("follows daylight saving time across Europe/Berlin's switch on 2021-03-28")
    func daylightSaving() throws {
        let berlin = try CELTimeZone("Europe/Berlin")
        #expect(try berlin.offsetSeconds(at: timestamp("2021-03-28T00:59:59Z").seconds) == 3600)
        #expect(try berlin.offsetSeconds(at: timestamp("2021-03-28T01:00:00Z").seconds) == 7200)
        #expect(try timestamp("2021-03-28T00:30:00Z").component(.hours, in: berlin) == 1)
        #expect(try timestamp("2021-03-28T01:30:00Z").component(.hours, in: berlin) == 3)
        #expect(try timestamp("2021-10-31T00:30:00Z").component(.hours, in: berlin) == 2)
        #expect(try timestamp("2021-10-31T01:30:00Z").component(.hours, in: berlin) == 2)
    }

    @Test("accepts seconds within years 1 to 9999")
    func secondsRange() throws {
        #expect(try CELTimestamp(seconds: -62_135_596_800).rfc3339 == "0001-01-01T00:00:00Z")
        #expect(try CELTimestamp(seconds: 253_402_300_799, nanos: 999_999_999).rfc3339
            == "9999-12-31T23:59:59.999999999Z")
        #expect(try CELTimestamp(seconds: 0, nanos: -1).rfc3339 == "1969-12-31T23:59:59.999999999Z")
        #expect(throws: CELEvalError.range) { try CELTimestamp(seconds: -62_135_596_801) }
        #expect(throws: CELEvalError.range) { try CELTimestamp(seconds: 253_402_300_800) }
        #expect(throws: CELEvalError.range) { try CELTimestamp(seconds: .max, nanos: .max) }
    }

    @Test("parses RFC 3339", arguments: [
        ("2009-02-13T23:31:30Z", 1_234_567_890, 0),
        ("2009-02-13t23:31:30z", 1_234_567_890, 0),
        ("2009-02-14T01:01:30+01:30", 1_234_567_890, 0),
        ("2009-02-13T20:31:30-03:00", 1_234_567_890, 0),
        ("2009-02-13T23:31:30.5Z", 1_234_567_890, 500_000_000),
        ("2009-02-13T23:31:30.000000001Z", 1_234_567_890, 1),
        ("1969-12-31T23:59:59.999999999Z", -1, 999_999_999),
        ("2000-02-29T00:00:00Z", 951_782_400, 0),
        ("0001-01-01T00:00:00Z", -62_135_596_800, 0),
        ("0000-12-31T23:00:00-01:00", -62_135_596_800, 0),
        ("9999-12-31T23:59:59.999999999Z", 253_402_300_799, 999_999_999),
    ] as [(String, Int64, Int32)])
    func parses(text: String, seconds: Int64, nanos: Int32) throws {
        let parsed = try timestamp(text)
        #expect(parsed.seconds == seconds)
        #expect(parsed.nanos == nanos)
    }

    @Test("rejects a year outside 1 to 9999 as out of range", arguments: [
        "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "9999-12-31T23:00:00-01:00",
    ])
    func yearOutOfRange(text: String) {
        #expect(throws: CELEvalError("timestamp out of range")) { try timestamp(text) }
    }

    @Test("rejects malformed text", arguments: [
        "xyz", "", "2009-02-13", "2009-02-13T23:31:30", "2009-02-13 23:31:30Z", "2009-2-13T23:31:30Z",
        "209-02-13T23:31:30Z", "+2009-02-13T23:31:30Z", "2009-02-13T23:31:30.Z", "2009-02-13T23:31:30.1234567890Z",
        "2009-02-13T23:31:30Zx", "2009-02-13T23:31:30+0100", "2009-02-13T23:31:30+24:00",
        "2009-00-13T23:31:30Z", "2009-13-13T23:31:30Z", "2009-02-00T23:31:30Z", "2009-02-29T23:31:30Z",
        "1900-02-29T00:00:00Z", "2009-04-31T00:00:00Z", "2009-02-13T24:00:00Z", "2009-02-13T23:60:00Z",
        "2009-02-13T23:31:60Z",
    ])
    func malformed(text: String) {
        #expect(throws: CELEvalError("invalid timestamp '\(text)'")) { try timestamp(text) }
    }

    @Test("formats as RFC 3339 in UTC with trimmed fractions", arguments: [
        ("2009-02-13T23:31:30Z", "2009-02-13T23:31:30Z"),
        ("2009-02-13T23:31:30.123Z", "2009-02-13T23:31:30.123Z"),
        ("2009-02-13T23:31:30.120000Z", "2009-02-13T23:31:30.12Z"),
        ("2009-02-14T01:01:30.000000001+01:30", "2009-02-13T23:31:30.000000001Z"),
        ("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0099-03-01t00:00:00.5z", "0099-03-01T00:00:00.5Z"),
    ])
    func formats(text: String, expected: String) throws {
        let formatted = try timestamp(text).rfc3339
        #expect(formatted == expected)
        #expect(try timestamp(formatted) == timestamp(text))
    }

    @Test("round-trips every 97th day of the range")
    func roundTrips() throws {
        for day in stride(from: Int64(-719_162), through: 2_932_896, by: 97) {
            let instant = try CELTimestamp(seconds: day * 86_400 + 3_723, nanos: 4_500)
            #expect(try CELTimestamp(rfc3339: instant.rfc3339) == instant)
        }
    }

    @Test("adds and subtracts durations")
    func arithmetic() throws {
        let instant = try timestamp("2009-02-13T23:31:30Z")
        #expect(try instant.adding(duration("1h")).rfc3339 == "2009-02-14T00:31:30Z")
        #expect(try instant.subtracting(duration("1.5s")).rfc3339 == "2009-02-13T23:31:28.5Z")
        #expect(try timestamp("0001-01-01T00:00:01.000000001Z").adding(duration("-999999999ns"))
            == timestamp("0001-01-01T00:00:00.000000002Z"))
        #expect(try instant.difference(from: timestamp("2009-02-13T23:31:00.5Z")).text == "29.5s")
        #expect(try timestamp("2009-02-13T23:31:00.5Z").difference(from: instant).text == "-29.5s")
        #expect(try timestamp("2009-02-13T23:31:30Z") < timestamp("2009-02-13T23:31:30.000000001Z"))
    }

    @Test("reports results past either end of the range")
    func arithmeticRange() throws {
        let first = try timestamp("0001-01-01T00:00:00Z")
        let last = try timestamp("9999-12-31T23:59:59Z")
        #expect(throws: CELEvalError.range) { try first.adding(duration("-1ns")) }
        #expect(throws: CELEvalError.range) { try first.subtracting(duration("1ns")) }
        #expect(throws: CELEvalError.range) { try timestamp("9999-12-31T23:59:59.999999999Z").adding(duration("1ns")) }
        #expect(throws: CELEvalError.range) { try first.adding(duration("315576000000s")) }
        #expect(throws: CELEvalError.range) { try last.difference(from: first) }
        #expect(throws: CELEvalError.range) { try first.difference(from: last) }
    }
}

@Suite("CEL time zones")
struct CELTimeZoneTests {
    @Test("accepts IANA names and fixed offsets", arguments: [
        ("Asia/Shanghai", 28_800), ("US/Central", -21_600), ("UTC", 0), ("+11:00", 39_600), ("-02:30", -9_000),
        ("02:00", 7_200), ("-00:00", 0),
    ])
    func offsets(name: String, offset: Int) throws {
        #expect(CELTimeZone.isValid(name))
        #expect(try CELTimeZone(name).offsetSeconds(at: 1_234_567_890) == offset)
    }

    @Test("rejects unknown names and malformed offsets", arguments: [
        "Mars/Olympus", "", "utc ", "+1100", "+11:0", "+24:00", "11:60", "+-1:00",
    ])
    func unknown(name: String) {
        #expect(!CELTimeZone.isValid(name))
        #expect(throws: CELEvalError("unknown time zone '\(name)'")) { try CELTimeZone(name) }
    }

    @Test("answers the same zone from the cache")
    func cached() throws {
        for _ in 0..<3 {
            #expect(try CELTimeZone("America/St_Johns").offsetSeconds(at: 1_234_567_890) == -12_600)
        }
    }
}

@Suite("CEL durations")
struct CELDurationTests {
    @Test("parses Go duration syntax", arguments: [
        ("1h2m3.5s", "3723.5s"), ("-999999999ns", "-0.999999999s"), ("100s", "100s"), ("0", "0s"), ("-0", "0s"),
        ("0s", "0s"), ("1.5h", "5400s"), ("1ms", "0.001s"), ("1us", "0.000001s"), ("1\u{B5}s", "0.000001s"),
        ("1\u{3BC}s", "0.000001s"), ("-1ns", "-0.000000001s"), ("+5m", "300s"), ("1h1h", "7200s"), ("1.s", "1s"),
        (".5s", "0.5s"), ("0.0000000019s", "0.000000001s"), ("0.33333333333333333333333333333333h", "1199.999999999s"),
        ("315576000000s", "315576000000s"), ("-315576000000.999999999s", "-315576000000.999999999s"),
    ])
    func parses(text: String, expected: String) throws {
        #expect(try duration(text).text == expected)
    }

    @Test("rejects malformed text", arguments: [
        "", "-", "+", "1", "s", ".s", "-.s", "1x", "1hh", "1h ", " 1h", "1..5s", "1.5.5s", "00", "1e3s", "h1",
        "1h-1m", "--1s",
    ])
    func malformed(text: String) {
        #expect(throws: CELEvalError("invalid duration '\(text)'")) { try duration(text) }
    }

    @Test("reports values beyond 10,000 years as out of range", arguments: [
        "-320000000000s", "320000000000s", "315576000001s", "5259600001m", "99999999999999999999999999999999999999999h",
    ])
    func outOfRange(text: String) {
        #expect(throws: CELEvalError.range) { try duration(text) }
    }

    @Test("normalizes seconds and nanoseconds to one sign")
    func normalizes() throws {
        let mixed = try CELDuration(seconds: -1, nanos: 1)
        #expect(mixed.seconds == 0)
        #expect(mixed.nanos == -999_999_999)
        #expect(try CELDuration(seconds: 1, nanos: -1).text == "0.999999999s")
        #expect(try CELDuration(seconds: 0, nanos: 1_500_000_000) == duration("1.5s"))
        #expect(throws: CELEvalError.range) { try CELDuration(seconds: 315_576_000_001) }
        #expect(throws: CELEvalError.range) { try CELDuration(seconds: .min) }
    }

    @Test("adds, subtracts and negates within range")
    func arithmetic() throws {
        #expect(try duration("1.5s").subtracting(duration("2s")).text == "-0.5s")
        #expect(try duration("1.5s").adding(duration("-2s")) == duration("-0.5s"))
        #expect(try duration("1.5s").negated().text == "-1.5s")
        #expect(throws: CELEvalError.range) { try duration("-200000000000s").subtracting(duration("200000000000s")) }
        #expect(throws: CELEvalError.range) { try duration("-200000000000s").adding(duration("-200000000000s")) }
        #expect(throws: CELEvalError.range) { try duration("200000000000s").adding(duration("200000000000s")) }
    }

    @Test("truncates totals toward zero")
    func totals() throws {
        let positive = try duration("3730s")
        #expect(positive.totalHours == 1)
        #expect(positive.totalMinutes == 62)
        #expect(positive.totalSeconds == 3730)
        #expect(positive.totalMilliseconds == 3_730_000)
        let negative = try duration("-3730.5678s")
        #expect(negative.totalHours == -1)
        #expect(negative.totalMinutes == -62)
        #expect(negative.totalSeconds == -3730)
        #expect(negative.totalMilliseconds == -3_730_567)
        #expect(try duration("315576000000.999999999s").totalMilliseconds == 315_576_000_000_999)
    }

    @Test("orders by length")
    func ordering() throws {
        let ordered = try ["-1.5s", "-1s", "-0.5s", "0", "1ns", "1s"].map(duration)
        #expect(ordered == ordered.sorted())
    }
}
