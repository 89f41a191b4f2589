import Foundation
import PatronCore

/// A member's standing in the program's tier model, as `GET …/members/{member}/tier` answers it.
public struct TierStanding: Sendable, Hashable {
    public struct Next: Sendable, Hashable {
        public var level: TierLevel
        /// How much more of the metric reaches it.
        public var needed: Int64
    }

    public struct Keep: Sendable, Hashable {
        /// The next review instant.
        public var at: Date
        /// The level's `retain`.
        public var retain: Int64
        /// The qualifying value the member will have at the review if nothing more happens: what
        /// stays in the window then.
        public var projected: Int64
        /// How much more keeps the level at that review (0: it is kept).
        public var needed: Int64
    }

    public var asOf: Date
    public var level: TierLevel
    public var since: Date
    /// The end of a manual assignment, if one holds the member at this level.
    public var manualUntil: Date?
    /// When the level may next change other than by an upgrade: the end of a manual assignment,
    /// or the next review; nil when nothing but an upgrade can change it.
    public var validUntil: Date?
    public var metric: TierPolicy.Metric
    public var qualifyingValue: Int64
    /// The window the value is summed over (`from` nil: since the beginning).
    public var windowFrom: Date?
    public var windowThrough: Date
    /// The next level the upgrade rule can reach, and what it takes; nil at the top.
    public var next: Next?
    /// What it takes to keep the level at the next review; nil when no review can move the member.
    public var keep: Keep?
}

/// What a run of the `tier-review` job did.
public struct TierReviewReport: Sendable, Hashable {
    public var asOf: Date
    /// The review instants it went through.
    public var reviews: [Date]
    /// Members it looked at (once per review, and for the end of manual assignments).
    public var members: Int
    public var downgraded: Int
    /// Manual assignments that ended.
    public var assignmentsEnded: Int
}

extension Engine {
    /// The member's level, what qualifies them, and what the next level and keeping this one take.
    public func tierStanding(programCode: String, memberID: String, by principal: Principal) async throws -> TierStanding {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        let policy = try await tierPolicy(program)
        let now = now()
        let index = policy.level(of: member.tier)
        let level = policy.levels[index]
        let window = policy.window(at: now)
        let value = try await store.qualifyingValue(programID: program.id, memberID: member.id, metric: policy.metric,
                                                    from: window.from, through: window.through)
        var next: TierStanding.Next?
        if let higher = policy.levels[(index + 1)...].first(where: { !$0.invitationOnly }) {
            next = TierStanding.Next(level: higher, needed: max(0, higher.threshold - value))
        }
        let manualUntil = member.tier?.manualUntil.flatMap { $0 > now ? $0 : nil }
        var keep: TierStanding.Keep?
        var validUntil = manualUntil
        if manualUntil == nil, index > 0, policy.downgrade != .never, let review = policy.nextReview(after: now) {
            // What stays in the window at the review if nothing more happens.
            let projected = try await store.qualifyingValue(programID: program.id, memberID: member.id,
                                                            metric: policy.metric, from: policy.window(at: review).from,
                                                            through: now)
            keep = TierStanding.Keep(at: review, retain: level.retain, projected: projected,
                                     needed: max(0, level.retain - projected))
            validUntil = review
        }
        return TierStanding(asOf: now, level: level, since: member.tier?.since ?? member.enrolledAt,
                            manualUntil: manualUntil, validUntil: validUntil, metric: policy.metric,
                            qualifyingValue: value, windowFrom: window.from, windowThrough: window.through, next: next,
                            keep: keep)
    }

    /// The member's tier changes, newest first.
    public func tierHistory(programCode: String, memberID: String, limit: Int?, cursor: String?,
                            by principal: Principal) async throws -> Page<TierChange> {
        try require(.readMembers, principal)
        let program = try await program(code: programCode, by: principal)
        let member = try await heldMember(program: program, id: memberID)
        _ = try await tierPolicy(program)
        let limit = try pageSize(limit)
        let fetched = try await store.tierChanges(memberID: member.id, before: try decodeCursor(cursor), limit: limit + 1)
        return page(fetched, limit: limit, key: \.id)
    }

