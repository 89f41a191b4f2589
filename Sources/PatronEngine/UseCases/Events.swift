import Crypto
import Foundation
import PatronCore

/// The answer to an event: what each rule gave, what failed, and what a refund took back. It is
/// stored with the event, so a retry receives the same answer.
public struct EventReceipt: Sendable, Hashable, Codable {
    public struct Award: Sendable, Hashable, Codable {
        public var rule: String
        /// Who received it: the event's member, or for a B2B event the organisation or the executor.
        /// Nil in receipts stored before B2B events existed, where it is the event's member.
        public var member: String?
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
        /// Whose points were taken back (nil in receipts stored before B2B events: the event's member).
        public var member: String?
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
    /// A B2B event's organisation and operator person, as resolved from what it named.
    public var buyer: String?
    public var executor: String?
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

    /// The receipt as it is stored: `json(time:namingRecipients:)` with times in milliseconds and
    /// recipients as recorded, as its canonical text. It runs for every event inside the write
    /// transaction, so it writes the text straight away, each object's keys in sorted order, where
    /// building the `JSONValue` and sorting its keys cost a twelfth of the writer's time. `decoder`
    /// reads it back.
    func storedText() -> Data {
        func time(_ date: Date?) -> Int64? { date.map(Timestamp.milliseconds) }
        var json = CanonicalJSONWriter()
        json.object { json in
            json.field("awards", array: awards) { json, award in
                json.object { json in
                    json.field("amount", award.amount)
                    json.field("available_at", time(award.availableAt))
                    json.field("capped_by", award.cappedBy)
                    json.field("computed", award.computed)
                    json.field("expires_at", time(award.expiresAt))
                    json.field("member", award.member)
                    json.field("rule", award.rule)
                    json.field("state", award.state)
                    json.field("unit", award.unit.rawValue)
                }
            }
            json.field("buyer", buyer)
            json.field("clawbacks", array: clawbacks) { json, clawback in
                json.object { json in
                    json.field("from_available", clawback.fromAvailable)
                    json.field("from_pending", clawback.fromPending)
                    json.field("into_debt", clawback.intoDebt)
                    json.field("member", clawback.member)
                    json.field("not_recovered", clawback.notRecovered)
                    json.field("requested", clawback.requested)
                    json.field("unit", clawback.unit.rawValue)
                }
            }
            json.field("event", event)
            json.field("executor", executor)
            json.field("failures", array: failures) { json, failure in
                json.object { json in
                    json.field("error", failure.error)
                    json.field("rule", failure.rule)
                }
            }
            json.field("id", id)
            json.field("member", member)
            json.field("occurred_at", Timestamp.milliseconds(occurredAt))
            json.field("recorded_at", Timestamp.milliseconds(recordedAt))
            if let review {
                json.field("review") { json in
                    json.field("at", time(review.at))
                    json.field("by", review.by)
                    json.field("held_for", review.heldFor)
                    json.field("outcome", review.outcome)
                    json.field("reason", review.reason)
                }
            }
            json.field("status", status)
            json.field("type", type)
        }
        return json.data
    }

