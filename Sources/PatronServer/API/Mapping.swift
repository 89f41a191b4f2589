import Foundation
import OpenAPIRuntime
import PatronAPI
import PatronCore
import PatronEngine

// Domain values to and from the generated API types. The generated types stay at this edge.

extension Role {
    init(_ role: Components.Schemas.Role) {
        switch role {
        case .owner: self = .owner
        case ._operator: self = .operator
        case .integration: self = .integration
        case .readOnly: self = .readOnly
        }
    }
}

extension Components.Schemas.Role {
    init(_ role: Role) {
        switch role {
        case .owner: self = .owner
        case .operator: self = ._operator
        case .integration: self = .integration
        case .readOnly: self = .readOnly
        }
    }
}

extension Components.Schemas.Program {
    init(_ program: Program) {
        self.init(id: program.id, code: program.code, name: program.name, currency: program.currency,
                  timeZone: program.timeZone, configVersion: program.configVersion, createdAt: program.createdAt)
    }
}

extension Components.Schemas.ConfigDocument {
    init(_ document: JSONValue) throws {
        self = try JSONDecoder().decode(Self.self, from: document.canonicalData())
    }
}

extension Components.Schemas.ConfigVersion {
    init(_ version: ConfigVersion) throws {
        self.init(version: version.number, createdBy: version.createdBy, createdAt: version.createdAt,
                  document: try .init(version.document))
    }
}

extension Components.Schemas.Attributes {
    init(_ attributes: [String: JSONValue]) throws {
        self = try JSONDecoder().decode(Self.self, from: JSONValue.object(attributes).canonicalData())
    }
}

extension Components.Schemas.Member {
    init(_ member: Member, programCode: String) throws {
        self.init(
            id: member.id, program: programCode, externalId: member.externalID,
            status: member.status == .active ? .active : .erased,
            kind: Components.Schemas.MemberKind(rawValue: member.kind.rawValue)!, organisation: member.organisationID,
            name: member.profile.name, phone: member.profile.phone, email: member.profile.email,
            birthday: member.profile.birthday,
            gender: member.profile.gender.flatMap { Components.Schemas.NullableGender(rawValue: $0.rawValue) },
            region: member.profile.region,
            channel: Components.Schemas.Channel(rawValue: member.channel.rawValue)!,
            attributes: try .init(member.attributes),
            consents: .init(additionalProperties: member.consents.mapValues {
                Components.Schemas.ConsentState(granted: $0.granted, updatedAt: $0.updatedAt)
            }),
            enrolledAt: member.enrolledAt, updatedAt: member.updatedAt, erasedAt: member.erasedAt)
    }
}

extension Components.Schemas.MemberExport {
    init(_ export: MemberExport) throws {
        self.init(
            exportedAt: export.exportedAt,
            program: .init(code: export.program.code, name: export.program.name),
            member: try .init(export.member, programCode: export.program.code),
            consentHistory: export.consentHistory.map {
                Components.Schemas.ConsentRecord(purpose: $0.purpose, granted: $0.granted, at: $0.at, source: $0.source)
            },
            fields: export.fields.values.sorted { $0.code < $1.code }.map {
                Components.Schemas.FieldDescription(code: $0.code, name: $0.name, sensitive: $0.sensitive, purpose: $0.purpose)
            })
    }
}
