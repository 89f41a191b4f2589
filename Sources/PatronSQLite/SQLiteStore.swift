import CSQLiteLogBuffer
import Foundation
import GRDB
import GRDBSQLite
import PatronCore
import PatronEngine

/// The embedded store: one SQLite file in WAL mode through a GRDB `DatabasePool` (one writer,
/// concurrent readers). `synchronous=FULL` makes every acknowledged commit durable.
public final class SQLiteStore: PatronStore {
    let pool: DatabasePool
    /// The database file.
    let path: String
    public let displayName: String
    /// The writer connection's page cache, in KiB.
    static let writerCacheKiB = 65_536
    /// Checkpoints the log off the writer's path.
    private let checkpointer: WALCheckpointer

    /// Opens (creating if needed) the database file at `path`.
    public convenience init(path: String) throws {
        try self.init(path: path, logLengths: .standard)
    }

    /// Opens the database file at `path`, copying its log back at `logLengths`.
    init(path: String, logLengths: WALCheckpointer.Lengths) throws {
        let checkpointer = WALCheckpointer(path: path, lengths: logLengths)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // The writer's pages: a batch of events touches the member-keyed index pages all over
            // the file, and with SQLite's default 2 MB cache a quarter of its CPU went to reading
            // them back (docs/PERFORMANCE.md). Readers keep the default.
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)")
                try checkpointer.watch(writer: db)
            }
        }
        // Installed before any connection opens the log, so that the writer's log can buffer, and
        // before any opens at all, so that SQLite counts no memory (CSQLiteLogBuffer.h).
        try Self.check(patron_log_buffer_install(), "installing the log's write buffer")
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { db in
            // Every commit syncs the log before it returns, so an answered write is on disk. This
            // comes after the pool is open: turning WAL on, GRDB sets the writer to NORMAL (synced
            // only at checkpoints), over whatever `prepareDatabase` set.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Since it does, the log's frames may wait in memory until that sync and reach the file
            // in a few large writes (CSQLiteLogBuffer.h). The log is open once the file is read.
            _ = try db.value("SELECT count(*) FROM sqlite_schema", as: Int.self)
            try Self.check(patron_log_buffer_enable(db.sqliteConnection), "buffering the log's writes")
        }
        self.checkpointer = checkpointer
        self.path = path
        displayName = "sqlite:\(path)"
    }

    deinit {
        checkpointer.close()
    }

    /// How many times the database file's writeback was started as pages were written into it
    /// (CSQLiteLogBuffer.h), while the store has had it open.
    var databaseWritebackStarts: Int64 { Int64(patron_database_writeback_starts(path)) }

    private static func check(_ code: Int32, _ doing: String) throws {
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "\(doing) failed")
        }
    }

    public func migrate() async throws {
        try SQLiteMigrations.migrator.migrate(pool)
    }

    public func checkHealth() async throws {
        _ = try await pool.read { db in try db.value("SELECT 1", as: Int.self) }
    }

    /// Maps SQLite's unique-constraint failure to the contract's error.
    func translatingConstraints<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.duplicate(constraint: error.message ?? "unique")
        }
    }
}

// MARK: - API keys

extension SQLiteStore {
    public func insertAPIKey(_ key: APIKey) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    INSERT INTO api_keys (id, name, role, program_id, secret_hash, prefix, origin, created_at, revoked_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [key.id, key.name, key.role.rawValue, key.programID, key.secretHash, key.prefix,
                          key.origin, Timestamp.milliseconds(key.createdAt),
                          key.revokedAt.map(Timestamp.milliseconds)])
            }
        }
    }

    public func apiKey(secretHash: String) async throws -> APIKey? {
        try await pool.read { db in
            try db.row("SELECT * FROM api_keys WHERE secret_hash = ?", [secretHash]).map(Self.apiKey)
        }
    }

    public func apiKey(id: String) async throws -> APIKey? {
        try await pool.read { db in
            try db.row("SELECT * FROM api_keys WHERE id = ?", [id]).map(Self.apiKey)
        }
    }

    public func apiKeys(after cursor: String?, limit: Int) async throws -> [APIKey] {
        try await pool.read { db in
            try db.rows("SELECT * FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
                        [cursor ?? "", limit]).map(Self.apiKey)
        }
    }

    public func revokeAPIKey(id: String, at date: Date) async throws -> Bool {
        try await pool.write { db in
            try db.run("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                       [Timestamp.milliseconds(date), id])
            return db.changesCount == 1
        }
    }

    public func activeOwnerKeyCount() async throws -> Int {
        try await pool.read { db in
            try db.value("SELECT count(*) FROM api_keys WHERE role = 'owner' AND revoked_at IS NULL", as: Int.self) ?? 0
        }
    }

    static func apiKey(_ row: Row) throws -> APIKey {
        APIKey(id: row["id"], name: row["name"], role: try decode(Role.self, row["role"]), programID: row["program_id"],
               secretHash: row["secret_hash"], prefix: row["prefix"], origin: row["origin"],
               createdAt: Timestamp.date(milliseconds: row["created_at"]),
               revokedAt: (row["revoked_at"] as Int64?).map(Timestamp.date(milliseconds:)))
    }
}

