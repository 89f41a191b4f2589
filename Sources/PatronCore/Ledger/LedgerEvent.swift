import Foundation

/// One line of a purchase.
public struct EventItem: Sendable, Hashable {
    public var sku: String
    public var category: String?
    public var quantity: Int64
    /// The line's amount in minor units.
    public var amount: Int64

    public init(sku: String, category: String?, quantity: Int64, amount: Int64) {
        self.sku = sku
        self.category = category
        self.quantity = quantity
        self.amount = amount
    }
}

/// Something a member did that may earn (or, for a refund, take back) points: a purchase, a refund
/// or an activity (`check_in`, `review`, `referral`, `birthday`, or a program's own type).
public struct LedgerEvent: Sendable, Hashable {
    /// The client's id for the event, unique in the program: sending it again does not post it again.
    public var clientID: String
    public var type: String
    /// The member by Patron id, or by the program's external id.
    public var memberID: String?
    public var externalID: String?
    /// B2B, instead of `memberID`/`externalID`: the organisation that buys, and the operator person
    /// of it who executed the purchase. Either may be given alone (see `Engine.eventParties`).
    public var buyerID: String?
    public var executorID: String?
    public var occurredAt: Date
    /// Minor units; 0 for activities that carry no amount.
    public var amount: Int64
    public var orderID: String?
    public var items: [EventItem]
    public var channel: String?
    public var store: String?
    public var attributes: [String: JSONValue]

    public init(clientID: String, type: String, memberID: String?, externalID: String?, occurredAt: Date, amount: Int64,
                orderID: String?, items: [EventItem] = [], channel: String? = nil, store: String? = nil,
                attributes: [String: JSONValue] = [:], buyerID: String? = nil, executorID: String? = nil) {
        self.clientID = clientID
        self.type = type
        self.memberID = memberID
        self.externalID = externalID
        self.buyerID = buyerID
        self.executorID = executorID
        self.occurredAt = occurredAt
        self.amount = amount
        self.orderID = orderID
        self.items = items
        self.channel = channel
        self.store = store
        self.attributes = attributes
    }

    public static let purchase = "purchase"
    public static let refund = "refund"
    /// The largest amount an event may carry: beyond any real order, and far from overflow.
    public static let maxAmount: Int64 = 1_000_000_000_000_000
    public static let maxItems = 500

