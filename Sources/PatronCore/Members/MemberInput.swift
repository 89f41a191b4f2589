import Foundation

/// A change to a member field: left as it is, set, or cleared (JSON `null`).
public enum FieldChange<Value: Sendable & Hashable>: Sendable, Hashable {
    case unchanged
    case set(Value)
    case clear

    /// Applies the change to a current value.
    public func applied(to current: Value?) -> Value? {
        switch self {
        case .unchanged: current
        case .set(let value): value
        case .clear: nil
        }
    }
}

/// A member's fields as given on enrolment (`POST …/members`) or in an update (`PATCH`), read from
/// the request's JSON so that an explicit `null` (clear) differs from an absent field (keep).
public struct MemberInput: Sendable, Hashable {
    public var externalID: FieldChange<String> = .unchanged
    public var name: FieldChange<String> = .unchanged
    public var phone: FieldChange<String> = .unchanged
    public var email: FieldChange<String> = .unchanged
    public var birthday: FieldChange<String> = .unchanged
    public var gender: FieldChange<Gender> = .unchanged
    public var region: FieldChange<String> = .unchanged
    public var channel: EnrolmentChannel?
    /// Enrolment only: `person` unless given.
    public var kind: MemberKind?
    /// The organisation a person is an operator of (its member id), or `.clear` to unlink them.
    public var organisation: FieldChange<String> = .unchanged
    /// Per attribute code: the new value, or `.null` to remove it.
    public var attributes: [String: JSONValue] = [:]
    /// Per purpose: granted or withdrawn.
    public var consents: [String: Bool] = [:]

    public enum Mode: Sendable {
        /// Enrolment: `external_id` and `channel` are required; `null` means "not given".
        case enrol
        /// Update: absent fields are kept, `null` clears; `channel` and `kind` cannot change.
        case update
    }

    static let keys: Set<String> = [
        "external_id", "name", "phone", "email", "birthday", "gender", "region", "channel", "attributes", "consents",
        "kind", "organisation",
    ]

