import Foundation

/// A member program: one brand or region with its own currency, time zone and configuration.
public struct Program: Sendable, Hashable, Codable {
    /// Generated identifier (UUIDv7).
    public var id: String
    /// The operator's code for the program, unique in the deployment; used in URLs.
    public var code: String
    public var name: String
    /// ISO 4217 code; every amount in the program is in its minor unit.
    public var currency: String
    /// IANA zone used for day, month and year boundaries.
    public var timeZone: String
    /// The number of the configuration version in force.
    public var configVersion: Int
    public var createdAt: Date

    public init(id: String, code: String, name: String, currency: String, timeZone: String,
                configVersion: Int, createdAt: Date) {
        self.id = id
        self.code = code
        self.name = name
        self.currency = currency
        self.timeZone = timeZone
        self.configVersion = configVersion
        self.createdAt = createdAt
    }
}

/// What an operator asks for when creating a program, before it is validated.
public struct ProgramDraft: Sendable, Hashable {
    public var code: String
    public var name: String
    public var currency: String
    public var timeZone: String

    public init(code: String, name: String, currency: String, timeZone: String) {
        self.code = code
        self.name = name
        self.currency = currency
        self.timeZone = timeZone
    }

    /// Checks every field and reports every fault.
    public func validate() throws(ValidationError) {
        var faults = FaultCollector()
        if !Code.isValid(code) { faults.add(.root / "code", "invalid_code", Code.rule) }
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty || name.count > 200 {
            faults.add(.root / "name", "invalid_name", "A name is 1 to 200 characters and not blank.")
        }
        if !Currency.isKnown(currency) {
            faults.add(.root / "currency", "unknown_currency", "'\(currency)' is not an ISO 4217 currency code.")
        }
        if !ProgramTimeZone.isKnown(timeZone) {
            faults.add(.root / "time_zone", "unknown_time_zone", "'\(timeZone)' is not an IANA time zone such as Asia/Shanghai.")
        }
        try faults.check()
    }

    /// The first configuration version of a new program: its currency and time zone, and the
    /// defaults of every other part.
    public var initialConfiguration: JSONValue {
        .object(["currency": .string(currency), "time_zone": .string(timeZone)])
    }
}

/// One stored version of a program's configuration document.
public struct ConfigVersion: Sendable, Hashable {
    public var programID: String
    /// 1 for the first version, then one more for each change.
    public var number: Int
    public var document: JSONValue
    /// The API key or operator that stored it.
    public var createdBy: String
    public var createdAt: Date

    public init(programID: String, number: Int, document: JSONValue, createdBy: String, createdAt: Date) {
        self.programID = programID
        self.number = number
        self.document = document
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}
