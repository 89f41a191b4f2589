import Foundation
import PatronCore

/// The configuration document's parts as console forms: which keys each section shows, as what
/// kind of field. A form changes only the keys it shows; everything else in the document stays.
/// Each field's form name is its JSON pointer, so the validator's faults land beside their field.
struct ConfigForm {
    enum Kind: Equatable {
        case text, integer, expression
        case choice([String])
        /// A checkbox; `default` is what an absent key means.
        case flag(default: Bool)
        /// Codes separated by commas.
        case list
    }

    struct Field {
        /// The path below the section's object or row, `expiry/policy`.
        var key: String
        var kind: Kind
    }

    struct Section {
        var id: String
        /// The section's key at the top of the document.
        var key: String
        /// Fields of the section's object (none for a section that is a list).
        var fields: [Field]
        /// The key of the section's list of rows (`levels`); "" when the section is the list.
        var rowsKey: String?
        var columns: [Field]
    }

    static let sections: [Section] = [
        Section(id: "points", key: "points", fields: [
            Field(key: "value_minor_per_point", kind: .integer),
            Field(key: "pending_days", kind: .integer),
            Field(key: "expiry/policy", kind: .choice(["never", "days_after_earn", "end_of_month_after_earn", "end_of_year_after_earn"])),
            Field(key: "expiry/days", kind: .integer),
            Field(key: "expiry/months", kind: .integer),
            Field(key: "expiry/years", kind: .integer),
            Field(key: "refund", kind: .choice(["within_balance", "allow_negative", "pending_only"])),
            Field(key: "limits/points_per_member_per_day", kind: .integer),
            Field(key: "limits/events_per_member_per_hour", kind: .integer),
            Field(key: "limits/on_exceed", kind: .choice(["refuse", "review"])),
            Field(key: "allow_transfers", kind: .flag(default: false)),
        ], rowsKey: nil, columns: []),
        Section(id: "tiers", key: "tiers", fields: [
            Field(key: "metric", kind: .choice(["growth", "spend", "orders", "points_earned"])),
            Field(key: "window/kind", kind: .choice(["rolling_months", "calendar_year", "lifetime"])),
            Field(key: "window/months", kind: .integer),
            Field(key: "review/kind", kind: .choice(["yearly", "monthly"])),
            Field(key: "review/month", kind: .integer),
            Field(key: "review/day", kind: .integer),
            Field(key: "downgrade", kind: .choice(["one_down", "to_qualified", "never"])),
        ], rowsKey: "levels", columns: [
            Field(key: "code", kind: .text), Field(key: "name", kind: .text), Field(key: "threshold", kind: .integer),
            Field(key: "retain", kind: .integer), Field(key: "invitation_only", kind: .flag(default: false)),
        ]),
        Section(id: "earning_rules", key: "earning_rules", fields: [], rowsKey: "", columns: [
            Field(key: "code", kind: .text), Field(key: "name", kind: .text), Field(key: "on", kind: .text),
            Field(key: "unit", kind: .choice(["points", "growth"])), Field(key: "when", kind: .expression),
            Field(key: "award", kind: .expression), Field(key: "cap/per_event", kind: .integer),
            Field(key: "cap/per_member_per_day", kind: .integer), Field(key: "cap/per_member_lifetime", kind: .integer),
            Field(key: "active", kind: .flag(default: true)),
        ]),
        Section(id: "plans", key: "plans", fields: [], rowsKey: "", columns: [
            Field(key: "code", kind: .text), Field(key: "name", kind: .text), Field(key: "price", kind: .integer),
            Field(key: "period", kind: .choice(["day", "month", "quarter", "year", "days"])),
            Field(key: "period_days", kind: .integer), Field(key: "trial_days", kind: .integer),
            Field(key: "auto_renew", kind: .flag(default: false)), Field(key: "stacks_with_tier", kind: .flag(default: false)),
            Field(key: "reward_percent", kind: .integer), Field(key: "reward_cap", kind: .integer),
        ]),
        Section(id: "benefits", key: "benefits", fields: [], rowsKey: "", columns: [
            Field(key: "code", kind: .text), Field(key: "name", kind: .text), Field(key: "label", kind: .text),
            Field(key: "kind", kind: .choice(["percent_discount", "fixed_discount", "quota", "access", "partner_voucher",
                                              "birthday_gift"])),
            Field(key: "value", kind: .integer), Field(key: "quota/quantity", kind: .integer),
            Field(key: "quota/per", kind: .choice(["day", "month", "year", "lifetime"])),
            Field(key: "levels", kind: .list), Field(key: "plans", kind: .list),
        ]),
    ]

