import GRDB

/// The schema, as named migrations that are never edited once shipped: add a new one instead.
/// Times are INTEGER milliseconds since the epoch (UTC).
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("2026-11-22-foundation") { db in
            try db.execute(sql: """
                CREATE TABLE programs (
                    id TEXT PRIMARY KEY NOT NULL,
                    code TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    currency TEXT NOT NULL CHECK (length(currency) = 3),
                    time_zone TEXT NOT NULL,
                    config_version INTEGER NOT NULL CHECK (config_version >= 1),
                    created_at INTEGER NOT NULL
                ) STRICT;

                CREATE TABLE config_versions (
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    number INTEGER NOT NULL CHECK (number >= 1),
                    document TEXT NOT NULL CHECK (json_valid(document)),
                    created_by TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (program_id, number)
                ) STRICT;

                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'integration', 'read_only')),
                    program_id TEXT REFERENCES programs(id),
                    secret_hash TEXT NOT NULL UNIQUE,
                    prefix TEXT NOT NULL,
                    origin TEXT NOT NULL CHECK (origin IN ('api', 'bootstrap')),
                    created_at INTEGER NOT NULL,
                    revoked_at INTEGER
                ) STRICT;

                CREATE TABLE members (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    external_id TEXT,
                    status TEXT NOT NULL CHECK (status IN ('active', 'erased')),
                    name TEXT,
                    phone TEXT,
                    email TEXT,
                    birthday TEXT,
                    gender TEXT CHECK (gender IN ('female', 'male', 'other', 'undisclosed')),
                    region TEXT,
                    channel TEXT NOT NULL CHECK (channel IN ('ecommerce', 'app', 'store', 'referral')),
                    attributes TEXT NOT NULL CHECK (json_valid(attributes)),
                    consents TEXT NOT NULL CHECK (json_valid(consents)),
                    enrolled_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    erased_at INTEGER,
                    revision INTEGER NOT NULL CHECK (revision >= 0),
                    CHECK (status = 'active' OR (external_id IS NULL AND name IS NULL AND phone IS NULL
                        AND email IS NULL AND birthday IS NULL AND gender IS NULL AND region IS NULL
                        AND attributes = '{}' AND erased_at IS NOT NULL)),
                    CHECK (status = 'erased' OR external_id IS NOT NULL)
                ) STRICT;
                CREATE UNIQUE INDEX members_external_id ON members(program_id, external_id);
                CREATE INDEX members_phone ON members(program_id, phone) WHERE phone IS NOT NULL;
                CREATE INDEX members_email ON members(program_id, email) WHERE email IS NOT NULL;

                CREATE TABLE consent_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    member_id TEXT NOT NULL REFERENCES members(id),
                    purpose TEXT NOT NULL,
                    granted INTEGER NOT NULL CHECK (granted IN (0, 1)),
                    at INTEGER NOT NULL,
                    source TEXT NOT NULL
                ) STRICT;
                CREATE INDEX consent_events_member ON consent_events(member_id, id);

                CREATE TABLE idempotency_keys (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    status INTEGER,
                    content_type TEXT,
                    location TEXT,
                    body BLOB,
                    PRIMARY KEY (scope, key),
                    CHECK ((status IS NULL) = (body IS NULL))
                ) STRICT;
                CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
                """)
        }
        return migrator
    }
}
