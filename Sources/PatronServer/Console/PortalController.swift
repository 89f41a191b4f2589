import Foundation
import Hummingbird
import Logging
import PatronCore
import PatronEngine

/// The member portal at `/m/{program}`: phone-first pages where a member signs in with a one-time
/// code and sees their card, points, progress, benefits, plan and history, and checks in daily.
struct PortalController: Sendable {
    let engine: Engine
    let pages: ConsolePages
    let logger: Logger

    static let sessionCookie = "patron_member"
    /// The double-submit token of the forms shown before sign-in.
    static let formCookie = "patron_portal_form"

    func addRoutes(to router: Router<PatronRequestContext>, routes: RouteTable) {
        ConsoleController.register(on: router, in: routes, get: [("/m/{program}", home), ("/m/{program}/code", codePage)], post: [
            ("/m/{program}/code", requestCode), ("/m/{program}/sign-in", signIn), ("/m/{program}/check-in", checkIn),
            ("/m/{program}/sign-out", signOut),
        ])
    }

    // MARK: - Signing in with a code

    @Sendable func home(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let program = try await program(context)
        guard let (session, member) = try await signedIn(request, program: program) else {
            return contactForm(request, program: program)
        }
        let language = ConsoleLanguage(request)
        let notice = ConsoleController.query(request)["checked_in"].map { checked -> String in
            switch Int64(checked) {
            case nil: language.word("checked_in_already")
            case 0?: language.word("checked_in")
            case let points?: language.word("checked_in_points", ConsoleFormat(program: program).number(points))
            }
        }
        return try await card(request, program: program, session: session, member: member, notice: notice)
    }

    private func contactForm(_ request: Request, program: Program, status: HTTPResponse.Status = .ok,
                             contact: String = "", fault: String? = nil) -> Response {
        var values: [String: Any] = ["step_contact": true, "contact": contact]
        values["fault"] = fault
        return render("portal", request: request, program: program, status: status, values: values)
    }

    /// Sends a code to the member's phone or e-mail (through the outbox), then asks for it.
    @Sendable func requestCode(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let program = try await program(context)
        let form = try await ConsoleController.form(request)
        let language = ConsoleLanguage(request)
        guard formToken(program).verify(request, form: form) else { return expired(request, program: program) }
        let contact = (form["contact"] ?? "").trimmingCharacters(in: .whitespaces)
        do {
            switch try await engine.requestPortalCode(programCode: program.code, contact: contact) {
            case .sent(let channel):
                // The code form is a page of its own, so that a reload asks for no second code.
                return ConsoleController.redirect(to: "/m/\(program.code)/code?to=\(ConsoleController.queryValue(contact))&via=\(channel.rawValue)")
            case .limited(let retryAt):
                let wait = max(1, Int(retryAt.timeIntervalSince(engine.now()).rounded(.up)))
                var response = contactForm(request, program: program, status: .tooManyRequests, contact: contact,
                                           fault: language.word("code_limited", Self.duration(wait, language)))
                response.headers[.retryAfter] = String(wait)
                return response
            }
        } catch EngineError.invalid {
            return contactForm(request, program: program, status: .unprocessableContent, contact: contact,
                               fault: language.word("contact_invalid"))
        }
    }