// MARK: - Programs

extension SQLiteStore {
    public func insertProgram(_ program: Program, firstConfig: ConfigVersion) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    INSERT INTO programs (id, code, name, currency, time_zone, config_version, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, [program.id, program.code, program.name, program.currency, program.timeZone,
                          firstConfig.number, Timestamp.milliseconds(program.createdAt)])
                try Self.insert(firstConfig, db)
            }
        }
    }

    public func program(code: String) async throws -> Program? {
        try await pool.read { db in
            try db.row("SELECT * FROM programs WHERE code = ?", [code]).map(Self.program)
        }
    }

    public func program(id: String) async throws -> Program? {
        try await pool.read { db in
            try db.row("SELECT * FROM programs WHERE id = ?", [id]).map(Self.program)
        }
    }

    public func programs(after cursor: String?, limit: Int, onlyID: String?) async throws -> [Program] {
        try await pool.read { db in
            try db.rows("""
                SELECT * FROM programs WHERE id > ? AND (? IS NULL OR id = ?) ORDER BY id LIMIT ?
                """, [cursor ?? "", onlyID, onlyID, limit]).map(Self.program)
        }
    }

    public func appendConfigVersion(_ version: ConfigVersion, timeZone: String) async throws {
        try await pool.write { db in
            try db.run("""
                UPDATE programs SET config_version = ?, time_zone = ? WHERE id = ? AND config_version = ?
                """, [version.number, timeZone, version.programID, version.number - 1])
            guard db.changesCount == 1 else { throw StoreError.concurrentUpdate }
            try Self.insert(version, db)
        }
    }

    public func configVersion(programID: String, number: Int) async throws -> ConfigVersion? {
        try await pool.read { db in
            guard let row = try db.row("SELECT * FROM config_versions WHERE program_id = ? AND number = ?",
                                       [programID, number]) else { return nil }
            return ConfigVersion(programID: row["program_id"], number: row["number"],
                                 document: try JSONValue(parsing: Data((row["document"] as String).utf8)),
                                 createdBy: row["created_by"], createdAt: Timestamp.date(milliseconds: row["created_at"]))
        }
    }

    public func configVersions(programID: String, before: Int?, limit: Int) async throws -> [ConfigVersionSummary] {
        try await pool.read { db in
            try db.rows("""
                SELECT number, created_by, created_at FROM config_versions
                WHERE program_id = ? AND number < ? ORDER BY number DESC LIMIT ?
                """, [programID, before ?? Int.max, limit]).map { row in
                ConfigVersionSummary(number: row["number"], createdBy: row["created_by"],
                                     createdAt: Timestamp.date(milliseconds: row["created_at"]))
            }
        }
    }

    static func insert(_ version: ConfigVersion, _ db: Database) throws {
        try db.run("""
            INSERT INTO config_versions (program_id, number, document, created_by, created_at) VALUES (?, ?, ?, ?, ?)
            """, [version.programID, version.number, version.document.canonicalString(), version.createdBy,
                  Timestamp.milliseconds(version.createdAt)])
    }

    static func program(_ row: Row) -> Program {
        Program(id: row["id"], code: row["code"], name: row["name"], currency: row["currency"],
                timeZone: row["time_zone"], configVersion: row["config_version"],
                createdAt: Timestamp.date(milliseconds: row["created_at"]))
    }
}

// MARK: - Members

