import Crypto
import Foundation
import PatronCore

/// The answer to an event: what each rule gave, what failed, and what a refund took back. It is
/// stored with the event, so a retry receives the same answer.
public struct EventReceipt: Sendable, Hashable, Codable {
    public struct Award: Sendable, Hashable, Codable {
        public var rule: String
        public var unit: LedgerUnit
        public var amount: Int64
        /// What the rule's expression gave before a cap cut it.
        public var computed: Int64
        public var cappedBy: String?
        /// `pending`, `available`, `expired` (a back-dated event whose points are already past
        /// expiry), `review` (the event is held by a limit and nothing was posted), or `rejected`
        /// (an operator rejected the held event).
        public var state: String
        public var availableAt: Date?
        public var expiresAt: Date?
    }

    public struct Failure: Sendable, Hashable, Codable {
        public var rule: String
        public var error: String
    }

    /// What a refund took back of one unit.
    public struct Clawback: Sendable, Hashable, Codable {
        public var unit: LedgerUnit
        public var requested: Int64
        public var fromPending: Int64
        public var fromAvailable: Int64
        public var intoDebt: Int64
        public var notRecovered: Int64
    }

    /// Why a limit held the event, and what an operator decided.
    public struct Review: Sendable, Hashable, Codable {
        /// The limit the event broke.
        public var heldFor: String
        /// `released` or `rejected`; nil while the event waits for an operator.
        public var outcome: String?
        /// The operator's API key, when, and why.
        public var by: String?
        public var at: Date?
        public var reason: String?
    }

    /// The client's id.
    public var id: String
    /// Patron's id for the event.
    public var event: String
    public var member: String
    public var type: String
    public var occurredAt: Date
    public var recordedAt: Date
    /// `posted`, `review` (held by a limit), `rejected` (held, then rejected by an operator), or
    /// `preview` (nothing was posted).
    public var status: String
    public var awards: [Award]
    public var failures: [Failure]
    public var clawbacks: [Clawback]
    /// Present on events a limit held for review (on a preview: that a limit would hold it).
    public var review: Review?

    /// The receipt as it is stored: JSON with snake_case keys and times in milliseconds, built
    /// without Codable because it runs for every event inside the write transaction. `decoder`
    /// reads it back.
    func storedText() -> Data {
        func date(_ date: Date) -> JSONValue { .int(Timestamp.milliseconds(date)) }
        var object: [String: JSONValue] = [
            "id": .string(id), "event": .string(event), "member": .string(member), "type": .string(type),
            "occurred_at": date(occurredAt), "recorded_at": date(recordedAt), "status": .string(status),
            "failures": .array(failures.map { .object(["rule": .string($0.rule), "error": .string($0.error)]) }),
        ]
        object["awards"] = .array(awards.map { award in
            var entry: [String: JSONValue] = [
                "rule": .string(award.rule), "unit": .string(award.unit.rawValue), "amount": .int(award.amount),
                "computed": .int(award.computed), "state": .string(award.state),
            ]
            entry["capped_by"] = award.cappedBy.map(JSONValue.string)
            entry["available_at"] = award.availableAt.map(date)
            entry["expires_at"] = award.expiresAt.map(date)
            return .object(entry)
        })
        object["clawbacks"] = .array(clawbacks.map { clawback in
            .object(["unit": .string(clawback.unit.rawValue), "requested": .int(clawback.requested),
                     "from_pending": .int(clawback.fromPending), "from_available": .int(clawback.fromAvailable),
                     "into_debt": .int(clawback.intoDebt), "not_recovered": .int(clawback.notRecovered)])
        })
        if let review {
            var entry: [String: JSONValue] = ["held_for": .string(review.heldFor)]
            entry["outcome"] = review.outcome.map(JSONValue.string)
            entry["by"] = review.by.map(JSONValue.string)
            entry["at"] = review.at.map(date)
            entry["reason"] = review.reason.map(JSONValue.string)
            object["review"] = .object(entry)
        }
        return JSONValue.object(object).canonicalData()
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}

/// What posting an event did.
public struct EventResult: Sendable {
    public var receipt: EventReceipt
    /// False when the event had been posted before with the same id and body: nothing new happened.
    public var created: Bool
}

extension Engine {
    /// How far ahead of Patron's clock an event may be dated (clock skew between systems).
    public static let futureTolerance: TimeInterval = 300

