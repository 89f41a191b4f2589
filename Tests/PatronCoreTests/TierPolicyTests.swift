import Foundation
import PatronCore
import Testing

/// The tier rules at their boundaries: thresholds met exactly, the edges of each window, review
/// instants in the program's time zone, and what reviews and manual assignments do.
@Suite("Tier policy")
struct TierPolicyTests {
    /// CONFIG.md's example model, in Shanghai (UTC+8, no daylight saving).
    static func policy(timeZone: String = "Asia/Shanghai") throws -> TierPolicy {
        let document = try JSONValue(parsing: Data("""
            {"currency":"CNY","time_zone":"\(timeZone)","tiers":{
              "metric":"growth","window":{"kind":"rolling_months","months":12},
              "review":{"kind":"yearly","month":1,"day":1},"downgrade":"one_down",
              "levels":[{"code":"silver","name":"银卡","threshold":0},
                        {"code":"gold","name":"金卡","threshold":5000,"retain":4000},
                        {"code":"platinum","name":"白金卡","threshold":20000,"retain":16000}]}}
            """.utf8))
        try ConfigValidator(programCurrency: "CNY").validate(document)
        return try #require(TierPolicy(configuration: document))
    }

    static func at(_ text: String) -> Date {
        try! Date(text, strategy: .iso8601)
    }

    static func ms(_ date: Date, _ offset: Int64) -> Date {
        Timestamp.date(milliseconds: Timestamp.milliseconds(date) + offset)
    }

    @Test("reads the model from the configuration, with retain defaulting to the threshold")
    func reads() throws {
        let policy = try Self.policy()
        #expect(policy.metric == .growth)
        #expect(policy.window == .rollingMonths(12))
        #expect(policy.review == .yearly(month: 1, day: 1))
        #expect(policy.downgrade == .oneDown)
        #expect(policy.levels.map(\.code) == ["silver", "gold", "platinum"])
        #expect(policy.levels.map(\.retain) == [0, 4000, 16000])
        #expect(TierPolicy(configuration: .object(["currency": .string("CNY")])) == nil)
    }

    @Test("a value exactly at a threshold reaches the level; one below does not; an upgrade may skip levels")
    func thresholds() throws {
        let policy = try Self.policy()
        #expect(policy.qualifiedLevel(for: 4999) == 0)
        #expect(policy.qualifiedLevel(for: 5000) == 1)
        #expect(policy.qualifiedLevel(for: 19_999) == 1)
        #expect(policy.qualifiedLevel(for: 20_000) == 2)
        #expect(policy.upgrade(from: 0, value: 4999) == nil)
        #expect(policy.upgrade(from: 0, value: 5000) == 1)
        #expect(policy.upgrade(from: 0, value: 25_000) == 2)
        // A value below the current level's threshold never moves a member down outside a review:
        // a refund after an upgrade leaves the level until the review.
        #expect(policy.upgrade(from: 2, value: 100) == nil)
        #expect(policy.upgrade(from: 1, value: 0) == nil)
    }

    @Test("invitation-only levels are never reached by the upgrade rule, nor stepped onto by one_down")
    func invitationOnly() throws {
        let document = try JSONValue(parsing: Data("""
            {"currency":"CNY","time_zone":"UTC","tiers":{"levels":[
              {"code":"member","name":"Member","threshold":0},
              {"code":"insider","name":"Insider","threshold":100,"invitation_only":true},
              {"code":"gold","name":"Gold","threshold":500}]}}
            """.utf8))
        try ConfigValidator(programCurrency: "CNY").validate(document)
        let policy = try #require(TierPolicy(configuration: document))
        #expect(policy.qualifiedLevel(for: 499) == 0)
        #expect(policy.upgrade(from: 0, value: 499) == nil)
        #expect(policy.upgrade(from: 1, value: 500) == 2)
        #expect(policy.review(from: 2, value: 0) == 0)
    }

    @Test("a rolling window counts (t − months, t]: not the instant months before, the millisecond after it, and t")
    func rollingWindowEdges() throws {
        let policy = try Self.policy()
        let t = Self.at("2026-03-31T10:00:00.000+08:00")
        let (from, through) = policy.window(at: t)
        let start = Self.at("2025-03-31T10:00:00.000+08:00")
        #expect(from == Self.ms(start, 1))
        #expect(through == t)
        let contributions = [
            TierContribution(at: start, value: 1),
            TierContribution(at: Self.ms(start, 1), value: 10),
            TierContribution(at: t, value: 100),
            TierContribution(at: Self.ms(t, 1), value: 1000),
        ]
        #expect(policy.qualifyingValue(contributions, at: t) == 110)
    }

    @Test("a rolling window counts months in the program's time zone, the end of a short month included")
    func rollingMonthsInZone() throws {
        let document = try JSONValue(parsing: Data("""
            {"currency":"CNY","time_zone":"Asia/Shanghai","tiers":{"window":{"kind":"rolling_months","months":1},
             "levels":[{"code":"a","name":"A","threshold":0}]}}
            """.utf8))
        let policy = try #require(TierPolicy(configuration: document))
        // 31 March 00:30 in Shanghai is still 30 March in UTC; a month back is 29 February 2028
        // (a leap year) 00:30 in Shanghai, not a UTC date.
        let t = Self.at("2028-03-31T00:30:00.000+08:00")
        #expect(policy.window(at: t).from == Self.ms(Self.at("2028-02-29T00:30:00.000+08:00"), 1))
    }

