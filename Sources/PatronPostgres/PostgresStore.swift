import Foundation
import Logging
import PatronCore
import PatronEngine
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The production store: PostgreSQL through one `PostgresClient` pool per process, run as a service.
/// Any number of Patron nodes may share the database: every invariant is held by constraints,
/// guarded updates or row locks inside one transaction.
public final class PostgresStore: PatronStore, Service {
    let client: PostgresClient
    let logger: Logger
    public let displayName: String
    /// The connections the pool may open.
    let maximumConnections: Int
    /// The pool's connections on which the batch write statement has run once: prepared for good
    /// (see `write(_:on:)`).
    let writePrepared = Mutex<Set<PostgresConnection.ID>>([])

    public init(configuration: PostgresClient.Configuration, displayName: String, logger: Logger) {
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.maximumConnections = configuration.options.maximumConnections
        self.logger = logger
        self.displayName = displayName
    }

    /// Runs the connection pool until cancelled (graceful shutdown).
    public func run() async throws {
        await client.run()
    }

    public func migrate() async throws {
        try await client.query("""
            CREATE TABLE IF NOT EXISTS patron_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)
            """, logger: logger)
        try await client.withTransaction(logger: logger) { connection in
            // Nodes starting together take turns; the second finds the work done.
            try await connection.query("SELECT pg_advisory_xact_lock(7263001)", logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM patron_migrations", logger: logger)
                .decode(String.self) {
                applied.insert(name)
            }
            for migration in PostgresMigrations.all where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("""
                    INSERT INTO patron_migrations (name, applied_at) VALUES (\(migration.name), now())
                    """, logger: logger)
            }
        }
    }

    public func checkHealth() async throws {
        try await client.query("SELECT 1", logger: logger)
    }