    /// Posts an event: applies the earning rules (or, for a refund, the refund policy) and records the
    /// result. The client's event id makes it idempotent: the same id and body answer as the first time.
    public func recordEvent(programCode: String, body: JSONValue, by principal: Principal) async throws -> EventResult {
        try require(.postEvents, principal)
        let (read, plan) = try await prepareEvent(programCode: programCode, body: body, principal: principal, preview: false)
        do {
            let planned = try await ledgerWriter.submit(LedgerWork(read: read, plan: plan))
            return planned.outcome as! EventResult
        } catch StoreError.duplicate {
            // The same event id (or order) was posted concurrently by another request: answer as a
            // retry would be answered, from what that request recorded.
            let snapshot = try await store.ledgerSnapshot(read)
            guard snapshot.event != nil || snapshot.order != nil else {
                throw EngineError.conflict(code: "concurrent_update", detail: "The event raced with another; retry it.")
            }
            return try plan(snapshot).outcome as! EventResult
        } catch let fault as LedgerFault {
            throw Self.engineError(fault)
        }
    }

    /// Answers what posting the event would do, and posts nothing.
    public func previewEvent(programCode: String, body: JSONValue, by principal: Principal) async throws -> EventReceipt {
        try require(.postEvents, principal)
        let (read, plan) = try await prepareEvent(programCode: programCode, body: body, principal: principal, preview: true)
        do {
            return (try plan(try await store.ledgerSnapshot(read)).outcome as! EventResult).receipt
        } catch let fault as LedgerFault {
            throw Self.engineError(fault)
        }
    }

    private func prepareEvent(programCode: String, body: JSONValue, principal: Principal, preview: Bool) async throws
        -> (LedgerRead, @Sendable (LedgerSnapshot) throws -> LedgerPlan) {
        let program = try await program(code: programCode, by: principal)
        let event: LedgerEvent
        do throws(ValidationError) { event = try LedgerEvent(parsing: body) } catch { throw EngineError.invalid(error) }
        let now = now()
        if event.occurredAt > now.addingTimeInterval(Self.futureTolerance) {
            throw EngineError.invalid(ValidationError(pointer: "/occurred_at", code: "in_future",
                                                      message: "An event cannot have occurred in the future."))
        }
        let member = try await eventMember(event, program: program)
        let runtime = try await runtime(program)
        let canonical = body.canonicalData()
        let fingerprint = Self.sha256(canonical)
        let read = EventPlanner.read(for: event, memberID: member.id, runtime: runtime, checkingLimits: true)
        let actor = principal.keyID
        let plan: @Sendable (LedgerSnapshot) throws -> LedgerPlan = { snapshot in
            try EventPlanner(event: event, member: member, runtime: runtime, fingerprint: fingerprint, actor: actor,
                             now: now, preview: preview, body: canonical).plan(snapshot)
        }
        return (read, plan)
    }

    /// The member an event names, by id or external id; an erased member cannot earn.
    private func eventMember(_ event: LedgerEvent, program: Program) async throws -> Member {
        let found: Member?
        let pointer: String
        if let id = event.memberID {
            pointer = "/member"
            found = Identifier.isWellFormed(id) ? try await store.member(programID: program.id, id: id) : nil
        } else {
            pointer = "/external_id"
            found = try await store.members(programID: program.id, matching: MemberQuery(externalID: event.externalID),
                                            after: nil, limit: 1).first
        }
        guard let member = found else {
            throw EngineError.invalid(ValidationError(pointer: pointer, code: "unknown_member",
                                                      message: "The program has no member '\(event.memberID ?? event.externalID ?? "")'."))
        }
        guard member.status == .active else { throw Self.erased(member.id) }
        return member
    }

    func runtime(_ program: Program) async throws -> ProgramRuntime {
        try await runtimes.runtime(for: program) { try await config(program: program, number: program.configVersion) }
    }

    static func sha256(_ data: Data) -> String {
        Hex.lowercase(SHA256.hash(data: data))
    }

    static func engineError(_ fault: LedgerFault) -> EngineError {
        switch fault {
        case .insufficientPoints(let available, let requested):
            return .insufficientPoints(available: available, requested: requested)
        case .unknownHold(let id):
            return .notFound(resource: "hold", id: id)
        case .holdNotOpen(let status):
            let code = status == .lapsed ? "hold_expired" : "hold_not_open"
            return .conflict(code: code, detail: "The hold is \(status.rawValue); only an open hold can be captured or voided.")
        case .notReversible(let kind):
            return .conflict(code: "not_reversible", detail: "A transfer of kind '\(kind.rawValue)' cannot be reversed.")
        case .alreadySpent(let available, let requested):
            return .conflict(code: "already_spent",
                             detail: "Only \(available) of the \(requested) points are still there to take back; adjust instead.")
        case .captureExceedsHold(let held, let requested):
            return .invalid(ValidationError(pointer: "/points", code: "exceeds_hold",
                                            message: "The hold reserved \(held) points; \(requested) cannot be captured."))
        }
    }
}

/// Turns an event and what the ledger holds into what to record. Pure: it runs inside the store's
/// transaction, under the member's lock.
struct EventPlanner {
    let event: LedgerEvent
    let member: Member
    let runtime: ProgramRuntime
    let fingerprint: String
    let actor: String
    let now: Date
    let preview: Bool
    /// The request body as canonical JSON, kept with an event a limit holds for review.
    var body: Data?
    /// The held event an operator releases: planned again under its own id, past the limits, and
    /// recorded with `review` as the operator's decision.
    var releasing: StoredEvent?
    var review: EventReceipt.Review?

