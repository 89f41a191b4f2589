import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import PatronCore
import PatronEngine

/// The console's templates and assets, loaded once from the target's resources, and the page
/// shell every console page shares.
struct ConsolePages: Sendable {
    let library: MustacheLibrary
    let stylesheet: ByteBuffer
    let favicon: ByteBuffer

    static func load() throws -> ConsolePages {
        guard let root = Bundle.module.resourceURL else { throw ConsoleResourceError.missing("resources") }
        let templates = root.appendingPathComponent("Templates")
        var library = MustacheLibrary()
        for name in try FileManager.default.contentsOfDirectory(atPath: templates.path) where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: templates.appendingPathComponent(name), encoding: .utf8)
            try library.register(text, named: String(name.dropLast(".mustache".count)))
        }
        func asset(_ name: String) throws -> ByteBuffer {
            let url = root.appendingPathComponent("Assets").appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else { throw ConsoleResourceError.missing(name) }
            return ByteBuffer(bytes: data)
        }
        for language in ConsoleLanguage.allCases where ConsoleLanguage.tables[language] == nil {
            throw ConsoleResourceError.missing("Words/\(language.rawValue).json")
        }
        return ConsolePages(library: library, stylesheet: try asset("console.css"), favicon: try asset("favicon.svg"))
    }

    /// A page: `template` rendered over the shell's values and the page's own.
    func render(_ template: String, status: HTTPResponse.Status = .ok, title: String, shell: ConsoleShell,
                values: [String: Any] = [:]) -> Response {
        var context = shell.values
        context["title"] = title
        context.merge(values) { _, page in page }
        let html = library.render(context, withTemplate: template) ?? ""
        var response = Response(status: status, headers: Self.htmlHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
        for cookie in shell.cookies { response.setCookie(cookie) }
        return response
    }

    /// Pages are never cached (they show who is signed in), never framed, and load nothing from
    /// elsewhere.
    static let htmlHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]
}

enum ConsoleResourceError: Error, CustomStringConvertible {
    case missing(String)
    var description: String {
        switch self {
        case .missing(let name): "the console's resource '\(name)' is missing from the server's bundle"
        }
    }
}

/// What the shell of every page shows: the language, who is signed in, the navigation, and the
/// form token; plus the cookies the answer sets.
struct ConsoleShell {
    var language: ConsoleLanguage
    var user: OperatorUser?
    var csrf: String
    /// The path the language switch comes back to.
    var path: String
    /// The program the page is about, whose pages the navigation then offers.
    var program: Program?
    /// Whether the navigation offers the outbox (`serve --demo`).
    var outbox = false
    var cookies: [Cookie] = []

    var values: [String: Any] {
        var values: [String: Any] = [
            "lang": language.rawValue,
            "t": language.words,
            "csrf": csrf,
            "back": path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/console",
            "switch": ["code": language.other.rawValue, "name": language.other.name],
        ]
        if let user {
            let items: [(String, String, ConsoleAction?)] = [
                ("/console", language.word("programs"), nil),
                ("/console/users", language.word("operators"), .manageOperators),
                ("/console/keys", language.word("api_keys"), .manageKeys),
            ] + (outbox ? [("/console/outbox", language.word("outbox"), nil)] : [])
            let nav: [[String: Any]] = items.filter { $0.2.map(user.role.may) ?? true }.map { item in
                ["href": item.0, "label": item.1, "current": item.0 == path]
            }
            if let program {
                let base = "/console/programs/\(program.code)"
                let pages: [(String, String, ConsoleAction)] = [
                    (base, language.word("dashboard"), .viewDashboard),
                    (base + "/members", language.word("members"), .viewMembers),
                    (base + "/config", language.word("configuration"), .viewDashboard),
                    (base + "/simulations", language.word("backtest"), .runBacktests),
                ]
                let nav: [[String: Any]] = pages.filter { user.role.may($0.2) }.map { item in
                    ["href": item.0, "label": item.1, "current": item.0 == base ? path == base : path.hasPrefix(item.0)]
                }
                values["program"] = ["code": program.code, "name": program.name, "nav": nav] as [String: Any]
            }
            values["user"] = ["name": user.name, "email": user.email, "role_label": language.word("role_" + user.role.rawValue),
                              "nav": nav] as [String: Any]
        }
        return values
    }
}
