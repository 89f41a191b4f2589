import Foundation
import Hummingbird
import Logging
import PatronCore
import PatronEngine

/// The operator console at `/console`: sign-in with sessions kept in the database, CSRF tokens on
/// every form, and each page allowed by the signed-in person's role — checked here, on the
/// server, whatever the page shows.
struct ConsoleController: Sendable {
    let engine: Engine
    let pages: ConsolePages
    let logger: Logger
    /// With `serve --demo`: the console shows the message outbox, so that a member's sign-in code
    /// can be read without a delivery service.
    var showOutbox = false

    static let sessionCookie = "patron_session"
    /// Before sign-in there is no session to hold the form token, so the sign-in form's token is
    /// also set as a cookie, and the two must match (the double-submit pattern).
    static let signInTokenCookie = "patron_sign_in"
    static let signInToken = FormToken(cookieName: signInTokenCookie, path: "/console")
    static let maxFormBytes = 16 * 1024

    typealias Handler = @Sendable (Request, PatronRequestContext) async throws -> Response

    /// Adds the pages to the router, and their paths and methods to the table that answers 405s.
    static func register(on router: Router<PatronRequestContext>, in routes: RouteTable, get: [(String, Handler)],
                         post: [(String, Handler)]) {
        for (path, handler) in get {
            routes.add(method: .get, path: path)
            router.get(RouterPath(path), use: handler)
        }
        for (path, handler) in post {
            routes.add(method: .post, path: path)
            router.post(RouterPath(path), use: handler)
        }
    }

    func addRoutes(to router: Router<PatronRequestContext>, routes: RouteTable) {
        let get: [(String, Handler)] = [
            ("/console", home), ("/console/sign-in", signInPage), ("/console/users", operators),
            ("/console/language", switchLanguage), ("/console/assets/console.css", stylesheet),
            ("/console/assets/favicon.svg", favicon),
        ]
        let post: [(String, Handler)] = [
            ("/console/sign-in", signIn), ("/console/sign-out", signOut), ("/console/users", createOperator),
            ("/console/users/{user}/role", changeOperatorRole), ("/console/users/{user}/remove", removeOperator),
        ]
        Self.register(on: router, in: routes, get: get, post: post)
        addProgramRoutes(to: router, routes: routes)
        addConfigRoutes(to: router, routes: routes)
        addKeyRoutes(to: router, routes: routes)
        if showOutbox { Self.register(on: router, in: routes, get: [("/console/outbox", outbox)], post: []) }
        // Any other console address is a page that is not there, answered as a page.
        router.get("/console/**", use: notFound)
    }

    @Sendable func outbox(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await page(request, needs: .viewMembers) { shell, _ in
            let language = shell.language
            let rows: [[String: String]] = try await engine.outbox(limit: 50).map { message in
                ["at": Self.shortTime(message.createdAt), "channel": language.word("channel_" + message.channel.rawValue),
                 "recipient": message.recipient, "body": message.body]
            }
            return pages.render("outbox", title: language.word("outbox"), shell: shell,
                                values: ["messages": rows, "has_messages": !rows.isEmpty])
        }
    }

    @Sendable func notFound(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let language = ConsoleLanguage(request)
        let current = try await signedIn(request)
        let shell = ConsoleShell(language: language, user: current?.1, csrf: current?.0.csrfToken ?? "", path: "/console")
        return pages.render("message", status: .notFound, title: language.word("not_found"), shell: shell,
                            values: ["heading": language.word("not_found"), "message": language.word("no_such_page")])
    }

    // MARK: - Signing in and out