    /// What the ledger must read, under the member's lock, to plan `event`.
    static func read(for event: LedgerEvent, memberID: String, runtime: ProgramRuntime, checkingLimits: Bool) -> LedgerRead {
        let day = runtime.policy.day(of: event.occurredAt)
        let rules = runtime.rules.applicable(to: event.type)
        let limitsApply = checkingLimits
            && (runtime.policy.pointsPerMemberPerDay != nil || runtime.policy.eventsPerMemberPerHour != nil)
        return LedgerRead(
            programID: runtime.program.id, memberID: memberID, lots: event.type == LedgerEvent.refund,
            eventClientID: event.clientID, orderID: event.orderID,
            capRules: rules.filter { !$0.cap.isEmpty }.map(\.code), capDay: day,
            limitDay: limitsApply ? day : nil,
            limitHour: limitsApply ? DateInterval(start: event.occurredAt.addingTimeInterval(-3600), end: event.occurredAt) : nil)
    }

    func plan(_ snapshot: LedgerSnapshot) throws -> LedgerPlan {
        if let stored = snapshot.event, releasing == nil {
            guard stored.fingerprint == fingerprint else {
                throw EngineError.conflict(code: "event_id_reused",
                                           detail: "An event with the id '\(event.clientID)' was posted with different content.")
            }
            let receipt = try EventReceipt.decoder.decode(EventReceipt.self, from: stored.receipt)
            return LedgerPlan(changes: nil, outcome: EventResult(receipt: receipt, created: false))
        }
        let policy = runtime.policy
        var order: OrderFacts?
        if event.type == LedgerEvent.purchase, let existing = snapshot.order, existing.eventID != releasing?.id {
            throw EngineError.conflict(code: "order_exists",
                                       detail: "A purchase with the order_id '\(event.orderID ?? "")' was already posted.")
        }
        if event.type == LedgerEvent.refund {
            order = try refundedOrder(snapshot)
        }
        let bindings = RuleEnvironment.earning.bindings([
            "event": event.ruleValue,
            "member": memberValue(purchases: snapshot.purchases),
            "program": .object(RuleEnvironment.program.make([
                "code": .string(runtime.program.code), "time_zone": .string(runtime.program.timeZone),
            ])),
        ])
        let outcome = runtime.rules.evaluate(type: event.type, bindings: bindings) { rule in
            snapshot.capUsage[rule.code] ?? CapUsage()
        }
        let eventID = releasing?.id ?? Identifier.make(at: now)
        var status = preview ? "preview" : "posted"
        var heldFor: String?
        if releasing == nil, let reason = limitBreach(snapshot, points: outcome.total(.points)) {
            guard policy.onLimitExceeded == .review else { throw EngineError.limitExceeded(detail: reason) }
            status = preview ? "preview" : "review"
            heldFor = reason
        }
        var ledger = MemberLedger(programID: runtime.program.id, memberID: member.id, accounts: snapshot.accounts,
                                  lots: snapshot.lots, holds: snapshot.holds, actor: actor, postedAt: now)
        var awards: [EventReceipt.Award] = []
        for award in outcome.awards where award.amount > 0 {
            var entry = EventReceipt.Award(rule: award.rule, unit: award.unit, amount: award.amount, computed: award.computed,
                                           cappedBy: award.cappedBy, state: "available", availableAt: nil, expiresAt: nil)
            if award.unit == .points {
                entry.availableAt = policy.availableAt(earnedAt: event.occurredAt)
                entry.expiresAt = policy.expiresAt(earnedAt: event.occurredAt)
            }
            if status != "review" {
                let lot = ledger.earn(award.unit, award.amount, source: award.rule, eventID: eventID, orderID: event.orderID,
                                      earnedAt: event.occurredAt, availableAt: entry.availableAt ?? event.occurredAt,
                                      expiresAt: entry.expiresAt, asOf: now)
                if let lot {
                    entry.state = lot.isExpired(at: now) ? "expired" : lot.state.rawValue
                }
            } else {
                // Held for review: nothing is posted until an operator lets it through.
                entry.state = "review"
            }
            awards.append(entry)
        }
        var clawbacks: [EventReceipt.Clawback] = []
        if let order, status != "review" {
            for unit in LedgerUnit.allCases {
                let earned = order.earned[unit] ?? 0
                guard earned > 0, order.amount > 0 else { continue }
                // Proportional and cumulative, rounded in the member's favour: after refunds that add up
                // to the whole order, exactly what it earned has been asked back.
                let before = Self.share(earned, order.refunded, of: order.amount)
                let after = Self.share(earned, order.refunded + event.amount, of: order.amount)
                let taken = ledger.clawBack(unit, after - before, orderID: event.orderID!, policy: policy.refund,
                                            eventID: eventID, occurredAt: event.occurredAt, asOf: now)
                clawbacks.append(EventReceipt.Clawback(unit: unit, requested: taken.requested, fromPending: taken.fromPending,
                                                       fromAvailable: taken.fromAvailable, intoDebt: taken.intoDebt,
                                                       notRecovered: taken.notRecovered))
            }
        }
        let recordedAt = releasing?.recordedAt ?? now
        let receipt = EventReceipt(
            id: event.clientID, event: eventID, member: member.id, type: event.type, occurredAt: event.occurredAt,
            recordedAt: recordedAt, status: status, awards: awards,
            failures: outcome.failures.map { EventReceipt.Failure(rule: $0.rule, error: $0.message) }, clawbacks: clawbacks,
            review: review ?? heldFor.map { EventReceipt.Review(heldFor: $0) })
        let stored = StoredEvent(id: eventID, programID: runtime.program.id, memberID: member.id, clientID: event.clientID,
                                 type: event.type, occurredAt: event.occurredAt, recordedAt: recordedAt, amount: event.amount,
                                 orderID: event.orderID, fingerprint: fingerprint, status: status,
                                 receipt: receipt.storedText(), body: status == "review" ? body : nil)
        return LedgerPlan(changes: ledger.changes, event: releasing == nil ? stored : nil,
                          purchasesAdded: event.type == LedgerEvent.purchase && status == "posted" ? 1 : 0,
                          resolvedEvent: releasing == nil ? nil : stored,
                          outcome: EventResult(receipt: receipt, created: true))
    }

