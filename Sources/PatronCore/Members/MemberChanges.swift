import Foundation

extension Member {
    /// A new member from an enrolment input that `MemberInput(parsing:mode: .enrol, …)` accepted.
    public static func enrolling(_ input: MemberInput, id: String, programID: String,
                                 fields: [String: MemberFieldDefinition], at now: Date) throws(ValidationError)
        -> (member: Member, consentEvents: [ConsentEvent]) {
        guard let channel = input.channel else {
            throw ValidationError(pointer: "/channel", code: "missing", message: "'channel' is required.")
        }
        let blank = Member(id: id, programID: programID, externalID: nil, status: .active, kind: input.kind ?? .person,
                           profile: MemberProfile(),
                           channel: channel, attributes: [:], consents: [:], enrolledAt: now, updatedAt: now,
                           erasedAt: nil, revision: 0)
        return try blank.applying(input, fields: fields, at: now, source: "enrolment")
    }

    /// The member after an update, and the consent changes it records. Sensitive attributes are kept
    /// only while their purpose is consented to: giving one without consent is refused, and
    /// withdrawing consent removes the attributes collected for that purpose.
    public func applying(_ input: MemberInput, fields: [String: MemberFieldDefinition], at now: Date,
                         source: String = "update") throws(ValidationError) -> (member: Member, consentEvents: [ConsentEvent]) {
        guard status == .active else {
            throw ValidationError(pointer: "", code: "member_erased", message: "An erased member cannot be changed.")
        }
        var next = self
        next.externalID = input.externalID.applied(to: externalID)
        next.profile.name = input.name.applied(to: profile.name)
        next.profile.phone = input.phone.applied(to: profile.phone)
        next.profile.email = input.email.applied(to: profile.email)
        next.profile.birthday = input.birthday.applied(to: profile.birthday)
        next.profile.gender = input.gender.applied(to: profile.gender)
        next.profile.region = input.region.applied(to: profile.region)
        next.organisationID = input.organisation.applied(to: organisationID)
        var events: [ConsentEvent] = []
        for (purpose, granted) in input.consents.sorted(by: { $0.key < $1.key }) where consents[purpose]?.granted != granted {
            next.consents[purpose] = Consent(granted: granted, updatedAt: now)
            events.append(ConsentEvent(memberID: id, purpose: purpose, granted: granted, at: now, source: source))
        }
        for (code, value) in input.attributes {
            next.attributes[code] = value == .null ? nil : value
        }
        var faults = FaultCollector()
        if next.kind == .organisation {
            // An organisation is a business: it has no birthday or gender, and no organisation above it.
            for (key, given) in [("birthday", next.profile.birthday != nil), ("gender", next.profile.gender != nil),
                                 ("organisation", next.organisationID != nil)] where given {
                faults.add(.root / key, "not_for_organisations", "An organisation has no '\(key)'.")
            }
        }
        if next.organisationID == id {
            faults.add(.root / "organisation", "invalid_organisation", "A member cannot be its own organisation.")
        }
        for (code, value) in next.attributes.sorted(by: { $0.key < $1.key }) {
            guard let definition = fields[code], definition.sensitive, let purpose = definition.purpose else { continue }
            if next.consents[purpose]?.granted == true { continue }
            if input.attributes[code] != nil && value != .null {
                faults.add(.root / "attributes" / code, "consent_required",
                           "'\(code)' is sensitive: it is kept only with the member's consent to '\(purpose)' (consents.\(purpose)).")
            } else {
                next.attributes[code] = nil
            }
        }
        try faults.check()
        if next != self || !events.isEmpty {
            next.updatedAt = now
            next.revision += 1
        }
        return (next, events)
    }

    /// The member with every personal field removed, as kept after an erasure request.
    public func erased(at now: Date) -> (member: Member, consentEvents: [ConsentEvent]) {
        var next = self
        next.externalID = nil
        next.status = .erased
        next.profile = MemberProfile()
        next.attributes = [:]
        let events = consents.filter(\.value.granted).keys.sorted().map {
            ConsentEvent(memberID: id, purpose: $0, granted: false, at: now, source: "erasure")
        }
        next.consents = consents.mapValues { _ in Consent(granted: false, updatedAt: now) }
        next.erasedAt = now
        next.updatedAt = now
        next.revision += 1
        return (next, events)
    }
}
