-- Click tracking (issue #16): share-link clicks counted per owner, one per visitor per 24 h.
-- Visitors are keyed hashes (32 bytes) of address and user agent, never the address itself.
-- Counters keep stats O(1): a total per owner and a count per owner per UTC day.
-- A template: table and index names in braces become names in the storage's namespace
-- (storage/sql/namespace.rs). Applied once and checksummed: never edit; add a migration.

-- Each visitor's latest counted click per owner, to hold back repeats; pruned after 24 h.
CREATE TABLE {click_visitors} (
    owner_id   BLOB    NOT NULL CHECK (length(owner_id) = 16),
    visitor    BLOB    NOT NULL CHECK (length(visitor) = 32),
    counted_at INTEGER NOT NULL,
    PRIMARY KEY (owner_id, visitor)
) STRICT, WITHOUT ROWID;

CREATE INDEX {index:click_visitors_counted} ON {click_visitors} (counted_at);

CREATE TABLE {click_totals} (
    owner_id BLOB    NOT NULL PRIMARY KEY REFERENCES {users} (id),
    clicks   INTEGER NOT NULL CHECK (clicks > 0)
) STRICT, WITHOUT ROWID;

-- Clicks per owner per UTC day (days since the epoch); days older than the stats window are
-- pruned.
CREATE TABLE {click_days} (
    owner_id BLOB    NOT NULL REFERENCES {users} (id),
    day      INTEGER NOT NULL,
    clicks   INTEGER NOT NULL CHECK (clicks > 0),
    PRIMARY KEY (owner_id, day)
) STRICT, WITHOUT ROWID;

CREATE INDEX {index:click_days_by_day} ON {click_days} (day);
