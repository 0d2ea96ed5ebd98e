-- Email verification, account self-service and the reward lifecycle (issue #13).
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

-- Users: a verified flag, the app's metadata (a JSON object), the sum of pending rewards
-- beside the approved one, and when the account was erased (the row stays, anonymised, so
-- referrals and the ledger keep their references; erased rows are never found).
ALTER TABLE {users}
    ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN metadata       TEXT    NOT NULL DEFAULT '{}'
        CHECK (json_typeof(metadata::json) = 'object'),
    ADD COLUMN pending_points BIGINT  NOT NULL DEFAULT 0,
    ADD COLUMN erased_at      BIGINT;

CREATE TABLE {verification_tokens} (
    hash          BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id       UUID   NOT NULL REFERENCES {users} (id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    superseded_at BIGINT
);

CREATE INDEX {index:verification_tokens_live_by_user} ON {verification_tokens} (user_id)
    WHERE used_at IS NULL AND superseded_at IS NULL;
CREATE INDEX {index:verification_tokens_expiry} ON {verification_tokens} (expires_at);

-- One row per conversion the app reported: recording it again changes nothing.
CREATE TABLE {conversions} (
    id          UUID   NOT NULL PRIMARY KEY,
    user_id     UUID   NOT NULL REFERENCES {users} (id),
    kind        TEXT   NOT NULL CHECK (kind <> ''),
    external_id TEXT   NOT NULL CHECK (external_id <> ''),
    value       BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    CONSTRAINT conversions_once UNIQUE (user_id, kind, external_id)
);

-- The ledger gains a status (only approved entries count in reward_points), what approves
-- a pending entry, fraud flags, a reason and its times; conversion and adjustment entries
-- join (an adjustment names no referral). Entries written before were approved at their
-- referral's sign-up.
ALTER TABLE {reward_ledger} ALTER COLUMN referral_id DROP NOT NULL;
ALTER TABLE {reward_ledger} DROP CONSTRAINT reward_ledger_kind_check;
ALTER TABLE {reward_ledger}
    ADD CONSTRAINT reward_ledger_kind_check CHECK (kind IN
        ('referrer', 'referee', 'second_tier', 'conversion', 'adjustment')),
    ADD COLUMN status TEXT NOT NULL DEFAULT 'approved'
        CHECK (status IN ('pending', 'approved', 'revoked')),
    ADD COLUMN approval TEXT NOT NULL DEFAULT 'on_signup'
        CHECK (approval IN ('on_signup', 'on_email_verified', 'on_conversion', 'review')),
    ADD COLUMN flags TEXT NOT NULL DEFAULT '',
    ADD COLUMN reason TEXT,
    ADD COLUMN created_at BIGINT,
    ADD COLUMN updated_at BIGINT,
    ADD CONSTRAINT reward_ledger_referral_check
        CHECK (referral_id IS NOT NULL OR kind = 'adjustment');
UPDATE {reward_ledger} l SET created_at = r.joined_at, updated_at = r.joined_at
    FROM {referrals} r WHERE r.referee_id = l.referral_id;
ALTER TABLE {reward_ledger}
    ALTER COLUMN status DROP DEFAULT,
    ALTER COLUMN approval DROP DEFAULT,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN updated_at SET NOT NULL,
    ADD CONSTRAINT reward_ledger_updated_check CHECK (updated_at >= created_at);

-- A user's rewards newest first; a referee's pending rewards; the review queue.
CREATE INDEX {index:reward_ledger_by_beneficiary} ON {reward_ledger}
    (beneficiary_id, created_at DESC, id DESC);
CREATE INDEX {index:reward_ledger_by_referral} ON {reward_ledger} (referral_id)
    WHERE status = 'pending';
CREATE INDEX {index:reward_ledger_pending} ON {reward_ledger} (created_at DESC, id DESC)
    WHERE status = 'pending';
