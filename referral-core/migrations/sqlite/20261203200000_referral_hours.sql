-- Sign-ups per referrer per hour (hours since the epoch), beside the daily counts, so that
-- "joined in the last 30 days" counts exactly only within one boundary hour instead of a
-- whole boundary day (issue #12: the same cost for 10 referrals and for 100,000). Pruning
-- deletes hours older than any boundary. A template: names in braces become names in the
-- storage's namespace. Never edit; add a migration.
CREATE TABLE {referral_hours} (
    referrer_id BLOB    NOT NULL REFERENCES {users} (id),
    hour        INTEGER NOT NULL,
    joined      INTEGER NOT NULL CHECK (joined > 0),
    PRIMARY KEY (referrer_id, hour)
) STRICT, WITHOUT ROWID;

INSERT INTO {referral_hours} (referrer_id, hour, joined)
    SELECT referrer_id, joined_at / 3600000000, COUNT(*) FROM {referrals}
    WHERE joined_at >= 0 GROUP BY referrer_id, joined_at / 3600000000;

CREATE INDEX {index:referral_hours_age} ON {referral_hours} (hour);