    @Sendable func signInPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        if try await signedIn(request) != nil { return Self.redirect(to: "/console") }
        return signInForm(request, next: Self.safeNext(Self.query(request)["next"]))
    }

    @Sendable func signIn(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        guard Self.signInToken.verify(request, form: form) else { return formExpired(request) }
        let email = form["email"] ?? ""
        let next = Self.safeNext(form["next"])
        switch try await engine.signIn(email: email, password: form["password"] ?? "") {
        case .signedIn(let token, let session, _):
            var response = Self.redirect(to: next ?? "/console")
            response.setCookie(Cookie(name: Self.sessionCookie, value: token, maxAge: Int(Engine.consoleSessionSeconds),
                                      path: "/", httpOnly: true, sameSite: .lax))
            response.setCookie(Self.expired(Self.signInTokenCookie))
            logger.info("operator signed in", metadata: ["operator": "\(session.userID)"])
            return response
        case .refused:
            let language = ConsoleLanguage(request)
            return signInForm(request, next: next, email: email, status: .unauthorized,
                              error: language.word("wrong_credentials"))
        case .locked(let until):
            let language = ConsoleLanguage(request)
            let time = Self.shortTime(until)
            return signInForm(request, next: next, email: email, status: .tooManyRequests,
                              error: language.word("locked", time))
        }
    }

    private func signInForm(_ request: Request, next: String?, email: String = "", status: HTTPResponse.Status = .ok,
                            error: String? = nil) -> Response {
        let language = ConsoleLanguage(request)
        let (token, cookie) = Self.signInToken.issue(for: request)
        var shell = ConsoleShell(language: language, user: nil, csrf: token, path: "/console/sign-in")
        shell.cookies.append(cookie)
        var values: [String: Any] = ["email": email, "next": next ?? ""]
        if let error { values["error"] = error }
        return pages.render("sign-in", status: status, title: language.word("sign_in"), shell: shell, values: values)
    }

    @Sendable func signOut(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        guard let (session, _) = try await signedIn(request), Self.carriesToken(form, of: session),
              let cookie = request.cookies[Self.sessionCookie] else {
            return formExpired(request)
        }
        try await engine.signOut(token: cookie.value)
        var response = Self.redirect(to: "/console/sign-in")
        response.setCookie(Self.expired(Self.sessionCookie, path: "/"))
        return response
    }

    @Sendable func switchLanguage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let query = Self.query(request)
        let language = query["to"].flatMap(ConsoleLanguage.init(rawValue:)) ?? .english
        var response = Self.redirect(to: Self.safeNext(query["back"]) ?? "/console")
        response.setCookie(Cookie(name: ConsoleLanguage.cookieName, value: language.rawValue, maxAge: 365 * 86400,
                                  path: "/", httpOnly: true, sameSite: .lax))
        return response
    }

    // MARK: - Pages

    @Sendable func home(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await page(request, needs: .viewDashboard) { shell, user in
            let programs = try await engine.listPrograms(limit: Engine.maxPageSize, cursor: nil, by: user.principal).items
            let rows: [[String: Any]] = programs.map {
                ["code": $0.code, "name": $0.name, "currency": $0.currency, "time_zone": $0.timeZone]
            }
            return pages.render("programs", title: shell.language.word("programs"), shell: shell,
                                values: ["programs": rows, "has_programs": !rows.isEmpty])
        }
    }

    @Sendable func operators(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await page(request, needs: .manageOperators) { shell, _ in
            let query = Self.query(request)
            let notice = query["changed"].map { shell.language.word("operator_changed", $0) }
                ?? query["removed"].map { shell.language.word("operator_removed", $0) }
            return try await operatorsPage(shell: shell, notice: notice)
        }
    }

    /// The owner adds a person: the validator's messages go beside the fields at fault, and what
    /// was typed stays, but for the password.
    @Sendable func createOperator(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await page(request, needs: .manageOperators, form: form) { shell, _ in
            let role = form["role"].flatMap(StaffRole.init(rawValue:))
            var faults: [String: String] = [:]
            do {
                if let role {
                    _ = try await engine.createOperator(email: form["email"] ?? "", name: form["name"] ?? "", role: role,
                                                        password: form["password"] ?? "")
                    return Self.redirect(to: "/console/users")
                }
                faults["role"] = shell.language.word("choose_role")
            } catch EngineError.invalid(let error) {
                faults = shell.language.faults(error)
            } catch EngineError.conflict {
                faults["email"] = shell.language.word("operator_exists")
            }
            return try await operatorsPage(shell: shell, status: .unprocessableContent, form: form, faults: faults)
        }
    }

    @Sendable func changeOperatorRole(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await page(request, needs: .manageOperators, form: form) { shell, owner in
            guard let role = form["role"].flatMap(StaffRole.init(rawValue:)) else {
                return try await operatorsPage(shell: shell, status: .unprocessableContent,
                                               alert: shell.language.word("choose_role"))
            }
            do {
                let user = try await engine.changeOperatorRole(id: context.parameters.get("user") ?? "", to: role, by: owner)
                return Self.redirect(to: "/console/users?changed=\(Self.queryValue(user.email))")
            } catch EngineError.conflict(let code, _) {
                return try await operatorsPage(shell: shell, status: .conflict, alert: shell.language.word(code))
            }
        }
    }

    @Sendable func removeOperator(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await page(request, needs: .manageOperators, form: form) { shell, owner in
            do {
                let user = try await engine.removeOperator(id: context.parameters.get("user") ?? "", by: owner)
                return Self.redirect(to: "/console/users?removed=\(Self.queryValue(user.email))")
            } catch EngineError.conflict(let code, _) {
                return try await operatorsPage(shell: shell, status: .conflict, alert: shell.language.word(code))
            }
        }
    }

    private func operatorsPage(shell: ConsoleShell, status: HTTPResponse.Status = .ok, form: [String: String] = [:],
                               faults: [String: String] = [:], notice: String? = nil,
                               alert: String? = nil) async throws -> Response {
        let language = shell.language
        let me = shell.user?.id
        func roles(selecting selected: String?) -> [[String: Any]] {
            StaffRole.allCases.map {
                ["value": $0.rawValue, "label": language.word("role_" + $0.rawValue), "selected": $0.rawValue == selected]
            }
        }
        let rows: [[String: Any]] = try await engine.operatorUsers().map { user in
            [
                "id": user.id, "email": user.email, "name": user.name, "role_label": language.word("role_" + user.role.rawValue),
                "locked_until": user.removedAt == nil ? user.lockedUntil.map(Self.shortTime) ?? "—" : "—",
                "created": Self.shortTime(user.createdAt),
                "removed": user.removedAt.map { language.word("removed_at", Self.shortTime($0)) } ?? "",
                "is_removed": user.removedAt != nil, "is_me": user.id == me,
                "role_action": "/console/users/\(user.id)/role", "remove_action": "/console/users/\(user.id)/remove",
                "role_field": "role-\(user.id)", "role_field_label": language.word("role_of", user.email),
                "remove_label": language.word("remove_operator", user.email),
                "roles": roles(selecting: user.role.rawValue),
            ]
        }
        let fields: [String: Any] = ["email": form["email"] ?? "", "name": form["name"] ?? ""]
        var values: [String: Any] = ["operators": rows, "roles": roles(selecting: form["role"]), "form": fields, "faults": faults,
                                     "has_faults": !faults.isEmpty]
        values["notice"] = notice
        values["alert"] = alert
        return pages.render("operators", status: status, title: language.word("operators"), shell: shell, values: values)
    }

    @Sendable func stylesheet(_ request: Request, context: PatronRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                 body: .init(byteBuffer: pages.stylesheet))
    }

    @Sendable func favicon(_ request: Request, context: PatronRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "max-age=86400"],
                 body: .init(byteBuffer: pages.favicon))
    }

    // MARK: - Sessions, roles and forms

    /// A page for a signed-in person whose role allows `action`: otherwise the sign-in page (and
    /// back here after it), or 403 with the role the page needs.
    /// With `form` (a POST), the form's token must be the session's, else nothing is done.
    func page(_ request: Request, needs action: ConsoleAction, form: [String: String]? = nil,
                      _ body: (ConsoleShell, OperatorUser) async throws -> Response) async throws -> Response {
        let current = try await signedIn(request)
        if let form {
            guard let session = current?.0, Self.carriesToken(form, of: session) else { return formExpired(request) }
        }
        guard let (session, user) = current else {
            let next = request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            return Self.redirect(to: "/console/sign-in?next=\(next)")
        }
        let language = ConsoleLanguage(request)
        var shell = ConsoleShell(language: language, user: user, csrf: session.csrfToken, path: request.uri.path)
        shell.outbox = showOutbox
        guard user.role.may(action) else {
            let allowed = StaffRole.allCases.filter(action.roles.contains).map { language.word("role_" + $0.rawValue) }
            let message = language.word("not_allowed_detail", allowed.joined(separator: ", "),
                                        language.word("role_" + user.role.rawValue))
            return pages.render("message", status: .forbidden, title: language.word("not_allowed"), shell: shell,
                                values: ["heading": language.word("not_allowed"), "message": message])
        }
        do {
            return try await body(shell, user)
        } catch let error as EngineError {
            // What the engine refuses on a page (a member that is not there or was erased) is
            // shown as a page, with the engine's status.
            let (status, heading): (HTTPResponse.Status, String) = switch error {
            case .notFound: (.notFound, language.word("not_found"))
            case .gone: (.gone, language.word("gone"))
            case .forbidden: (.forbidden, language.word("not_allowed"))
            default: throw error
            }
            return pages.render("message", status: status, title: heading, shell: shell,
                                values: ["heading": heading, "message": Self.explain(error, language)])
        }
    }

    /// A program's page: `page`, with the program of the path's `{program}` in the shell.
    func programPage(_ request: Request, _ context: PatronRequestContext, needs action: ConsoleAction,
                     form: [String: String]? = nil,
                     _ body: (ConsoleShell, OperatorUser, Program) async throws -> Response) async throws -> Response {
        try await page(request, needs: action, form: form) { shell, user in
            let program = try await engine.program(code: context.parameters.get("program") ?? "", by: user.principal)
            var shell = shell
            shell.program = program
            return try await body(shell, user, program)
        }
    }

    /// The engine's refusal in the reader's words.
    static func explain(_ error: EngineError, _ language: ConsoleLanguage) -> String {
        switch error {
        case .notFound(let resource, let id): language.word("not_found_" + resource, id)
        case .gone: language.word("gone_member")
        default: language.word("not_allowed")
        }
    }

    /// The e-mail of each operator (removed ones too) by the caller the engine records for them, to
    /// name who did what in the ledger and the configuration's versions.
    func operatorEmails() async throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try await engine.operatorUsers().map { ($0.principal.keyID, $0.email) })
    }

    private func signedIn(_ request: Request) async throws -> (ConsoleSession, OperatorUser)? {
        guard let token = request.cookies[Self.sessionCookie]?.value else { return nil }
        return try await engine.consoleSession(token: token)
    }

    private func formExpired(_ request: Request) -> Response {
        let language = ConsoleLanguage(request)
        let shell = ConsoleShell(language: language, user: nil, csrf: "", path: "/console")
        return pages.render("message", status: .forbidden, title: language.word("form_expired_title"), shell: shell,
                            values: ["heading": language.word("form_expired_title"), "message": language.word("form_expired")])
    }

    /// Whether a form posted in a session carries that session's token.
    static func carriesToken(_ form: [String: String], of session: ConsoleSession) -> Bool {
        form["_csrf"].map { Engine.constantTimeEqual(session.csrfToken, $0) } ?? false
    }

    /// The fields of a url-encoded form; the last of repeated names wins.
    static func form(_ request: Request, upTo limit: Int = maxFormBytes) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: limit)
        return fields(urlEncoded: String(buffer: body))
    }

    /// The query's fields, decoded as a browser encodes a form (a space is `+`), which the
    /// router's `queryParameters` does not.
    static func query(_ request: Request) -> [String: String] {
        fields(urlEncoded: request.uri.query ?? "")
    }

    static func fields(urlEncoded text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first.map(decode), !name.isEmpty else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    /// Only paths within this server's console or portal: never another site, never `//host`.
    static func safeNext(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/console") || next.hasPrefix("/m/"), !next.hasPrefix("//"), !next.contains("\\"),
              next.utf8.count <= 512 else { return nil }
        return next
    }

    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func expired(_ name: String, path: String = "/console") -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: path, httpOnly: true, sameSite: .lax)
    }

    static func shortTime(_ date: Date) -> String {
        let text = date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false)
            .timeSeparator(.colon))
        return String(text.prefix(16)).replacingOccurrences(of: "T", with: " ")
    }
}

extension OperatorUser {
    /// The caller the engine sees for this person. The console checks the finer `ConsoleAction`
    /// before it calls; the engine then checks the API role as for any caller.
    var principal: Principal {
        let role: Role = switch self.role {
        case .owner: .owner
        case .marketer, .support: .operator
        case .analyst: .readOnly
        }
        return Principal(keyID: "console:" + id, role: role, programID: nil)
    }
}