    /// The receipt as JSON with snake_case keys, absent values left out, times written by `time`.
    /// With `namingRecipients`, an award or clawback that names no member (receipts stored before
    /// B2B events) names the receipt's member, as the API answers it.
    public func json(time: (Date) -> JSONValue, namingRecipients: Bool) -> JSONValue {
        func recipient(_ named: String?) -> JSONValue? {
            (named ?? (namingRecipients ? member : nil)).map(JSONValue.string)
        }
        var object: [String: JSONValue] = [
            "id": .string(id), "event": .string(event), "member": .string(member), "type": .string(type),
            "occurred_at": time(occurredAt), "recorded_at": time(recordedAt), "status": .string(status),
            "failures": .array(failures.map { .object(["rule": .string($0.rule), "error": .string($0.error)]) }),
        ]
        object["buyer"] = buyer.map(JSONValue.string)
        object["executor"] = executor.map(JSONValue.string)
        object["awards"] = .array(awards.map { award in
            var entry: [String: JSONValue] = [
                "rule": .string(award.rule), "unit": .string(award.unit.rawValue), "amount": .int(award.amount),
                "computed": .int(award.computed), "state": .string(award.state),
            ]
            entry["member"] = recipient(award.member)
            entry["capped_by"] = award.cappedBy.map(JSONValue.string)
            entry["available_at"] = award.availableAt.map(time)
            entry["expires_at"] = award.expiresAt.map(time)
            return .object(entry)
        })
        object["clawbacks"] = .array(clawbacks.map { clawback in
            var entry: [String: JSONValue] = [
                "unit": .string(clawback.unit.rawValue), "requested": .int(clawback.requested),
                "from_pending": .int(clawback.fromPending), "from_available": .int(clawback.fromAvailable),
                "into_debt": .int(clawback.intoDebt), "not_recovered": .int(clawback.notRecovered),
            ]
            entry["member"] = recipient(clawback.member)
            return .object(entry)
        })
        if let review {
            var entry: [String: JSONValue] = ["held_for": .string(review.heldFor)]
            entry["outcome"] = review.outcome.map(JSONValue.string)
            entry["by"] = review.by.map(JSONValue.string)
            entry["at"] = review.at.map(time)
            entry["reason"] = review.reason.map(JSONValue.string)
            object["review"] = .object(entry)
        }
        return .object(object)
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}

/// An event ready to post (`Engine.post`): what its batch reads, and how it is planned.
public struct PreparedEvent: Sendable {
    let read: LedgerRead
    let plan: @Sendable (LedgerSnapshot) throws -> LedgerPlan
    let runtime: ProgramRuntime
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
        let (read, plan, runtime) = try await prepareEvent(programCode: programCode, body: body, principal: principal,
                                                           preview: false)
        return try await post(PreparedEvent(read: read, plan: plan, runtime: runtime))
    }

    /// Posts an event prepared by `recordEvent` or `eventAtHand`: it is answered once its batch is
    /// durable, and tier upgrades it earns are applied before the answer.
    public func post(_ prepared: PreparedEvent) async throws -> EventResult {
        let planned: Result<LedgerPlan, any Error>
        do {
            planned = .success(try await ledgerWriter.submit(LedgerWork(read: prepared.read, plan: prepared.plan)))
        } catch {
            planned = .failure(error)
        }
        return try await settle(planned, of: prepared)
    }

    /// `post(_:)` for a caller on an event loop: `completion` gets the answer on the thread that
    /// committed the batch. When nothing is left to do after the batch (the program has no tiers,
    /// and the event was not refused) it takes no task of its own.
    public func post(_ prepared: PreparedEvent,
                     completion: @escaping @Sendable (Result<EventResult, any Error>) -> Void) {
        ledgerWriter.submit(LedgerWork(read: prepared.read, plan: prepared.plan)) { planned in
            if case .success(let plan) = planned, prepared.runtime.tiers == nil {
                return completion(.success(plan.outcome as! EventResult))
            }
            Task {
                do {
                    completion(.success(try await settle(planned, of: prepared)))
                } catch {
                    completion(.failure(error))
                }
            }
        }
    }

