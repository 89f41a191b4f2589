import Foundation
import Hummingbird
import PatronCore
import PatronEngine

/// API keys in the console (owner only): every key with its role, scope and state; a new key's
/// secret is shown once, on the page that answers its creation, and never again; revocation.
extension ConsoleController {
    func addKeyRoutes(to router: Router<PatronRequestContext>, routes: RouteTable) {
        Self.register(on: router, in: routes, get: [("/console/keys", keysPage)], post: [
            ("/console/keys", createKey), ("/console/keys/{key}/revoke", revokeKey),
        ])
    }

    @Sendable func keysPage(_ request: Request, context: PatronRequestContext) async throws -> Response {
        try await page(request, needs: .manageKeys) { shell, user in
            let revoked = Self.query(request)["revoked"].map { shell.language.word("key_revoked", $0) }
            return try await keysView(shell: shell, user: user, notice: revoked)
        }
    }

    /// Creates a key; the answer is the one page that shows its secret.
    @Sendable func createKey(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await page(request, needs: .manageKeys, form: form) { shell, user in
            let language = shell.language
            var faults: [String: String] = [:]
            guard let role = form["role"].flatMap(Role.init(rawValue:)) else {
                faults["role"] = language.word("choose_role")
                return try await keysView(shell: shell, user: user, status: .unprocessableContent, form: form, faults: faults)
            }
            let program = (form["program"] ?? "").isEmpty ? nil : form["program"]
            do {
                let issued = try await engine.createAPIKey(name: form["name"] ?? "", role: role, programCode: program,
                                                           by: user.principal)
                logger.notice("API key created in the console", metadata: [
                    "operator": "\(user.id)", "key": "\(issued.key.id)", "role": "\(role.rawValue)",
                ])
                var response = try await keysView(shell: shell, user: user, issued: issued)
                response.headers[.cacheControl] = "no-store"
                return response
            } catch EngineError.invalid(let invalid) {
                faults = language.faults(invalid, wordsPrefix: "key_")
                return try await keysView(shell: shell, user: user, status: .unprocessableContent, form: form, faults: faults)
            }
        }
    }

    @Sendable func revokeKey(_ request: Request, context: PatronRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        return try await page(request, needs: .manageKeys, form: form) { _, user in
            let id = context.parameters.get("key") ?? ""
            try await engine.revokeAPIKey(id: id, by: user.principal)
            logger.notice("API key revoked in the console", metadata: ["operator": "\(user.id)", "key": "\(id)"])
            return Self.redirect(to: "/console/keys?revoked=\(Self.queryValue(id))")
        }
    }

    private func keysView(shell: ConsoleShell, user: OperatorUser, status: HTTPResponse.Status = .ok,
                          form: [String: String] = [:], faults: [String: String] = [:], issued: IssuedAPIKey? = nil,
                          notice: String? = nil) async throws -> Response {
        let language = shell.language
        let programs = try await engine.listPrograms(limit: Engine.maxPageSize, cursor: nil, by: user.principal).items
        let codes = Dictionary(uniqueKeysWithValues: programs.map { ($0.id, $0.code) })
        var keys: [APIKey] = []
        var cursor: String?
        repeat {
            let page = try await engine.listAPIKeys(limit: Engine.maxPageSize, cursor: cursor, by: user.principal)
            keys += page.items
            cursor = page.nextCursor
        } while cursor != nil
        let rows: [[String: Any]] = keys.reversed().map { key in
            var row: [String: Any] = [
                "id": key.id, "name": key.name, "role": key.role.rawValue, "prefix": key.prefix + "…",
                "scope": key.programID.map { codes[$0] ?? $0 } ?? language.word("all_programs"),
                "created": Self.shortTime(key.createdAt), "revoked": key.revokedAt != nil,
                "state": key.revokedAt.map { language.word("revoked_at", Self.shortTime($0)) } ?? language.word("key_active"),
                "revoke": "/console/keys/\(key.id)/revoke", "revoke_label": language.word("revoke_key", key.name),
            ]
            if key.id == issued?.key.id { row["new"] = true }
            return row
        }
        var values: [String: Any] = [
            "keys": rows,
            "roles": Role.allCases.map { ["value": $0.rawValue, "selected": form["role"] == $0.rawValue] },
            "programs": programs.map { ["code": $0.code, "name": $0.name, "selected": form["program"] == $0.code] },
            "form": ["name": form["name"] ?? ""], "faults": faults, "has_faults": !faults.isEmpty,
        ]
        if let issued {
            values["issued"] = ["name": issued.key.name, "secret": issued.secret]
        }
        values["notice"] = notice
        return pages.render("keys", status: status, title: language.word("api_keys"), shell: shell, values: values)
    }
}
