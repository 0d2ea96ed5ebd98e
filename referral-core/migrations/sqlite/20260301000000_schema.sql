-- The referral schema on SQLite. Timestamps are unix microseconds (UTC), ids UUIDs as
-- 16-byte blobs, token hashes 32-byte SHA-256 blobs. See storage/sql/mod.rs for the design.
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

CREATE TABLE {users} (
    id                BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    email             TEXT    NOT NULL,
    password_hash     TEXT    NOT NULL,
    referral_code     TEXT    NOT NULL,
    referred_by       BLOB    REFERENCES {users} (id),
    token_version     INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    -- Counters kept by the registration transaction, so stats never scan history.
    referral_count    INTEGER NOT NULL DEFAULT 0 CHECK (referral_count >= 0),
    second_tier_count INTEGER NOT NULL DEFAULT 0 CHECK (second_tier_count >= 0),
    reward_points     INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_referral_code_key UNIQUE (referral_code)
) STRICT;

-- One row per referee: the primary key is the referred user.
CREATE TABLE {referrals} (
    referee_id    BLOB    NOT NULL PRIMARY KEY REFERENCES {users} (id),
    referrer_id   BLOB    NOT NULL REFERENCES {users} (id),
    joined_at     INTEGER NOT NULL,
    reward_points INTEGER NOT NULL
) STRICT;

-- The cursor listing (newest first) and the exact count of the boundary day.
CREATE INDEX {index:referrals_by_referrer} ON {referrals} (referrer_id, joined_at DESC, referee_id DESC);

-- Sign-ups per referrer per UTC day (days since the epoch), for "joined since" counts.
CREATE TABLE {referral_days} (
    referrer_id BLOB    NOT NULL REFERENCES {users} (id),
    day         INTEGER NOT NULL,
    joined      INTEGER NOT NULL CHECK (joined > 0),
    PRIMARY KEY (referrer_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE {reward_ledger} (
    id             BLOB    NOT NULL PRIMARY KEY,
    referral_id    BLOB    NOT NULL REFERENCES {referrals} (referee_id),
    beneficiary_id BLOB    NOT NULL REFERENCES {users} (id),
    kind           TEXT    NOT NULL CHECK (kind IN ('referrer', 'referee', 'second_tier')),
    points         INTEGER NOT NULL CHECK (points <> 0)
) STRICT;

CREATE TABLE {refresh_tokens} (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id    BLOB    NOT NULL REFERENCES {users} (id),
    family_id  BLOB    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) STRICT;

CREATE INDEX {index:refresh_tokens_by_user} ON {refresh_tokens} (user_id);

CREATE TABLE {reset_tokens} (
    hash          BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id       BLOB    NOT NULL REFERENCES {users} (id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    superseded_at INTEGER
) STRICT;

CREATE INDEX {index:reset_tokens_live_by_user} ON {reset_tokens} (user_id)
    WHERE used_at IS NULL AND superseded_at IS NULL;

CREATE TABLE {rate_limits} (
    rate_key   TEXT    NOT NULL PRIMARY KEY,
    hits       INTEGER NOT NULL,
    started_at INTEGER NOT NULL
) STRICT;

CREATE TABLE {outbox} (
    id              BLOB    NOT NULL PRIMARY KEY,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    body_html       TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    sent_at         INTEGER,
    last_error      TEXT
) STRICT;

CREATE INDEX {index:outbox_due} ON {outbox} (next_attempt_at, id) WHERE sent_at IS NULL;
CREATE INDEX {index:outbox_sent} ON {outbox} (sent_at) WHERE sent_at IS NOT NULL;
