import Foundation
import Hummingbird
import PatronCore
import PatronEngine

/// The console's member pages: search, the member page (profile, level, points, ledger, plans,
/// benefits), point adjustments and erasure.
extension ConsoleController {
    static let searchLimit = 50
    static let ledgerPageSize = 20

    /// The pages of one program: its dashboard, its members and the back-test.
    func addProgramRoutes(to router: Router<PatronRequestContext>, routes: RouteTable) {
        let base = "/console/programs/{program}"
        let get: [(String, Handler)] = [
            (base, dashboard), (base + "/members", members), (base + "/members/{member}", memberPage),
            (base + "/members/{member}/erase", erasePage), (base + "/simulations", backtestPage),
        ]
        let post: [(String, Handler)] = [
            (base + "/members/{member}/adjustments", adjust), (base + "/members/{member}/erase", erase),
            (base + "/simulations", runBacktest),
        ]
        Self.register(on: router, in: routes, get: get, post: post)
    }

    // MARK: - Search

    /// One search box for an id, external id, phone, e-mail or part of a name; without a search,
    /// the members in the order they joined, a page at a time.
    @Sendable func members(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewMembers) { shell, user, program in
            let language = shell.language
            let query = Self.query(request)
            let text = query["q"]?.trimmingCharacters(in: .whitespaces) ?? ""
            let found: [Member]
            var next: String?
            if text.isEmpty {
                let page = try await engine.listMembers(programCode: program.code, query: MemberQuery(), limit: 50,
                                                        cursor: query["after"],
                                                        by: user.principal)
                found = page.items
                next = page.nextCursor.map { "?after=" + Self.queryValue($0) }
            } else {
                found = try await engine.searchMembers(programCode: program.code, text: text, limit: Self.searchLimit,
                                                       by: user.principal)
            }
            let runtime = try await engine.runtime(programCode: program.code, by: user.principal)
            let format = ConsoleFormat(program: program)
            let rows: [[String: Any]] = found.map { member in
                ["href": "/console/programs/\(program.code)/members/\(member.id)", "external_id": member.externalID ?? "",
                 "name": member.profile.name ?? "—", "phone": member.profile.phone ?? "", "email": member.profile.email ?? "",
                 "level": runtime.tiers.map { $0.levels[$0.level(of: member.tier)].name } ?? "",
                 "enrolled": format.day(member.enrolledAt)]
            }
            var summary: String?
            if !text.isEmpty {
                summary = found.isEmpty ? language.word("no_members_found", text)
                    : found.count >= Self.searchLimit ? language.word("members_found_first", String(found.count), text)
                    : language.word("members_found", String(found.count), text)
            }
            var values: [String: Any] = ["q": text, "members": rows, "has_members": !rows.isEmpty,
                                         "has_levels": runtime.tiers != nil]
            values["summary"] = summary
            values["next"] = next
            return pages.render("members", title: language.word("members"), shell: shell, values: values)
        }
    }

    // MARK: - The member page

    @Sendable func memberPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewMembers) { shell, user, program in
            let notice = Self.query(request)["adjusted"].map { _ in shell.language.word("adjustment_recorded") }
            return try await memberView(request, context, shell: shell, user: user, program: program, notice: notice)
        }
    }

    /// The member page; after a refused adjustment, with what was typed and the messages beside
    /// the fields.
    private func memberView(_ request: Request, _ context: PatronRequestContext, shell: ConsoleShell, user: OperatorUser,
                            program: Program, status: HTTPResponse.Status = .ok, form: [String: String] = [:],
                            faults: [String: String] = [:], notice: String? = nil) async throws -> Response {
        let language = shell.language
        let principal = user.principal
        let memberID = context.parameters.get("member") ?? ""
        let query = Self.query(request)
        let member = try await engine.member(programCode: program.code, id: memberID, by: principal)
        let runtime = try await engine.runtime(programCode: program.code, by: principal)
        let format = ConsoleFormat(program: program)
        let base = "/console/programs/\(program.code)/members/\(member.id)"

        let config = try await engine.currentConfig(programCode: program.code, by: principal)
        let fields = MemberFieldDefinition.definitions(in: config.document)
        var ruleNames: [String: String] = [:]
        for rule in config.document["earning_rules"]?.arrayValue ?? [] {
            if let code = rule["code"]?.stringValue, let name = rule["name"]?.stringValue { ruleNames[code] = name }
        }
        let balance = try await engine.balance(programCode: program.code, memberID: member.id, by: principal)
        let ledger = try await engine.ledger(programCode: program.code, memberID: member.id, limit: Self.ledgerPageSize,
                                             cursor: query["ledger"], by: principal)
        let subscriptions = try await engine.subscriptions(programCode: program.code, memberID: member.id, by: principal)
        let entitlements = try await engine.entitlements(programCode: program.code, memberID: member.id, by: principal)
        let actors = try await operatorEmails()

        var values: [String: Any] = [
            "member": profile(member, fields: fields, format: format, language: language),
            "points": points(balance, format: format, language: language),
            "ledger": ledger.items.map {
                entry(of: $0, format: format, language: language, actors: actors, ruleNames: ruleNames)
            },
            "has_ledger": !ledger.items.isEmpty,
            "plans": subscriptions.map { plan(of: $0, runtime: runtime, format: format, language: language) },
            "has_plans": !subscriptions.isEmpty,
            "benefits": entitlements.items.map { benefit(of: $0, runtime: runtime, format: format, language: language) },
            "has_benefits": !entitlements.items.isEmpty,
            "may_adjust": user.role.may(.adjustPoints),
            "may_erase": user.role.may(.eraseMembers),
            "erase_href": base + "/erase",
            "adjust_action": base + "/adjustments",
            "request_key": form["request_key"] ?? Engine.randomToken(),
            "form": ["points": form["points"] ?? "", "reason": form["reason"] ?? ""],
            "faults": faults, "has_faults": !faults.isEmpty,
        ]
        values["ledger_older"] = ledger.nextCursor.map { base + "?ledger=" + Self.queryValue($0) + "#ledger" }
        if query["ledger"] != nil { values["ledger_newest"] = base + "#ledger" }
        values["notice"] = notice
        if runtime.tiers != nil {
            let standing = try await engine.tierStanding(programCode: program.code, memberID: member.id, by: principal)
            let history = try await engine.tierHistory(programCode: program.code, memberID: member.id, limit: 10,
                                                       cursor: nil, by: principal)
            values["tier"] = tier(standing, history: history.items, runtime: runtime, format: format, language: language,
                                  actors: actors)
        }
        let title = member.profile.name ?? member.externalID ?? member.id
        return pages.render("member", status: status, title: title, shell: shell, values: values)
    }

    private func profile(_ member: Member, fields: [String: MemberFieldDefinition], format: ConsoleFormat,
                         language: ConsoleLanguage) -> [String: Any] {
        let none = "—"
        var rows: [[String: String]] = [
            ["label": language.word("external_id"), "value": member.externalID ?? none],
            ["label": language.word("member_id"), "value": member.id],
            ["label": language.word("phone"), "value": member.profile.phone ?? none],
            ["label": language.word("email"), "value": member.profile.email ?? none],
            ["label": language.word("birthday"), "value": member.profile.birthday ?? none],
            ["label": language.word("gender"), "value": member.profile.gender.map { language.word("gender_" + $0.rawValue) } ?? none],
            ["label": language.word("region"), "value": member.profile.region ?? none],
            ["label": language.word("channel"), "value": language.word("channel_" + member.channel.rawValue)],
            ["label": language.word("enrolled"), "value": format.time(member.enrolledAt)],
        ]
        if member.kind == .organisation { rows.append(["label": language.word("kind"), "value": language.word("organisation")]) }
        if let organisation = member.organisationID { rows.append(["label": language.word("organisation"), "value": organisation]) }
        for (code, value) in member.attributes.sorted(by: { $0.key < $1.key }) {
            rows.append(["label": fields[code]?.name ?? code, "value": Self.plain(value)])
        }
        let consents: [[String: Any]] = member.consents.sorted(by: { $0.key < $1.key }).map { purpose, consent in
            ["purpose": language.words["purpose_" + purpose] ?? purpose,
             "granted": consent.granted, "answer": language.word(consent.granted ? "consent_given" : "consent_withdrawn"),
             "at": format.time(consent.updatedAt)]
        }
        return ["name": member.profile.name ?? member.externalID ?? member.id, "fields": rows, "consents": consents,
                "has_consents": !consents.isEmpty]
    }

    private func points(_ balance: PointsBalance, format: ConsoleFormat, language: ConsoleLanguage) -> [String: Any] {
        let figures: [(String, Int64)] = [
            ("available", balance.available), ("pending", balance.pending), ("on_hold", balance.onHold),
            ("lifetime_earned", balance.lifetimeEarned), ("redeemed", balance.redeemed), ("expired", balance.expired),
            ("growth", balance.growth),
        ]
        var values: [String: Any] = [
            "figures": figures.map { ["label": language.word($0.0), "value": format.number($0.1), "key": $0.0] },
            "maturing": balance.maturing.map { ["at": format.day($0.at), "points": format.number($0.points)] },
            "expiring": balance.expiring.map { ["at": format.day($0.at), "points": format.number($0.points)] },
            "has_maturing": !balance.maturing.isEmpty, "has_expiring": !balance.expiring.isEmpty,
        ]
        if balance.cashback.available != 0 || balance.cashback.earned != 0 {
            values["cashback"] = format.money(balance.cashback.available)
        }
        return values
    }

    private func tier(_ standing: TierStanding, history: [TierChange], runtime: ProgramRuntime, format: ConsoleFormat,
                      language: ConsoleLanguage, actors: [String: String]) -> [String: Any] {
        func amount(_ value: Int64) -> String { format.metric(value, standing.metric, language) }
        /// A level's name; a first change comes from the base level.
        func name(_ code: String?) -> String {
            guard let levels = runtime.tiers?.levels else { return code ?? "—" }
            return levels.first { $0.code == (code ?? levels[0].code) }?.name ?? code ?? "—"
        }
        var values: [String: Any] = [
            "level": standing.level.name, "since": format.day(standing.since),
            "valid_until": standing.validUntil.map(format.day) ?? language.word("no_end"),
            "qualifying": amount(standing.qualifyingValue),
            "window": standing.windowFrom.map { language.word("window_from", format.day($0), format.day(standing.windowThrough)) }
                ?? language.word("window_all"),
            "history": history.map { change in
                var row = ["at": format.time(change.at), "from": name(change.from), "to": name(change.to),
                           "cause": language.word("cause_" + change.cause.rawValue), "actor": actors[change.actor] ?? change.actor]
                // A section over an empty string still renders: only a reason that was given is set.
                if let reason = change.reason, !reason.isEmpty { row["reason"] = reason }
                return row
            },
            "has_history": !history.isEmpty,
        ]
        if let progress = format.progress(standing, language) {
            values["next"] = progress
        } else {
            values["top"] = language.word("top_level")
        }
        if let keep = standing.keep {
            values["keep"] = keep.needed > 0 ? language.word("keep_needs", amount(keep.needed), format.day(keep.at))
                : language.word("keep_done", format.day(keep.at))
        }
        return values
    }

    private func plan(of subscription: Subscription, runtime: ProgramRuntime, format: ConsoleFormat,
                      language: ConsoleLanguage) -> [String: Any] {
        var status = language.word("plan_" + subscription.status.rawValue)
        if subscription.status == .active, subscription.cancelAtPeriodEnd { status = language.word("plan_ending") }
        return ["name": runtime.plans.plan(subscription.plan)?.name ?? subscription.plan, "status": status,
                "period": format.day(subscription.periodStart) + " – " + format.day(subscription.periodEnd),
                "paid": format.money(subscription.paidAmount),
                "renews": language.word(subscription.autoRenew && !subscription.cancelAtPeriodEnd ? "yes" : "no")]
    }

    private func benefit(of entitlement: Entitlement, runtime: ProgramRuntime, format: ConsoleFormat,
                         language: ConsoleLanguage) -> [String: Any] {
        var via: [String] = []
        if let level = entitlement.viaLevel { via.append(runtime.tiers?.levels.first { $0.code == level }?.name ?? level) }
        via += entitlement.viaPlans.map { runtime.plans.plan($0)?.name ?? $0 }
        var remaining = "—"
        if let quota = entitlement.quota {
            remaining = language.word("quota_left", format.number(quota.remaining), format.number(quota.quantity),
                                      language.word("per_" + quota.per.rawValue))
            if let resets = quota.resetsAt { remaining += " · " + language.word("resets", format.day(resets)) }
        }
        if let granted = entitlement.granted {
            remaining += (remaining == "—" ? "" : " · ") + language.word("granted_left", format.number(granted.remaining))
        }
        return ["name": entitlement.benefit.name, "label": entitlement.benefit.label,
                "via": via.isEmpty ? language.word("granted") : via.joined(separator: ", "), "remaining": remaining]
    }

    /// A ledger transfer as the member's account sees it: what came in, went out, or moved
    /// between their own buckets.
    private func entry(of transfer: Transfer, format: ConsoleFormat, language: ConsoleLanguage,
                       actors: [String: String], ruleNames: [String: String]) -> [String: Any] {
        let amount = transfer.unit == .cashback ? format.money(transfer.amount) : format.number(transfer.amount)
        let change: String, direction: String
        switch (transfer.debit, transfer.credit) {
        case (.system, .member(let bucket)):
            change = "+" + amount + (bucket == .available ? "" : " " + language.word("bucket_" + bucket.rawValue))
            direction = "in"
        case (.member(let bucket), .system):
            change = "-" + amount + (bucket == .available ? "" : " " + language.word("bucket_" + bucket.rawValue))
            direction = "out"
        case (.member(let from), .member(let to)):
            change = amount + " " + language.word("bucket_" + from.rawValue) + " → " + language.word("bucket_" + to.rawValue)
            direction = "move"
        case (.system, .system):
            change = amount
            direction = "move"
        }
        // People typed the reasons of what operators and the API did; the ledger's own reasons
        // (and the earning rules' codes) are shown in words.
        let typed: Set<TransferKind> = [.adjust, .redeem, .reversal, .transfer]
        let reason = typed.contains(transfer.kind) ? transfer.reason
            : ruleNames[transfer.reason] ?? language.words["reason_" + transfer.reason] ?? transfer.reason
        // The event and the operator behind a transfer are in the other columns already.
        let reference = transfer.reference.flatMap { $0.hasPrefix("event:") || $0.hasPrefix("operator:") ? nil : $0 }
        return ["id": transfer.id, "at": format.time(transfer.occurredAt), "kind": language.word("kind_" + transfer.kind.rawValue),
                "unit": language.word("unit_" + transfer.unit.rawValue), "change": change, "direction": direction,
                "reason": reason, "reference": reference ?? "", "actor": actors[transfer.actor] ?? transfer.actor]
    }

    // MARK: - Adjusting points

    /// An adjustment from the member page: points (plus or minus) and a reason, recorded with the
    /// person who made it. The form's key makes a second submit of the same form do nothing more.
    @Sendable func adjust(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await programPage(request, context, needs: .adjustPoints, form: form) { shell, user, program in
            let language = shell.language
            var faults: [String: String] = [:]
            let text = (form["points"] ?? "").trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: "")
            let points = Int64(text.hasPrefix("+") ? String(text.dropFirst()) : text)
            if points == nil { faults["points"] = language.word(text.isEmpty ? "points_required" : "whole_number") }
            let reason = form["reason"] ?? ""
            if faults.isEmpty, let points {
                let body: JSONValue = .object(["points": .int(points), "reason": .string(reason)])
                do {
                    let memberID = context.parameters.get("member") ?? ""
                    let (transfer, _) = try await engine.adjust(programCode: program.code, memberID: memberID, body: body,
                                                                requestKey: form["request_key"].flatMap { $0.isEmpty ? nil : "console:" + $0 },
                                                                by: user.principal)
                    logger.info("points adjusted in the console", metadata: [
                        "operator": "\(user.id)", "member": "\(memberID)", "points": "\(points)", "transfer": "\(transfer.id)",
                    ])
                    return Self.redirect(to: "/console/programs/\(program.code)/members/\(memberID)?adjusted=\(transfer.id)#ledger")
                } catch EngineError.invalid(let error) {
                    faults = language.faults(error, wordsPrefix: "adjust_")
                } catch EngineError.insufficientPoints(let available, _) {
                    faults["points"] = language.word("adjust_insufficient", ConsoleFormat(program: program).number(available))
                }
            }
            if reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, faults["reason"] == nil {
                faults["reason"] = language.word("adjust_blank")
            }
            return try await memberView(request, context, shell: shell, user: user, program: program,
                                        status: .unprocessableContent, form: form, faults: faults)
        }
    }

    // MARK: - Erasure

    @Sendable func erasePage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .eraseMembers) { shell, user, program in
            let member = try await engine.member(programCode: program.code, id: context.parameters.get("member") ?? "",
                                                 by: user.principal)
            return eraseForm(shell: shell, program: program, member: member)
        }
    }

    private func eraseForm(shell: ConsoleShell, program: Program, member: Member, fault: String? = nil) -> Response {
        let language = shell.language
        let base = "/console/programs/\(program.code)/members/\(member.id)"
        var values: [String: Any] = [
            "name": member.profile.name ?? member.externalID ?? member.id, "external_id": member.externalID ?? member.id,
            "action": base + "/erase", "back": base,
            "warning": language.word("erase_warning", member.profile.name ?? member.externalID ?? member.id),
            "confirm_label": language.word("erase_confirm_label", member.externalID ?? member.id),
        ]
        values["fault"] = fault
        return pages.render("erase", status: fault == nil ? .ok : .unprocessableContent,
                            title: language.word("erase_title"), shell: shell, values: values)
    }

    /// Erases the member's personal data once the operator has typed their external id: a slip
    /// of the mouse cannot do it.
    @Sendable func erase(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await programPage(request, context, needs: .eraseMembers, form: form) { shell, user, program in
            let member = try await engine.member(programCode: program.code, id: context.parameters.get("member") ?? "",
                                                 by: user.principal)
            let expected = member.externalID ?? member.id
            guard (form["confirm"] ?? "").trimmingCharacters(in: .whitespaces) == expected else {
                return eraseForm(shell: shell, program: program, member: member,
                                 fault: shell.language.word("erase_mismatch", expected))
            }
            _ = try await engine.eraseMember(programCode: program.code, id: member.id, by: user.principal)
            logger.notice("member erased in the console", metadata: ["operator": "\(user.id)", "member": "\(member.id)"])
            let language = shell.language
            return pages.render("message", title: language.word("erased_title"), shell: shell, values: [
                "heading": language.word("erased_title"), "message": language.word("erased_message", expected),
                "link": ["href": "/console/programs/\(program.code)/members", "label": language.word("members")],
            ])
        }
    }

    // MARK: - Helpers

    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    private static let sortedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A program-defined field's value as text.
    static func plain(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .bool(let flag): flag ? "✓" : "✗"
        case .double(let number): String(number)
        case .null: "—"
        case .array, .object:
            (try? sortedEncoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
    }
}
