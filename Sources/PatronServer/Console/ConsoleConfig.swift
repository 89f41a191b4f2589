import Foundation
import Hummingbird
import PatronCore
import PatronEngine

/// The program's configuration in the console: forms per part of the document with the
/// validator's messages beside the field at fault, the whole document as JSON for experts, the
/// versions with a diff of any two, and rollback (a new version equal to an old one).
extension ConsoleController {
    func addConfigRoutes(to router: Router<PatronRequestContext>, routes: RouteTable) {
        let base = "/console/programs/{program}/config"
        let get: [(String, Handler)] = [
            (base, configPage), (base + "/json", configJSONPage), (base + "/versions", configVersionsPage),
            (base + "/diff", configDiffPage),
        ]
        let post: [(String, Handler)] = [
            (base, saveConfigSection), (base + "/json", saveConfigJSON), (base + "/versions/{number}/rollback", rollbackConfig),
        ]
        Self.register(on: router, in: routes, get: get, post: post)
    }

    // MARK: - Forms

    @Sendable func configPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewDashboard) { shell, user, program in
            let current = try await engine.currentConfig(programCode: program.code, by: user.principal)
            let query = Self.query(request)
            var notice: String?
            if let saved = query["saved"] { notice = shell.language.word("config_saved", saved) }
            if query["unchanged"] != nil { notice = shell.language.word("config_unchanged") }
            return configForms(shell: shell, user: user, program: program, document: current.document,
                               version: current.number, notice: notice)
        }
    }

    /// One section's form: the document with the section as posted, stored as a new version when
    /// the validator accepts it; else the form again as typed, with the messages beside the fields.
    @Sendable func saveConfigSection(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request, upTo: 512 * 1024)
        return try await programPage(request, context, needs: .editConfig, form: form) { shell, user, program in
            let current = try await engine.currentConfig(programCode: program.code, by: user.principal)
            guard let section = form["_section"].flatMap(ConfigForm.section) else {
                return configForms(shell: shell, user: user, program: program, document: current.document,
                                   version: current.number, status: .unprocessableContent,
                                   alert: shell.language.word("form_expired"))
            }
            let candidate = ConfigForm.apply(form, to: current.document, section: section)
            let base = "/console/programs/\(program.code)/config"
            if candidate == current.document { return Self.redirect(to: base + "?unchanged=1#section-\(section.id)") }
            return try await storeConfig(candidate, expected: form["_version"].flatMap(Int.init), shell: shell, user: user,
                                         program: program, current: current.number, stored: { version in
                Self.redirect(to: base + "?saved=\(version.number)#section-\(section.id)")
            }) { faults, alert in
                configForms(shell: shell, user: user, program: program, document: candidate,
                            version: form["_version"].flatMap(Int.init) ?? current.number, status: .unprocessableContent,
                            faults: faults, alert: alert, open: section.id)
            }
        }
    }

    /// Stores `document` as the next version and answers `stored`; or answers `refused` with the
    /// validator's faults by pointer, or with no faults and an alert when the configuration moved
    /// on from `expected` meanwhile (it is at `current` as far as the page knew).
    private func storeConfig(_ document: JSONValue, expected: Int?, shell: ConsoleShell, user: OperatorUser, program: Program,
                             current: Int, stored: (ConfigVersion) -> Response,
                             refused: ([String: String], String?) -> Response) async throws -> Response {
        let language = shell.language
        do {
            let (version, _) = try await engine.updateConfig(programCode: program.code, document: document,
                                                             expectedVersion: expected, by: user.principal)
            logger.info("configuration changed in the console", metadata: [
                "operator": "\(user.id)", "program": "\(program.code)", "version": "\(version.number)",
            ])
            return stored(version)
        } catch EngineError.invalid(let error) {
            var faults: [String: String] = [:]
            for fault in error.faults {
                faults[fault.pointer] = faults[fault.pointer].map { $0 + " " + fault.message } ?? fault.message
            }
            return refused(faults, language.word("config_refused"))
        } catch EngineError.preconditionFailed {
            return refused([:], language.word("config_moved_on", String(current)))
        }
    }

    private func configForms(shell: ConsoleShell, user: OperatorUser, program: Program, document: JSONValue, version: Int,
                             status: HTTPResponse.Status = .ok, faults: [String: String] = [:], notice: String? = nil,
                             alert: String? = nil, open: String? = nil) -> Response {
        let language = shell.language
        let editable = user.role.may(.editConfig)
        // Each fault goes beside its field, else beside the first field below it, else at the top
        // of its section.
        var beside: [String: [String]] = [:]
        var unplaced: [String: [String]] = [:]
        let pointers = ConfigForm.sections.flatMap { Self.fieldPointers(of: $0, in: document) }
        for (pointer, message) in faults.sorted(by: { $0.key < $1.key }) {
            if let field = pointers.first(where: { $0 == pointer }) ?? pointers.first(where: { $0.hasPrefix(pointer + "/") }) {
                beside[field, default: []].append(message)
            } else {
                let section = ConfigForm.sections.first { pointer == "/" + $0.key || pointer.hasPrefix("/" + $0.key + "/") }
                unplaced[section?.id ?? "", default: []].append("\(pointer): \(message)")
            }
        }
        let sections: [[String: Any]] = ConfigForm.sections.map { section in
            let object = document[section.key]?.objectValue ?? [:]
            let base = "/" + section.key
            var model: [String: Any] = [
                "id": section.id, "title": language.word("cfg_section_" + section.id),
                "lead": language.word("cfg_lead_" + section.id),
                "fields": section.fields.map { field in
                    Self.fieldModel(field, pointer: base + "/" + field.key, value: ConfigForm.get(object, path: field.key),
                                    label: Self.label(field, language), faults: beside, cell: false)
                },
                "has_fields": !section.fields.isEmpty,
                "open": open == section.id,
            ]
            if let rowsKey = section.rowsKey {
                let listPointer = rowsKey.isEmpty ? base : base + "/" + rowsKey
                let rows = (rowsKey.isEmpty ? document[section.key] : object[rowsKey])?.arrayValue ?? []
                model["columns"] = section.columns.map { ["label": Self.label($0, language)] }
                model["rows"] = (0...rows.count).map { index -> [String: Any] in
                    let row = index < rows.count ? rows[index].objectValue ?? [:] : [:]
                    let pointer = listPointer + "/\(index)"
                    var cells: [[String: Any]] = section.columns.map { column in
                        Self.fieldModel(column, pointer: pointer + "/" + column.key, value: ConfigForm.get(row, path: column.key),
                                        label: Self.label(column, language) + " · " + language.word("row_n", String(index + 1)),
                                        faults: beside, cell: true)
                    }
                    if index == rows.count { cells = cells.map { var cell = $0; cell["blank"] = true; return cell } }
                    return ["cells": cells, "remove": "_remove:" + pointer, "remove_id": Self.fieldID(pointer) + "-remove",
                            "remove_label": language.word("remove_row", String(index + 1)), "is_new": index == rows.count]
                }
                model["has_rows"] = true
            }
            if let messages = unplaced[section.id] { model["section_faults"] = messages }
            return model
        }
        var values: [String: Any] = [
            "sections": sections, "version": String(version), "editable": editable,
            "json_href": "/console/programs/\(program.code)/config/json",
            "versions_href": "/console/programs/\(program.code)/config/versions",
            "action": "/console/programs/\(program.code)/config",
        ]
        values["notice"] = notice
        values["alert"] = alert
        if let messages = unplaced[""] { values["faults"] = messages }
        return pages.render("config", status: status, title: language.word("configuration"), shell: shell, values: values)
    }

    /// The form names of a section's fields in `document`, in page order, the blank row included.
    static func fieldPointers(of section: ConfigForm.Section, in document: JSONValue) -> [String] {
        let base = "/" + section.key
        var pointers = section.fields.map { base + "/" + $0.key }
        if let rowsKey = section.rowsKey {
            let listPointer = rowsKey.isEmpty ? base : base + "/" + rowsKey
            let rows = rowsKey.isEmpty ? document[section.key] : document[section.key]?[rowsKey]
            for index in 0...(rows?.arrayValue?.count ?? 0) {
                pointers += section.columns.map { listPointer + "/\(index)/" + $0.key }
            }
        }
        return pointers
    }

    static func label(_ field: ConfigForm.Field, _ language: ConsoleLanguage) -> String {
        language.word("cfg_" + field.key.replacingOccurrences(of: "/", with: "_"))
    }

    static func fieldID(_ pointer: String) -> String {
        "cfg" + pointer.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
    }

    static func fieldModel(_ field: ConfigForm.Field, pointer: String, value: JSONValue?, label: String,
                           faults: [String: [String]], cell: Bool) -> [String: Any] {
        var model: [String: Any] = ["name": pointer, "id": fieldID(pointer), "label": label, "cell": cell,
                                    "value": ConfigForm.text(of: value, kind: field.kind)]
        switch field.kind {
        case .text, .list: model["is_text"] = true
        case .expression: model["is_expression"] = true
        case .integer: model["is_integer"] = true
        case .flag(let byDefault):
            model["is_flag"] = true
            model["checked"] = value?.boolValue ?? byDefault
        case .choice(let options):
            let chosen = value?.stringValue ?? ""
            model["is_choice"] = true
            model["options"] = ([""] + options + (options.contains(chosen) || chosen.isEmpty ? [] : [chosen])).map {
                ["value": $0, "label": $0.isEmpty ? "—" : $0, "selected": $0 == chosen]
            }
        }
        if let messages = faults[pointer] {
            model["fault"] = messages.joined(separator: " ")
            model["fault_id"] = fieldID(pointer) + "-fault"
        }
        return model
    }

    // MARK: - Raw JSON

    @Sendable func configJSONPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewDashboard) { shell, user, program in
            let current = try await engine.currentConfig(programCode: program.code, by: user.principal)
            let saved = Self.query(request)["saved"].map { shell.language.word("config_saved", $0) }
            return configJSON(shell: shell, user: user, program: program, text: Self.pretty(current.document),
                              version: current.number, notice: saved)
        }
    }

    @Sendable func saveConfigJSON(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request, upTo: 512 * 1024)
        return try await programPage(request, context, needs: .editConfig, form: form) { shell, user, program in
            let current = try await engine.currentConfig(programCode: program.code, by: user.principal)
            let text = form["document"] ?? ""
            let expected = form["_version"].flatMap(Int.init)
            func refused(_ faults: [String], _ alert: String?) -> Response {
                configJSON(shell: shell, user: user, program: program, text: text, version: expected ?? current.number,
                           status: .unprocessableContent, faults: faults, alert: alert)
            }
            guard let document = try? JSONValue(parsing: Data(text.utf8)) else {
                return refused([shell.language.word("not_json")], shell.language.word("config_refused"))
            }
            if document == current.document {
                return Self.redirect(to: "/console/programs/\(program.code)/config/json?saved=\(current.number)")
            }
            return try await storeConfig(document, expected: expected, shell: shell, user: user, program: program,
                                         current: current.number, stored: { version in
                Self.redirect(to: "/console/programs/\(program.code)/config/json?saved=\(version.number)")
            }) { faults, alert in
                refused(faults.sorted { $0.key < $1.key }.map { "\($0.key.isEmpty ? "/" : $0.key): \($0.value)" }, alert)
            }
        }
    }

    private func configJSON(shell: ConsoleShell, user: OperatorUser, program: Program, text: String, version: Int,
                            status: HTTPResponse.Status = .ok, faults: [String] = [], notice: String? = nil,
                            alert: String? = nil) -> Response {
        var values: [String: Any] = [
            "document": text, "version": String(version), "editable": user.role.may(.editConfig),
            "faults": faults, "has_faults": !faults.isEmpty,
            "action": "/console/programs/\(program.code)/config/json",
            "forms_href": "/console/programs/\(program.code)/config",
        ]
        values["notice"] = notice
        values["alert"] = alert
        return pages.render("config-json", status: status, title: shell.language.word("config_json"), shell: shell,
                            values: values)
    }

    // MARK: - Versions, diff and rollback

    @Sendable func configVersionsPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewDashboard) { shell, user, program in
            let language = shell.language
            let format = ConsoleFormat(program: program)
            let versions = try await engine.configVersions(programCode: program.code, limit: Engine.maxPageSize, cursor: nil,
                                                           by: user.principal).items
            let current = program.configVersion
            let actors = try await operatorEmails()
            let rows: [[String: Any]] = versions.map { version in
                ["number": String(version.number), "at": format.time(version.createdAt),
                 "by": actors[version.createdBy] ?? version.createdBy, "current": version.number == current,
                 "rollback": "/console/programs/\(program.code)/config/versions/\(version.number)/rollback",
                 "rollback_label": language.word("rollback_to", String(version.number))]
            }
            let choices = versions.map { String($0.number) }
            var values: [String: Any] = [
                "versions": rows, "may_rollback": user.role.may(.editConfig),
                "diff_action": "/console/programs/\(program.code)/config/diff",
                "from_options": choices.map { ["value": $0, "selected": $0 == String(max(1, current - 1))] },
                "to_options": choices.map { ["value": $0, "selected": $0 == String(current)] },
            ]
            if let rolled = Self.query(request)["rolled"] { values["notice"] = language.word("rolled_back", rolled, String(current)) }
            return pages.render("config-versions", title: language.word("config_versions"), shell: shell, values: values)
        }
    }

    @Sendable func configDiffPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await programPage(request, context, needs: .viewDashboard) { shell, user, program in
            let language = shell.language
            let query = Self.query(request)
            let from = query["from"].flatMap(Int.init) ?? 0, to = query["to"].flatMap(Int.init) ?? 0
            let old = try await engine.configVersion(programCode: program.code, number: from, by: user.principal)
            let new = try await engine.configVersion(programCode: program.code, number: to, by: user.principal)
            let lines = LineDiff.lines(from: Self.pretty(old.document).components(separatedBy: "\n"),
                                       to: Self.pretty(new.document).components(separatedBy: "\n"))
            // Changes with three lines around each; longer unchanged stretches fold away.
            let changed = lines.indices.filter { if case .same = lines[$0] { false } else { true } }
            var shown: [[String: Any]] = []
            var last = -1
            for index in lines.indices where changed.contains(where: { abs($0 - index) <= 3 }) {
                if index > last + 1 { shown.append(["fold": true]) }
                switch lines[index] {
                case .same(let text): shown.append(["text": text, "kind": "same", "mark": " "])
                case .removed(let text): shown.append(["text": text, "kind": "removed", "mark": "-"])
                case .added(let text): shown.append(["text": text, "kind": "added", "mark": "+"])
                }
                last = index
            }
            let values: [String: Any] = [
                "from": String(from), "to": String(to), "lines": shown, "same": changed.isEmpty,
                "heading": language.word("diff_heading", String(from), String(to)),
                "added": String(lines.filter { if case .added = $0 { true } else { false } }.count),
                "removed": String(lines.filter { if case .removed = $0 { true } else { false } }.count),
                "versions_href": "/console/programs/\(program.code)/config/versions",
            ]
            return pages.render("config-diff", title: values["heading"] as? String ?? "", shell: shell, values: values)
        }
    }

    /// Rollback stores the old version's document as a new version, so that nothing is lost and
    /// the rollback itself can be undone.
    @Sendable func rollbackConfig(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await programPage(request, context, needs: .editConfig, form: form) { shell, user, program in
            let number = context.parameters.get("number").flatMap(Int.init) ?? 0
            let old = try await engine.configVersion(programCode: program.code, number: number, by: user.principal)
            return try await storeConfig(old.document, expected: form["_version"].flatMap(Int.init), shell: shell, user: user,
                                         program: program, current: program.configVersion, stored: { version in
                logger.notice("configuration rolled back in the console", metadata: [
                    "operator": "\(user.id)", "program": "\(program.code)", "to": "\(number)", "version": "\(version.number)",
                ])
                return Self.redirect(to: "/console/programs/\(program.code)/config/versions?rolled=\(number)")
            }) { faults, alert in
                // An old document that today's validator refuses (a rule language change) cannot
                // come back as it was; without faults, the configuration moved on meanwhile.
                let title = shell.language.word("config_refused")
                let message = faults.isEmpty ? alert ?? title
                    : faults.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: " ")
                return pages.render("message", status: faults.isEmpty ? .conflict : .unprocessableContent, title: title,
                                    shell: shell, values: ["heading": title, "message": message])
            }
        }
    }

    /// The document as people read it: two-space indents, keys sorted, `"key": value`.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .object(let members):
            guard !members.isEmpty else { return "{}" }
            let lines = members.sorted { $0.key < $1.key }.map { inner + quoted($0.key) + ": " + pretty($0.value, indent: inner) }
            return "{\n" + lines.joined(separator: ",\n") + "\n" + indent + "}"
        case .array(let items):
            guard !items.isEmpty else { return "[]" }
            return "[\n" + items.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .string(let text): return quoted(text)
        case .int(let number): return String(number)
        case .double(let number): return (try? JSONEncoder().encode(number)).map { String(decoding: $0, as: UTF8.self) } ?? "0"
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }

    private static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}