extension SQLiteStore {
    public func insertMember(_ member: Member, consentEvents: [ConsentEvent]) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    INSERT INTO members (id, program_id, external_id, status, name, phone, email, birthday, gender, region,
                        channel, attributes, consents, organisation_id, enrolled_at, updated_at, erased_at, revision, kind)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, StatementArguments([member.id, member.programID] + Self.mutableColumns(member)
                        + [member.enrolledAt, member.updatedAt, member.erasedAt].map { $0.map(Timestamp.milliseconds) }
                        + [member.revision, member.kind.rawValue]))
                try Self.insert(consentEvents, db)
            }
        }
    }

    public func member(programID: String, id: String) async throws -> Member? {
        try await pool.read { db in try Self.member(programID: programID, id: id, db) }
    }

    static func member(programID: String, id: String, _ db: Database) throws -> Member? {
        try members(db, "SELECT \(memberColumns) FROM members WHERE program_id = ? AND id = ?", programID, id).first
    }

    /// The members `sql`, which selects `memberColumns`, returns with `values` bound in order.
    static func members<each Value: DirectBindable>(_ db: Database, _ sql: String, _ values: repeat each Value) throws
        -> [Member] {
        var members: [Member] = []
        try db.direct(sql, repeat each values) { row in members.append(try member(row)) }
        return members
    }

    public func members(programID: String, matching query: MemberQuery, after cursor: String?,
                        limit: Int) async throws -> [Member] {
        try await pool.read { db in
            try Self.members(db, """
                SELECT \(Self.memberColumns) FROM members
                WHERE program_id = ? AND id > ?
                  AND (? IS NULL OR external_id = ?) AND (? IS NULL OR phone = ?) AND (? IS NULL OR email = ?)
                  AND (? IS NULL OR instr(swiftLowercaseString(name), swiftLowercaseString(?)) > 0) AND (? IS NULL OR kind = ?) AND (? IS NULL OR organisation_id = ?)
                  AND (? OR status = 'active')
                ORDER BY id LIMIT ?
                """, programID, cursor ?? "", query.externalID, query.externalID, query.phone, query.phone,
                query.email, query.email, query.nameContains, query.nameContains, query.kind?.rawValue, query.kind?.rawValue,
                query.organisationID, query.organisationID, query.includeErased ? 1 : 0, limit)
        }
    }

    public func updateMember(_ member: Member, consentEvents: [ConsentEvent]) async throws {
        try await translatingConstraints {
            try await pool.write { db in
                try db.run("""
                    UPDATE members SET external_id = ?, status = ?, name = ?, phone = ?, email = ?, birthday = ?,
                        gender = ?, region = ?, channel = ?, attributes = ?, consents = ?, organisation_id = ?,
                        updated_at = ?, erased_at = ?, revision = ?
                    WHERE id = ? AND program_id = ? AND revision = ?
                    """, StatementArguments(Self.mutableColumns(member)
                        + [member.updatedAt, member.erasedAt].map { $0.map(Timestamp.milliseconds) }
                        + [member.revision, member.id, member.programID, member.revision - 1]))
                guard db.changesCount == 1 else { throw StoreError.concurrentUpdate }
                try Self.insert(consentEvents, db)
            }
        }
    }

    public func consentEvents(memberID: String) async throws -> [ConsentEvent] {
        try await pool.read { db in
            try db.rows("SELECT * FROM consent_events WHERE member_id = ? ORDER BY id",
                        [memberID]).map { row in
                ConsentEvent(memberID: row["member_id"], purpose: row["purpose"], granted: row["granted"],
                             at: Timestamp.date(milliseconds: row["at"]), source: row["source"])
            }
        }
    }

    /// external_id … organisation_id, in column order.
    static func mutableColumns(_ member: Member) -> [(any DatabaseValueConvertible)?] {
        [member.externalID, member.status.rawValue, member.profile.name, member.profile.phone, member.profile.email,
         member.profile.birthday, member.profile.gender?.rawValue, member.profile.region, member.channel.rawValue,
         StoredForms.encode(attributes: member.attributes), StoredForms.encode(consents: member.consents),
         member.organisationID]
    }

    static func insert(_ events: [ConsentEvent], _ db: Database) throws {
        for event in events {
            try db.run("INSERT INTO consent_events (member_id, purpose, granted, at, source) VALUES (?, ?, ?, ?, ?)",
                       [event.memberID, event.purpose, event.granted, Timestamp.milliseconds(event.at),
                                       event.source])
        }
    }

    /// The member's recorded level, from a row with the `tier…` columns. `decode` throws on a
    /// NULL where the subscript would stop the process.
    static func memberTier(_ row: Row) throws -> MemberTier? {
        try memberTier(level: row["tier"], since: try row.decode(Int64.self, forColumn: "tier_since"),
                       until: row["tier_until"], version: try row.decode(Int.self, forColumn: "tier_version"))
    }

    /// `since` is read only when there is a level.
    private static func memberTier(level: String?, since: @autoclosure () throws -> Int64, until: Int64?,
                                   version: Int) throws -> MemberTier? {
        try level.map { level in
            MemberTier(level: level, since: Timestamp.date(milliseconds: try since()),
                       manualUntil: until.map(Timestamp.date(milliseconds:)), version: version)
        }
    }

    /// The members table's columns in the order `member(_:)` reads them. Read by position and
    /// directly (Database+Direct.swift): by name, GRDB lowercases and hashes each column's name for
    /// every row, which was half the cost of reading the member of each event posted, and GRDB's
    /// rows were most of what was left (docs/PERFORMANCE.md).
    static let memberColumns = """
        id, program_id, external_id, status, kind, organisation_id, name, phone, email, birthday, gender, region,
        channel, attributes, consents, enrolled_at, updated_at, erased_at, revision, tier, tier_since, tier_until,
        tier_version, plan, plan_until
        """

    /// A member from a row of `memberColumns`.
    static func member(_ row: DirectRow) throws -> Member {
        Member(
            id: try row.string(0), programID: try row.string(1), externalID: row.optionalString(2),
            status: try decode(MemberStatus.self, row.string(3)), kind: try decode(MemberKind.self, row.string(4)),
            organisationID: row.optionalString(5),
            profile: MemberProfile(name: row.optionalString(6), phone: row.optionalString(7), email: row.optionalString(8),
                                   birthday: row.optionalString(9),
                                   gender: try row.optionalString(10).map { try decode(Gender.self, $0) },
                                   region: row.optionalString(11)),
            channel: try decode(EnrolmentChannel.self, row.string(12)),
            attributes: try StoredForms.decodeAttributes(row.string(13)),
            consents: try StoredForms.decodeConsents(row.string(14)),
            enrolledAt: Timestamp.date(milliseconds: try row.int64(15)),
            updatedAt: Timestamp.date(milliseconds: try row.int64(16)),
            erasedAt: row.optionalInt64(17).map(Timestamp.date(milliseconds:)), revision: Int(try row.int64(18)),
            tier: try memberTier(level: row.optionalString(19), since: try row.int64(20), until: row.optionalInt64(21),
                                 version: Int(try row.int64(22))),
            planCode: row.optionalString(23), planUntil: row.optionalInt64(24).map(Timestamp.date(milliseconds:)))
    }
}