    /// `earned × refunded / amount`, rounded down, without overflow.
    static func share(_ earned: Int64, _ refunded: Int64, of amount: Int64) -> Int64 {
        Int64((Int128(earned) * Int128(min(refunded, amount))) / Int128(amount))
    }

    private func refundedOrder(_ snapshot: LedgerSnapshot) throws -> OrderFacts {
        guard let order = snapshot.order else {
            throw EngineError.invalid(ValidationError(pointer: "/order_id", code: "unknown_order",
                                                      message: "No purchase with the order_id '\(event.orderID ?? "")' was posted."))
        }
        guard order.memberID == member.id else {
            throw EngineError.invalid(ValidationError(pointer: "/order_id", code: "order_of_another_member",
                                                      message: "The order '\(event.orderID ?? "")' belongs to another member."))
        }
        let refundable = order.amount - order.refunded
        guard event.amount <= refundable else {
            throw EngineError.invalid(ValidationError(
                pointer: "/amount", code: "exceeds_order",
                message: "Only \(refundable) of the order's \(order.amount) can still be refunded."))
        }
        return order
    }

    /// Why the event breaks a limit of `points.limits`, or nil.
    private func limitBreach(_ snapshot: LedgerSnapshot, points: Int64) -> String? {
        let policy = runtime.policy
        if let perHour = policy.eventsPerMemberPerHour, snapshot.eventsInHour + 1 > perHour {
            return "The member already has \(snapshot.eventsInHour) events in the hour before this one; the limit is \(perHour)."
        }
        if let perDay = policy.pointsPerMemberPerDay, points > 0, snapshot.pointsEarnedInDay + points > perDay {
            return "The member earned \(snapshot.pointsEarnedInDay) points that day; \(points) more would pass the daily limit of \(perDay)."
        }
        return nil
    }

    /// The member as the rules see them: as they were before this event.
    private func memberValue(purchases: Int64) -> CELValue {
        .object(RuleEnvironment.member.make([
            "id": .string(member.id),
            "tier": runtime.baseTier.map(CELValue.string) ?? .null,
            "enrolled_at": .timestamp(CELTimestamp(member.enrolledAt)),
            "birthday": member.profile.birthday.map { .string(String($0.suffix(5))) } ?? .null,
            "plan": .null,
            "tags": .list([]),
            "attributes": CELValue(json: .object(member.attributes)),
            "purchases": .int(purchases),
        ]))
    }
}
