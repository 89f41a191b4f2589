import Foundation
import PatronCore
@testable import PatronServer
import Testing

/// The console's words and how it writes numbers, money and times.
@Suite("Console text")
struct ConsoleTextTests {
    @Test("every language has every word, with the same placeholders")
    func tables() throws {
        let english = try #require(ConsoleLanguage.tables[.english])
        for language in ConsoleLanguage.allCases {
            let words = try #require(ConsoleLanguage.tables[language], "no words for \(language.rawValue)")
            #expect(Set(words.keys) == Set(english.keys), "\(language.rawValue) differs from English")
            for (key, text) in words {
                #expect(Self.placeholders(text) == Self.placeholders(english[key] ?? ""), "\(language.rawValue): \(key)")
            }
        }
    }

    /// How many values a text takes (`%@` or `%N$@`).
    static func placeholders(_ text: String) -> Int {
        let plain = text.components(separatedBy: "%@").count - 1
        let numbered = (1...9).filter { text.contains("%\($0)$@") }.count
        return plain + numbered
    }

    @Test("fills placeholders in order or by number, and leaves a value that looks like one alone")
    func placeholders() {
        let english = ConsoleLanguage.english, chinese = ConsoleLanguage.chinese
        #expect(english.word("members_found", "3", "王") == "3 members match “王”.")
        #expect(chinese.word("members_found_first", "50", "王") == "与“王”匹配的前 50 位会员；请输入更多内容以缩小范围。")
        #expect(english.word("members_found", "%@", "%1$@") == "%@ members match “%1$@”.")
        #expect(chinese.word("quota_left", "3", "5", chinese.word("per_month")) == "本月剩余 3/5")
        #expect(english.word("no_such_word") == "no_such_word")
    }

    @Test("writes amounts in the program's currency from minor units")
    func money() {
        func format(_ currency: String) -> ConsoleFormat {
            ConsoleFormat(program: Program(id: "p", code: "p", name: "P", currency: currency, timeZone: "Asia/Shanghai",
                                           configVersion: 1, createdAt: Date(timeIntervalSince1970: 0)))
        }
        #expect(format("CNY").money(123_450) == "¥1,234.50")
        #expect(format("CNY").money(-5) == "-¥0.05")
        #expect(format("CNY").money(0) == "¥0.00")
        #expect(format("JPY").money(1200) == "¥1,200")
        #expect(format("KWD").money(1_000_001) == "KWD 1,000.001")
        #expect(format("CNY").money(Int64.min) == "-¥92,233,720,368,547,758.08")
        #expect(format("CNY").number(-1_234_567) == "-1,234,567")
        #expect(format("CNY").signed(80) == "+80")
    }

    @Test("writes times in the program's time zone")
    func times() {
        let format = ConsoleFormat(program: Program(id: "p", code: "p", name: "P", currency: "CNY", timeZone: "Asia/Shanghai",
                                                    configVersion: 1, createdAt: Date(timeIntervalSince1970: 0)))
        let instant = Date(timeIntervalSince1970: 1_767_196_800)  // 2025-12-31T16:00:00Z
        #expect(format.time(instant) == "2026-01-01 00:00")
        #expect(format.day(instant.addingTimeInterval(-1)) == "2025-12-31")
    }
}

/// The server's SVG charts.
@Suite("Console charts")
struct ConsoleChartTests {
    @Test("scales to a round number above the largest value, with four equal steps")
    func scale() {
        #expect(SVGChart.Scale(maximum: 0).ticks == [0, 1, 2, 3, 4])
        #expect(SVGChart.Scale(maximum: 26).ticks == [0, 10, 20, 30, 40])
        #expect(SVGChart.Scale(maximum: 620_329).ticks == [0, 200_000, 400_000, 600_000, 800_000])
        #expect(SVGChart.Scale(maximum: 80_000).top == 80_000)
        #expect(SVGChart.compact(950) == "950")
        #expect(SVGChart.compact(12_000) == "12k")
        #expect(SVGChart.compact(3_400_000) == "3.4M")
    }

    @Test("draws a bar per value with its figure as a tooltip, and escapes every text")
    func bars() {
        let chart = SVGChart(id: "c", title: "A <b> & \"c\"", summary: "Jan 1", format: { String($0) })
        let svg = chart.bars(labels: ["Jan", "Feb"], series: [SVGChart.Series(name: "new", style: "s1", values: [1, 3])])
        #expect(svg.components(separatedBy: "<rect").count - 1 == 2)
        #expect(svg.contains("<title id=\"c-title\">A &lt;b&gt; &amp; &quot;c&quot;</title>"))
        #expect(svg.contains("<title>Feb: new 3</title>"))
        #expect(svg.contains("role=\"img\""))
        let shares = chart.shares(rows: [("银卡", 3), ("金卡", 1)])
        #expect(shares.contains("3 · 75%"))
        #expect(shares.contains("1 · 25%"))
    }
}

/// The templates' words.
@Suite("Console templates")
struct ConsoleTemplateTests {
    @Test("every word a template shows is in the word tables")
    func words() throws {
        let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/PatronServer/Console/Templates").standardizedFileURL
        let english = try #require(ConsoleLanguage.tables[.english])
        var used: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: templates.path) where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: templates.appendingPathComponent(name), encoding: .utf8)
            for match in text.matches(of: /\{\{t\.([a-z0-9_]+)\}\}/) { used.insert(String(match.output.1)) }
        }
        #expect(used.count > 100)
        #expect(used.subtracting(english.keys).sorted() == [])
    }
}
