/// The schema, as named migrations that are never edited once shipped: add a new one instead.
/// Each migration is a list of statements run in one transaction.
enum PostgresMigrations {
    static let all: [(name: String, statements: [String])] = [
        ("2026-11-22-foundation", [
            """
            CREATE TABLE programs (
                id text PRIMARY KEY,
                code text NOT NULL UNIQUE,
                name text NOT NULL,
                currency text NOT NULL CHECK (length(currency) = 3),
                time_zone text NOT NULL,
                config_version integer NOT NULL CHECK (config_version >= 1),
                created_at timestamptz NOT NULL
            )
            """,
            """
            CREATE TABLE config_versions (
                program_id text NOT NULL REFERENCES programs(id),
                number integer NOT NULL CHECK (number >= 1),
                document text NOT NULL,
                created_by text NOT NULL,
                created_at timestamptz NOT NULL,
                PRIMARY KEY (program_id, number)
            )
            """,
            """
            CREATE TABLE api_keys (
                id text PRIMARY KEY,
                name text NOT NULL,
                role text NOT NULL CHECK (role IN ('owner', 'operator', 'integration', 'read_only')),
                program_id text REFERENCES programs(id),
                secret_hash text NOT NULL UNIQUE,
                prefix text NOT NULL,
                origin text NOT NULL CHECK (origin IN ('api', 'bootstrap')),
                created_at timestamptz NOT NULL,
                revoked_at timestamptz
            )
            """,
            """
            CREATE TABLE members (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                external_id text,
                status text NOT NULL CHECK (status IN ('active', 'erased')),
                name text,
                phone text,
                email text,
                birthday text,
                gender text CHECK (gender IN ('female', 'male', 'other', 'undisclosed')),
                region text,
                channel text NOT NULL CHECK (channel IN ('ecommerce', 'app', 'store', 'referral')),
                attributes text NOT NULL,
                consents text NOT NULL,
                enrolled_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                erased_at timestamptz,
                revision integer NOT NULL CHECK (revision >= 0),
                CHECK (status = 'active' OR (external_id IS NULL AND name IS NULL AND phone IS NULL
                    AND email IS NULL AND birthday IS NULL AND gender IS NULL AND region IS NULL
                    AND attributes = '{}' AND erased_at IS NOT NULL)),
                CHECK (status = 'erased' OR external_id IS NOT NULL)
            )
            """,
            "CREATE UNIQUE INDEX members_external_id ON members (program_id, external_id)",
            "CREATE INDEX members_phone ON members (program_id, phone) WHERE phone IS NOT NULL",
            "CREATE INDEX members_email ON members (program_id, email) WHERE email IS NOT NULL",
            """
            CREATE TABLE consent_events (
                id bigserial PRIMARY KEY,
                member_id text NOT NULL REFERENCES members(id),
                purpose text NOT NULL,
                granted boolean NOT NULL,
                at timestamptz NOT NULL,
                source text NOT NULL
            )
            """,
            "CREATE INDEX consent_events_member ON consent_events (member_id, id)",
            """
            CREATE TABLE idempotency_keys (
                scope text NOT NULL,
                key text NOT NULL,
                fingerprint text NOT NULL,
                created_at timestamptz NOT NULL,
                status integer,
                content_type text,
                location text,
                body bytea,
                PRIMARY KEY (scope, key),
                CHECK ((status IS NULL) = (body IS NULL))
            )
            """,
            "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)",
        ]),
    ]
}