    static func section(_ id: String) -> Section? {
        sections.first { $0.id == id }
    }

    // MARK: - From a posted form to a document

    /// `document` with `section` as the form says: each shown key set from its field (an empty
    /// field removes the key), rows marked for removal dropped, and the blank row at the end added
    /// when something was typed in it. What does not parse (`12a` as an integer) goes in as text,
    /// for the validator to point at.
    static func apply(_ form: [String: String], to document: JSONValue, section: Section) -> JSONValue {
        var root = document.objectValue ?? [:]
        let base = "/" + section.key
        var object = root[section.key]?.objectValue ?? [:]
        for field in section.fields {
            set(&object, path: field.key, to: value(of: field, posted: form[base + "/" + field.key]))
        }
        if let rowsKey = section.rowsKey {
            let listPointer = rowsKey.isEmpty ? base : base + "/" + rowsKey
            let existing = (rowsKey.isEmpty ? root[section.key] : object[rowsKey])?.arrayValue ?? []
            var rows: [JSONValue] = []
            for index in 0...existing.count {
                let pointer = listPointer + "/\(index)"
                if form["_remove:" + pointer] != nil { continue }
                var row = index < existing.count ? existing[index].objectValue ?? [:] : [:]
                var typed = false
                for column in section.columns {
                    let posted = form[pointer + "/" + column.key]
                    if case .flag = column.kind {} else if !(posted ?? "").trimmingCharacters(in: .whitespaces).isEmpty { typed = true }
                    set(&row, path: column.key, to: value(of: column, posted: posted))
                }
                // The blank row at the end adds a row only when something was typed in it.
                if index == existing.count, !typed { continue }
                rows.append(.object(row))
            }
            if rowsKey.isEmpty {
                root[section.key] = .array(rows)
                return .object(root)
            }
            object[rowsKey] = rows.isEmpty ? nil : .array(rows)
        }
        root[section.key] = object.isEmpty ? nil : .object(object)
        return .object(root)
    }

    /// The JSON a field's posted text stands for; nil removes the key.
    static func value(of field: Field, posted: String?) -> JSONValue? {
        let text = (posted ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        switch field.kind {
        case .flag(let byDefault):
            let checked = posted != nil
            return checked == byDefault ? nil : .bool(checked)
        case .integer:
            if text.isEmpty { return nil }
            return Int64(text).map(JSONValue.int) ?? .string(text)
        case .list:
            let codes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return codes.isEmpty ? nil : .array(codes.map(JSONValue.string))
        case .text, .expression, .choice:
            return text.isEmpty ? nil : .string(text)
        }
    }

    /// Sets (or with nil removes) `path` (`a/b`) in `object`, creating and dropping the objects
    /// between as needed.
    static func set(_ object: inout [String: JSONValue], path: String, to value: JSONValue?) {
        let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            object[path] = value
            return
        }
        var inner = object[parts[0]]?.objectValue ?? [:]
        set(&inner, path: parts[1], to: value)
        object[parts[0]] = inner.isEmpty ? nil : .object(inner)
    }

    /// The value at `path` (`a/b`) in `object`.
    static func get(_ object: [String: JSONValue], path: String) -> JSONValue? {
        let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return object[path] }
        return object[parts[0]]?.objectValue.flatMap { get($0, path: parts[1]) }
    }

    /// A field's current value as the form shows it.
    static func text(of value: JSONValue?, kind: Kind) -> String {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): String(number)
        case .array(let items) where kind == .list: items.compactMap(\.stringValue).joined(separator: ", ")
        default: ""
        }
    }
}
