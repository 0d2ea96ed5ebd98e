-- Vanity referral codes (issue #16): every code a user ever held, the current one
-- (users.referral_code) and the earlier ones, which keep working for registration and clicks
-- and can never be held by anyone else. Unique without case: the key is the lower-cased code.
-- Rows are never deleted, not even with their owner's account.
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

CREATE TABLE {referral_codes} (
    code_key   TEXT   NOT NULL,
    code       TEXT   NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{4,32}$'),
    owner_id   UUID   NOT NULL REFERENCES {users} (id),
    created_at BIGINT NOT NULL,
    CONSTRAINT referral_codes_pkey PRIMARY KEY (code_key),
    CONSTRAINT referral_codes_key_is_lower_code CHECK (code_key = lower(code))
);

-- Every user holds the code they signed up with.
INSERT INTO {referral_codes} (code_key, code, owner_id, created_at)
    SELECT lower(referral_code), referral_code, id, created_at FROM {users};
