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
        // The ledger, as SQLite's migration of the same name. Amounts and counters are bigint, and
        // `receipt` is JSON text: casting it to json is PostgreSQL 15's way of checking it parses.
        ("2026-11-23-ledger", [
            """
            CREATE TABLE ledger_members (
                member_id text PRIMARY KEY REFERENCES members(id),
                program_id text NOT NULL REFERENCES programs(id),
                purchases bigint NOT NULL DEFAULT 0 CHECK (purchases >= 0)
            )
            """,
            """
            CREATE TABLE ledger_accounts (
                member_id text NOT NULL REFERENCES ledger_members(member_id),
                unit text NOT NULL CHECK (unit IN ('points', 'growth')),
                pending bigint NOT NULL CHECK (pending >= 0),
                available bigint NOT NULL CHECK (available >= 0),
                held bigint NOT NULL CHECK (held >= 0),
                debt bigint NOT NULL CHECK (debt >= 0),
                earned bigint NOT NULL CHECK (earned >= 0),
                redeemed bigint NOT NULL CHECK (redeemed >= 0),
                expired bigint NOT NULL CHECK (expired >= 0),
                PRIMARY KEY (member_id, unit)
            )
            """,
            """
            CREATE TABLE ledger_events (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                client_id text NOT NULL,
                type text NOT NULL,
                occurred_at timestamptz NOT NULL,
                recorded_at timestamptz NOT NULL,
                amount bigint NOT NULL CHECK (amount >= 0),
                order_id text,
                fingerprint text NOT NULL,
                status text NOT NULL CHECK (status IN ('posted', 'review')),
                receipt text NOT NULL CHECK (receipt::json IS NOT NULL)
            )
            """,
            "CREATE UNIQUE INDEX ledger_events_client ON ledger_events (program_id, client_id)",
            """
            CREATE UNIQUE INDEX ledger_events_purchase_order ON ledger_events (program_id, order_id)
                WHERE type = 'purchase' AND order_id IS NOT NULL
            """,
            "CREATE INDEX ledger_events_refund_order ON ledger_events (program_id, order_id) WHERE type = 'refund'",
            "CREATE INDEX ledger_events_member_time ON ledger_events (member_id, occurred_at)",
            """
            CREATE TABLE ledger_lots (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                event_id text REFERENCES ledger_events(id),
                order_id text,
                source text NOT NULL,
                amount bigint NOT NULL CHECK (amount > 0),
                remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
                state text NOT NULL CHECK (state IN ('pending', 'available')),
                earned_at timestamptz NOT NULL,
                available_at timestamptz NOT NULL,
                expires_at timestamptz
            )
            """,
            "CREATE INDEX ledger_lots_open ON ledger_lots (member_id) WHERE remaining > 0",
            "CREATE INDEX ledger_lots_maturing ON ledger_lots (program_id, available_at) WHERE state = 'pending'",
            """
            CREATE INDEX ledger_lots_expiring ON ledger_lots (program_id, expires_at)
                WHERE remaining > 0 AND expires_at IS NOT NULL
            """,
            """
            CREATE TABLE ledger_holds (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                amount bigint NOT NULL CHECK (amount > 0),
                captured bigint NOT NULL CHECK (captured >= 0 AND captured <= amount),
                status text NOT NULL CHECK (status IN ('open', 'captured', 'voided', 'lapsed')),
                reference text,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                resolved_at timestamptz,
                request_key text,
                CHECK ((status = 'open') = (resolved_at IS NULL)),
                CHECK (status = 'captured' OR captured = 0)
            )
            """,
            "CREATE INDEX ledger_holds_open ON ledger_holds (member_id) WHERE status = 'open'",
            "CREATE INDEX ledger_holds_lapsing ON ledger_holds (program_id, expires_at) WHERE status = 'open'",
            """
            CREATE UNIQUE INDEX ledger_holds_request ON ledger_holds (program_id, request_key)
                WHERE request_key IS NOT NULL
            """,
            """
            CREATE TABLE ledger_transfers (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                unit text NOT NULL CHECK (unit IN ('points', 'growth')),
                debit text NOT NULL,
                credit text NOT NULL,
                amount bigint NOT NULL CHECK (amount > 0),
                kind text NOT NULL CHECK (kind IN ('earn', 'activate', 'expire', 'redeem', 'hold', 'capture', 'release',
                    'clawback', 'adjust', 'reversal', 'transfer')),
                reason text NOT NULL,
                reference text,
                event_id text REFERENCES ledger_events(id),
                lot_id text REFERENCES ledger_lots(id),
                hold_id text REFERENCES ledger_holds(id),
                reverses text REFERENCES ledger_transfers(id),
                actor text NOT NULL,
                occurred_at timestamptz NOT NULL,
                posted_at timestamptz NOT NULL,
                request_key text,
                CHECK (debit <> credit)
            )
            """,
            "CREATE INDEX ledger_transfers_member ON ledger_transfers (member_id, id)",
            """
            CREATE INDEX ledger_transfers_earned ON ledger_transfers (member_id, reason, occurred_at)
                WHERE kind = 'earn'
            """,
            "CREATE INDEX ledger_transfers_event ON ledger_transfers (event_id) WHERE event_id IS NOT NULL",
            "CREATE INDEX ledger_transfers_hold ON ledger_transfers (hold_id) WHERE hold_id IS NOT NULL",
            """
            CREATE UNIQUE INDEX ledger_transfers_request ON ledger_transfers (program_id, request_key)
                WHERE request_key IS NOT NULL
            """,
            "CREATE UNIQUE INDEX ledger_transfers_reverses ON ledger_transfers (reverses) WHERE reverses IS NOT NULL",
            """
            CREATE TABLE ledger_allocations (
                transfer_id text NOT NULL REFERENCES ledger_transfers(id),
                position integer NOT NULL CHECK (position >= 0),
                lot_id text NOT NULL REFERENCES ledger_lots(id),
                amount bigint NOT NULL CHECK (amount > 0),
                PRIMARY KEY (transfer_id, position)
            )
            """,
        ]),
        // As SQLite's migration of the same name: `rejected` joins the statuses, and an event held
        // for review keeps its body to be planned again when released.
        ("2026-11-24-event-review", [
            "ALTER TABLE ledger_events ADD COLUMN body text CHECK (body IS NULL OR body::json IS NOT NULL)",
            "ALTER TABLE ledger_events DROP CONSTRAINT ledger_events_status_check",
            """
            ALTER TABLE ledger_events ADD CONSTRAINT ledger_events_status_check
                CHECK (status IN ('posted', 'review', 'rejected'))
            """,
            """
            CREATE INDEX ledger_events_awaiting ON ledger_events (program_id, status, id)
                WHERE status IN ('review', 'rejected')
            """,
        ]),
        // As SQLite's migration of the same name: a member is a person or an organisation, and a
        // person may be an operator of one organisation.
        ("2026-11-25-organisations", [
            """
            ALTER TABLE members ADD COLUMN kind text NOT NULL DEFAULT 'person'
                CHECK (kind IN ('person', 'organisation'))
            """,
            "ALTER TABLE members ADD COLUMN organisation_id text REFERENCES members(id)",
            """
            CREATE INDEX members_organisation ON members (program_id, organisation_id)
                WHERE organisation_id IS NOT NULL
            """,
        ]),
        // As SQLite's migration of the same name: a member's recorded level, its history, and the
        // review instants a program has been through.
        ("2026-11-26-tiers", [
            "ALTER TABLE members ADD COLUMN tier text",
            "ALTER TABLE members ADD COLUMN tier_since timestamptz",
            "ALTER TABLE members ADD COLUMN tier_until timestamptz",
            "ALTER TABLE members ADD COLUMN tier_version integer NOT NULL DEFAULT 0 CHECK (tier_version >= 0)",
            "CREATE INDEX members_tiered ON members (program_id, id) WHERE tier IS NOT NULL",
            """
            CREATE TABLE tier_changes (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                from_level text,
                to_level text NOT NULL,
                at timestamptz NOT NULL,
                cause text NOT NULL CHECK (cause IN ('upgrade', 'review', 'manual', 'manual_ended')),
                qualifying_value bigint,
                event_id text,
                actor text NOT NULL,
                reason text,
                until timestamptz,
                recorded_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX tier_changes_member ON tier_changes (member_id, id)",
            """
            CREATE TABLE tier_reviews (
                program_id text NOT NULL REFERENCES programs(id),
                instant timestamptz NOT NULL,
                members integer NOT NULL,
                downgraded integer NOT NULL,
                completed_at timestamptz NOT NULL,
                PRIMARY KEY (program_id, instant)
            )
            """,
        ]),
        // As SQLite's migration of the same name: benefit quotas.
        ("2026-11-27-benefits", [
            """
            CREATE TABLE benefit_usage (
                member_id text NOT NULL REFERENCES members(id),
                benefit text NOT NULL,
                period_start timestamptz NOT NULL,
                used bigint NOT NULL CHECK (used >= 0),
                PRIMARY KEY (member_id, benefit, period_start)
            )
            """,
            """
            CREATE TABLE benefit_uses (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                benefit text NOT NULL,
                period_start timestamptz NOT NULL,
                quantity bigint NOT NULL CHECK (quantity > 0),
                reference text NOT NULL,
                actor text NOT NULL,
                used_at timestamptz NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX benefit_uses_reference ON benefit_uses (member_id, benefit, reference)",
        ]),
        // As SQLite's migration of the same name: paid plans.
        ("2026-11-28-plans", [
            "ALTER TABLE members ADD COLUMN plan text",
            "ALTER TABLE members ADD COLUMN plan_until timestamptz",
            """
            CREATE TABLE subscriptions (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                plan text NOT NULL,
                status text NOT NULL CHECK (status IN ('active', 'cancelled', 'expired')),
                started_at timestamptz NOT NULL,
                trial_ends_at timestamptz,
                period_start timestamptz NOT NULL,
                period_end timestamptz NOT NULL CHECK (period_end > period_start),
                paid_amount bigint NOT NULL CHECK (paid_amount >= 0),
                auto_renew boolean NOT NULL,
                cancel_at_period_end boolean NOT NULL,
                cancelled_at timestamptz,
                ended_at timestamptz,
                refund_amount bigint CHECK (refund_amount IS NULL OR refund_amount >= 0),
                created_at timestamptz NOT NULL,
                version integer NOT NULL,
                CHECK ((status = 'active') = (ended_at IS NULL))
            )
            """,
            "CREATE INDEX subscriptions_member ON subscriptions (member_id, id)",
            "CREATE INDEX subscriptions_ending ON subscriptions (program_id, period_end) WHERE status = 'active'",
            """
            CREATE TABLE subscription_payments (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                subscription_id text NOT NULL REFERENCES subscriptions(id),
                payment_ref text NOT NULL,
                paid_amount bigint NOT NULL CHECK (paid_amount >= 0),
                period_start timestamptz NOT NULL,
                period_end timestamptz NOT NULL,
                recorded_at timestamptz NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX subscription_payment_ref ON subscription_payments (program_id, payment_ref)",
        ]),
        // As SQLite's migration of the same name: events keep their channel.
        ("2026-11-29-event-channel", [
            "ALTER TABLE ledger_events ADD COLUMN channel text",
            "UPDATE ledger_events SET channel = body::jsonb ->> 'channel' WHERE body IS NOT NULL",
        ]),
        // As SQLite's migration of the same name: benefits granted to a member.
        ("2026-11-30-benefit-grants", [
            """
            CREATE TABLE benefit_grants (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                benefit text NOT NULL,
                quantity bigint NOT NULL CHECK (quantity > 0),
                reference text NOT NULL,
                cause text NOT NULL,
                granted_at timestamptz NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX benefit_grants_reference ON benefit_grants (member_id, reference)",
            """
            CREATE TABLE benefit_allowances (
                member_id text NOT NULL REFERENCES members(id),
                benefit text NOT NULL,
                granted bigint NOT NULL CHECK (granted > 0),
                used bigint NOT NULL CHECK (used >= 0 AND used <= granted),
                PRIMARY KEY (member_id, benefit)
            )
            """,
            "ALTER TABLE benefit_uses ADD COLUMN source text NOT NULL DEFAULT 'quota' CHECK (source IN ('quota', 'grant'))",
        ]),
        // As SQLite's migration of the same name: cash-back joins the ledger's units, and a
        // renewal's payment keeps the reward it gave.
        ("2026-12-01-cashback", [
            "ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_unit_check",
            "ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_unit_check CHECK (unit IN ('points', 'growth', 'cashback'))",
            "ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_unit_check",
            "ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_unit_check CHECK (unit IN ('points', 'growth', 'cashback'))",
            """
            ALTER TABLE subscription_payments
                ADD COLUMN reward_from timestamptz,
                ADD COLUMN reward_to timestamptz,
                ADD COLUMN reward_spend bigint CHECK (reward_spend >= 0),
                ADD COLUMN reward_computed bigint CHECK (reward_computed >= 0),
                ADD COLUMN reward_amount bigint CHECK (reward_amount >= 0 AND reward_amount <= reward_computed),
                ADD COLUMN reward_year bigint CHECK (reward_year >= 0)
            """,
        ]),
        // As SQLite's migration of the same name: the console's operator users and sessions.
        ("2026-12-02-console", [
            """
            CREATE TABLE operator_users (
                id text PRIMARY KEY,
                email text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
                name text NOT NULL,
                role text NOT NULL CHECK (role IN ('owner', 'marketer', 'support', 'analyst')),
                password_hash text NOT NULL,
                failed_sign_ins integer NOT NULL DEFAULT 0 CHECK (failed_sign_ins >= 0),
                locked_until timestamptz,
                created_at timestamptz NOT NULL
            )
            """,
            """
            CREATE TABLE console_sessions (
                token_hash text PRIMARY KEY,
                user_id text NOT NULL REFERENCES operator_users(id),
                csrf_token text NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL CHECK (expires_at > created_at)
            )
            """,
            "CREATE INDEX console_sessions_expiry ON console_sessions(expires_at)",
        ]),
        ("2026-12-03-operator-removal", ["ALTER TABLE operator_users ADD COLUMN removed_at timestamptz"]),
        // As SQLite's migration of the same name: the portal's codes, their outbox and sessions.
        ("2026-12-04-portal", [
            """
            CREATE TABLE outbox_messages (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                channel text NOT NULL CHECK (channel IN ('sms', 'email')),
                recipient text NOT NULL,
                body text NOT NULL,
                created_at timestamptz NOT NULL
            )
            """,
            "CREATE INDEX outbox_messages_created ON outbox_messages(created_at)",
            """
            CREATE TABLE portal_codes (
                id text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                recipient text NOT NULL,
                code_hash text NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
                attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                consumed_at timestamptz
            )
            """,
            "CREATE INDEX portal_codes_recipient ON portal_codes(program_id, recipient, created_at)",
            """
            CREATE TABLE portal_sessions (
                token_hash text PRIMARY KEY,
                program_id text NOT NULL REFERENCES programs(id),
                member_id text NOT NULL REFERENCES members(id),
                csrf_token text NOT NULL,
                created_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL CHECK (expires_at > created_at)
            )
            """,
            "CREATE INDEX portal_sessions_expiry ON portal_sessions(expires_at)",
        ]),
        ("2026-12-05-plan-reward-sweep", [
            // The renewals whose cash-back the pay-plan-rewards job looks for, by when recorded.
            """
            CREATE INDEX subscription_payments_reward ON subscription_payments(program_id, recorded_at)
                WHERE reward_amount > 0
            """,
        ]),
        ("2026-12-08-name-folding", [
            // Name search folds case beyond ASCII whatever the database's locale: lower() under
            // the C locale changes only A to Z, so where PostgreSQL has ICU its root locale folds.
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
                    CREATE FUNCTION patron_fold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
                        RETURN lower($1 COLLATE "und-x-icu");
                ELSE
                    CREATE FUNCTION patron_fold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
                        RETURN lower($1);
                END IF;
            END
            $$
            """,
        ]),
    ]
}