    /// A posted event's answer from what its batch did: tier upgrades applied, a concurrent
    /// duplicate answered as its retry would be, a refusal worded.
    private func settle(_ planned: Result<LedgerPlan, any Error>, of prepared: PreparedEvent) async throws
        -> EventResult {
        let (read, plan, runtime) = (prepared.read, prepared.plan, prepared.runtime)
        do {
            let result = try planned.get().outcome as! EventResult
            // A retry applies the upgrade rule again: it does nothing when the first time did.
            await applyUpgrades(after: result.receipt, program: runtime.program, runtime: runtime)
            return result
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

    /// The event prepared for `post` on the calling thread, without suspending, when everything it
    /// needs is at hand: the API key, the program and its configuration cached on this node, and
    /// the member it names by id read through `reader`. Nil when something is not at hand and when
    /// the event would be refused before its batch (a fault in the body, a B2B or external id
    /// naming, an unknown or erased member): the caller then takes `recordEvent`, which loads what
    /// was missing and words every refusal. What it prepares is what `recordEvent` prepares.
    public func eventAtHand(secret: String, programCode: String, body: JSONValue, reader: any ImmediateReader) throws
        -> PreparedEvent? {
        guard let named = eventNamingMember(secret: secret, programCode: programCode, body: body) else { return nil }
        return named.prepared(member: try reader.member(programID: named.runtime.program.id, id: named.memberID),
                              engine: self)
    }

    /// `eventAtHand(secret:programCode:body:reader:)` for a store read with suspension: the key, the
    /// program and its configuration must be cached on this node; the member is read from the store.
    public func eventAtHand(secret: String, programCode: String, body: JSONValue) async throws -> PreparedEvent? {
        guard let named = eventNamingMember(secret: secret, programCode: programCode, body: body) else { return nil }
        return named.prepared(member: try await store.member(programID: named.runtime.program.id, id: named.memberID),
                              engine: self)
    }

    /// An event at hand up to its member: a plain event naming its member by id, under a cached key,
    /// program and configuration, and not dated in the future.
    private struct EventNamingMember {
        let principal: Principal
        let runtime: ProgramRuntime
        let event: LedgerEvent
        let memberID: String
        let body: JSONValue
        let now: Date

        func prepared(member: Member?, engine: Engine) -> PreparedEvent? {
            guard let member, member.status == .active else { return nil }
            let (read, plan) = engine.eventPlan(event, parties: EventParties(subject: member), runtime: runtime, body: body,
                                                actor: principal.keyID, now: now, preview: false)
            return PreparedEvent(read: read, plan: plan, runtime: runtime)
        }
    }

    private func eventNamingMember(secret: String, programCode: String, body: JSONValue) -> EventNamingMember? {
        guard let (principal, _, runtime) = programAtHand(secret: secret, programCode: programCode,
                                                          needs: [.postEvents, .readPrograms]),
              let event = try? LedgerEvent(parsing: body), event.buyerID == nil, event.executorID == nil,
              let memberID = event.memberID, Identifier.isWellFormed(memberID) else { return nil }
        let now = now()
        guard event.occurredAt <= now.addingTimeInterval(Self.futureTolerance) else { return nil }
        return EventNamingMember(principal: principal, runtime: runtime, event: event, memberID: memberID, body: body,
                                 now: now)
    }

    /// Answers what posting the event would do, and posts nothing.
    public func previewEvent(programCode: String, body: JSONValue, by principal: Principal) async throws -> EventReceipt {
        try require(.postEvents, principal)
        let (read, plan, _) = try await prepareEvent(programCode: programCode, body: body, principal: principal, preview: true)
        do {
            return (try plan(try await store.ledgerSnapshot(read)).outcome as! EventResult).receipt
        } catch let fault as LedgerFault {
            throw Self.engineError(fault)
        }
    }

    private func prepareEvent(programCode: String, body: JSONValue, principal: Principal, preview: Bool) async throws
        -> (LedgerRead, @Sendable (LedgerSnapshot) throws -> LedgerPlan, ProgramRuntime) {
        let program = try await program(code: programCode, by: principal)
        let event: LedgerEvent
        do throws(ValidationError) { event = try LedgerEvent(parsing: body) } catch { throw EngineError.invalid(error) }
        let now = now()
        if event.occurredAt > now.addingTimeInterval(Self.futureTolerance) {
            throw EngineError.invalid(ValidationError(pointer: "/occurred_at", code: "in_future",
                                                      message: "An event cannot have occurred in the future."))
        }
        let runtime = try await runtime(program)
        let parties = try await eventParties(event, runtime: runtime)
        let (read, plan) = eventPlan(event, parties: parties, runtime: runtime, body: body, actor: principal.keyID,
                                     now: now, preview: preview)
        return (read, plan, runtime)
    }

    /// What an event reads in its batch, and how it is planned from what was read.
    private func eventPlan(_ event: LedgerEvent, parties: EventParties, runtime: ProgramRuntime, body: JSONValue,
                           actor: String, now: Date, preview: Bool)
        -> (LedgerRead, @Sendable (LedgerSnapshot) throws -> LedgerPlan) {
        let canonical = body.canonicalData()
        let fingerprint = Self.sha256(canonical)
        let read = EventPlanner.read(for: event, parties: parties, runtime: runtime, checkingLimits: true)
        return (read, { snapshot in
            try EventPlanner(event: event, parties: parties, runtime: runtime, fingerprint: fingerprint, actor: actor,
                             now: now, preview: preview, body: canonical).plan(snapshot)
        })
    }

    /// Who an event is recorded under and who earns from it. A B2B event names the organisation
    /// (`buyer`), the operator person who executed it (`executor`), or both; the executor must be an
    /// operator of the buyer, and a lone executor buys for their organisation. `points.b2b.earn_to`
    /// then says who earns. A refund locks both parties it names: what the order earned is taken
    /// back from whoever earned it.
    func eventParties(_ event: LedgerEvent, runtime: ProgramRuntime) async throws -> EventParties {
        let program = runtime.program
        guard event.buyerID != nil || event.executorID != nil else {
            return EventParties(subject: try await eventMember(event, program: program))
        }
        var executor: Member?
        if let executorID = event.executorID {
            let person = try await namedMember(executorID, program: program, pointer: "/executor")
            guard person.kind == .person, person.organisationID != nil else {
                throw EngineError.invalid(ValidationError(
                    pointer: "/executor", code: "not_an_operator",
                    message: "The member '\(executorID)' is not an operator person of an organisation (their 'organisation')."))
            }
            if let buyerID = event.buyerID, person.organisationID != buyerID {
                throw EngineError.invalid(ValidationError(
                    pointer: "/executor", code: "not_an_operator_of_buyer",
                    message: "The member '\(executorID)' is not an operator of the organisation '\(buyerID)'."))
            }
            executor = person
        }
        let buyer = try await organisation(id: event.buyerID ?? executor!.organisationID!, program: program,
                                           pointer: event.buyerID == nil ? "/executor" : "/buyer")
        if event.type == LedgerEvent.refund {
            return EventParties(subject: executor ?? buyer, counterpart: executor.map { _ in buyer }, buyer: buyer,
                                executor: executor)
        }
        switch runtime.policy.earnTo {
        case .executor:
            return EventParties(subject: executor ?? buyer, buyer: buyer, executor: executor)
        case .buyer:
            return EventParties(subject: buyer, buyer: buyer, executor: executor)
        case .split:
            return EventParties(subject: buyer, counterpart: executor, buyer: buyer, executor: executor, splits: executor != nil)
        }
    }

    /// The member an event names, by id or external id; an erased member cannot earn.
    private func eventMember(_ event: LedgerEvent, program: Program) async throws -> Member {
        if let id = event.memberID { return try await namedMember(id, program: program, pointer: "/member") }
        let found = try await store.members(programID: program.id, matching: MemberQuery(externalID: event.externalID),
                                            after: nil, limit: 1).first
        return try held(found, named: event.externalID ?? "", pointer: "/external_id")
    }

    /// The member with this id, named by an event at `pointer`.
    private func namedMember(_ id: String, program: Program, pointer: String) async throws -> Member {
        try held(Identifier.isWellFormed(id) ? try await store.member(programID: program.id, id: id) : nil, named: id,
                 pointer: pointer)
    }

    private func held(_ found: Member?, named name: String, pointer: String) throws -> Member {
        guard let member = found else {
            throw EngineError.invalid(ValidationError(pointer: pointer, code: "unknown_member",
                                                      message: "The program has no member '\(name)'."))
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
        case .insufficientBalance(let unit, let available, let requested):
            return .insufficientBalance(unit: unit, available: available, requested: requested)
        case .captureExceedsHold(let held, let requested):
            return .invalid(ValidationError(pointer: "/points", code: "exceeds_hold",
                                            message: "The hold reserved \(held) points; \(requested) cannot be captured."))
        }
    }
}

/// Who an event concerns (see `Engine.eventParties`).
struct EventParties: Sendable {
    /// The member the event is recorded under: the rules see them as `member`, caps and limits
    /// count what they earned, and a purchase's order is theirs.
    var subject: Member
    /// A second member the write locks and changes: the executor under `split`, or the other
    /// party a B2B refund names.
    var counterpart: Member?
    var buyer: Member?
    var executor: Member?
    /// Whether awards are split between the subject (the buyer) and the counterpart (the executor).
    var splits = false
}

/// Turns an event and what the ledger holds into what to record. Pure: it runs inside the store's
/// transaction, under the member's lock.
struct EventPlanner {
    let event: LedgerEvent
    let parties: EventParties
    var member: Member { parties.subject }
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

    /// Whether `points.limits` may refuse or hold the event. They bound what members earn and how
    /// often they act: a refund, which only takes back, is never refused or held by them.
    static func isLimited(_ event: LedgerEvent) -> Bool {
        event.type != LedgerEvent.refund
    }

    /// What the ledger must read, under the member's lock, to plan `event`.
    static func read(for event: LedgerEvent, parties: EventParties, runtime: ProgramRuntime, checkingLimits: Bool) -> LedgerRead {
        let day = runtime.policy.day(of: event.occurredAt)
        let rules = runtime.rules.applicable(to: event.type)
        let limitsApply = checkingLimits && isLimited(event)
            && (runtime.policy.pointsPerMemberPerDay != nil || runtime.policy.eventsPerMemberPerHour != nil)
        return LedgerRead(
            programID: runtime.program.id, memberID: parties.subject.id, lots: event.type == LedgerEvent.refund,
            eventClientID: event.clientID, orderID: event.orderID,
            capRules: rules.filter { !$0.cap.isEmpty }.map { rule in
                CappedRule(rule.code, day: rule.cap.perMemberPerDay != nil, lifetime: rule.cap.perMemberLifetime != nil)
            },
            capDay: day,
            limitDay: limitsApply ? day : nil,
            limitHour: limitsApply ? DateInterval(start: event.occurredAt.addingTimeInterval(-3600), end: event.occurredAt) : nil,
            counterpartID: parties.counterpart?.id)
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
        let bindings = RuleEnvironment.earningBindings(
            event: event.ruleValue, member: memberValue(purchases: snapshot.purchases),
            program: .object(RuleEnvironment.program.make([
                "code": .string(runtime.program.code), "time_zone": .string(runtime.program.timeZone),
            ])))
        let outcome = runtime.rules.evaluate(type: event.type, bindings: bindings) { rule in
            snapshot.capUsage[rule.code] ?? CapUsage()
        }
        let eventID = releasing?.id ?? Identifier.make(at: now)
        var status = preview ? "preview" : "posted"
        var heldFor: String?
        if releasing == nil, Self.isLimited(event), let reason = limitBreach(snapshot, points: outcome.total(.points)) {
            guard policy.onLimitExceeded == .review else { throw EngineError.limitExceeded(detail: reason) }
            status = preview ? "preview" : "review"
            heldFor = reason
        }
        // The subject's ledger, and the counterpart's when the write has one, by member id.
        var ledgers = [member.id: MemberLedger(programID: runtime.program.id, memberID: member.id, accounts: snapshot.accounts,
                                               lots: snapshot.lots, holds: snapshot.holds, actor: actor, postedAt: now)]
        let counterpartID = parties.counterpart?.id
        if let counterpart = MemberLedger(counterpartOf: snapshot, id: counterpartID, programID: runtime.program.id,
                                          actor: actor, postedAt: now) {
            ledgers[counterpart.memberID] = counterpart
        }
        var awards: [EventReceipt.Award] = []
        for award in outcome.awards {
            var entry = EventReceipt.Award(rule: award.rule, member: member.id, unit: award.unit, amount: award.amount,
                                           computed: award.computed, cappedBy: award.cappedBy, state: "available",
                                           availableAt: nil, expiresAt: nil)
            // A rule whose cap was used up fired all the same: the receipt says what it computed
            // and which cap left nothing of it.
            guard award.amount > 0 else {
                entry.state = "capped"
                awards.append(entry)
                continue
            }
            if award.unit == .points {
                entry.availableAt = policy.availableAt(earnedAt: event.occurredAt)
                entry.expiresAt = policy.expiresAt(earnedAt: event.occurredAt)
            }
            // Under `split` the executor gets their share of each award, the buyer the rest.
            var shares: [(member: String, amount: Int64)] = [(member.id, award.amount)]
            if parties.splits, let executor = parties.counterpart {
                let executorShare = policy.executorShare(of: award.amount)
                shares = [(member.id, award.amount - executorShare), (executor.id, executorShare)]
            }
            for (recipient, amount) in shares where amount > 0 {
                var share = entry
                share.member = recipient
                share.amount = amount
                if heldFor == nil {
                    let lot = ledgers[recipient]!.earn(award.unit, amount, source: award.rule, eventID: eventID,
                                                       orderID: event.orderID, earnedAt: event.occurredAt,
                                                       availableAt: entry.availableAt ?? event.occurredAt,
                                                       expiresAt: entry.expiresAt, asOf: now)
                    if let lot {
                        share.state = lot.isExpired(at: now) ? "expired" : lot.state.rawValue
                    }
                } else {
                    // Held for review (or previewed as an event that would be): nothing is posted
                    // until an operator lets it through.
                    share.state = "review"
                }
                awards.append(share)
            }
        }
        var clawbacks: [EventReceipt.Clawback] = []
        if let order, heldFor == nil {
            // Each member who earned from the order gives back their own share of it.
            for earner in [member.id, counterpartID].compactMap({ $0 }) {
                for unit in LedgerUnit.allCases {
                    let earned = order.earnedBy[earner]?[unit] ?? 0
                    guard earned > 0, order.amount > 0 else { continue }
                    let due = PointsPolicy.refundTakesBack(earned, orderAmount: order.amount,
                                                           refundedBefore: order.refunded, refunding: event.amount)
                    let taken = ledgers[earner]!.clawBack(unit, due, orderID: event.orderID!,
                                                          policy: policy.refund, eventID: eventID,
                                                          occurredAt: event.occurredAt, asOf: now)
                    clawbacks.append(EventReceipt.Clawback(member: earner, unit: unit, requested: taken.requested,
                                                           fromPending: taken.fromPending, fromAvailable: taken.fromAvailable,
                                                           intoDebt: taken.intoDebt, notRecovered: taken.notRecovered))
                }
            }
        }
        // A refund is recorded under its order's member; anything else under the subject.
        let recordedUnder = order?.memberID ?? member.id
        let recordedAt = releasing?.recordedAt ?? now
        let receipt = EventReceipt(
            id: event.clientID, event: eventID, member: recordedUnder, buyer: parties.buyer?.id,
            executor: parties.executor?.id, type: event.type, occurredAt: event.occurredAt,
            recordedAt: recordedAt, status: status, awards: awards,
            failures: outcome.failures.map { EventReceipt.Failure(rule: $0.rule, error: $0.message) }, clawbacks: clawbacks,
            review: review ?? heldFor.map { EventReceipt.Review(heldFor: $0) })
        let stored = StoredEvent(id: eventID, programID: runtime.program.id, memberID: recordedUnder, clientID: event.clientID,
                                 type: event.type, occurredAt: event.occurredAt, recordedAt: recordedAt, amount: event.amount,
                                 orderID: event.orderID, channel: event.channel, fingerprint: fingerprint, status: status,
                                 receipt: receipt.storedText(), body: status == "review" ? body : nil)
        return LedgerPlan(changes: ledgers[member.id]!.changes, event: releasing == nil ? stored : nil,
                          purchasesAdded: event.type == LedgerEvent.purchase && status == "posted" ? 1 : 0,
                          counterpartChanges: counterpartID.flatMap { ledgers[$0]?.changes },
                          resolvedEvent: releasing == nil ? nil : stored,
                          outcome: EventResult(receipt: receipt, created: true))
    }

    private func refundedOrder(_ snapshot: LedgerSnapshot) throws -> OrderFacts {
        guard let order = snapshot.order else {
            throw EngineError.invalid(ValidationError(pointer: "/order_id", code: "unknown_order",
                                                      message: "No purchase with the order_id '\(event.orderID ?? "")' was posted."))
        }
        // Only a posted purchase earned and counts as spend: one a limit holds for review is
        // refunded once an operator has released it, and a rejected one has nothing to refund.
        switch order.status {
        case "posted":
            break
        case "review":
            throw EngineError.conflict(
                code: "order_in_review",
                detail: "The purchase of the order '\(event.orderID ?? "")' is held for review; refund it once it is released.")
        default:
            throw EngineError.invalid(ValidationError(
                pointer: "/order_id", code: "order_not_posted",
                message: "The purchase of the order '\(event.orderID ?? "")' was \(order.status), so it earned nothing to refund."))
        }
        guard event.occurredAt >= order.occurredAt else {
            throw EngineError.invalid(ValidationError(
                pointer: "/occurred_at", code: "before_order",
                message: "A refund cannot occur before its purchase, at \(Timestamp.rfc3339(order.occurredAt))."))
        }
        // Whoever earned from the order must be among the members this refund locked.
        let locked = Set([member.id, parties.counterpart?.id].compactMap { $0 })
        guard locked.contains(order.memberID), order.earnedBy.keys.allSatisfy(locked.contains) else {
            throw EngineError.invalid(ValidationError(
                pointer: "/order_id", code: "order_of_another_member",
                message: "The order '\(event.orderID ?? "")' belongs to another member; a B2B order is refunded naming its buyer and executor."))
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
        let plan = member.planCode.flatMap { code in member.planUntil.map { $0 > event.occurredAt } == true ? code : nil }
        return RuleEnvironment.memberValue(
            id: member.id, tier: runtime.tiers?.levelCode(of: member.tier),
            enrolledAt: member.enrolledAt, birthday: member.profile.birthday.map { String($0.suffix(5)) }, plan: plan,
            attributes: member.attributes, purchases: purchases, kind: member.kind.rawValue)
    }
}
