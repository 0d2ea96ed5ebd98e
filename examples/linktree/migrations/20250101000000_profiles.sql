-- The Linktree-like app's own tables, beside the referral library's (which live in their own
-- namespace: the `referral` schema on PostgreSQL, `referral_`-prefixed tables on SQLite).
-- Portable SQL: the same file migrates SQLite and PostgreSQL. Ids are the library's user ids
-- as text; timestamps RFC 3339 text.

CREATE TABLE profiles (
    user_id      TEXT NOT NULL PRIMARY KEY,
    handle       TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE links (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES profiles (user_id),
    title      TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE INDEX links_by_user ON links (user_id, position);

-- The app's own accounts table, named as apps name it: it never meets the library's.
CREATE TABLE users (
    id    TEXT NOT NULL PRIMARY KEY,
    note  TEXT NOT NULL
);
