-- Roles, disabling and the audit log (issue #14).
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

-- A user's roles as a JSON array of role names (each `a-z 0-9 _ -`, so `"admin"` with its
-- quotes matches exactly one role), kept as text so both backends share every query; every
-- existing user holds `user`, as new ones do.
ALTER TABLE {users} ADD COLUMN roles TEXT NOT NULL DEFAULT '["user"]'
    CHECK (jsonb_typeof(roles::jsonb) = 'array');
-- When the account was disabled; NULL while it is enabled.
ALTER TABLE {users} ADD COLUMN disabled_at BIGINT;

-- The enabled admins, which the last-admin rule locks and counts on every change of access.
CREATE INDEX {index:users_active_admins} ON {users} (id)
    WHERE roles LIKE '%"admin"%' AND disabled_at IS NULL;

-- Who changed what. No foreign keys: the log outlives the users it names.
CREATE TABLE {audit_log} (
    id        UUID   NOT NULL PRIMARY KEY,
    actor_id  UUID,
    action    TEXT   NOT NULL CHECK (action <> ''),
    target_id UUID,
    details   TEXT   NOT NULL CHECK (jsonb_typeof(details::jsonb) = 'object'),
    at        BIGINT NOT NULL
);

CREATE INDEX {index:audit_log_newest} ON {audit_log} (at DESC, id DESC);
