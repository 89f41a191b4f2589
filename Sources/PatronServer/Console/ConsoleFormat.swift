import Foundation
import PatronCore
import PatronEngine

/// How the console writes a program's numbers, money and times: amounts in the program's
/// currency from minor units, times in the program's time zone.
struct ConsoleFormat: Sendable {
    let currency: String
    let timeZone: TimeZone

    init(program: Program) {
        currency = program.currency
        timeZone = TimeZone(identifier: program.timeZone) ?? .gmt
    }

    /// `12,345`, `-80`.
    func number(_ value: Int64) -> String {
        (value < 0 ? "-" : "") + Self.grouped(value.magnitude)
    }

    /// `+120` or `-80`: a change.
    func signed(_ value: Int64) -> String {
        (value > 0 ? "+" : "") + number(value)
    }

    /// An amount in minor units in the program's currency: `¥1,234.50`, `-¥3.10`, `CHF 12.00`.
    func money(_ minor: Int64) -> String {
        let digits = Currency.minorUnitDigits[currency] ?? 2
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        var amount = Self.grouped(minor.magnitude / scale)
        if digits > 0 {
            let fraction = String(minor.magnitude % scale)
            amount += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        let sign = minor < 0 ? "-" : ""
        guard let symbol = Self.symbols[currency] else { return "\(currency) \(sign)\(amount)" }
        return sign + symbol + amount
    }

    static let symbols = ["CNY": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "TWD": "NT$"]

    private static func grouped(_ magnitude: UInt64) -> String {
        let digits = String(magnitude)
        var grouped = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0, (digits.count - offset) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return grouped
    }

    /// `2026-11-23 22:15` in the program's time zone.
    func time(_ date: Date) -> String {
        let parts = components(date)
        return String(format: "%04d-%02d-%02d %02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0)
    }

    /// `2026-11-23` in the program's time zone.
    func day(_ date: Date) -> String {
        let parts = components(date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// The month (1–12) of an instant in the program's time zone.
    func month(_ date: Date) -> Int {
        components(date).month ?? 1
    }

    private func components(_ date: Date) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
    }
}

extension ConsoleFormat {
    /// An amount of a tier model's metric: money for spend, else a count with its unit.
    func metric(_ value: Int64, _ metric: TierPolicy.Metric, _ language: ConsoleLanguage) -> String {
        switch metric {
        case .spend: money(value)
        case .orders: language.word("n_orders", number(value))
        case .growth: language.word("n_growth", number(value))
        case .pointsEarned: language.word("n_points", number(value))
        }
    }

    /// The bar to the next level: its label ("1,200 growth more to 金卡"), its value and maximum,
    /// and the share reached; nil at the top.
    func progress(_ standing: TierStanding, _ language: ConsoleLanguage) -> [String: Any]? {
        guard let next = standing.next else { return nil }
        let threshold = next.level.threshold
        return ["text": language.word("more_to", metric(next.needed, standing.metric, language), next.level.name),
                "value": min(standing.qualifyingValue, threshold), "max": max(threshold, 1),
                "percent": threshold > 0 ? String(min(100, standing.qualifyingValue * 100 / threshold)) : "100"]
    }
}