    /// Reads and checks the fields of `body`; throws a `ValidationError` listing every fault.
    /// Attributes are checked against `fields` (the program's `member_fields`).
    public init(parsing body: JSONValue, mode: Mode, fields: [String: MemberFieldDefinition]) throws(ValidationError) {
        var faults = FaultCollector()
        let allowed = mode == .enrol ? Self.keys : Self.keys.subtracting(["channel", "kind"])
        guard let reader = ObjectValidator(body, at: .root, allowedKeys: allowed, faults: &faults) else {
            try faults.check()
            return
        }
        func change<T>(_ key: String, _ parse: (String) -> T?, _ rule: String, code: String = "invalid_value") -> FieldChange<T> {
            guard let raw = body[key] else { return .unchanged }
            if raw == .null { return mode == .enrol ? .unchanged : .clear }
            guard let string = reader.string(key, maxLength: 1000, faults: &faults) else { return .unchanged }
            guard let value = parse(string) else {
                faults.add(.root / key, code, rule)
                return .unchanged
            }
            return .set(value)
        }
        externalID = change("external_id", MemberRules.externalID, MemberRules.externalIDRule)
        if externalID == .clear {
            faults.add(.root / "external_id", "required", "A member keeps an external_id until erased.")
        }
        if mode == .enrol, externalID == .unchanged, body["external_id"] == nil || body["external_id"] == .null {
            faults.add(.root / "external_id", "missing", "'external_id' is required.")
        }
        name = change("name", MemberRules.name, MemberRules.nameRule)
        phone = change("phone", MemberRules.phone, MemberRules.phoneRule)
        email = change("email", MemberRules.email, MemberRules.emailRule)
        birthday = change("birthday", MemberRules.birthday, MemberRules.birthdayRule, code: "invalid_date")
        gender = change("gender", Gender.init(rawValue:),
                        "One of: \(Gender.allCases.map(\.rawValue).joined(separator: ", ")).", code: "not_allowed")
        region = change("region", MemberRules.region, MemberRules.regionRule)
        organisation = change("organisation", { Identifier.isWellFormed($0) ? $0 : nil },
                              "A member id, of a member of kind 'organisation'.", code: "invalid_id")
        if mode == .enrol {
            channel = reader.choice("channel", EnrolmentChannel.allCases.map(\.rawValue), required: true, faults: &faults)
                .flatMap(EnrolmentChannel.init(rawValue:))
            kind = reader.choice("kind", MemberKind.allCases.map(\.rawValue), faults: &faults).flatMap(MemberKind.init(rawValue:))
        }
        if let consents = reader.value("consents"),
           let consentReader = ObjectValidator(consents, at: .root / "consents",
                                               allowedKeys: Set(consents.objectValue?.keys.map { $0 } ?? []),
                                               faults: &faults) {
            for purpose in consents.objectValue?.keys.sorted() ?? [] {
                if !Code.isValid(purpose) {
                    faults.add(.root / "consents" / purpose, "invalid_code", "A purpose is a code. " + Code.rule)
                } else if let granted = consentReader.boolean(purpose, faults: &faults) {
                    self.consents[purpose] = granted
                } else if consents[purpose] == .null {
                    faults.add(.root / "consents" / purpose, "wrong_type", "Expected true or false.")
                }
            }
        }
        if let attributes = reader.value("attributes") {
            if let members = attributes.objectValue {
                for (code, value) in members.sorted(by: { $0.key < $1.key }) {
                    guard let definition = fields[code] else {
                        faults.add(.root / "attributes" / code, "unknown_attribute",
                                   "The program defines no member field '\(code)' (config member_fields).")
                        continue
                    }
                    if value == .null {
                        if mode == .update { self.attributes[code] = .null }
                    } else if let fault = definition.fault(for: value) {
                        faults.add(.root / "attributes" / code, fault.code, fault.message)
                    } else {
                        self.attributes[code] = value
                    }
                }
            } else {
                faults.add(.root / "attributes", "wrong_type", "Expected an object, found \(attributes.typeName).")
            }
        }
        try faults.check()
    }
}

/// The rules for profile fields, each a normaliser that returns nil for text it refuses.
public enum MemberRules {
    public static let externalIDRule = "1 to 128 characters, without control characters or surrounding spaces."
    public static func externalID(_ text: String) -> String? {
        guard (1...128).contains(text.count), text == text.trimmingCharacters(in: .whitespaces),
              !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
        return text
    }

    public static let nameRule = "1 to 100 characters, not blank."
    public static func name(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 100,
              !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
        return trimmed
    }

    public static let phoneRule = "A phone number: 5 to 20 digits with an optional leading '+'; spaces, '-', '(' and ')' are ignored."
    public static func phone(_ text: String) -> String? {
        let kept = text.filter { !" -()".contains($0) }
        let digits = kept.hasPrefix("+") ? kept.dropFirst() : Substring(kept)
        guard (5...20).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return kept
    }

    public static let emailRule = "An e-mail address such as name@example.com, at most 254 characters."
    public static func email(_ text: String) -> String? {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = lowered.split(separator: "@", omittingEmptySubsequences: false)
        guard lowered.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64,
              parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              !lowered.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) else { return nil }
        return lowered
    }

    public static let birthdayRule = "A birthday as YYYY-MM-DD, or MM-DD without the year."
    public static func birthday(_ text: String) -> String? {
        if let date = CalendarDate(parsing: text) {
            // A birthday lies in the past; a few days' grace covers time zones.
            let components = Calendar(identifier: .gregorian).dateComponents(in: .gmt, from: Date().addingTimeInterval(2 * 86_400))
            let today = (components.year ?? 0, components.month ?? 0, components.day ?? 0)
            return (date.year, date.month, date.day) <= today ? text : nil
        }
        return MonthDay.parse(text) != nil ? text : nil
    }

    public static let regionRule = "1 to 64 characters, such as CN-31 or a city name."
    public static func region(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return (1...64).contains(trimmed.count) ? trimmed : nil
    }
}
