-- The referral schema on PostgreSQL. Timestamps are unix microseconds (UTC) as BIGINT, so
-- both backends share every query; ids are UUIDs, token hashes 32-byte SHA-256 values.
-- See storage/sql/mod.rs for the design.
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

CREATE TABLE {users} (
    id                UUID   NOT NULL PRIMARY KEY,
    email             TEXT   NOT NULL,
    password_hash     TEXT   NOT NULL,
    referral_code     TEXT   NOT NULL,
    referred_by       UUID   REFERENCES {users} (id),
    token_version     BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    -- Counters kept by the registration transaction, so stats never scan history.
    referral_count    BIGINT NOT NULL DEFAULT 0 CHECK (referral_count >= 0),
    second_tier_count BIGINT NOT NULL DEFAULT 0 CHECK (second_tier_count >= 0),
    reward_points     BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_referral_code_key UNIQUE (referral_code)
);

-- One row per referee: the primary key is the referred user.
CREATE TABLE {referrals} (
    referee_id    UUID   NOT NULL PRIMARY KEY REFERENCES {users} (id),
    referrer_id   UUID   NOT NULL REFERENCES {users} (id),
    joined_at     BIGINT NOT NULL,
    reward_points BIGINT NOT NULL
);

-- The cursor listing (newest first) and the exact count of the boundary day.
CREATE INDEX {index:referrals_by_referrer} ON {referrals} (referrer_id, joined_at DESC, referee_id DESC);

-- Sign-ups per referrer per UTC day (days since the epoch), for "joined since" counts.
CREATE TABLE {referral_days} (
    referrer_id UUID   NOT NULL REFERENCES {users} (id),
    day         BIGINT NOT NULL,
    joined      BIGINT NOT NULL CHECK (joined > 0),
    PRIMARY KEY (referrer_id, day)
);

CREATE TABLE {reward_ledger} (
    id             UUID   NOT NULL PRIMARY KEY,
    referral_id    UUID   NOT NULL REFERENCES {referrals} (referee_id),
    beneficiary_id UUID   NOT NULL REFERENCES {users} (id),
    kind           TEXT   NOT NULL CHECK (kind IN ('referrer', 'referee', 'second_tier')),
    points         BIGINT NOT NULL CHECK (points <> 0)
);

CREATE TABLE {refresh_tokens} (
    hash       BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id    UUID   NOT NULL REFERENCES {users} (id),
    family_id  UUID   NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);

CREATE INDEX {index:refresh_tokens_by_user} ON {refresh_tokens} (user_id);

CREATE TABLE {reset_tokens} (
    hash          BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id       UUID   NOT NULL REFERENCES {users} (id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    superseded_at BIGINT
);

CREATE INDEX {index:reset_tokens_live_by_user} ON {reset_tokens} (user_id)
    WHERE used_at IS NULL AND superseded_at IS NULL;

CREATE TABLE {rate_limits} (
    rate_key   TEXT   NOT NULL PRIMARY KEY,
    hits       BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);

CREATE TABLE {outbox} (
    id              UUID   NOT NULL PRIMARY KEY,
    recipient       TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    body_text       TEXT   NOT NULL,
    body_html       TEXT   NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    sent_at         BIGINT,
    last_error      TEXT
);

CREATE INDEX {index:outbox_due} ON {outbox} (next_attempt_at, id) WHERE sent_at IS NULL;
CREATE INDEX {index:outbox_sent} ON {outbox} (sent_at) WHERE sent_at IS NOT NULL;