    /// Puts a member at a level by an operator's decision: any level, invitation-only ones included,
    /// optionally until an instant (reviews leave the member there until then; at it they go to the
    /// level their qualifying value reaches). The reason is recorded.
    public func assignTier(programCode: String, memberID: String, body: JSONValue, by principal: Principal) async throws
        -> TierChange {
        try require(.adjustPoints, principal)
        let program = try await program(code: programCode, by: principal)
        var faults = FaultCollector()
        let reader = ObjectValidator(body, at: .root, allowedKeys: ["level", "until", "reason"], faults: &faults)
        let code = reader?.string("level", required: true, maxLength: 100, faults: &faults)
        let until = reader?.timestamp("until", faults: &faults)
        let reason = reader?.string("reason", required: true, maxLength: 200, faults: &faults)
        if let reason, reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            faults.add(.root / "reason", "blank", "Say why the level is assigned.")
        }
        let now = now()
        if let until, until <= now {
            faults.add(.root / "until", "in_past", "An assignment ends after it is made.")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        let policy = try await tierPolicy(program)
        guard let index = policy.index(of: code!) else {
            throw EngineError.invalid(ValidationError(pointer: "/level", code: "unknown_level",
                                                      message: "The program's tier model has no level '\(code!)'."))
        }
        for attempt in 1... {
            let member = try await heldMember(program: program, id: memberID)
            let change = TierChange(id: newID(at: now), programID: program.id, memberID: member.id,
                                    from: member.tier?.level, to: policy.levels[index].code, at: now, cause: .manual,
                                    qualifyingValue: nil, actor: principal.keyID, reason: reason,
                                    until: until.map(Timestamp.truncated), recordedAt: now)
            do {
                try await store.recordTierChange(change, tier: MemberTier(
                    level: change.to, since: now, manualUntil: change.until, version: (member.tier?.version ?? 0) + 1))
                return change
            } catch StoreError.concurrentUpdate where attempt < 5 {
                continue
            }
        }
        fatalError("unreachable")
    }

    /// The upgrade rule after a posted event: each member the event gave something that counts moves
    /// at once to the highest level their qualifying value reaches. Runs after the event's batch
    /// committed; a failure here is logged, not reported, since the event stands (the member moves
    /// up at their next event, or GET …/tier shows the value that qualifies them).
    func applyUpgrades(after receipt: EventReceipt, program: Program, runtime: ProgramRuntime) async {
        guard let policy = runtime.tiers, receipt.status == "posted" else { return }
        var members: Set<String> = []
        switch policy.metric {
        case .growth, .pointsEarned:
            for award in receipt.awards where award.unit == policy.metric.unit && award.amount > 0 {
                members.insert(award.member ?? receipt.member)
            }
        case .spend, .orders:
            if receipt.type == LedgerEvent.purchase { members.insert(receipt.member) }
        }
        let at = max(now(), Timestamp.truncated(receipt.occurredAt))
        for memberID in members.sorted() {
            do {
                try await upgrade(memberID: memberID, program: program, policy: policy, at: at, eventID: receipt.id)
            } catch {
                logger.warning("tier upgrade failed", metadata: ["member": "\(memberID)", "error": "\(error)"])
            }
        }
    }

    /// Moves the member up if their qualifying value at `at` reaches a higher level; returns the change.
    @discardableResult
    func upgrade(memberID: String, program: Program, policy: TierPolicy, at: Date, eventID: String?) async throws
        -> TierChange? {
        for attempt in 1... {
            guard let member = try await store.member(programID: program.id, id: memberID), member.status == .active else {
                return nil
            }
            let current = policy.level(of: member.tier)
            guard current < policy.levels.count - 1 else { return nil }
            let value = try await qualifyingValue(of: memberID, program: program, policy: policy, at: at)
            guard let reached = policy.upgrade(from: current, value: value) else { return nil }
            let since = max(at, member.tier?.since ?? at)
            // The reward first: it is once per member, level and review period by its request key,
            // so a crash before the change is recorded, or a concurrent evaluation, gives it once.
            try await grantUpgradeReward(memberID: memberID, level: policy.levels[reached], program: program,
                                         policy: policy, at: since)
            let change = TierChange(id: newID(at: now()), programID: program.id, memberID: memberID,
                                    from: member.tier?.level, to: policy.levels[reached].code, at: since, cause: .upgrade,
                                    qualifyingValue: value, eventID: eventID, actor: "system", recordedAt: now())
            do {
                // Reaching a level by the rule ends a manual assignment below it.
                try await store.recordTierChange(change, tier: MemberTier(level: change.to, since: since, manualUntil: nil,
                                                                         version: (member.tier?.version ?? 0) + 1))
                return change
            } catch StoreError.concurrentUpdate where attempt < 5 {
                continue
            }
        }
        return nil
    }

    /// Gives the level's `upgrade_reward`, unless the member had it for this level in this review
    /// period already: its benefits as granted uses (`upgrade:<level>`), and its points as earned
    /// points (reason `upgrade:<level>`), available at once and expiring by the program's policy.
    private func grantUpgradeReward(memberID: String, level: TierLevel, program: Program, policy: TierPolicy, at: Date)
        async throws {
        let period = policy.reviewPeriod(containing: at)
        let key = "tier-reward:\(memberID):\(level.code):\(Timestamp.milliseconds(period.start))"
        for reward in level.rewardBenefits {
            _ = try await store.grantBenefit(BenefitGrant(
                id: newID(at: now()), programID: program.id, memberID: memberID, benefit: reward.benefit,
                quantity: reward.quantity, reference: "\(key):\(reward.benefit)", cause: "upgrade:\(level.code)",
                grantedAt: at))
        }
        guard let points = level.rewardPoints else { return }
        try await issueOnce(.points, points, to: memberID, programID: program.id, source: "upgrade:\(level.code)", at: at,
                            expiresAt: try await runtime(program).policy.expiresAt(earnedAt: at), reference: nil, key: key)
    }

