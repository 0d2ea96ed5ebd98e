-- Roles, disabling and the audit log (issue #14).
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

-- A user's roles as a JSON array of role names (each `a-z 0-9 _ -`, so `"admin"` with its
-- quotes matches exactly one role); every existing user holds `user`, as new ones do.
ALTER TABLE {users} ADD COLUMN roles TEXT NOT NULL DEFAULT '["user"]'
    CHECK (json_valid(roles) AND json_type(roles) = 'array');
-- When the account was disabled; NULL while it is enabled.
ALTER TABLE {users} ADD COLUMN disabled_at INTEGER;

-- The enabled admins, which the last-admin rule counts on every change of access.
CREATE INDEX {index:users_active_admins} ON {users} (id)
    WHERE roles LIKE '%"admin"%' AND disabled_at IS NULL;

-- Who changed what. No foreign keys: the log outlives the users it names.
CREATE TABLE {audit_log} (
    id        BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    actor_id  BLOB    CHECK (actor_id IS NULL OR length(actor_id) = 16),
    action    TEXT    NOT NULL CHECK (action <> ''),
    target_id BLOB    CHECK (target_id IS NULL OR length(target_id) = 16),
    details   TEXT    NOT NULL CHECK (json_valid(details) AND json_type(details) = 'object'),
    at        INTEGER NOT NULL
) STRICT;

CREATE INDEX {index:audit_log_newest} ON {audit_log} (at DESC, id DESC);
