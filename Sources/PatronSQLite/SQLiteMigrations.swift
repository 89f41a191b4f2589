import Foundation
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
        migrator.registerMigration("2026-11-23-ledger") { db in
            try db.execute(sql: """
                CREATE TABLE ledger_members (
                    member_id TEXT PRIMARY KEY NOT NULL REFERENCES members(id),
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    purchases INTEGER NOT NULL DEFAULT 0 CHECK (purchases >= 0)
                ) STRICT;

                CREATE TABLE ledger_accounts (
                    member_id TEXT NOT NULL REFERENCES ledger_members(member_id),
                    unit TEXT NOT NULL CHECK (unit IN ('points', 'growth')),
                    pending INTEGER NOT NULL CHECK (pending >= 0),
                    available INTEGER NOT NULL CHECK (available >= 0),
                    held INTEGER NOT NULL CHECK (held >= 0),
                    debt INTEGER NOT NULL CHECK (debt >= 0),
                    earned INTEGER NOT NULL CHECK (earned >= 0),
                    redeemed INTEGER NOT NULL CHECK (redeemed >= 0),
                    expired INTEGER NOT NULL CHECK (expired >= 0),
                    PRIMARY KEY (member_id, unit)
                ) STRICT;

                CREATE TABLE ledger_events (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    client_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount >= 0),
                    order_id TEXT,
                    fingerprint TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('posted', 'review')),
                    receipt TEXT NOT NULL CHECK (json_valid(receipt))
                ) STRICT;
                CREATE UNIQUE INDEX ledger_events_client ON ledger_events(program_id, client_id);
                CREATE UNIQUE INDEX ledger_events_purchase_order ON ledger_events(program_id, order_id)
                    WHERE type = 'purchase' AND order_id IS NOT NULL;
                CREATE INDEX ledger_events_refund_order ON ledger_events(program_id, order_id)
                    WHERE type = 'refund';
                CREATE INDEX ledger_events_member_time ON ledger_events(member_id, occurred_at);

                CREATE TABLE ledger_lots (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    event_id TEXT REFERENCES ledger_events(id),
                    order_id TEXT,
                    source TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
                    state TEXT NOT NULL CHECK (state IN ('pending', 'available')),
                    earned_at INTEGER NOT NULL,
                    available_at INTEGER NOT NULL,
                    expires_at INTEGER
                ) STRICT;
                CREATE INDEX ledger_lots_open ON ledger_lots(member_id) WHERE remaining > 0;
                CREATE INDEX ledger_lots_maturing ON ledger_lots(program_id, available_at) WHERE state = 'pending';
                CREATE INDEX ledger_lots_expiring ON ledger_lots(program_id, expires_at)
                    WHERE remaining > 0 AND expires_at IS NOT NULL;

                CREATE TABLE ledger_holds (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    captured INTEGER NOT NULL CHECK (captured >= 0 AND captured <= amount),
                    status TEXT NOT NULL CHECK (status IN ('open', 'captured', 'voided', 'lapsed')),
                    reference TEXT,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    resolved_at INTEGER,
                    request_key TEXT,
                    CHECK ((status = 'open') = (resolved_at IS NULL)),
                    CHECK (status = 'captured' OR captured = 0)
                ) STRICT;
                CREATE INDEX ledger_holds_open ON ledger_holds(member_id) WHERE status = 'open';
                CREATE INDEX ledger_holds_lapsing ON ledger_holds(program_id, expires_at) WHERE status = 'open';
                CREATE UNIQUE INDEX ledger_holds_request ON ledger_holds(program_id, request_key)
                    WHERE request_key IS NOT NULL;

                CREATE TABLE ledger_transfers (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    unit TEXT NOT NULL CHECK (unit IN ('points', 'growth')),
                    debit TEXT NOT NULL,
                    credit TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    kind TEXT NOT NULL CHECK (kind IN ('earn', 'activate', 'expire', 'redeem', 'hold', 'capture', 'release',
                        'clawback', 'adjust', 'reversal', 'transfer')),
                    reason TEXT NOT NULL,
                    reference TEXT,
                    event_id TEXT REFERENCES ledger_events(id),
                    lot_id TEXT REFERENCES ledger_lots(id),
                    hold_id TEXT REFERENCES ledger_holds(id),
                    reverses TEXT REFERENCES ledger_transfers(id),
                    actor TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    posted_at INTEGER NOT NULL,
                    request_key TEXT,
                    CHECK (debit <> credit)
                ) STRICT;
                CREATE INDEX ledger_transfers_member ON ledger_transfers(member_id, id);
                CREATE INDEX ledger_transfers_earned ON ledger_transfers(member_id, reason, occurred_at) WHERE kind = 'earn';
                CREATE INDEX ledger_transfers_event ON ledger_transfers(event_id) WHERE event_id IS NOT NULL;
                CREATE INDEX ledger_transfers_hold ON ledger_transfers(hold_id) WHERE hold_id IS NOT NULL;
                CREATE UNIQUE INDEX ledger_transfers_request ON ledger_transfers(program_id, request_key)
                    WHERE request_key IS NOT NULL;
                CREATE UNIQUE INDEX ledger_transfers_reverses ON ledger_transfers(reverses) WHERE reverses IS NOT NULL;

                CREATE TABLE ledger_allocations (
                    transfer_id TEXT NOT NULL REFERENCES ledger_transfers(id),
                    position INTEGER NOT NULL CHECK (position >= 0),
                    lot_id TEXT NOT NULL REFERENCES ledger_lots(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    PRIMARY KEY (transfer_id, position)
                ) STRICT;
                """)
        }
        // Events held for review can be released or rejected: `rejected` joins the statuses, and a
        // held event keeps its body to be planned again. SQLite cannot change a CHECK constraint, so
        // the table is rebuilt (foreign keys are off while a migration runs, and checked after it).
        migrator.registerMigration("2026-11-24-event-review") { db in
            try db.execute(sql: """
                CREATE TABLE ledger_events_new (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    client_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount >= 0),
                    order_id TEXT,
                    fingerprint TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('posted', 'review', 'rejected')),
                    receipt TEXT NOT NULL CHECK (json_valid(receipt)),
                    body TEXT CHECK (body IS NULL OR json_valid(body))
                ) STRICT;
                INSERT INTO ledger_events_new (id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                    order_id, fingerprint, status, receipt, body)
                SELECT id, program_id, member_id, client_id, type, occurred_at, recorded_at, amount,
                    order_id, fingerprint, status, receipt, NULL
                FROM ledger_events;
                DROP TABLE ledger_events;
                ALTER TABLE ledger_events_new RENAME TO ledger_events;
                CREATE UNIQUE INDEX ledger_events_client ON ledger_events(program_id, client_id);
                CREATE UNIQUE INDEX ledger_events_purchase_order ON ledger_events(program_id, order_id)
                    WHERE type = 'purchase' AND order_id IS NOT NULL;
                CREATE INDEX ledger_events_refund_order ON ledger_events(program_id, order_id)
                    WHERE type = 'refund';
                CREATE INDEX ledger_events_member_time ON ledger_events(member_id, occurred_at);
                CREATE INDEX ledger_events_awaiting ON ledger_events(program_id, status, id)
                    WHERE status IN ('review', 'rejected');
                """)
        }
        // Organisations (B2B): a member is a person or an organisation, and a person may be an
        // operator of one organisation.
        migrator.registerMigration("2026-11-25-organisations") { db in
            try db.execute(sql: """
                ALTER TABLE members ADD COLUMN kind TEXT NOT NULL DEFAULT 'person'
                    CHECK (kind IN ('person', 'organisation'));
                ALTER TABLE members ADD COLUMN organisation_id TEXT REFERENCES members(id);
                CREATE INDEX members_organisation ON members(program_id, organisation_id) WHERE organisation_id IS NOT NULL;
                """)
        }
        // Tiers: a member's recorded level (nil until the first change: the base level), its history,
        // and the review instants a program has been through.
        migrator.registerMigration("2026-11-26-tiers") { db in
            try db.execute(sql: """
                ALTER TABLE members ADD COLUMN tier TEXT;
                ALTER TABLE members ADD COLUMN tier_since INTEGER;
                ALTER TABLE members ADD COLUMN tier_until INTEGER;
                ALTER TABLE members ADD COLUMN tier_version INTEGER NOT NULL DEFAULT 0 CHECK (tier_version >= 0);
                CREATE INDEX members_tiered ON members(program_id, id) WHERE tier IS NOT NULL;

                CREATE TABLE tier_changes (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    from_level TEXT,
                    to_level TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    cause TEXT NOT NULL CHECK (cause IN ('upgrade', 'review', 'manual', 'manual_ended')),
                    qualifying_value INTEGER,
                    event_id TEXT,
                    actor TEXT NOT NULL,
                    reason TEXT,
                    until INTEGER,
                    recorded_at INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX tier_changes_member ON tier_changes(member_id, id);

                CREATE TABLE tier_reviews (
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    instant INTEGER NOT NULL,
                    members INTEGER NOT NULL,
                    downgraded INTEGER NOT NULL,
                    completed_at INTEGER NOT NULL,
                    PRIMARY KEY (program_id, instant)
                ) STRICT;
                """)
        }
        // Benefit quotas: the uses per member, benefit and period, and every use with its reference.
        migrator.registerMigration("2026-11-27-benefits") { db in
            try db.execute(sql: """
                CREATE TABLE benefit_usage (
                    member_id TEXT NOT NULL REFERENCES members(id),
                    benefit TEXT NOT NULL,
                    period_start INTEGER NOT NULL,
                    used INTEGER NOT NULL CHECK (used >= 0),
                    PRIMARY KEY (member_id, benefit, period_start)
                ) STRICT;

                CREATE TABLE benefit_uses (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    benefit TEXT NOT NULL,
                    period_start INTEGER NOT NULL,
                    quantity INTEGER NOT NULL CHECK (quantity > 0),
                    reference TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    used_at INTEGER NOT NULL
                ) STRICT;
                CREATE UNIQUE INDEX benefit_uses_reference ON benefit_uses(member_id, benefit, reference);
                """)
        }
        // Paid plans: subscriptions with their payments, and the member's active plan on their row.
        migrator.registerMigration("2026-11-28-plans") { db in
            try db.execute(sql: """
                ALTER TABLE members ADD COLUMN plan TEXT;
                ALTER TABLE members ADD COLUMN plan_until INTEGER;

                CREATE TABLE subscriptions (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    plan TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('active', 'cancelled', 'expired')),
                    started_at INTEGER NOT NULL,
                    trial_ends_at INTEGER,
                    period_start INTEGER NOT NULL,
                    period_end INTEGER NOT NULL CHECK (period_end > period_start),
                    paid_amount INTEGER NOT NULL CHECK (paid_amount >= 0),
                    auto_renew INTEGER NOT NULL,
                    cancel_at_period_end INTEGER NOT NULL,
                    cancelled_at INTEGER,
                    ended_at INTEGER,
                    refund_amount INTEGER CHECK (refund_amount IS NULL OR refund_amount >= 0),
                    created_at INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    CHECK ((status = 'active') = (ended_at IS NULL))
                ) STRICT;
                CREATE INDEX subscriptions_member ON subscriptions(member_id, id);
                CREATE INDEX subscriptions_ending ON subscriptions(program_id, period_end) WHERE status = 'active';

                CREATE TABLE subscription_payments (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
                    payment_ref TEXT NOT NULL,
                    paid_amount INTEGER NOT NULL CHECK (paid_amount >= 0),
                    period_start INTEGER NOT NULL,
                    period_end INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL
                ) STRICT;
                CREATE UNIQUE INDEX subscription_payment_ref ON subscription_payments(program_id, payment_ref);
                """)
        }
        // Events keep their channel, which back-tests replay. Held events had it in their body; it
        // is not known for events posted before this.
        migrator.registerMigration("2026-11-29-event-channel") { db in
            try db.execute(sql: """
                ALTER TABLE ledger_events ADD COLUMN channel TEXT;
                UPDATE ledger_events SET channel = json_extract(body, '$.channel') WHERE body IS NOT NULL;
                """)
        }
        // Benefits granted to a member (upgrade rewards): each grant, and per member and benefit the
        // allowance they add up to, used by a guarded counter as quotas are.
        migrator.registerMigration("2026-11-30-benefit-grants") { db in
            try db.execute(sql: """
                CREATE TABLE benefit_grants (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    benefit TEXT NOT NULL,
                    quantity INTEGER NOT NULL CHECK (quantity > 0),
                    reference TEXT NOT NULL,
                    cause TEXT NOT NULL,
                    granted_at INTEGER NOT NULL
                ) STRICT;
                CREATE UNIQUE INDEX benefit_grants_reference ON benefit_grants(member_id, reference);

                CREATE TABLE benefit_allowances (
                    member_id TEXT NOT NULL REFERENCES members(id),
                    benefit TEXT NOT NULL,
                    granted INTEGER NOT NULL CHECK (granted > 0),
                    used INTEGER NOT NULL CHECK (used >= 0 AND used <= granted),
                    PRIMARY KEY (member_id, benefit)
                ) STRICT;

                ALTER TABLE benefit_uses ADD COLUMN source TEXT NOT NULL DEFAULT 'quota' CHECK (source IN ('quota', 'grant'));
                """)
        }
        // Cash-back (a third ledger unit, from paid plans' rewards): SQLite cannot change a CHECK
        // constraint, so the accounts and transfers tables are rebuilt with `cashback` among the
        // units, and their indexes made again. A renewal's payment keeps the reward it gave.
        migrator.registerMigration("2026-12-01-cashback") { db in
            try db.execute(sql: """
                CREATE TABLE ledger_accounts_new (
                    member_id TEXT NOT NULL REFERENCES ledger_members(member_id),
                    unit TEXT NOT NULL CHECK (unit IN ('points', 'growth', 'cashback')),
                    pending INTEGER NOT NULL CHECK (pending >= 0),
                    available INTEGER NOT NULL CHECK (available >= 0),
                    held INTEGER NOT NULL CHECK (held >= 0),
                    debt INTEGER NOT NULL CHECK (debt >= 0),
                    earned INTEGER NOT NULL CHECK (earned >= 0),
                    redeemed INTEGER NOT NULL CHECK (redeemed >= 0),
                    expired INTEGER NOT NULL CHECK (expired >= 0),
                    PRIMARY KEY (member_id, unit)
                ) STRICT;
                INSERT INTO ledger_accounts_new SELECT member_id, unit, pending, available, held, debt, earned, redeemed,
                    expired FROM ledger_accounts;
                DROP TABLE ledger_accounts;
                ALTER TABLE ledger_accounts_new RENAME TO ledger_accounts;

                CREATE TABLE ledger_transfers_new (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    unit TEXT NOT NULL CHECK (unit IN ('points', 'growth', 'cashback')),
                    debit TEXT NOT NULL,
                    credit TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    kind TEXT NOT NULL CHECK (kind IN ('earn', 'activate', 'expire', 'redeem', 'hold', 'capture', 'release',
                        'clawback', 'adjust', 'reversal', 'transfer')),
                    reason TEXT NOT NULL,
                    reference TEXT,
                    event_id TEXT REFERENCES ledger_events(id),
                    lot_id TEXT REFERENCES ledger_lots(id),
                    hold_id TEXT REFERENCES ledger_holds(id),
                    reverses TEXT REFERENCES ledger_transfers(id),
                    actor TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    posted_at INTEGER NOT NULL,
                    request_key TEXT,
                    CHECK (debit <> credit)
                ) STRICT;
                INSERT INTO ledger_transfers_new SELECT id, program_id, member_id, unit, debit, credit, amount, kind, reason,
                    reference, event_id, lot_id, hold_id, reverses, actor, occurred_at, posted_at, request_key
                    FROM ledger_transfers;
                DROP TABLE ledger_transfers;
                ALTER TABLE ledger_transfers_new RENAME TO ledger_transfers;
                CREATE INDEX ledger_transfers_member ON ledger_transfers(member_id, id);
                CREATE INDEX ledger_transfers_earned ON ledger_transfers(member_id, reason, occurred_at) WHERE kind = 'earn';
                CREATE INDEX ledger_transfers_event ON ledger_transfers(event_id) WHERE event_id IS NOT NULL;
                CREATE INDEX ledger_transfers_hold ON ledger_transfers(hold_id) WHERE hold_id IS NOT NULL;
                CREATE UNIQUE INDEX ledger_transfers_request ON ledger_transfers(program_id, request_key)
                    WHERE request_key IS NOT NULL;
                CREATE UNIQUE INDEX ledger_transfers_reverses ON ledger_transfers(reverses) WHERE reverses IS NOT NULL;

                ALTER TABLE subscription_payments ADD COLUMN reward_from INTEGER;
                ALTER TABLE subscription_payments ADD COLUMN reward_to INTEGER;
                ALTER TABLE subscription_payments ADD COLUMN reward_spend INTEGER CHECK (reward_spend >= 0);
                ALTER TABLE subscription_payments ADD COLUMN reward_computed INTEGER CHECK (reward_computed >= 0);
                ALTER TABLE subscription_payments ADD COLUMN reward_amount INTEGER
                    CHECK (reward_amount >= 0 AND reward_amount <= reward_computed);
                ALTER TABLE subscription_payments ADD COLUMN reward_year INTEGER CHECK (reward_year >= 0);
                """)
        }
        // The operator console: people who sign in (bcrypt password hashes, a count of wrong
        // passwords and a lock) and their sessions (only a hash of each cookie's token).
        migrator.registerMigration("2026-12-02-console") { db in
            try db.execute(sql: """
                CREATE TABLE operator_users (
                    id TEXT PRIMARY KEY NOT NULL,
                    email TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('owner', 'marketer', 'support', 'analyst')),
                    password_hash TEXT NOT NULL,
                    failed_sign_ins INTEGER NOT NULL DEFAULT 0 CHECK (failed_sign_ins >= 0),
                    locked_until INTEGER,
                    created_at INTEGER NOT NULL
                ) STRICT;

                CREATE TABLE console_sessions (
                    token_hash TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES operator_users(id),
                    csrf_token TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL CHECK (expires_at > created_at)
                ) STRICT;
                CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
                """)
        }
        migrator.registerMigration("2026-12-03-operator-removal") { db in
            try db.execute(sql: "ALTER TABLE operator_users ADD COLUMN removed_at INTEGER")
        }
        migrator.registerMigration("2026-12-04-portal") { db in
            try db.execute(sql: """
                CREATE TABLE outbox_messages (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
                    recipient TEXT NOT NULL,
                    body TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX outbox_messages_created ON outbox_messages(created_at);

                CREATE TABLE portal_codes (
                    id TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    recipient TEXT NOT NULL,
                    code_hash TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
                    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                    consumed_at INTEGER
                ) STRICT;
                CREATE INDEX portal_codes_recipient ON portal_codes(program_id, recipient, created_at);

                CREATE TABLE portal_sessions (
                    token_hash TEXT PRIMARY KEY NOT NULL,
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    member_id TEXT NOT NULL REFERENCES members(id),
                    csrf_token TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL CHECK (expires_at > created_at)
                ) STRICT;
                CREATE INDEX portal_sessions_expiry ON portal_sessions(expires_at);
                """)
        }
        migrator.registerMigration("2026-12-05-plan-reward-sweep") { db in
            // The renewals whose cash-back the pay-plan-rewards job looks for, by when recorded.
            try db.execute(sql: """
                CREATE INDEX subscription_payments_reward ON subscription_payments(program_id, recorded_at)
                    WHERE reward_amount > 0;
                """)
        }
        // A member's balances move into their `ledger_members` row, one group of columns per unit
        // (docs/DECISIONS.md): every event then rewrites that one row, where it rewrote this row and
        // the member's `ledger_accounts` rows, in two tables. The row is stored in its key's order
        // (WITHOUT ROWID), so that reading it is one search.
        migrator.registerMigration("2026-12-06-member-balances") { db in
            try db.execute(sql: """
                CREATE TABLE ledger_members_new (
                    member_id TEXT PRIMARY KEY NOT NULL REFERENCES members(id),
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    purchases INTEGER NOT NULL DEFAULT 0 CHECK (purchases >= 0),
                    points_pending INTEGER NOT NULL DEFAULT 0 CHECK (points_pending >= 0),
                    points_available INTEGER NOT NULL DEFAULT 0 CHECK (points_available >= 0),
                    points_held INTEGER NOT NULL DEFAULT 0 CHECK (points_held >= 0),
                    points_debt INTEGER NOT NULL DEFAULT 0 CHECK (points_debt >= 0),
                    points_earned INTEGER NOT NULL DEFAULT 0 CHECK (points_earned >= 0),
                    points_redeemed INTEGER NOT NULL DEFAULT 0 CHECK (points_redeemed >= 0),
                    points_expired INTEGER NOT NULL DEFAULT 0 CHECK (points_expired >= 0),
                    growth_pending INTEGER NOT NULL DEFAULT 0 CHECK (growth_pending >= 0),
                    growth_available INTEGER NOT NULL DEFAULT 0 CHECK (growth_available >= 0),
                    growth_held INTEGER NOT NULL DEFAULT 0 CHECK (growth_held >= 0),
                    growth_debt INTEGER NOT NULL DEFAULT 0 CHECK (growth_debt >= 0),
                    growth_earned INTEGER NOT NULL DEFAULT 0 CHECK (growth_earned >= 0),
                    growth_redeemed INTEGER NOT NULL DEFAULT 0 CHECK (growth_redeemed >= 0),
                    growth_expired INTEGER NOT NULL DEFAULT 0 CHECK (growth_expired >= 0),
                    cashback_pending INTEGER NOT NULL DEFAULT 0 CHECK (cashback_pending >= 0),
                    cashback_available INTEGER NOT NULL DEFAULT 0 CHECK (cashback_available >= 0),
                    cashback_held INTEGER NOT NULL DEFAULT 0 CHECK (cashback_held >= 0),
                    cashback_debt INTEGER NOT NULL DEFAULT 0 CHECK (cashback_debt >= 0),
                    cashback_earned INTEGER NOT NULL DEFAULT 0 CHECK (cashback_earned >= 0),
                    cashback_redeemed INTEGER NOT NULL DEFAULT 0 CHECK (cashback_redeemed >= 0),
                    cashback_expired INTEGER NOT NULL DEFAULT 0 CHECK (cashback_expired >= 0)
                ) STRICT, WITHOUT ROWID;
                INSERT INTO ledger_members_new SELECT m.member_id, m.program_id, m.purchases,
                    coalesce(p.pending, 0), coalesce(p.available, 0), coalesce(p.held, 0), coalesce(p.debt, 0), coalesce(p.earned, 0), coalesce(p.redeemed, 0), coalesce(p.expired, 0),
                    coalesce(g.pending, 0), coalesce(g.available, 0), coalesce(g.held, 0), coalesce(g.debt, 0), coalesce(g.earned, 0), coalesce(g.redeemed, 0), coalesce(g.expired, 0),
                    coalesce(c.pending, 0), coalesce(c.available, 0), coalesce(c.held, 0), coalesce(c.debt, 0), coalesce(c.earned, 0), coalesce(c.redeemed, 0), coalesce(c.expired, 0)
                    FROM ledger_members m
                    LEFT JOIN ledger_accounts p ON p.member_id = m.member_id AND p.unit = 'points'
                    LEFT JOIN ledger_accounts g ON g.member_id = m.member_id AND g.unit = 'growth'
                    LEFT JOIN ledger_accounts c ON c.member_id = m.member_id AND c.unit = 'cashback';
                DROP TABLE ledger_accounts;
                DROP TABLE ledger_members;
                ALTER TABLE ledger_members_new RENAME TO ledger_members;
                """)
        }
        // One member-keyed log of what the caps, the limits, the tier windows and the plans' spend
        // ask about, in place of two indexes (`ledger_transfers_earned`, `ledger_events_member_time`)
        // that each made every event write a page somewhere in the file (docs/DECISIONS.md). Its
        // rows are keyed by the member's number, so that the rows of one event lie together and
        // its key is a few bytes; `activity` counts a member's rows and numbers the next one. The
        // log is derived, and checked row for row by `patron ledger verify`, so it carries no CHECK
        // of how its columns go together: those measured a few percent of an event's CPU
        // (docs/PERFORMANCE.md).
        migrator.registerMigration("2026-12-07-member-activity") { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO ledger_members (member_id, program_id)
                    SELECT member_id, program_id FROM ledger_events
                    UNION SELECT member_id, program_id FROM ledger_transfers WHERE kind = 'earn';
                CREATE TABLE ledger_members_new (
                    member_id TEXT PRIMARY KEY NOT NULL REFERENCES members(id),
                    program_id TEXT NOT NULL REFERENCES programs(id),
                    purchases INTEGER NOT NULL DEFAULT 0 CHECK (purchases >= 0),
                    points_pending INTEGER NOT NULL DEFAULT 0 CHECK (points_pending >= 0),
                    points_available INTEGER NOT NULL DEFAULT 0 CHECK (points_available >= 0),
                    points_held INTEGER NOT NULL DEFAULT 0 CHECK (points_held >= 0),
                    points_debt INTEGER NOT NULL DEFAULT 0 CHECK (points_debt >= 0),
                    points_earned INTEGER NOT NULL DEFAULT 0 CHECK (points_earned >= 0),
                    points_redeemed INTEGER NOT NULL DEFAULT 0 CHECK (points_redeemed >= 0),
                    points_expired INTEGER NOT NULL DEFAULT 0 CHECK (points_expired >= 0),
                    growth_pending INTEGER NOT NULL DEFAULT 0 CHECK (growth_pending >= 0),
                    growth_available INTEGER NOT NULL DEFAULT 0 CHECK (growth_available >= 0),
                    growth_held INTEGER NOT NULL DEFAULT 0 CHECK (growth_held >= 0),
                    growth_debt INTEGER NOT NULL DEFAULT 0 CHECK (growth_debt >= 0),
                    growth_earned INTEGER NOT NULL DEFAULT 0 CHECK (growth_earned >= 0),
                    growth_redeemed INTEGER NOT NULL DEFAULT 0 CHECK (growth_redeemed >= 0),
                    growth_expired INTEGER NOT NULL DEFAULT 0 CHECK (growth_expired >= 0),
                    cashback_pending INTEGER NOT NULL DEFAULT 0 CHECK (cashback_pending >= 0),
                    cashback_available INTEGER NOT NULL DEFAULT 0 CHECK (cashback_available >= 0),
                    cashback_held INTEGER NOT NULL DEFAULT 0 CHECK (cashback_held >= 0),
                    cashback_debt INTEGER NOT NULL DEFAULT 0 CHECK (cashback_debt >= 0),
                    cashback_earned INTEGER NOT NULL DEFAULT 0 CHECK (cashback_earned >= 0),
                    cashback_redeemed INTEGER NOT NULL DEFAULT 0 CHECK (cashback_redeemed >= 0),
                    cashback_expired INTEGER NOT NULL DEFAULT 0 CHECK (cashback_expired >= 0),
                    number INTEGER NOT NULL UNIQUE CHECK (number > 0),
                    activity INTEGER NOT NULL DEFAULT 0 CHECK (activity >= 0)
                ) STRICT, WITHOUT ROWID;
                INSERT INTO ledger_members_new SELECT *, row_number() OVER (ORDER BY member_id), 0 FROM ledger_members;
                DROP TABLE ledger_members;
                ALTER TABLE ledger_members_new RENAME TO ledger_members;

                CREATE TABLE ledger_member_activity (
                    member_number INTEGER NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('event', 'earn')),
                    code TEXT NOT NULL,
                    unit TEXT,
                    amount INTEGER NOT NULL,
                    status TEXT,
                    event_id TEXT,
                    PRIMARY KEY (member_number, occurred_at, seq)
                ) STRICT, WITHOUT ROWID;
                INSERT INTO ledger_member_activity
                    SELECT m.number, x.occurred_at, row_number() OVER (PARTITION BY m.number ORDER BY x.occurred_at, x.id),
                        x.kind, x.code, x.unit, x.amount, x.status, x.event_id
                    FROM (SELECT member_id, occurred_at, id, 'event' AS kind, type AS code, NULL AS unit, amount, status,
                              id AS event_id FROM ledger_events
                          UNION ALL SELECT member_id, occurred_at, id, 'earn', reason, unit, amount, NULL, NULL
                              FROM ledger_transfers WHERE kind = 'earn') x
                    JOIN ledger_members m ON m.member_id = x.member_id;
                UPDATE ledger_members SET activity = (SELECT count(*) FROM ledger_member_activity WHERE member_number = number);
                DROP INDEX ledger_transfers_earned;
                DROP INDEX ledger_events_member_time;
                """)
        }
        // SQLite checks `x IN ('a', 'b', 'c')` by building a temporary B-tree of the list each time a
        // statement runs, so that every insert into a table with such a CHECK built and dropped one
        // or two: a tenth of the ledger writer's CPU (docs/PERFORMANCE.md). Every such CHECK becomes
        // the same test as comparisons (`x = 'a' OR x = 'b' OR x = 'c'`, which NULL passes too),
        // and the events' receipt loses its `json_valid`: the engine writes each receipt with its
        // own JSON writer, and `patron ledger verify` checks them all instead. Only the tables'
        // stored definitions change, by SQLite's documented procedure for changing constraints in
        // place (https://www.sqlite.org/lang_altertable.html#otheralter): no row is rewritten, and
        // every row already meets the new checks, being the same or fewer.
        migrator.registerMigration("2026-12-08-checks-without-lists") { db in
            let tables = try Row.fetchAll(db, sql: """
                SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK%'
                    AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'
                """)
            var changed: [(name: String, sql: String)] = []
            for table in tables {
                var sql = try checksWithoutLists(table["sql"])
                if table["name"] == "ledger_events" {
                    let guarded = "receipt TEXT NOT NULL CHECK (json_valid(receipt))"
                    guard sql.ranges(of: guarded).count == 1 else {
                        throw DatabaseError(resultCode: .SQLITE_ERROR, message: "ledger_events: its receipt is not as expected")
                    }
                    sql = sql.replacing(guarded, with: "receipt TEXT NOT NULL")
                }
                if sql != table["sql"] { changed.append((table["name"], sql)) }
            }
            let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
            try db.execute(sql: "PRAGMA writable_schema = ON")
            for table in changed {
                try db.execute(sql: "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?",
                               arguments: [table.sql, table.name])
            }
            try db.execute(sql: "PRAGMA schema_version = \(version + 1)")
            try db.execute(sql: "PRAGMA writable_schema = OFF")
            // The next statement reads the new definitions: one that SQLite cannot parse fails
            // here, and the migration with it. (An integrity check would also read every row.)
            for table in changed {
                try db.execute(sql: "SELECT * FROM \(table.name.quotedDatabaseIdentifier) LIMIT 0")
            }
        }
        return migrator
    }

    /// `sql`, a table's definition, with each `CHECK (x IN ('a', 'b', …))` (of text or integers)
    /// written as `CHECK (x = 'a' OR x = 'b' OR …)`. Throws if an `IN` is left, in a form it does not know.
    static func checksWithoutLists(_ sql: String) throws -> String {
        let check = /CHECK \((\w+) IN \(((?:'[^']*'|-?\d+)(?:,\s*(?:'[^']*'|-?\d+))*)\)\)/
        let rewritten = sql.replacing(check) { match in
            let column = match.output.1
            let items = match.output.2.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            return "CHECK (" + items.map { "\(column) = \($0)" }.joined(separator: " OR ") + ")"
        }
        guard rewritten.firstMatch(of: /\bIN\s*\(/) == nil else {
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: "a CHECK with an IN list left in: \(rewritten)")
        }
        return rewritten
    }
}
