/// A program-defined member field (config `member_fields`): its type, whether it is sensitive, and
/// the purpose shown to the member when asking for it. A sensitive field is stored only while the
/// member consents to its purpose.
public struct MemberFieldDefinition: Sendable, Hashable {
    public enum FieldType: String, Sendable, Hashable, CaseIterable {
        case string, integer, boolean, date
        case `enum`
    }

    public var code: String
    public var name: String
    public var type: FieldType
    /// The allowed values of an `enum` field.
    public var values: [String]
    public var sensitive: Bool
    /// The consent purpose the field is collected for; required for sensitive fields.
    public var purpose: String?

    /// Profile fields that program-defined fields may not shadow.
    static let reservedCodes: Set<String> = [
        "id", "external_id", "name", "phone", "email", "birthday", "gender", "region", "channel", "tier", "tags",
        "status", "consents", "attributes", "enrolled_at",
    ]

    /// Reads the definitions from the config's `member_fields` array, recording faults.
    public static func parse(_ fields: [JSONValue], at pointer: JSONPointer,
                             _ faults: inout FaultCollector) -> [String: MemberFieldDefinition] {
        var definitions: [String: MemberFieldDefinition] = [:]
        for (index, field) in fields.enumerated() {
            let here = pointer / index
            guard let reader = ObjectValidator(field, at: here, allowedKeys: [
                "code", "name", "type", "values", "sensitive", "purpose", "description",
            ], faults: &faults) else { continue }
            let code = reader.code("code", faults: &faults)
            let name = reader.string("name", required: true, maxLength: 100, faults: &faults)
            _ = reader.string("description", maxLength: 2000, faults: &faults)
            let type = reader.choice("type", FieldType.allCases.map(\.rawValue), required: true, faults: &faults)
                .flatMap(FieldType.init(rawValue:))
            let sensitive = reader.boolean("sensitive", faults: &faults) ?? false
            let purpose = reader.code("purpose", required: sensitive, faults: &faults)
            var values: [String] = []
            if let list = reader.array("values", required: type == .enum, faults: &faults) {
                for (position, value) in list.enumerated() {
                    if let string = value.stringValue, !string.isEmpty { values.append(string) } else {
                        faults.add(here / "values" / position, "wrong_type", "Expected a non-empty string.")
                    }
                }
                if type == .enum, list.isEmpty {
                    faults.add(here / "values", "empty", "An enum field needs at least one value.")
                }
            }
            guard let code else { continue }
            if reservedCodes.contains(code) {
                faults.add(here / "code", "reserved_code", "'\(code)' is a built-in profile field.")
            } else if definitions[code] != nil {
                faults.add(here / "code", "duplicate_code", "Another member field already has the code '\(code)'.")
            } else if let name, let type {
                definitions[code] = MemberFieldDefinition(code: code, name: name, type: type, values: values,
                                                          sensitive: sensitive, purpose: purpose)
            }
        }
        return definitions
    }

    /// The definitions in a stored (already valid) configuration document.
    public static func definitions(in config: JSONValue) -> [String: MemberFieldDefinition] {
        var faults = FaultCollector()
        return parse(config["member_fields"]?.arrayValue ?? [], at: .root / "member_fields", &faults)
    }

    /// Checks one attribute value against the definition; returns the fault message, if any.
    func fault(for value: JSONValue) -> (code: String, message: String)? {
        switch type {
        case .string:
            guard let string = value.stringValue else { return ("wrong_type", "Expected a string, found \(value.typeName).") }
            return string.count > 1000 ? ("too_long", "At most 1000 characters.") : nil
        case .integer:
            return value.intValue == nil ? ("wrong_type", "Expected an integer, found \(value.typeName).") : nil
        case .boolean:
            return value.boolValue == nil ? ("wrong_type", "Expected a boolean, found \(value.typeName).") : nil
        case .date:
            guard let string = value.stringValue, CalendarDate(parsing: string) != nil else {
                return ("invalid_date", "Expected a date as YYYY-MM-DD.")
            }
            return nil
        case .enum:
            guard let string = value.stringValue, values.contains(string) else {
                return ("not_allowed", "Expected one of: \(values.joined(separator: ", ")).")
            }
            return nil
        }
    }
}

/// A calendar date without a time or zone, as in birthdays (`YYYY-MM-DD`).
public struct CalendarDate: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int

    /// Parses `YYYY-MM-DD`; nil when the text is not a real date between the years 1900 and 2999.
    public init?(parsing text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1900...2999).contains(year), MonthDay.isValid(month: month, day: day, year: year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }
}

/// A day of the year without a year (`MM-DD`), as in birthdays given without the year.
public enum MonthDay {
    /// Whether the month has that day; with no year, 29 February counts as valid.
    public static func isValid(month: Int, day: Int, year: Int? = nil) -> Bool {
        guard (1...12).contains(month), day >= 1 else { return false }
        let days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        if month == 2, day == 29, let year {
            return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        }
        return day <= days
    }

    /// Parses `MM-DD`; nil when it is not a day of the year.
    public static func parse(_ text: String) -> (month: Int, day: Int)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let month = Int(parts[0]), let day = Int(parts[1]), isValid(month: month, day: day) else { return nil }
        return (month, day)
    }
}
