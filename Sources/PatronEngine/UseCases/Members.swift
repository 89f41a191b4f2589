import Foundation
import PatronCore

/// Everything Patron holds about a member, for a data-subject access request.
public struct MemberExport: Sendable {
    public var program: Program
    public var member: Member
    public var consentHistory: [ConsentEvent]
    public var fields: [String: MemberFieldDefinition]
    public var exportedAt: Date
}

extension Engine {
    /// Enrols a member from the request body (see `MemberInput`).
    public func enrol(programCode: String, body: JSONValue, by principal: Principal) async throws -> Member {
        try require(.writeMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let fields = try await memberFields(program)
        let now = now()
        let enrolment: (member: Member, consentEvents: [ConsentEvent])
        do throws(ValidationError) {
            let input = try MemberInput(parsing: body, mode: .enrol, fields: fields)
            enrolment = try Member.enrolling(input, id: newID(at: now), programID: program.id, fields: fields, at: now)
        } catch {
            throw EngineError.invalid(error)
        }
        if let organisationID = enrolment.member.organisationID {
            _ = try await organisation(id: organisationID, program: program, pointer: "/organisation")
        }
        do {
            try await store.insertMember(enrolment.member, consentEvents: enrolment.consentEvents)
        } catch StoreError.duplicate {
            throw EngineError.conflict(code: "external_id_taken",
                                       detail: "A member with the external_id '\(enrolment.member.externalID ?? "")' already exists in this program.")
        }
        return enrolment.member
    }

    /// The member, if the caller may reach its program.
    public func member(programCode: String, id: String, by principal: Principal) async throws -> Member {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        return try await heldMember(program: program, id: id)
    }

    /// The member, unless their data was erased: an erased member is gone as far as the API goes,
    /// though the anonymised row stays for the ledger.
    func heldMember(program: Program, id: String) async throws -> Member {
        let member = try await member(program: program, id: id)
        guard member.status == .active else { throw Self.erased(id) }
        return member
    }

    static func erased(_ id: String) -> EngineError {
        .gone(code: "member_erased", detail: "The personal data of member '\(id)' was erased.")
    }

    func member(program: Program, id: String) async throws -> Member {
        guard Identifier.isWellFormed(id), let member = try await store.member(programID: program.id, id: id) else {
            throw EngineError.notFound(resource: "member", id: id)
        }
        return member
    }

    /// Lists members, optionally looked up by external id, phone or e-mail (normalised as stored).
    public func listMembers(programCode: String, query: MemberQuery, limit: Int?, cursor: String?,
                            by principal: Principal) async throws -> Page<Member> {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let limit = try pageSize(limit)
        // A lookup value that no stored value could equal matches nothing, rather than being an error.
        var normalised = query
        normalised.phone = query.phone.map { MemberRules.phone($0) ?? $0 }
        normalised.email = query.email.map { MemberRules.email($0) ?? $0 }
        let fetched = try await store.members(programID: program.id, matching: normalised,
                                              after: try decodeCursor(cursor), limit: limit + 1)
        return page(fetched, limit: limit, key: \.id)
    }

    /// The members an operator finds with one search text: the member whose id or external id it
    /// is, those with that phone number or e-mail address (normalised as stored), then those whose
    /// name contains it, at most `limit` in all. Erased members are not found.
    public func searchMembers(programCode: String, text: String, limit: Int, by principal: Principal) async throws -> [Member] {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= 100 else { return [] }
        var found: [Member] = []
        if Identifier.isWellFormed(text), let member = try await store.member(programID: program.id, id: text),
           member.status == .active {
            found.append(member)
        }
        var queries = [MemberQuery(externalID: text)]
        if let phone = MemberRules.phone(text) { queries.append(MemberQuery(phone: phone)) }
        if let email = MemberRules.email(text) { queries.append(MemberQuery(email: email)) }
        queries.append(MemberQuery(nameContains: text))
        for query in queries where found.count < limit {
            let matches = try await store.members(programID: program.id, matching: query, after: nil, limit: limit)
            for member in matches where found.count < limit && !found.contains(where: { $0.id == member.id }) {
                found.append(member)
            }
        }
        return found
    }

    /// Applies a partial update (absent fields kept, `null` clears).
    public func updateMember(programCode: String, id: String, body: JSONValue, by principal: Principal) async throws -> Member {
        try require(.writeMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let fields = try await memberFields(program)
        let input: MemberInput
        do throws(ValidationError) { input = try MemberInput(parsing: body, mode: .update, fields: fields) } catch {
            throw EngineError.invalid(error)
        }
        if case .set(let organisationID) = input.organisation {
            _ = try await organisation(id: organisationID, program: program, pointer: "/organisation")
        }
        return try await changeMember(program: program, id: id) { member throws(EngineError) in
            guard member.status == .active else { throw Self.erased(id) }
            do throws(ValidationError) { return try member.applying(input, fields: fields, at: now()) } catch { throw .invalid(error) }
        }
    }

    /// The held organisation with this id, or a 422 at `pointer` naming what is wrong with it: a
    /// person is linked to, and a B2B event names, a held member of kind `organisation`.
    func organisation(id: String, program: Program, pointer: String) async throws -> Member {
        guard Identifier.isWellFormed(id), let found = try await store.member(programID: program.id, id: id),
              found.status == .active else {
            throw EngineError.invalid(ValidationError(pointer: pointer, code: "unknown_organisation",
                                                      message: "The program has no organisation '\(id)'."))
        }
        guard found.kind == .organisation else {
            throw EngineError.invalid(ValidationError(pointer: pointer, code: "not_an_organisation",
                                                      message: "The member '\(id)' is a person, not an organisation."))
        }
        return found
    }

    /// Erases the member's personal data; the member row stays, anonymised. Erasing twice is harmless.
    public func eraseMember(programCode: String, id: String, by principal: Principal) async throws -> Member {
        try require(.eraseMembers, principal)
        let program = try await program(code: programCode, by: principal)
        return try await changeMember(program: program, id: id) { member throws(EngineError) in
            member.status == .erased ? (member, []) : member.erased(at: now())
        }
    }

    /// Everything held about the member.
    public func exportMember(programCode: String, id: String, by principal: Principal) async throws -> MemberExport {
        try require(.exportMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: id)
        return MemberExport(program: program, member: member,
                            consentHistory: try await store.consentEvents(memberID: member.id),
                            fields: try await memberFields(program), exportedAt: now())
    }

    /// Reads, changes and writes back a member under its revision guard, retrying when another
    /// request changed it in between.
    private func changeMember(program: Program, id: String,
                              _ change: (Member) throws(EngineError) -> (member: Member, consentEvents: [ConsentEvent]))
        async throws -> Member {
        for _ in 0..<5 {
            let current = try await member(program: program, id: id)
            let (next, events) = try change(current)
            if next.revision == current.revision { return current }
            do {
                try await store.updateMember(next, consentEvents: events)
                return next
            } catch StoreError.concurrentUpdate {
                continue
            } catch StoreError.duplicate {
                throw EngineError.conflict(code: "external_id_taken",
                                           detail: "A member with the external_id '\(next.externalID ?? "")' already exists in this program.")
            }
        }
        throw EngineError.conflict(code: "concurrent_update", detail: "The member kept changing; try again.")
    }

    private func memberFields(_ program: Program) async throws -> [String: MemberFieldDefinition] {
        MemberFieldDefinition.definitions(in: try await config(program: program, number: program.configVersion).document)
    }
}