    /// Runs `work` in a transaction; errors thrown inside come out unwrapped, and unique violations
    /// become `StoreError.duplicate`. After `work` throws `UnusableConnection`, the transaction is
    /// rolled back and the connection closed, so that the pool opens another in its place.
    func transaction<T: Sendable>(_ work: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await translatingConstraints {
                try await client.withConnection { connection in
                    do {
                        return try await connection.withTransaction(logger: logger) { connection in try await work(connection) }
                    } catch let error as PostgresTransactionError where error.closureError is UnusableConnection {
                        // Closed after the rollback: closed inside the transaction, the rollback's query
                        // on it never returned.
                        try? await connection.close()
                        throw error
                    }
                }
            }
        } catch let error as PostgresTransactionError {
            if let unusable = error.closureError as? UnusableConnection { throw Self.translate(unusable.error) }
            if let closureError = error.closureError { throw Self.translate(closureError) }
            throw Self.translate(error.beginError ?? error.commitError ?? error)
        }
    }

    func translatingConstraints<T>(_ work: () async throws -> T) async throws -> T {
        do { return try await work() } catch { throw Self.translate(error) }
    }

    static func translate(_ error: any Error) -> any Error {
        if let error = error as? PSQLError, error.serverInfo?[.sqlState] == "23505" {
            return StoreError.duplicate(constraint: error.serverInfo?[.constraintName] ?? "unique")
        }
        return error
    }

    func rows(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [PostgresRandomAccessRow] {
        let sequence = if let connection {
            try await connection.query(query, logger: logger)
        } else {
            try await client.query(query, logger: logger)
        }
        var rows: [PostgresRandomAccessRow] = []
        for try await row in sequence { rows.append(row.makeRandomAccess()) }
        return rows
    }

    /// Runs a statement and returns the number of rows it returned: a write counts the rows it
    /// changed only with `RETURNING`.
    func execute(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Int {
        var count = 0
        for try await _ in try await connection.query(query, logger: logger) { count += 1 }
        return count
    }
}

// MARK: - API keys

extension PostgresStore {
    public func insertAPIKey(_ key: APIKey) async throws {
        _ = try await translatingConstraints {
            try await client.query("""
                INSERT INTO api_keys (id, name, role, program_id, secret_hash, prefix, origin, created_at, revoked_at)
                VALUES (\(key.id), \(key.name), \(key.role.rawValue), \(key.programID), \(key.secretHash), \(key.prefix),
                        \(key.origin), \(key.createdAt), \(key.revokedAt))
                """, logger: logger)
        }
    }

    public func apiKey(secretHash: String) async throws -> APIKey? {
        try await rows("SELECT * FROM api_keys WHERE secret_hash = \(secretHash)").first.map(Self.apiKey)
    }

    public func apiKey(id: String) async throws -> APIKey? {
        try await rows("SELECT * FROM api_keys WHERE id = \(id)").first.map(Self.apiKey)
    }

    public func apiKeys(after cursor: String?, limit: Int) async throws -> [APIKey] {
        try await rows("SELECT * FROM api_keys WHERE id > \(cursor ?? "") ORDER BY id LIMIT \(limit)").map(Self.apiKey)
    }

    public func revokeAPIKey(id: String, at date: Date) async throws -> Bool {
        try await rows("""
            UPDATE api_keys SET revoked_at = \(date) WHERE id = \(id) AND revoked_at IS NULL RETURNING id
            """).count == 1
    }

    public func activeOwnerKeyCount() async throws -> Int {
        try await rows("SELECT count(*)::bigint AS n FROM api_keys WHERE role = 'owner' AND revoked_at IS NULL")
            .first?["n"].decode(Int.self) ?? 0
    }

    static func apiKey(_ row: PostgresRandomAccessRow) throws -> APIKey {
        APIKey(id: try row["id"].decode(String.self), name: try row["name"].decode(String.self),
               role: try decode(Role.self, row["role"]), programID: try row["program_id"].decode(String?.self),
               secretHash: try row["secret_hash"].decode(String.self), prefix: try row["prefix"].decode(String.self),
               origin: try row["origin"].decode(String.self), createdAt: try row["created_at"].decode(Date.self),
               revokedAt: try row["revoked_at"].decode(Date?.self))
    }
}

// MARK: - Programs

extension PostgresStore {
    public func insertProgram(_ program: Program, firstConfig: ConfigVersion) async throws {
        try await transaction { connection in
            try await connection.query("""
                INSERT INTO programs (id, code, name, currency, time_zone, config_version, created_at)
                VALUES (\(program.id), \(program.code), \(program.name), \(program.currency), \(program.timeZone),
                        \(firstConfig.number), \(program.createdAt))
                """, logger: logger)
            try await insert(firstConfig, on: connection)
        }
    }

    public func program(code: String) async throws -> Program? {
        try await rows("SELECT * FROM programs WHERE code = \(code)").first.map(Self.program)
    }

    public func program(id: String) async throws -> Program? {
        try await rows("SELECT * FROM programs WHERE id = \(id)").first.map(Self.program)
    }

    public func programs(after cursor: String?, limit: Int, onlyID: String?) async throws -> [Program] {
        try await rows("""
            SELECT * FROM programs WHERE id > \(cursor ?? "") AND (\(onlyID)::text IS NULL OR id = \(onlyID))
            ORDER BY id LIMIT \(limit)
            """).map(Self.program)
    }

    public func appendConfigVersion(_ version: ConfigVersion, timeZone: String) async throws {
        try await transaction { connection in
            let changed = try await execute("""
                UPDATE programs SET config_version = \(version.number), time_zone = \(timeZone)
                WHERE id = \(version.programID) AND config_version = \(version.number - 1) RETURNING id
                """, on: connection)
            guard changed == 1 else { throw StoreError.concurrentUpdate }
            try await insert(version, on: connection)
        }
    }

    public func configVersion(programID: String, number: Int) async throws -> ConfigVersion? {
        guard let row = try await rows("""
            SELECT * FROM config_versions WHERE program_id = \(programID) AND number = \(number)
            """).first else { return nil }
        return ConfigVersion(programID: try row["program_id"].decode(String.self), number: try row["number"].decode(Int.self),
                             document: try JSONValue(parsing: Data(try row["document"].decode(String.self).utf8)),
                             createdBy: try row["created_by"].decode(String.self),
                             createdAt: try row["created_at"].decode(Date.self))
    }

    public func configVersions(programID: String, before: Int?, limit: Int) async throws -> [ConfigVersionSummary] {
        try await rows("""
            SELECT number, created_by, created_at FROM config_versions
            WHERE program_id = \(programID) AND number < \(before ?? Int(Int32.max)) ORDER BY number DESC LIMIT \(limit)
            """).map { row in
            ConfigVersionSummary(number: try row["number"].decode(Int.self), createdBy: try row["created_by"].decode(String.self),
                                 createdAt: try row["created_at"].decode(Date.self))
        }
    }

    func insert(_ version: ConfigVersion, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO config_versions (program_id, number, document, created_by, created_at)
            VALUES (\(version.programID), \(version.number), \(version.document.canonicalString()), \(version.createdBy),
                    \(version.createdAt))
            """, logger: logger)
    }

    static func program(_ row: PostgresRandomAccessRow) throws -> Program {
        Program(id: try row["id"].decode(String.self), code: try row["code"].decode(String.self),
                name: try row["name"].decode(String.self), currency: try row["currency"].decode(String.self),
                timeZone: try row["time_zone"].decode(String.self), configVersion: try row["config_version"].decode(Int.self),
                createdAt: try row["created_at"].decode(Date.self))
    }
}

// MARK: - Members

extension PostgresStore {
    public func insertMember(_ member: Member, consentEvents: [ConsentEvent]) async throws {
        try await transaction { connection in
            try await connection.query("""
                INSERT INTO members (id, program_id, external_id, status, name, phone, email, birthday, gender, region,
                    channel, attributes, consents, enrolled_at, updated_at, erased_at, revision, kind, organisation_id)
                VALUES (\(member.id), \(member.programID), \(member.externalID), \(member.status.rawValue),
                    \(member.profile.name), \(member.profile.phone), \(member.profile.email), \(member.profile.birthday),
                    \(member.profile.gender?.rawValue), \(member.profile.region), \(member.channel.rawValue),
                    \(StoredForms.encode(attributes: member.attributes)), \(StoredForms.encode(consents: member.consents)),
                    \(member.enrolledAt), \(member.updatedAt), \(member.erasedAt), \(member.revision),
                    \(member.kind.rawValue), \(member.organisationID))
                """, logger: logger)
            try await insert(consentEvents, on: connection)
        }
    }

    public func member(programID: String, id: String) async throws -> Member? {
        try await rows("SELECT * FROM members WHERE program_id = \(programID) AND id = \(id)").first.map(Self.member)
    }

    public func members(programID: String, matching query: MemberQuery, after cursor: String?,
                        limit: Int) async throws -> [Member] {
        try await rows("""
            SELECT * FROM members
            WHERE program_id = \(programID) AND id > \(cursor ?? "")
              AND (\(query.externalID)::text IS NULL OR external_id = \(query.externalID))
              AND (\(query.phone)::text IS NULL OR phone = \(query.phone))
              AND (\(query.email)::text IS NULL OR email = \(query.email))
              AND (\(query.nameContains)::text IS NULL OR strpos(patron_fold(name), patron_fold(\(query.nameContains))) > 0)
              AND (\(query.kind?.rawValue)::text IS NULL OR kind = \(query.kind?.rawValue))
              AND (\(query.organisationID)::text IS NULL OR organisation_id = \(query.organisationID))
              AND (\(query.includeErased) OR status = 'active')
            ORDER BY id LIMIT \(limit)
            """).map(Self.member)
    }

    public func updateMember(_ member: Member, consentEvents: [ConsentEvent]) async throws {
        try await transaction { connection in
            let changed = try await execute("""
                UPDATE members SET external_id = \(member.externalID), status = \(member.status.rawValue),
                    name = \(member.profile.name), phone = \(member.profile.phone), email = \(member.profile.email),
                    birthday = \(member.profile.birthday), gender = \(member.profile.gender?.rawValue),
                    region = \(member.profile.region), channel = \(member.channel.rawValue),
                    attributes = \(StoredForms.encode(attributes: member.attributes)),
                    consents = \(StoredForms.encode(consents: member.consents)), updated_at = \(member.updatedAt),
                    erased_at = \(member.erasedAt), revision = \(member.revision),
                    organisation_id = \(member.organisationID)
                WHERE id = \(member.id) AND program_id = \(member.programID) AND revision = \(member.revision - 1)
                RETURNING id
                """, on: connection)
            guard changed == 1 else { throw StoreError.concurrentUpdate }
            try await insert(consentEvents, on: connection)
        }
    }

    public func consentEvents(memberID: String) async throws -> [ConsentEvent] {
        try await rows("SELECT * FROM consent_events WHERE member_id = \(memberID) ORDER BY id").map { row in
            ConsentEvent(memberID: try row["member_id"].decode(String.self), purpose: try row["purpose"].decode(String.self),
                         granted: try row["granted"].decode(Bool.self), at: try row["at"].decode(Date.self),
                         source: try row["source"].decode(String.self))
        }
    }

    func insert(_ events: [ConsentEvent], on connection: PostgresConnection) async throws {
        for event in events {
            try await connection.query("""
                INSERT INTO consent_events (member_id, purpose, granted, at, source)
                VALUES (\(event.memberID), \(event.purpose), \(event.granted), \(event.at), \(event.source))
                """, logger: logger)
        }
    }

    /// The member's recorded level, from a row with the `tier…` columns.
    static func memberTier(_ row: PostgresRandomAccessRow) throws -> MemberTier? {
        try row["tier"].decode(String?.self).map { level in
            MemberTier(level: level, since: try row["tier_since"].decode(Date.self),
                       manualUntil: try row["tier_until"].decode(Date?.self), version: try row["tier_version"].decode(Int.self))
        }
    }

    static func member(_ row: PostgresRandomAccessRow) throws -> Member {
        Member(id: try row["id"].decode(String.self), programID: try row["program_id"].decode(String.self),
               externalID: try row["external_id"].decode(String?.self), status: try decode(MemberStatus.self, row["status"]),
               kind: try decode(MemberKind.self, row["kind"]), organisationID: try row["organisation_id"].decode(String?.self),
               profile: MemberProfile(name: try row["name"].decode(String?.self), phone: try row["phone"].decode(String?.self),
                                      email: try row["email"].decode(String?.self),
                                      birthday: try row["birthday"].decode(String?.self),
                                      gender: try row["gender"].decode(String?.self).flatMap(Gender.init),
                                      region: try row["region"].decode(String?.self)),
               channel: try decode(EnrolmentChannel.self, row["channel"]),
               attributes: try StoredForms.decodeAttributes(try row["attributes"].decode(String.self)),
               consents: try StoredForms.decodeConsents(try row["consents"].decode(String.self)),
               enrolledAt: try row["enrolled_at"].decode(Date.self), updatedAt: try row["updated_at"].decode(Date.self),
               erasedAt: try row["erased_at"].decode(Date?.self), revision: try row["revision"].decode(Int.self),
               tier: try memberTier(row),
               planCode: try row["plan"].decode(String?.self), planUntil: try row["plan_until"].decode(Date?.self))
    }
}

// MARK: - Idempotency

extension PostgresStore {
    public func claimIdempotencyKey(scope: String, key: String, fingerprint: String, at date: Date,
                                    staleBefore: Date) async throws -> IdempotencyClaim {
        try await transaction { connection in
            let inserted = try await execute("""
                INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES (\(scope), \(key), \(fingerprint), \(date))
                ON CONFLICT (scope, key) DO NOTHING RETURNING key
                """, on: connection)
            if inserted == 1 { return .claimed }
            guard let row = try await rows("""
                SELECT * FROM idempotency_keys WHERE scope = \(scope) AND key = \(key) FOR UPDATE
                """, on: connection).first else { return .inProgress }
            guard try row["fingerprint"].decode(String.self) == fingerprint else { return .mismatch }
            if let status = try row["status"].decode(Int?.self) {
                return .replay(StoredResponse(status: status, contentType: try row["content_type"].decode(String?.self),
                                              location: try row["location"].decode(String?.self),
                                              body: try row["body"].decode(Data.self)))
            }
            guard try row["created_at"].decode(Date.self) < staleBefore else { return .inProgress }
            _ = try await execute("""
                UPDATE idempotency_keys SET created_at = \(date) WHERE scope = \(scope) AND key = \(key) AND status IS NULL
                """, on: connection)
            return .claimed
        }
    }

    public func completeIdempotencyKey(scope: String, key: String, response: StoredResponse) async throws {
        try await client.query("""
            UPDATE idempotency_keys SET status = \(response.status), content_type = \(response.contentType),
                location = \(response.location), body = \(response.body)
            WHERE scope = \(scope) AND key = \(key) AND status IS NULL
            """, logger: logger)
    }

    public func releaseIdempotencyKey(scope: String, key: String) async throws {
        try await client.query("DELETE FROM idempotency_keys WHERE scope = \(scope) AND key = \(key) AND status IS NULL",
                               logger: logger)
    }

    public func purgeIdempotencyKeys(createdBefore date: Date) async throws -> Int {
        try await rows("DELETE FROM idempotency_keys WHERE created_at < \(date) RETURNING key").count
    }
}

/// Reads an enum stored as its raw value.
func decode<T: RawRepresentable>(_ type: T.Type, _ cell: PostgresCell) throws -> T where T.RawValue == String {
    let raw = try cell.decode(String.self)
    guard let value = T(rawValue: raw) else {
        throw UnexpectedStoredValue(type: "\(T.self)", value: raw)
    }
    return value
}

/// A stored value outside its enum: the database was edited by hand.
struct UnexpectedStoredValue: Error {
    var type: String
    var value: String
}
