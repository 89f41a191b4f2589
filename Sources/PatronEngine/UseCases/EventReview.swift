import Foundation
import PatronCore

// Events as stored, and the operator's decision on events a limit held for review
// (`points.limits.on_exceed: review`): release posts the event as if no limit had held it,
// rejection posts nothing. Each decision is taken once; asking again for the same one answers
// with the receipt as it stands.

extension Engine {
    /// The statuses `events(…)` lists: those an operator looks through.
    public static let listedEventStatuses = ["review", "rejected"]

    /// An event's receipt as it stands, by the client's id.
    public func event(programCode: String, clientID: String, by principal: Principal) async throws -> EventReceipt {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        return try Self.receipt(of: try await storedEvent(program: program, clientID: clientID))
    }

    /// The program's events in review (or rejected), oldest first.
    public func events(programCode: String, status: String?, limit: Int?, cursor: String?,
                       by principal: Principal) async throws -> Page<EventReceipt> {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let status = status ?? "review"
        guard Self.listedEventStatuses.contains(status) else {
            throw EngineError.invalid(ValidationError(pointer: "/status", code: "invalid_value",
                                                      message: "Events are listed by status 'review' or 'rejected'."))
        }
        let limit = try pageSize(limit)
        let fetched = try await store.events(programID: program.id, status: status, after: try decodeCursor(cursor),
                                             limit: limit + 1)
        return page(try fetched.map(Self.receipt(of:)), limit: limit, key: \.event)
    }

    /// Posts an event a limit held for review, as of when it occurred, past the limits and under
    /// the rules in force now; the operator is the actor of every transfer.
    public func releaseEvent(programCode: String, clientID: String, body: JSONValue,
                             by principal: Principal) async throws -> EventReceipt {
        try await decideReview(programCode: programCode, clientID: clientID, body: body, outcome: "released",
                               principal: principal) { program, stored, review, now in
            guard let text = stored.body, let json = try? JSONValue(parsing: text),
                  let event = try? LedgerEvent(parsing: json) else {
                throw EngineError.conflict(code: "cannot_release",
                                           detail: "The event was held before Patron kept held events' bodies; reject it and post it again.")
            }
            let runtime = try await runtime(program)
            let parties: EventParties
            do {
                parties = try await eventParties(event, runtime: runtime)
            } catch let error as EngineError {
                throw EngineError.conflict(code: "cannot_release",
                                           detail: "The event's members can no longer earn from it (\(error)); reject the event instead.")
            }
            guard parties.subject.id == stored.memberID else {
                throw EngineError.conflict(code: "cannot_release",
                                           detail: "Under the configuration now in force the event would be recorded under another member; reject it and post it again.")
            }
            let planner = EventPlanner(event: event, parties: parties, runtime: runtime, fingerprint: stored.fingerprint,
                                       actor: principal.keyID, now: now, preview: false, releasing: stored, review: review)
            return LedgerWork(read: EventPlanner.read(for: event, parties: parties, runtime: runtime, checkingLimits: false)) {
                snapshot in
                guard snapshot.event?.status == "review" else { throw StoreError.concurrentUpdate }
                do {
                    return try planner.plan(snapshot)
                } catch EngineError.invalid(let error) {
                    // What was valid when the event was held may no longer be (a refund of an order
                    // refunded since): the event cannot be posted as it is.
                    throw EngineError.conflict(code: "cannot_release",
                                               detail: "The event can no longer be posted: \(error.faults.map(\.message).joined(separator: " "))")
                }
            }
        }
    }

    /// Rejects an event a limit held for review: it posts nothing, ever.
    public func rejectEvent(programCode: String, clientID: String, body: JSONValue,
                            by principal: Principal) async throws -> EventReceipt {
        try await decideReview(programCode: programCode, clientID: clientID, body: body, outcome: "rejected",
                               principal: principal) { program, stored, review, _ in
            var receipt = try Self.receipt(of: stored)
            receipt.status = "rejected"
            receipt.review = review
            for index in receipt.awards.indices { receipt.awards[index].state = "rejected" }
            var rejected = stored
            rejected.status = "rejected"
            rejected.receipt = receipt.storedText()
            let read = LedgerRead(programID: program.id, memberID: stored.memberID, eventClientID: stored.clientID)
            let plan = LedgerPlan(changes: nil, resolvedEvent: rejected, outcome: EventResult(receipt: receipt, created: true))
            return LedgerWork(read: read) { snapshot in
                guard snapshot.event?.status == "review" else { throw StoreError.concurrentUpdate }
                return plan
            }
        }
    }

    /// Takes an operator's decision on a held event: checks it is still in review, has `work` build
    /// the write, and runs it. A decision the event already had is answered with its receipt.
    private func decideReview(
        programCode: String, clientID: String, body: JSONValue, outcome: String, principal: Principal,
        work: (Program, StoredEvent, EventReceipt.Review, Date) async throws -> LedgerWork
    ) async throws -> EventReceipt {
        try require(.adjustPoints, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["reason"], faults: &faults)
        let reason = reader?.string("reason", maxLength: 200, faults: &faults)
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let stored = try await storedEvent(program: program, clientID: clientID)
        if let decided = try Self.decided(stored, outcome: outcome) { return decided }
        let now = now()
        let review = EventReceipt.Review(heldFor: try Self.receipt(of: stored).review?.heldFor ?? "", outcome: outcome,
                                         by: principal.keyID, at: now, reason: reason)
        do {
            let receipt = (try await ledgerWriter.submit(try await work(program, stored, review, now)).outcome as! EventResult)
                .receipt
            await applyUpgrades(after: receipt, program: program, runtime: try await runtime(program))
            return receipt
        } catch StoreError.concurrentUpdate {
            // Another operator decided first: the same decision is this one's answer too.
            let current = try await storedEvent(program: program, clientID: clientID)
            guard let decided = try Self.decided(current, outcome: outcome) else { throw StoreError.concurrentUpdate }
            return decided
        }
    }

    /// The receipt of an event already decided with `outcome`; nil while the event is in review;
    /// 409 `not_in_review` for an event never held, or decided otherwise.
    private static func decided(_ stored: StoredEvent, outcome: String) throws -> EventReceipt? {
        guard stored.status != "review" else { return nil }
        let receipt = try Self.receipt(of: stored)
        if receipt.review?.outcome == outcome { return receipt }
        let state = receipt.review?.outcome ?? stored.status
        throw EngineError.conflict(code: "not_in_review", detail: "The event '\(stored.clientID)' is \(state), not in review.")
    }

    private func storedEvent(program: Program, clientID: String) async throws -> StoredEvent {
        guard let stored = try await store.event(programID: program.id, clientID: clientID) else {
            throw EngineError.notFound(resource: "event", id: clientID)
        }
        return stored
    }

    static func receipt(of stored: StoredEvent) throws -> EventReceipt {
        try EventReceipt.decoder.decode(EventReceipt.self, from: stored.receipt)
    }
}
