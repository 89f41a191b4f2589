/// The variables Patron's rules see (per ../shared/CONFIG.md), declared with their types so that
/// a misspelt name or field is refused when a configuration is stored, with its position.
public enum RuleEnvironment {
    /// One line of a purchase.
    public static let item = CELObjectType(name: "patron.Item", fields: [
        ("sku", .string), ("category", .string), ("quantity", .int), ("amount", .int),
    ])

    /// The event being processed: a purchase, a refund or an activity.
    public static let event = CELObjectType(name: "patron.Event", fields: [
        ("type", .string), ("amount", .int), ("occurred_at", .timestamp), ("order_id", .string),
        ("channel", .string), ("store", .string), ("items", .list(.object(item))),
        ("attributes", .map(.string, .dyn)), ("buyer", .string), ("executor", .string),
    ])

    /// The member as they were before the event; `purchases` counts their purchases before it.
    public static let member = CELObjectType(name: "patron.Member", fields: [
        ("id", .string), ("tier", .string), ("enrolled_at", .timestamp), ("birthday", .string),
        ("plan", .string), ("tags", .list(.string)), ("attributes", .map(.string, .dyn)),
        ("purchases", .int), ("kind", .string),
    ])

    /// The program the rule belongs to.
    public static let program = CELObjectType(name: "patron.Program", fields: [
        ("code", .string), ("time_zone", .string),
    ])

    /// The environment of earning rules: `event`, `member` and `program`, type-checked.
    public static let earning = CELEnvironment(variables: [
        ("event", .object(event)), ("member", .object(member)), ("program", .object(program)),
    ])

    /// Bindings of `earning` by position (its variables are declared in this order), with no name
    /// looked up: built for every event.
    public static func earningBindings(event: CELValue, member: CELValue, program: CELValue) -> CELBindings {
        CELBindings(values: [event, member, program])
    }

    /// What an expression of a rule must yield.
    public enum Role: Sendable {
        /// `when`: a bool.
        case condition
        /// `award`: an int (at least 0 at run time).
        case award

        var expected: CELType {
            switch self {
            case .condition: .bool
            case .award: .int
            }
        }
    }

    /// Compiles a rule's expression, refusing one whose result cannot be of the type its role needs.
    public static func compile(_ source: String, as role: Role, in environment: CELEnvironment = earning) throws(CELCompileError) -> CELProgram {
        let program = try CELProgram(source, environment: environment)
        let type = program.resultType
        if type != .dyn && type != role.expected {
            let hint = role == .award && type == .double ? "; round it with int(…)" : ""
            throw CELCompileError(
                "the expression yields \(type), but \(role == .award ? "an award" : "a condition") must be \(role.expected)\(hint)",
                at: CELSourcePosition(offset: 0, in: source))
        }
        return program
    }
}
