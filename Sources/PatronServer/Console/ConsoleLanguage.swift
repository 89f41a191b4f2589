import Foundation
import HTTPTypes
import Hummingbird
import PatronCore

/// The languages the console and the portal speak, and the words of each.
enum ConsoleLanguage: String, CaseIterable, Sendable {
    case english = "en"
    case chinese = "zh-Hans"

    /// The cookie that remembers a choice made with the language switch.
    static let cookieName = "patron_lang"

    /// The choice remembered in the cookie, else the first language of Accept-Language that is
    /// spoken here (any `zh` is Simplified Chinese), else English.
    init(_ request: Request) {
        if let chosen = request.cookies[Self.cookieName].flatMap({ Self(rawValue: $0.value) }) {
            self = chosen
            return
        }
        self = Self.preferred(acceptLanguage: request.headers[.acceptLanguage] ?? "")
    }

    static func preferred(acceptLanguage: String) -> Self {
        let ranges = acceptLanguage.split(separator: ",").compactMap { part -> (tag: String, quality: Double)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first?.lowercased(), !tag.isEmpty else { return nil }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (tag, quality)
        }
        for range in ranges.enumerated().sorted(by: { ($0.element.quality, -$0.offset) > ($1.element.quality, -$1.offset) }) {
            if range.element.tag.hasPrefix("zh") { return .chinese }
            if range.element.tag.hasPrefix("en") { return .english }
        }
        return .english
    }

    /// The language a switch link offers.
    var other: Self { self == .english ? .chinese : .english }

    /// The language's name in itself.
    var name: String { self == .english ? "English" : "中文" }

    /// Every word of the console in this language, by key, for the templates (`{{t.key}}`).
    var words: [String: String] {
        Self.tables[self] ?? [:]
    }

    /// The word for `key`: this language's, else English's, else the key itself.
    func word(_ key: String) -> String {
        words[key] ?? Self.tables[.english]?[key] ?? key
    }

    /// `word(key)` with its placeholders filled from `values`: `%1$@` is the first value wherever
    /// it stands (a language may put them in another order), and each plain `%@` the next value.
    /// The text is read once, so a value that itself looks like a placeholder stays as it is.
    func word(_ key: String, _ values: String...) -> String {
        var result = ""
        var next = 0
        var rest = Substring(word(key))
        while let percent = rest.firstIndex(of: "%") {
            result += rest[..<percent]
            let after = rest[rest.index(after: percent)...]
            if after.hasPrefix("@") {
                result += next < values.count ? values[next] : ""
                next += 1
                rest = after.dropFirst()
            } else if let digit = after.first?.wholeNumberValue, after.dropFirst().hasPrefix("$@"), digit >= 1 {
                result += digit <= values.count ? values[digit - 1] : ""
                rest = after.dropFirst(3)
            } else {
                result += "%"
                rest = after
            }
        }
        return result + rest
    }

    /// The engine's faults by form field (the pointer without its slash), each in this language
    /// where it has words for the code (`wordsPrefix` + code), else as the engine put it.
    func faults(_ error: ValidationError, wordsPrefix: String = "") -> [String: String] {
        var faults: [String: String] = [:]
        for fault in error.faults {
            faults[String(fault.pointer.dropFirst())] = words[wordsPrefix + fault.code] ?? fault.message
        }
        return faults
    }

    /// The word tables, `Words/<language>.json` in the server's resources; the server does not
    /// start without them (`ConsolePages.load` checks).
    static let tables: [ConsoleLanguage: [String: String]] = {
        var tables: [ConsoleLanguage: [String: String]] = [:]
        for language in allCases {
            guard let url = Bundle.module.url(forResource: language.rawValue, withExtension: "json", subdirectory: "Words"),
                  let data = try? Data(contentsOf: url),
                  let table = try? JSONDecoder().decode([String: String].self, from: data) else { continue }
            tables[language] = table
        }
        return tables
    }()
}