    /// Reads and checks an event from a request body, reporting every fault.
    public init(parsing body: JSONValue) throws(ValidationError) {
        var faults = FaultCollector()
        guard let reader = ObjectValidator(body, at: .root, allowedKeys: [
            "id", "type", "member", "external_id", "occurred_at", "amount", "order_id", "items", "channel", "store",
            "attributes", "buyer", "executor",
        ], faults: &faults) else {
            try faults.check()
            preconditionFailure("a non-object body is a fault")
        }
        let clientID = reader.string("id", required: true, maxLength: 128, faults: &faults)
        if let clientID, clientID.isEmpty || !clientID.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            faults.add(.root / "id", "invalid_id", "An event id is 1 to 128 visible ASCII characters.")
        }
        let type = reader.code("type", faults: &faults)
        let memberID = reader.string("member", maxLength: 64, faults: &faults)
        let externalID = reader.string("external_id", maxLength: 128, faults: &faults)
        let buyerID = reader.string("buyer", maxLength: 64, faults: &faults)
        let executorID = reader.string("executor", maxLength: 64, faults: &faults)
        let namings = [reader.value("member") != nil, reader.value("external_id") != nil,
                       reader.value("buyer") != nil || reader.value("executor") != nil].filter { $0 }.count
        if namings != 1 {
            faults.add(.root / "member", "member_required",
                       "Name the member by 'member' (its id) or by 'external_id', or a B2B purchase by 'buyer' (the organisation's id) and 'executor' (the operator person's id); one way only.")
        }
        let occurredAt = reader.timestamp("occurred_at", required: true, faults: &faults)
        let isMonetary = type == Self.purchase || type == Self.refund
        let amount = reader.integer("amount", in: (type == Self.refund ? 1 : 0)...Self.maxAmount, required: isMonetary,
                                    faults: &faults)
        var orderID = reader.string("order_id", maxLength: 128, faults: &faults)
        // An order id is another system's identifier, held to the rule of a member's external id.
        if let id = orderID, MemberRules.externalID(id) == nil {
            faults.add(.root / "order_id", "invalid_order_id", "An order id is \(MemberRules.externalIDRule.lowercased())")
            orderID = nil
        }
        if type == Self.refund, orderID == nil, reader.value("order_id") == nil {
            faults.add(.root / "order_id", "missing", "A refund names the order it refunds in 'order_id'.")
        }
        var items: [EventItem] = []
        if let list = reader.array("items", faults: &faults) {
            if list.count > Self.maxItems {
                faults.add(.root / "items", "too_many", "An event has at most \(Self.maxItems) items.")
            } else {
                for (index, value) in list.enumerated() {
                    guard let item = ObjectValidator(value, at: .root / "items" / index,
                                                     allowedKeys: ["sku", "category", "quantity", "amount"],
                                                     faults: &faults) else { continue }
                    var sku = item.string("sku", required: true, maxLength: 128, faults: &faults)
                    if sku?.isEmpty == true {
                        faults.add(.root / "items" / index / "sku", "empty", "A sku is not empty.")
                        sku = nil
                    }
                    let category = item.string("category", maxLength: 128, faults: &faults)
                    let quantity = item.integer("quantity", in: 1...1_000_000, faults: &faults)
                    let amount = item.integer("amount", in: 0...Self.maxAmount, faults: &faults)
                    if let sku { items.append(EventItem(sku: sku, category: category, quantity: quantity ?? 1, amount: amount ?? 0)) }
                }
            }
        }
        let channel = reader.string("channel", maxLength: 100, faults: &faults)
        let store = reader.string("store", maxLength: 100, faults: &faults)
        var attributes: [String: JSONValue] = [:]
        if let value = reader.value("attributes") {
            if let object = value.objectValue { attributes = object } else {
                faults.add(.root / "attributes", "wrong_type", "Expected an object, found \(value.typeName).")
            }
        }
        try faults.check()
        self.init(clientID: clientID!, type: type!, memberID: memberID, externalID: externalID, occurredAt: occurredAt!,
                  amount: amount ?? 0, orderID: orderID, items: items, channel: channel, store: store,
                  attributes: attributes, buyerID: buyerID, executorID: executorID)
    }

    /// The event as the rules see it (`event.…`).
    public var ruleValue: CELValue {
        .object(RuleEnvironment.event.make([
            "type": .string(type),
            "amount": .int(amount),
            "occurred_at": .timestamp(CELTimestamp(occurredAt)),
            "order_id": orderID.map(CELValue.string) ?? .null,
            "channel": channel.map(CELValue.string) ?? .null,
            "store": store.map(CELValue.string) ?? .null,
            "items": .list(items.map { item in
                .object(RuleEnvironment.item.make([
                    "sku": .string(item.sku), "category": item.category.map(CELValue.string) ?? .null,
                    "quantity": .int(item.quantity), "amount": .int(item.amount),
                ]))
            }),
            "attributes": CELValue(json: .object(attributes)),
            "buyer": buyerID.map(CELValue.string) ?? .null,
            "executor": executorID.map(CELValue.string) ?? .null,
        ]))
    }
}

extension CELTimestamp {
    /// The instant of a `Date`, to the millisecond (as Patron keeps times).
    public init(_ date: Date) {
        let milliseconds = Timestamp.milliseconds(date)
        let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, millis) = remainder < 0 ? (seconds - 1, remainder + 1000) : (seconds, remainder)
        // Every Date Patron stores lies well inside CEL's timestamp range.
        try! self.init(seconds: wholeSeconds, nanos: Int32(millis) * 1_000_000)
    }
}
