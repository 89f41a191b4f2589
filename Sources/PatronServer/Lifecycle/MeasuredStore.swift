import Dispatch
import Foundation
import Metrics
import PatronCore
import PatronEngine

/// A store that reports every database operation to the metrics system: a duration histogram per
/// operation and outcome, and a gauge of operations in flight (how busy the connection pool is).
struct MeasuredStore: PatronStore {
    let base: any PatronStore
    private let inFlight = Meter(label: "patron_db_operations_in_flight")

    init(_ base: any PatronStore) {
        self.base = base
    }

    var displayName: String { base.displayName }

    private func measure<T>(_ operation: String, _ work: () async throws -> T) async throws -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let result = try await work()
            Self.record(operation, "ok", since: start)
            return result
        } catch {
            Self.record(operation, "error", since: start)
            throw error
        }
    }

    /// `measure` for work that blocks rather than suspends.
    private func measureBlocking<T>(_ operation: String, _ work: () throws -> T) throws -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let result = try work()
            Self.record(operation, "ok", since: start)
            return result
        } catch {
            Self.record(operation, "error", since: start)
            throw error
        }
    }

    private static func record(_ operation: String, _ outcome: String, since start: UInt64) {
        Timer(label: "patron_db_operation_duration_seconds", dimensions: [("operation", operation), ("outcome", outcome)],
              preferredDisplayUnit: .seconds).recordNanoseconds(DispatchTime.now().uptimeNanoseconds - start)
    }

    func migrate() async throws { try await measure("migrate") { try await base.migrate() } }
    func checkHealth() async throws { try await measure("health") { try await base.checkHealth() } }

    func insertAPIKey(_ key: APIKey) async throws { try await measure("api_key_insert") { try await base.insertAPIKey(key) } }
    func apiKey(secretHash: String) async throws -> APIKey? {
        try await measure("api_key_by_hash") { try await base.apiKey(secretHash: secretHash) }
    }
    func apiKey(id: String) async throws -> APIKey? { try await measure("api_key_by_id") { try await base.apiKey(id: id) } }
    func apiKeys(after cursor: String?, limit: Int) async throws -> [APIKey] {
        try await measure("api_key_list") { try await base.apiKeys(after: cursor, limit: limit) }
    }
    func revokeAPIKey(id: String, at date: Date) async throws -> Bool {
        try await measure("api_key_revoke") { try await base.revokeAPIKey(id: id, at: date) }
    }
    func activeOwnerKeyCount() async throws -> Int { try await measure("api_key_owner_count") { try await base.activeOwnerKeyCount() } }

    func insertOperator(_ user: OperatorUser) async throws { try await measure("operator_insert") { try await base.insertOperator(user) } }
    func operatorUser(email: String) async throws -> OperatorUser? {
        try await measure("operator_by_email") { try await base.operatorUser(email: email) }
    }
    func changeOperator(id: String, role: StaffRole?, removedAt: Date?) async throws -> OperatorChange {
        try await measure("operator_change") { try await base.changeOperator(id: id, role: role, removedAt: removedAt) }
    }
    func operatorUsers() async throws -> [OperatorUser] { try await measure("operator_list") { try await base.operatorUsers() } }
    func recordFailedSignIn(userID: String, lockAfter: Int, lockUntil: Date) async throws -> OperatorUser? {
        try await measure("operator_sign_in_failed") {
            try await base.recordFailedSignIn(userID: userID, lockAfter: lockAfter, lockUntil: lockUntil)
        }
    }
    func recordSignIn(userID: String) async throws { try await measure("operator_sign_in") { try await base.recordSignIn(userID: userID) } }
    func insertSession(_ session: ConsoleSession) async throws { try await measure("session_insert") { try await base.insertSession(session) } }
    func session(tokenHash: String, at date: Date) async throws -> (ConsoleSession, OperatorUser)? {
        try await measure("session_by_token") { try await base.session(tokenHash: tokenHash, at: date) }
    }
    func deleteSession(tokenHash: String) async throws { try await measure("session_delete") { try await base.deleteSession(tokenHash: tokenHash) } }
    func deleteExpiredSessions(before date: Date) async throws -> Int {
        try await measure("session_purge") { try await base.deleteExpiredSessions(before: date) }
    }

    func insertProgram(_ program: Program, firstConfig: ConfigVersion) async throws {
        try await measure("program_insert") { try await base.insertProgram(program, firstConfig: firstConfig) }
    }
    func program(code: String) async throws -> Program? { try await measure("program_by_code") { try await base.program(code: code) } }
    func program(id: String) async throws -> Program? { try await measure("program_by_id") { try await base.program(id: id) } }
    func programs(after cursor: String?, limit: Int, onlyID: String?) async throws -> [Program] {
        try await measure("program_list") { try await base.programs(after: cursor, limit: limit, onlyID: onlyID) }
    }
    func appendConfigVersion(_ version: ConfigVersion, timeZone: String) async throws {
        try await measure("config_append") { try await base.appendConfigVersion(version, timeZone: timeZone) }
    }
    func configVersion(programID: String, number: Int) async throws -> ConfigVersion? {
        try await measure("config_by_number") { try await base.configVersion(programID: programID, number: number) }
    }
    func configVersions(programID: String, before: Int?, limit: Int) async throws -> [ConfigVersionSummary] {
        try await measure("config_list") { try await base.configVersions(programID: programID, before: before, limit: limit) }
    }

    func insertMember(_ member: Member, consentEvents: [ConsentEvent]) async throws {
        try await measure("member_insert") { try await base.insertMember(member, consentEvents: consentEvents) }
    }
    func member(programID: String, id: String) async throws -> Member? {
        try await measure("member_by_id") { try await base.member(programID: programID, id: id) }
    }
    func members(programID: String, matching query: MemberQuery, after cursor: String?, limit: Int) async throws -> [Member] {
        try await measure("member_list") {
            try await base.members(programID: programID, matching: query, after: cursor, limit: limit)
        }
    }
    func updateMember(_ member: Member, consentEvents: [ConsentEvent]) async throws {
        try await measure("member_update") { try await base.updateMember(member, consentEvents: consentEvents) }
    }
    func consentEvents(memberID: String) async throws -> [ConsentEvent] {
        try await measure("consent_events") { try await base.consentEvents(memberID: memberID) }
    }

    func claimIdempotencyKey(scope: String, key: String, fingerprint: String, at date: Date,
                             staleBefore: Date) async throws -> IdempotencyClaim {
        try await measure("idempotency_claim") {
            try await base.claimIdempotencyKey(scope: scope, key: key, fingerprint: fingerprint, at: date, staleBefore: staleBefore)
        }
    }
    func completeIdempotencyKey(scope: String, key: String, response: StoredResponse) async throws {
        try await measure("idempotency_complete") { try await base.completeIdempotencyKey(scope: scope, key: key, response: response) }
    }
    func releaseIdempotencyKey(scope: String, key: String) async throws {
        try await measure("idempotency_release") { try await base.releaseIdempotencyKey(scope: scope, key: key) }
    }
    func purgeIdempotencyKeys(createdBefore date: Date) async throws -> Int {
        try await measure("idempotency_purge") { try await base.purgeIdempotencyKeys(createdBefore: date) }
    }

    var maxConcurrentBatches: Int { base.maxConcurrentBatches }
    var maxBatchSize: Int { base.maxBatchSize }
    func perform(_ works: [LedgerWork]) async throws -> [Result<LedgerPlan, any Error>] {
        try await measure("ledger_batch") { try await base.perform(works) }
    }
    var blockingPerform: (@Sendable ([LedgerWork]) throws -> [Result<LedgerPlan, any Error>])? {
        base.blockingPerform.map { perform in
            { @Sendable [self] works in try measureBlocking("ledger_batch") { try perform(works) } }
        }
    }
    func ledgerSnapshot(_ read: LedgerRead) async throws -> LedgerSnapshot {
        try await measure("ledger_snapshot") { try await base.ledgerSnapshot(read) }
    }
    func transfers(programID: String, memberID: String, before: String?, limit: Int) async throws -> [Transfer] {
        try await measure("ledger_transfers") {
            try await base.transfers(programID: programID, memberID: memberID, before: before, limit: limit)
        }
    }
    func hold(programID: String, memberID: String, id: String) async throws -> Hold? {
        try await measure("ledger_hold") { try await base.hold(programID: programID, memberID: memberID, id: id) }
    }
    func transfer(programID: String, requestKey: String) async throws -> Transfer? {
        try await measure("ledger_transfer_by_key") { try await base.transfer(programID: programID, requestKey: requestKey) }
    }
    func hold(programID: String, requestKey: String) async throws -> Hold? {
        try await measure("ledger_hold_by_key") { try await base.hold(programID: programID, requestKey: requestKey) }
    }
    func transfer(programID: String, id: String) async throws -> Transfer? {
        try await measure("ledger_transfer") { try await base.transfer(programID: programID, id: id) }
    }
    func event(programID: String, clientID: String) async throws -> StoredEvent? {
        try await measure("ledger_event") { try await base.event(programID: programID, clientID: clientID) }
    }
    func events(programID: String, status: String, after: String?, limit: Int) async throws -> [StoredEvent] {
        try await measure("ledger_events") {
            try await base.events(programID: programID, status: status, after: after, limit: limit)
        }
    }
    func membersDue(programID: String, kind: DueKind, asOf: Date, after: String?, limit: Int) async throws -> [String] {
        try await measure("ledger_members_due") {
            try await base.membersDue(programID: programID, kind: kind, asOf: asOf, after: after, limit: limit)
        }
    }
    func ledgerMembers(programID: String, after: String?, limit: Int) async throws -> [String] {
        try await measure("ledger_members") { try await base.ledgerMembers(programID: programID, after: after, limit: limit) }
    }
    func ledgerHistory(programID: String, memberID: String) async throws -> MemberLedgerHistory {
        try await measure("ledger_history") { try await base.ledgerHistory(programID: programID, memberID: memberID) }
    }
    func ledgerRowCounts(programID: String) async throws -> LedgerRowCounts {
        try await measure("ledger_row_counts") { try await base.ledgerRowCounts(programID: programID) }
    }

    func storedRecordBreaches(programID: String) async throws -> [String] {
        try await measure("stored_record_breaches") { try await base.storedRecordBreaches(programID: programID) }
    }
    func strayRecordBreaches() async throws -> [String] {
        try await measure("stray_record_breaches") { try await base.strayRecordBreaches() }
    }

    func qualifyingValue(programID: String, memberID: String, metric: TierPolicy.Metric, from: Date?, through: Date)
        async throws -> Int64 {
        try await measure("tier_qualifying_value") {
            try await base.qualifyingValue(programID: programID, memberID: memberID, metric: metric, from: from, through: through)
        }
    }
    func recordTierChange(_ change: TierChange, tier: MemberTier) async throws {
        try await measure("tier_change") { try await base.recordTierChange(change, tier: tier) }
    }
    func tierChanges(memberID: String, before cursor: String?, limit: Int) async throws -> [TierChange] {
        try await measure("tier_history") { try await base.tierChanges(memberID: memberID, before: cursor, limit: limit) }
    }
    func tieredMembers(programID: String, assignmentEndsBy: Date?, after cursor: String?, limit: Int) async throws
        -> [Member] {
        try await measure("tier_members") {
            try await base.tieredMembers(programID: programID, assignmentEndsBy: assignmentEndsBy, after: cursor, limit: limit)
        }
    }
    func lastTierReview(programID: String) async throws -> Date? {
        try await measure("tier_last_review") { try await base.lastTierReview(programID: programID) }
    }
    func recordTierReview(_ review: TierReviewRecord) async throws {
        try await measure("tier_review_record") { try await base.recordTierReview(review) }
    }
    func eventHistory(programID: String, before: Date) async throws -> SimulationHistory {
        try await measure("event_history") { try await base.eventHistory(programID: programID, before: before) }
    }
    func useBenefit(_ use: BenefitUse, limit: Int64) async throws -> BenefitUseOutcome {
        try await measure("benefit_use") { try await base.useBenefit(use, limit: limit) }
    }
    func entitlementState(programID: String, memberID: String, periods: [String: Date]) async throws -> EntitlementState? {
        try await measure("entitlement_state") {
            try await base.entitlementState(programID: programID, memberID: memberID, periods: periods)
        }
    }
    func grantBenefit(_ grant: BenefitGrant) async throws -> Bool {
        try await measure("benefit_grant") { try await base.grantBenefit(grant) }
    }

    func insertSubscription(_ subscription: Subscription, payment: SubscriptionPayment) async throws {
        try await measure("subscription_insert") { try await base.insertSubscription(subscription, payment: payment) }
    }
    func updateSubscription(_ subscription: Subscription, payment: SubscriptionPayment?) async throws {
        try await measure("subscription_update") { try await base.updateSubscription(subscription, payment: payment) }
    }
    func subscription(programID: String, id: String) async throws -> Subscription? {
        try await measure("subscription_by_id") { try await base.subscription(programID: programID, id: id) }
    }
    func subscriptions(memberID: String) async throws -> [Subscription] {
        try await measure("subscription_list") { try await base.subscriptions(memberID: memberID) }
    }
    func unpaidPlanRewards(programID: String, recordedIn window: Range<Date>, limit: Int) async throws
        -> [(payment: SubscriptionPayment, memberID: String)] {
        try await measure("unpaid_plan_rewards") {
            try await base.unpaidPlanRewards(programID: programID, recordedIn: window, limit: limit)
        }
    }

    func subscriptionPayments(subscriptionID: String) async throws -> [SubscriptionPayment] {
        try await measure("subscription_payments") { try await base.subscriptionPayments(subscriptionID: subscriptionID) }
    }

    func qualifyingSpend(memberID: String, in spans: [DateInterval]) async throws -> Int64 {
        try await measure("qualifying_spend") { try await base.qualifyingSpend(memberID: memberID, in: spans) }
    }
    func subscriptionPayment(programID: String, paymentRef: String) async throws -> (SubscriptionPayment, Subscription)? {
        try await measure("subscription_payment") {
            try await base.subscriptionPayment(programID: programID, paymentRef: paymentRef)
        }
    }
    func subscriptionsEnded(programID: String, asOf: Date, after cursor: String?, limit: Int) async throws -> [Subscription] {
        try await measure("subscriptions_ended") {
            try await base.subscriptionsEnded(programID: programID, asOf: asOf, after: cursor, limit: limit)
        }
    }

    // MARK: - The dashboard's counts

    func enrolments(programID: String, boundaries: [Date]) async throws -> [Int: Int] {
        try await measure("analytics_enrolments") { try await base.enrolments(programID: programID, boundaries: boundaries) }
    }
    func memberCount(programID: String) async throws -> Int {
        try await measure("analytics_members") { try await base.memberCount(programID: programID) }
    }
    func activeMembers(programID: String, since: Date) async throws -> Int {
        try await measure("analytics_active") { try await base.activeMembers(programID: programID, since: since) }
    }
    func membersPerLevel(programID: String) async throws -> [String?: Int] {
        try await measure("analytics_levels") { try await base.membersPerLevel(programID: programID) }
    }
    func pointFlows(programID: String, boundaries: [Date]) async throws -> [PointFlow] {
        try await measure("analytics_points") { try await base.pointFlows(programID: programID, boundaries: boundaries) }
    }
    func activeSubscriptions(programID: String, at instant: Date) async throws -> [String: Int] {
        try await measure("analytics_plans") { try await base.activeSubscriptions(programID: programID, at: instant) }
    }

    // MARK: - The member portal

    func insertPortalCode(_ code: PortalCode, message: OutboxMessage) async throws {
        try await measure("portal_code_insert") { try await base.insertPortalCode(code, message: message) }
    }
    func portalCodes(programID: String, recipient: String, since: Date) async throws -> [PortalCode] {
        try await measure("portal_codes") { try await base.portalCodes(programID: programID, recipient: recipient, since: since) }
    }
    func recordPortalAttempt(codeID: String) async throws -> Int? {
        try await measure("portal_code_attempt") { try await base.recordPortalAttempt(codeID: codeID) }
    }
    func consumePortalCode(codeID: String, at date: Date) async throws -> Bool {
        try await measure("portal_code_consume") { try await base.consumePortalCode(codeID: codeID, at: date) }
    }
    func insertPortalSession(_ session: PortalSession) async throws {
        try await measure("portal_session_insert") { try await base.insertPortalSession(session) }
    }
    func portalSession(tokenHash: String, at date: Date) async throws -> PortalSession? {
        try await measure("portal_session") { try await base.portalSession(tokenHash: tokenHash, at: date) }
    }
    func deletePortalSession(tokenHash: String) async throws {
        try await measure("portal_session_delete") { try await base.deletePortalSession(tokenHash: tokenHash) }
    }
    func deleteExpiredPortalState(before date: Date) async throws -> Int {
        try await measure("portal_purge") { try await base.deleteExpiredPortalState(before: date) }
    }
    func outboxMessages(limit: Int) async throws -> [OutboxMessage] {
        try await measure("outbox_list") { try await base.outboxMessages(limit: limit) }
    }
}