// MARK: - Idempotency

extension SQLiteStore {
    public func claimIdempotencyKey(scope: String, key: String, fingerprint: String, at date: Date,
                                    staleBefore: Date) async throws -> IdempotencyClaim {
        try await pool.write { db in
            try db.run("""
                INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (scope, key) DO NOTHING
                """, [scope, key, fingerprint, Timestamp.milliseconds(date)])
            if db.changesCount == 1 { return .claimed }
            guard let row = try db.row("SELECT * FROM idempotency_keys WHERE scope = ? AND key = ?",
                                       [scope, key]) else { return .inProgress }
            guard row["fingerprint"] as String == fingerprint else { return .mismatch }
            if let status = row["status"] as Int? {
                return .replay(StoredResponse(status: status, contentType: row["content_type"], location: row["location"],
                                              body: row["body"]))
            }
            guard (row["created_at"] as Int64) < Timestamp.milliseconds(staleBefore) else { return .inProgress }
            try db.run("""
                UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND key = ? AND status IS NULL
                """, [Timestamp.milliseconds(date), scope, key])
            return .claimed
        }
    }

    public func completeIdempotencyKey(scope: String, key: String, response: StoredResponse) async throws {
        try await pool.write { db in
            try db.run("""
                UPDATE idempotency_keys SET status = ?, content_type = ?, location = ?, body = ?
                WHERE scope = ? AND key = ? AND status IS NULL
                """, [response.status, response.contentType, response.location, response.body, scope, key])
        }
    }

    public func releaseIdempotencyKey(scope: String, key: String) async throws {
        try await pool.write { db in
            try db.run("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL",
                       [scope, key])
        }
    }

    public func purgeIdempotencyKeys(createdBefore date: Date) async throws -> Int {
        try await pool.write { db in
            try db.run("DELETE FROM idempotency_keys WHERE created_at < ?", [Timestamp.milliseconds(date)])
            return db.changesCount
        }
    }
}

/// Reads an enum stored as its raw value; a value outside the enum means the file was edited by hand.
func decode<T: RawRepresentable>(_ type: T.Type, _ raw: String) throws -> T where T.RawValue == String {
    guard let value = T(rawValue: raw) else {
        throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unexpected \(T.self) value '\(raw)'")
    }
    return value
}
