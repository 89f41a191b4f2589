import Foundation
import OpenAPIRuntime
import PatronAPI
import PatronCore
import PatronEngine

/// The handlers of the OpenAPI operations: each reads its typed input, calls one use case and maps
/// the result back. Errors are thrown and become problems in `ProblemMiddleware`.
struct APIService: APIProtocol {
    let engine: Engine
    let metrics: MetricsExporter
    let version: String

    // MARK: System

    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        do {
            try await engine.store.checkHealth()
        } catch {
            throw Problem(.serviceUnavailable, code: "database_unavailable", detail: "The database does not answer.")
        }
        return .ok(.init(body: .json(.init(status: .ok, database: "ok", version: version))))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        .ok(.init(body: .plainText(HTTPBody(metrics.exposition()))))
    }

    // MARK: API keys

    func createApiKey(_ input: Operations.CreateApiKey.Input) async throws -> Operations.CreateApiKey.Output {
        guard case .json(let body) = input.body else { throw Problem.badRequest("malformed_request", "Expected JSON.") }
        let issued = try await engine.createAPIKey(name: body.name, role: Role(body.role), programCode: body.program,
                                                   by: try RequestState.requirePrincipal())
        let key = try await apiKeyPayload(issued.key)
        return .created(.init(body: .json(.init(value1: key, value2: .init(secret: issued.secret)))))
    }

    func listApiKeys(_ input: Operations.ListApiKeys.Input) async throws -> Operations.ListApiKeys.Output {
        let page = try await engine.listAPIKeys(limit: input.query.limit.map(Int.init), cursor: input.query.cursor,
                                                by: try RequestState.requirePrincipal())
        var items: [Components.Schemas.ApiKey] = []
        for key in page.items { items.append(try await apiKeyPayload(key)) }
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    func revokeApiKey(_ input: Operations.RevokeApiKey.Input) async throws -> Operations.RevokeApiKey.Output {
        try await engine.revokeAPIKey(id: input.path.keyId, by: try RequestState.requirePrincipal())
        return .noContent(.init())
    }

    private func apiKeyPayload(_ key: APIKey) async throws -> Components.Schemas.ApiKey {
        var programCode: String?
        if let programID = key.programID { programCode = try await engine.store.program(id: programID)?.code }
        return .init(id: key.id, name: key.name, role: .init(key.role), program: programCode, prefix: key.prefix,
                     createdAt: key.createdAt, revokedAt: key.revokedAt)
    }

    // MARK: Programs

    func createProgram(_ input: Operations.CreateProgram.Input) async throws -> Operations.CreateProgram.Output {
        guard case .json(let body) = input.body else { throw Problem.badRequest("malformed_request", "Expected JSON.") }
        let program = try await engine.createProgram(
            ProgramDraft(code: body.code, name: body.name, currency: body.currency, timeZone: body.timeZone),
            by: try RequestState.requirePrincipal())
        return .created(.init(headers: .init(location: "/v1/programs/\(program.code)"), body: .json(.init(program))))
    }

    func listPrograms(_ input: Operations.ListPrograms.Input) async throws -> Operations.ListPrograms.Output {
        let page = try await engine.listPrograms(limit: input.query.limit.map(Int.init), cursor: input.query.cursor,
                                                 by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(.init(items: page.items.map(Components.Schemas.Program.init), nextCursor: page.nextCursor))))
    }

    func getProgram(_ input: Operations.GetProgram.Input) async throws -> Operations.GetProgram.Output {
        let program = try await engine.program(code: input.path.program, by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(.init(program))))
    }

    func getProgramConfig(_ input: Operations.GetProgramConfig.Input) async throws -> Operations.GetProgramConfig.Output {
        let version = try await engine.currentConfig(programCode: input.path.program, by: try RequestState.requirePrincipal())
        return .ok(.init(headers: .init(eTag: "\"\(version.number)\""), body: .json(try .init(version.document))))
    }

    func putProgramConfig(_ input: Operations.PutProgramConfig.Input) async throws -> Operations.PutProgramConfig.Output {
        let document = try JSONValue(parsing: RequestState.body ?? Data())
        var expected: Int?
        if let ifMatch = input.headers.ifMatch {
            guard let number = Int(ifMatch.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))) else {
                throw Problem.badRequest("invalid_if_match", "If-Match takes a version number, e.g. If-Match: \"3\".")
            }
            expected = number
        }
        let result = try await engine.updateConfig(programCode: input.path.program, document: document,
                                                   expectedVersion: expected, by: try RequestState.requirePrincipal())
        return .ok(.init(headers: .init(eTag: "\"\(result.version.number)\""), body: .json(try .init(result.version))))
    }

    func listProgramConfigVersions(_ input: Operations.ListProgramConfigVersions.Input) async throws
        -> Operations.ListProgramConfigVersions.Output {
        let page = try await engine.configVersions(programCode: input.path.program, limit: input.query.limit.map(Int.init),
                                                   cursor: input.query.cursor, by: try RequestState.requirePrincipal())
        let items = page.items.map {
            Components.Schemas.ConfigVersionSummary(version: $0.number, createdBy: $0.createdBy, createdAt: $0.createdAt)
        }
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    func getProgramConfigVersion(_ input: Operations.GetProgramConfigVersion.Input) async throws
        -> Operations.GetProgramConfigVersion.Output {
        let version = try await engine.configVersion(programCode: input.path.program, number: Int(input.path.version),
                                                     by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(version))))
    }

    // MARK: Members

    func enrolMember(_ input: Operations.EnrolMember.Input) async throws -> Operations.EnrolMember.Output {
        let member = try await engine.enrol(programCode: input.path.program, body: try rawBody(),
                                            by: try RequestState.requirePrincipal())
        return .created(.init(headers: .init(location: "/v1/programs/\(input.path.program)/members/\(member.id)"),
                              body: .json(try .init(member, programCode: input.path.program))))
    }

    func listMembers(_ input: Operations.ListMembers.Input) async throws -> Operations.ListMembers.Output {
        let query = MemberQuery(externalID: input.query.externalId, phone: input.query.phone, email: input.query.email,
                                kind: input.query.kind.map { MemberKind(rawValue: $0.rawValue)! },
                                organisationID: input.query.organisation)
        let page = try await engine.listMembers(programCode: input.path.program, query: query,
                                                limit: input.query.limit.map(Int.init), cursor: input.query.cursor,
                                                by: try RequestState.requirePrincipal())
        let items = try page.items.map { try Components.Schemas.Member($0, programCode: input.path.program) }
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    func getMember(_ input: Operations.GetMember.Input) async throws -> Operations.GetMember.Output {
        let member = try await engine.member(programCode: input.path.program, id: input.path.member,
                                             by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(member, programCode: input.path.program))))
    }

    func updateMember(_ input: Operations.UpdateMember.Input) async throws -> Operations.UpdateMember.Output {
        let member = try await engine.updateMember(programCode: input.path.program, id: input.path.member,
                                                   body: try rawBody(), by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(member, programCode: input.path.program))))
    }

    func eraseMember(_ input: Operations.EraseMember.Input) async throws -> Operations.EraseMember.Output {
        let member = try await engine.eraseMember(programCode: input.path.program, id: input.path.member,
                                                  by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(member, programCode: input.path.program))))
    }

    func exportMember(_ input: Operations.ExportMember.Input) async throws -> Operations.ExportMember.Output {
        let export = try await engine.exportMember(programCode: input.path.program, id: input.path.member,
                                                   by: try RequestState.requirePrincipal())
        return .ok(.init(body: .json(try .init(export))))
    }

    /// The JSON body as received; the generated decoder has already checked its shape.
    func rawBody() throws -> JSONValue {
        try JSONValue(parsing: RequestState.body ?? Data())
    }
}