    /// Runs the reviews due by `asOf` that the program has not been through, oldest first, and ends
    /// the manual assignments due by then. Running it again does nothing new.
    public func runTierReview(program: Program, asOf: Date) async throws -> TierReviewReport {
        var report = TierReviewReport(asOf: asOf, reviews: [], members: 0, downgraded: 0, assignmentsEnded: 0)
        guard let policy = try await runtime(program).tiers else { return report }
        let last = try await store.lastTierReview(programID: program.id) ?? program.createdAt
        for instant in policy.reviewInstants(after: last, through: asOf) {
            // Assignments that ended before the review end first, at their own instants.
            report.assignmentsEnded += try await endAssignments(program: program, policy: policy, through: instant)
            var reviewed = 0, downgraded = 0
            try await forEachTieredMember(program: program) { member in
                reviewed += 1
                if try await review(member: member, program: program, policy: policy, at: instant) { downgraded += 1 }
            }
            try await store.recordTierReview(TierReviewRecord(programID: program.id, instant: instant, members: reviewed,
                                                              downgraded: downgraded, completedAt: now()))
            report.reviews.append(instant)
            report.members += reviewed
            report.downgraded += downgraded
        }
        report.assignmentsEnded += try await endAssignments(program: program, policy: policy, through: asOf)
        return report
    }

    private func forEachTieredMember(program: Program, assignmentEndsBy: Date? = nil,
                                     _ body: (Member) async throws -> Void) async throws {
        var after: String?
        while true {
            let members = try await store.tieredMembers(programID: program.id, assignmentEndsBy: assignmentEndsBy,
                                                        after: after, limit: Self.jobRoundSize)
            guard let last = members.last else { return }
            after = last.id
            for member in members { try await body(member) }
        }
    }

    /// Applies the review at `instant` to one member; true when they went down.
    private func review(member: Member, program: Program, policy: TierPolicy, at instant: Date) async throws -> Bool {
        var member = member
        for attempt in 1... {
            // A member whose level changed at or after the review instant was already judged on
            // facts as late: by this review (another node, or a run cut short) or by a later upgrade.
            if let since = member.tier?.since, since >= instant { return false }
            let value = try await qualifyingValue(of: member.id, program: program, policy: policy, at: instant)
            guard let lower = policy.review(member.tier, value: value, at: instant) else { return false }
            let change = TierChange(id: newID(at: now()), programID: program.id, memberID: member.id,
                                    from: member.tier?.level, to: policy.levels[lower].code, at: instant, cause: .review,
                                    qualifyingValue: value, actor: "system", recordedAt: now())
            do {
                try await store.recordTierChange(change, tier: MemberTier(level: change.to, since: instant, manualUntil: nil,
                                                                         version: (member.tier?.version ?? 0) + 1))
                return true
            } catch StoreError.concurrentUpdate where attempt < 5 {
                guard let fresh = try await store.member(programID: program.id, id: member.id) else { return false }
                member = fresh
            }
        }
        return false
    }

    /// Ends manual assignments whose end is at or before `through`: each member goes to the level
    /// their qualifying value at the end reaches. Returns how many ended.
    private func endAssignments(program: Program, policy: TierPolicy, through: Date) async throws -> Int {
        var ended = 0
        try await forEachTieredMember(program: program, assignmentEndsBy: through) { member in
            guard let tier = member.tier, let until = tier.manualUntil, until <= through else { return }
            let value = try await qualifyingValue(of: member.id, program: program, policy: policy, at: until)
            let level = policy.levels[policy.qualifiedLevel(for: value)].code
            let change = TierChange(id: newID(at: now()), programID: program.id, memberID: member.id, from: tier.level,
                                    to: level, at: until, cause: .manualEnded, qualifyingValue: value, actor: "system",
                                    recordedAt: now())
            do {
                try await store.recordTierChange(change, tier: MemberTier(level: level, since: until, manualUntil: nil,
                                                                         version: tier.version + 1))
                ended += 1
            } catch StoreError.concurrentUpdate {
                // Changed meanwhile (re-assigned, or upgraded): the next run looks again.
            }
        }
        return ended
    }

    /// The member's qualifying value at `instant`: the metric over the window there.
    private func qualifyingValue(of memberID: String, program: Program, policy: TierPolicy, at instant: Date) async throws
        -> Int64 {
        let window = policy.window(at: instant)
        return try await store.qualifyingValue(programID: program.id, memberID: memberID, metric: policy.metric,
                                               from: window.from, through: window.through)
    }

    /// The program's tier model; 409 `no_tiers` when its configuration has none.
    func tierPolicy(_ program: Program) async throws -> TierPolicy {
        guard let policy = try await runtime(program).tiers else {
            throw EngineError.conflict(code: "no_tiers", detail: "The program's configuration has no 'tiers'.")
        }
        return policy
    }
}