    @Sendable func codePage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let program = try await program(context)
        let query = ConsoleController.query(request)
        let contact = query["to"] ?? ""
        let language = ConsoleLanguage(request)
        let sent = query["via"].flatMap(OutboxMessage.Channel.init(rawValue:)).map {
            language.word($0 == .sms ? "code_sent_sms" : "code_sent_email", contact)
        }
        return codeForm(request, program: program, contact: contact, sent: sent)
    }

    private func codeForm(_ request: Request, program: Program, status: HTTPResponse.Status = .ok, contact: String,
                          sent: String? = nil, fault: String? = nil) -> Response {
        var values: [String: Any] = ["step_code": true, "contact": contact]
        values["sent"] = sent
        values["fault"] = fault
        return render("portal", request: request, program: program, status: status, values: values)
    }

    @Sendable func signIn(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let program = try await program(context)
        let form = try await ConsoleController.form(request)
        let language = ConsoleLanguage(request)
        guard formToken(program).verify(request, form: form) else { return expired(request, program: program) }
        let contact = form["contact"] ?? ""
        let outcome: PortalSignIn
        do {
            outcome = try await engine.verifyPortalCode(programCode: program.code, contact: contact, code: form["code"] ?? "")
        } catch EngineError.invalid {
            return contactForm(request, program: program, status: .unprocessableContent, contact: contact,
                               fault: language.word("contact_invalid"))
        }
        switch outcome {
        case .signedIn(let token, _, let member):
            var response = ConsoleController.redirect(to: "/m/\(program.code)")
            response.setCookie(Cookie(name: Self.sessionCookie, value: token, maxAge: Int(Engine.portalSessionSeconds),
                                      path: "/m/\(program.code)", httpOnly: true, sameSite: .lax))
            logger.info("member signed in to the portal", metadata: ["member": "\(member.id)"])
            return response
        case .wrong(let left):
            return codeForm(request, program: program, status: .unauthorized, contact: contact,
                            fault: language.word("code_wrong", String(left)))
        case .tooManyAttempts:
            return contactForm(request, program: program, status: .tooManyRequests, contact: contact,
                               fault: language.word("code_too_many"))
        case .noCode:
            return contactForm(request, program: program, status: .unauthorized, contact: contact,
                               fault: language.word("code_none"))
        }
    }

    @Sendable func signOut(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let program = try await program(context)
        let form = try await ConsoleController.form(request)
        guard try await signedIn(request, program: program, form: form) != nil,
              let cookie = request.cookies[Self.sessionCookie] else { return expired(request, program: program) }
        try await engine.portalSignOut(token: cookie.value)
        var response = ConsoleController.redirect(to: "/m/\(program.code)")
        response.setCookie(Cookie(name: Self.sessionCookie, value: "", maxAge: 0, path: "/m/\(program.code)", httpOnly: true,
                                  sameSite: .lax))
        return response
    }

    // MARK: - The card

    private func card(_ request: Request, program: Program, session: PortalSession, member: Member,
                      notice: String? = nil) async throws -> Response {
        let language = ConsoleLanguage(request)
        let format = ConsoleFormat(program: program)
        let principal = Engine.portalPrincipal(memberID: member.id, programID: program.id)
        let runtime = try await engine.runtime(programCode: program.code, by: principal)
        let balance = try await engine.balance(programCode: program.code, memberID: member.id, by: principal)
        let entitlements = try await engine.entitlements(programCode: program.code, memberID: member.id, by: principal)
        let subscriptions = try await engine.subscriptions(programCode: program.code, memberID: member.id, by: principal)
        let ledger = try await engine.ledger(programCode: program.code, memberID: member.id, limit: 10, cursor: nil,
                                             by: principal)
        var values: [String: Any] = [
            "step_card": true, "csrf": session.csrfToken,
            "name": member.profile.name ?? member.externalID ?? "",
            "number": member.externalID ?? member.id,
            "available": format.number(balance.available), "pending": format.number(balance.pending),
            "maturing": balance.maturing.prefix(3).map { ["at": format.day($0.at), "points": format.number($0.points)] },
            "expiring": balance.expiring.prefix(3).map { ["at": format.day($0.at), "points": format.number($0.points)] },
            "benefits": entitlements.items.map { item -> [String: String] in
                var row = ["label": item.benefit.label.isEmpty ? item.benefit.name : item.benefit.label]
                if let quota = item.quota {
                    row["left"] = language.word("quota_left", format.number(quota.remaining), format.number(quota.quantity),
                                                language.word("per_" + quota.per.rawValue))
                }
                return row
            },
            "history": ledger.items.compactMap { transfer -> [String: String]? in
                guard transfer.unit == .points else { return nil }
                let sign: String
                switch (transfer.debit, transfer.credit) {
                case (.system, .member(let bucket)): sign = "+" + format.number(transfer.amount) + (bucket == .pending ? " " + language.word("bucket_pending") : "")
                case (.member, .system): sign = "-" + format.number(transfer.amount)
                default: return nil  // moves between the member's own accounts
                }
                return ["at": format.day(transfer.occurredAt), "what": language.word("kind_" + transfer.kind.rawValue),
                        "points": sign, "direction": sign.hasPrefix("+") ? "in" : "out"]
            },
        ]
        values["notice"] = notice
        if let tiers = runtime.tiers {
            let standing = try await engine.tierStanding(programCode: program.code, memberID: member.id, by: principal)
            values["level"] = standing.level.name
            values["valid_until"] = standing.validUntil.map(format.day) ?? language.word("no_end")
            if let progress = format.progress(standing, language) {
                values["progress"] = progress
            } else if tiers.levels.count > 1 {
                values["top"] = language.word("top_level")
            }
        }
        let now = engine.now()
        if let running = subscriptions.first(where: { $0.status == .active && $0.periodEnd > now }) {
            values["plan"] = language.word("plan_until", runtime.plans.plan(running.plan)?.name ?? running.plan,
                                           format.day(running.periodEnd))
        }
        if runtime.rules.rules.contains(where: { $0.on == "check_in" && $0.isActive }) {
            values["check_in"] = true
            values["checked_in"] = try await hasCheckedIn(program: program, member: member, principal: principal)
        }
        return render("portal", request: request, program: program, values: values)
    }

    // MARK: - Daily check-in

    /// One check-in a day (in the program's time zone): the event's id is the member and the day,
    /// so a second one is the same event and gives nothing more.
    @Sendable func checkIn(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let program = try await program(context)
        let form = try await ConsoleController.form(request)
        guard let (_, member) = try await signedIn(request, program: program, form: form) else {
            return expired(request, program: program)
        }
        let principal = Engine.portalPrincipal(memberID: member.id, programID: program.id)
        let now = engine.now()
        let result = try await engine.recordEvent(programCode: program.code, body: .object([
            "id": .string(Self.checkInID(member: member, program: program, at: now)), "type": "check_in",
            "member": .string(member.id), "occurred_at": .string(now.formatted(.iso8601)), "channel": "app",
        ]), by: principal)
        let points = result.receipt.awards.filter { $0.unit == .points }.reduce(0) { $0 + $1.amount }
        // Back to the card by a GET, so that reloading it posts nothing again.
        return ConsoleController.redirect(to: "/m/\(program.code)?checked_in=\(result.created ? String(points) : "again")")
    }

    private func hasCheckedIn(program: Program, member: Member, principal: Principal) async throws -> Bool {
        do {
            _ = try await engine.event(programCode: program.code, clientID: Self.checkInID(member: member, program: program,
                                                                                        at: engine.now()), by: principal)
            return true
        } catch EngineError.notFound {
            return false
        }
    }

    static func checkInID(member: Member, program: Program, at instant: Date) -> String {
        "portal-check-in-\(member.id)-\(ConsoleFormat(program: program).day(instant))"
    }

    // MARK: - Parts

    private func program(_ context: PatronRequestContext) async throws -> Program {
        try await engine.portalProgram(context.parameters.get("program") ?? "")
    }

    private func signedIn(_ request: Request, program: Program) async throws -> (PortalSession, Member)? {
        guard let token = request.cookies[Self.sessionCookie]?.value else { return nil }
        return try await engine.portalSession(programCode: program.code, token: token)
    }

    /// The session of a form posted in it: signed in, and the form carries the session's token.
    private func signedIn(_ request: Request, program: Program, form: [String: String]) async throws
        -> (PortalSession, Member)? {
        guard let (session, member) = try await signedIn(request, program: program),
              let token = form["_csrf"], Engine.constantTimeEqual(token, session.csrfToken) else { return nil }
        return (session, member)
    }

    private func formToken(_ program: Program) -> FormToken {
        FormToken(cookieName: Self.formCookie, path: "/m/\(program.code)")
    }

    private func expired(_ request: Request, program: Program) -> Response {
        let language = ConsoleLanguage(request)
        return render("portal", request: request, program: program, status: .forbidden,
                      values: ["step_contact": true, "fault": language.word("form_expired")])
    }

    /// A portal page. Before sign-in its forms carry the double-submit token of `formCookie`.
    private func render(_ template: String, request: Request, program: Program, status: HTTPResponse.Status = .ok,
                        values: [String: Any]) -> Response {
        let language = ConsoleLanguage(request)
        let path = "/m/\(program.code)"
        var shell = ConsoleShell(language: language, user: nil, csrf: values["csrf"] as? String ?? "", path: path)
        if values["csrf"] == nil {
            let (token, cookie) = formToken(program).issue(for: request)
            shell.csrf = token
            shell.cookies.append(cookie)
        }
        var page = values
        page["program_name"] = program.name
        page["base"] = path
        return pages.render(template, status: status, title: program.name, shell: shell, values: page)
    }

    static func duration(_ seconds: Int, _ language: ConsoleLanguage) -> String {
        seconds < 120 ? language.word("n_seconds", String(seconds)) : language.word("n_minutes", String((seconds + 59) / 60))
    }
}
