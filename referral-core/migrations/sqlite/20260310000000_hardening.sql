-- Hardening (issue #10): token versions on refresh tokens, keyed rate-limit windows that
-- know their end, an outbox of intents with dead letters, and indexes for pruning.
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

-- A refresh token rotates only while its token version is its user's. Tokens stored before
-- were issued at their user's current version: every reset revoked the older ones.
ALTER TABLE {refresh_tokens} ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
UPDATE {refresh_tokens}
    SET token_version = (SELECT u.token_version FROM {users} u WHERE u.id = user_id);

-- Pruning finds expired and revoked refresh tokens without reading the live ones.
CREATE INDEX {index:refresh_tokens_expiry} ON {refresh_tokens} (expires_at);
CREATE INDEX {index:refresh_tokens_revoked} ON {refresh_tokens} (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- Windows are keyed by a keyed hash (32 bytes) instead of text holding the email, and keep
-- their end for pruning. Open windows are dropped: their text keys cannot be converted, and
-- they last an hour at most.
DROP TABLE {rate_limits};
CREATE TABLE {rate_limits} (
    rate_key   BLOB    NOT NULL PRIMARY KEY CHECK (length(rate_key) = 32),
    hits       INTEGER NOT NULL CHECK (hits >= 0),
    started_at INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL CHECK (ends_at >= started_at)
) STRICT, WITHOUT ROWID;

CREATE INDEX {index:rate_limits_ends} ON {rate_limits} (ends_at);

-- The outbox holds intents (a topic, the user, a JSON payload) rendered when delivered,
-- never a rendered mail. Every old row is deleted: unsent ones held rendered reset mails
-- with live reset tokens in them, which must not stay at rest (those users request another
-- reset); sent ones were only waiting to be pruned.
DROP TABLE {outbox};
CREATE TABLE {outbox} (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    topic           TEXT    NOT NULL CHECK (topic <> ''),
    user_id         BLOB    REFERENCES {users} (id),
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    sent_at         INTEGER,
    -- A dead letter: given up on, never claimed until redelivered.
    died_at         INTEGER,
    last_error      TEXT
) STRICT;

CREATE INDEX {index:outbox_due} ON {outbox} (next_attempt_at, id)
    WHERE sent_at IS NULL AND died_at IS NULL;
CREATE INDEX {index:outbox_sent} ON {outbox} (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX {index:outbox_dead} ON {outbox} (died_at DESC, id DESC) WHERE died_at IS NOT NULL;
