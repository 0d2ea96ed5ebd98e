-- Email verification, account self-service and the reward lifecycle (issue #13).
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

-- Users: a verified flag, the app's metadata (a JSON object), the sum of pending rewards
-- beside the approved one, and when the account was erased (the row stays, anonymised, so
-- referrals and the ledger keep their references; erased rows are never found).
ALTER TABLE {users} ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0
    CHECK (email_verified IN (0, 1));
ALTER TABLE {users} ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'
    CHECK (json_valid(metadata) AND json_type(metadata) = 'object');
ALTER TABLE {users} ADD COLUMN pending_points INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {users} ADD COLUMN erased_at INTEGER;

CREATE TABLE {verification_tokens} (
    hash          BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id       BLOB    NOT NULL REFERENCES {users} (id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    superseded_at INTEGER
) STRICT;

CREATE INDEX {index:verification_tokens_live_by_user} ON {verification_tokens} (user_id)
    WHERE used_at IS NULL AND superseded_at IS NULL;
CREATE INDEX {index:verification_tokens_expiry} ON {verification_tokens} (expires_at);

-- One row per conversion the app reported: recording it again changes nothing.
CREATE TABLE {conversions} (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    user_id     BLOB    NOT NULL REFERENCES {users} (id),
    kind        TEXT    NOT NULL CHECK (kind <> ''),
    external_id TEXT    NOT NULL CHECK (external_id <> ''),
    value       INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    CONSTRAINT conversions_once UNIQUE (user_id, kind, external_id)
) STRICT;

-- The ledger gains a status (only approved entries count in reward_points), what approves
-- a pending entry, fraud flags, a reason and its times; conversion and adjustment entries
-- join (an adjustment names no referral). SQLite cannot change a CHECK or NOT NULL in
-- place: the table is copied aside and rebuilt. Entries written before were approved at
-- their referral's sign-up.
CREATE TABLE {reward_ledger_before_13} AS SELECT * FROM {reward_ledger};
DROP TABLE {reward_ledger};
CREATE TABLE {reward_ledger} (
    id             BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    referral_id    BLOB    REFERENCES {referrals} (referee_id),
    beneficiary_id BLOB    NOT NULL REFERENCES {users} (id),
    kind           TEXT    NOT NULL CHECK (kind IN
        ('referrer', 'referee', 'second_tier', 'conversion', 'adjustment')),
    points         INTEGER NOT NULL CHECK (points <> 0),
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
    approval       TEXT    NOT NULL CHECK (approval IN
        ('on_signup', 'on_email_verified', 'on_conversion', 'review')),
    flags          TEXT    NOT NULL DEFAULT '',
    reason         TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL CHECK (updated_at >= created_at),
    CHECK (referral_id IS NOT NULL OR kind = 'adjustment')
) STRICT;
INSERT INTO {reward_ledger} (id, referral_id, beneficiary_id, kind, points, status, approval,
        created_at, updated_at)
    SELECT l.id, l.referral_id, l.beneficiary_id, l.kind, l.points, 'approved', 'on_signup',
        r.joined_at, r.joined_at
    FROM {reward_ledger_before_13} l JOIN {referrals} r ON r.referee_id = l.referral_id;
DROP TABLE {reward_ledger_before_13};

-- A user's rewards newest first; a referee's pending rewards; the review queue.
CREATE INDEX {index:reward_ledger_by_beneficiary} ON {reward_ledger}
    (beneficiary_id, created_at DESC, id DESC);
CREATE INDEX {index:reward_ledger_by_referral} ON {reward_ledger} (referral_id)
    WHERE status = 'pending';
CREATE INDEX {index:reward_ledger_pending} ON {reward_ledger} (created_at DESC, id DESC)
    WHERE status = 'pending';
