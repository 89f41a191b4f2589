import Foundation
import PatronCore

extension Engine {
    /// Creates a program and its first configuration version.
    public func createProgram(_ draft: ProgramDraft, by principal: Principal) async throws -> Program {
        try requireUnscoped(.createPrograms, principal)
        do throws(ValidationError) { try draft.validate() } catch { throw EngineError.invalid(error) }
        let now = now()
        let program = Program(id: newID(at: now), code: draft.code, name: draft.name.trimmingCharacters(in: .whitespacesAndNewlines),
                              currency: draft.currency, timeZone: draft.timeZone, configVersion: 1, createdAt: now)
        let first = ConfigVersion(programID: program.id, number: 1, document: draft.initialConfiguration,
                                  createdBy: principal.keyID, createdAt: now)
        do {
            try await store.insertProgram(program, firstConfig: first)
        } catch StoreError.duplicate {
            throw EngineError.conflict(code: "program_exists", detail: "A program with the code '\(draft.code)' already exists.")
        }
        return program
    }

    /// The program with this code, if the caller may reach it.
    public func program(code: String, by principal: Principal) async throws -> Program {
        try await program(code: code, by: principal, cached: true)
    }

    /// The program, from the cache (see `cacheLifetime`) or, when `cached` is false, as the store
    /// holds it now: what a change must start from.
    func program(code: String, by principal: Principal, cached: Bool) async throws -> Program {
        try require(.readPrograms, principal)
        let load = { try await store.program(code: code) }
        guard Code.isValid(code), let program = try await (cached ? programs.value(for: code, load: load) : load()) else {
            throw EngineError.notFound(resource: "program", id: code)
        }
        guard principal.canReach(programID: program.id) else {
            throw EngineError.forbidden(code: "program_out_of_scope",
                                        detail: "This API key is limited to another program.")
        }
        return program
    }

    /// The program's configuration in force as the engine runs it: its levels, plans and
    /// benefits by code, for a caller that shows their names.
    public func runtime(programCode: String, by principal: Principal) async throws -> ProgramRuntime {
        try await runtime(program(code: programCode, by: principal))
    }

    /// The programs the caller may reach, in creation order.
    public func listPrograms(limit: Int?, cursor: String?, by principal: Principal) async throws -> Page<Program> {
        try require(.readPrograms, principal)
        let limit = try pageSize(limit)
        let fetched = try await store.programs(after: try decodeCursor(cursor), limit: limit + 1, onlyID: principal.programID)
        return page(fetched, limit: limit, key: \.id)
    }

    /// The configuration in force.
    public func currentConfig(programCode: String, by principal: Principal) async throws -> ConfigVersion {
        let program = try await program(code: programCode, by: principal)
        return try await config(program: program, number: program.configVersion)
    }

    /// Validates `document` and stores it as the program's new configuration version. A document
    /// equal to the one in force stores nothing and returns the current version. `expectedVersion`
    /// (from `If-Match`) makes the change conditional on the version the editor started from.
    public func updateConfig(programCode: String, document: JSONValue, expectedVersion: Int?,
                             by principal: Principal) async throws -> (version: ConfigVersion, created: Bool) {
        try require(.writeConfig, principal)
        var program = try await program(code: programCode, by: principal, cached: false)
        do throws(ValidationError) { try ConfigValidator(programCurrency: program.currency).validate(document) } catch {
            throw EngineError.invalid(error)
        }
        let canonical = JSONValue.object(document.objectValue ?? [:])
        // Concurrent writers race on the guarded version bump; a loser without a precondition simply
        // re-reads and tries again (the document is a whole replacement, so nothing is merged).
        for _ in 0..<5 {
            if let expectedVersion, expectedVersion != program.configVersion {
                throw EngineError.preconditionFailed(
                    detail: "The configuration is at version \(program.configVersion), not \(expectedVersion).")
            }
            let current = try await config(program: program, number: program.configVersion)
            if current.document == canonical { return (current, false) }
            let version = ConfigVersion(programID: program.id, number: program.configVersion + 1, document: canonical,
                                        createdBy: principal.keyID, createdAt: now())
            do {
                try await store.appendConfigVersion(version, timeZone: canonical["time_zone"]?.stringValue ?? program.timeZone)
                programs.remove { $0.id == version.programID }
                return (version, true)
            } catch StoreError.concurrentUpdate {
                guard let fresh = try await store.program(id: program.id) else {
                    throw EngineError.notFound(resource: "program", id: programCode)
                }
                program = fresh
            }
        }
        throw EngineError.conflict(code: "concurrent_update", detail: "The configuration kept changing; try again.")
    }

    /// The list of stored versions, newest first.
    public func configVersions(programCode: String, limit: Int?, cursor: String?,
                               by principal: Principal) async throws -> Page<ConfigVersionSummary> {
        let program = try await program(code: programCode, by: principal)
        let limit = try pageSize(limit)
        let before = try decodeCursor(cursor).map { text throws(EngineError) -> Int in
            guard let number = Int(text) else {
                throw .invalid(ValidationError(pointer: "/cursor", code: "invalid_cursor", message: "The cursor is not one this API returned."))
            }
            return number
        }
        let fetched = try await store.configVersions(programID: program.id, before: before, limit: limit + 1)
        return page(fetched, limit: limit, key: { String($0.number) })
    }

    /// One stored version.
    public func configVersion(programCode: String, number: Int, by principal: Principal) async throws -> ConfigVersion {
        let program = try await program(code: programCode, by: principal)
        guard number >= 1, let version = try await store.configVersion(programID: program.id, number: number) else {
            throw EngineError.notFound(resource: "config_version", id: String(number))
        }
        return version
    }

    func config(program: Program, number: Int) async throws -> ConfigVersion {
        guard let version = try await store.configVersion(programID: program.id, number: number) else {
            // Every program is created with version 1 and versions are never deleted.
            preconditionFailure("program \(program.id) has no configuration version \(number)")
        }
        return version
    }
}
