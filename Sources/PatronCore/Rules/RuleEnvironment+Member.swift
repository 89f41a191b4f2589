import Foundation

extension RuleEnvironment {
    /// The member as the rules see them (`member.…`): as they were before the event. The live
    /// server and the back-test both build it here.
    public static func memberValue(id: String, tier: String?, enrolledAt: Date, birthday: String?, plan: String?,
                                   attributes: [String: JSONValue], purchases: Int64, kind: String) -> CELValue {
        .object(member.make([
            "id": .string(id),
            "tier": tier.map(CELValue.string) ?? .null,
            "enrolled_at": .timestamp(CELTimestamp(enrolledAt)),
            "birthday": birthday.map(CELValue.string) ?? .null,
            "plan": plan.map(CELValue.string) ?? .null,
            "tags": .list([]),
            "attributes": CELValue(json: .object(attributes)),
            "purchases": .int(purchases),
            "kind": .string(kind),
        ]))
    }
}