    @Test("a calendar-year window starts on 1 January in the program's zone; a review at New Year looks at the year just ended")
    func calendarYear() throws {
        let policy = try Self.policy()
        var calendarPolicy = policy
        calendarPolicy.window = .calendarYear
        let midYear = Self.at("2026-06-15T12:00:00.000+08:00")
        #expect(calendarPolicy.window(at: midYear).from == Self.at("2026-01-01T00:00:00.000+08:00"))
        let newYear = Self.at("2027-01-01T00:00:00.000+08:00")
        #expect(calendarPolicy.window(at: newYear).from == Self.at("2026-01-01T00:00:00.000+08:00"))
        #expect(calendarPolicy.window(at: Self.ms(newYear, 1)).from == newYear)
        // In UTC terms New Year in Shanghai is 16:00 on 31 December.
        #expect(newYear == Self.at("2026-12-31T16:00:00.000Z"))
        var lifetime = policy
        lifetime.window = .lifetime
        #expect(lifetime.window(at: newYear).from == nil)
    }

    @Test("review instants are at 00:00 in the program's zone; an instant exactly at a review is not after it")
    func reviewInstants() throws {
        let policy = try Self.policy()
        let newYear = Self.at("2027-01-01T00:00:00.000+08:00")
        #expect(policy.nextReview(after: Self.ms(newYear, -1)) == newYear)
        #expect(policy.nextReview(after: newYear) == Self.at("2028-01-01T00:00:00.000+08:00"))
        #expect(policy.reviewInstants(after: Self.at("2026-05-01T00:00:00Z"), through: Self.ms(newYear, -1)).isEmpty)
        #expect(policy.reviewInstants(after: Self.at("2026-05-01T00:00:00Z"), through: newYear) == [newYear])
        #expect(policy.reviewInstants(after: newYear, through: newYear).isEmpty)
        #expect(policy.reviewInstants(after: Self.at("2024-05-01T00:00:00Z"), through: newYear).count == 3)

        var monthly = policy
        monthly.review = .monthly
        #expect(monthly.nextReview(after: Self.at("2026-02-28T23:59:59.999+08:00")) == Self.at("2026-03-01T00:00:00.000+08:00"))
        #expect(monthly.reviewInstants(after: Self.at("2026-01-01T00:00:00.000+08:00"),
                                       through: Self.at("2026-04-01T00:00:00.000+08:00")).count == 3)

        var april = policy
        april.review = .yearly(month: 4, day: 1)
        #expect(april.nextReview(after: Self.at("2026-04-01T00:00:00.000+08:00")) == Self.at("2027-04-01T00:00:00.000+08:00"))
        #expect(april.nextReview(after: Self.at("2026-03-31T23:00:00.000+08:00")) == Self.at("2026-04-01T00:00:00.000+08:00"))
    }

    @Test("a review keeps a member at retain exactly, and moves one below it down by the downgrade policy")
    func reviews() throws {
        var policy = try Self.policy()
        // one_down
        #expect(policy.review(from: 2, value: 16_000) == nil)
        #expect(policy.review(from: 2, value: 15_999) == 1)
        #expect(policy.review(from: 2, value: 0) == 1)
        #expect(policy.review(from: 1, value: 4000) == nil)
        #expect(policy.review(from: 1, value: 3999) == 0)
        #expect(policy.review(from: 0, value: 0) == nil)
        // to_qualified
        policy.downgrade = .toQualified
        #expect(policy.review(from: 2, value: 15_999) == 1)
        #expect(policy.review(from: 2, value: 4999) == 0)
        #expect(policy.review(from: 2, value: 16_000) == nil)
        // never
        policy.downgrade = .never
        #expect(policy.review(from: 2, value: 0) == nil)
    }

    @Test("a manual assignment protects the member from reviews before its end, not at it; an unknown level is the base")
    func manualAssignments() throws {
        let policy = try Self.policy()
        let review = Self.at("2027-01-01T00:00:00.000+08:00")
        let assigned = MemberTier(level: "platinum", since: Self.at("2026-06-01T00:00:00Z"), manualUntil: Self.ms(review, 1),
                                  version: 1)
        #expect(policy.review(assigned, value: 0, at: review) == nil)
        var ending = assigned
        ending.manualUntil = review
        #expect(policy.review(ending, value: 0, at: review) == 1)
        var plain = assigned
        plain.manualUntil = nil
        #expect(policy.review(plain, value: 0, at: review) == 1)
        #expect(policy.level(of: nil) == 0)
        #expect(policy.level(of: MemberTier(level: "removed", since: review, version: 3)) == 0)
    }

    @Test("the metrics count what CONFIG.md says, from the program's accounts")
    func metrics() {
        #expect(TierPolicy.Metric.growth.unit == .growth)
        #expect(TierPolicy.Metric.pointsEarned.unit == .points)
        #expect(TierPolicy.Metric.spend.unit == nil)
        #expect(TierPolicy.Metric.growth.countedAccounts == [.issued, .clawedBack, .adjusted])
        #expect(TierPolicy.Metric.pointsEarned.countedAccounts == [.issued, .clawedBack])
    }
}
