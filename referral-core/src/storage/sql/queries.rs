//! The query text both SQL backends share, with table names as placeholders (see
//! [`namespace`](super::namespace)), rendered once per storage for its namespace.
//!
//! Parameters are `$1`, `$2`, … on both backends (SQLite reads `$n` as the n-th argument);
//! timestamps are BIGINT unix microseconds; upserts name their target through an alias, so
//! the text never depends on how a table name is qualified.

use super::namespace::Renderer;
use super::rows::{outbox_columns, user_columns};

/// Every statement of the [`Storage`](crate::Storage) implementation and of the migrator's
/// bookkeeping, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Queries {
    /// `$1` user: locks the row (where the backend has row locks); no row, no user.
    pub(crate) lock_user: String,
    /// `$1` hash: the owner of a refresh token.
    pub(crate) refresh_token_owner: String,
    /// `$1` hash: the owner of a reset token.
    pub(crate) reset_token_owner: String,
    /// `$1` user, `$2` now: revokes every live refresh token of the user.
    pub(crate) revoke_sessions: String,
    pub(crate) insert_refresh_token: String,
    /// `$1` user, `$2` referrals, `$3` second-tier referrals, `$4` points: adds to counters.
    pub(crate) add_to_counters: String,
    pub(crate) insert_user: String,
    pub(crate) insert_referral: String,
    /// `$1` referrer, `$2` UTC day: one more sign-up that day.
    pub(crate) count_referral_day: String,
    pub(crate) insert_reward: String,
    pub(crate) user_by_id: String,
    pub(crate) user_by_email: String,
    pub(crate) user_by_referral_code: String,
    pub(crate) update_password_hash: String,
    /// `$1` hash, `$2` now: marks a live refresh token used, returning its user and family.
    pub(crate) use_refresh_token: String,
    /// `$1` hash: when the token was used, if ever.
    pub(crate) refresh_token_used_at: String,
    pub(crate) revoke_refresh_token: String,
    /// `$1` user, `$2` now: supersedes the user's unconsumed reset tokens.
    pub(crate) supersede_reset_tokens: String,
    pub(crate) insert_reset_token: String,
    pub(crate) insert_outbox: String,
    /// `$1` hash, `$2` now: the owner of a live reset token.
    pub(crate) reset_token_user: String,
    /// `$1` hash, `$2` now: marks a live reset token used, returning its user.
    pub(crate) use_reset_token: String,
    /// `$1` user, `$2` hash: the password a reset sets, ending every access token.
    pub(crate) reset_password: String,
    /// `$1` key, `$2` now, `$3` window: one more hit, in the open window or a new one.
    pub(crate) hit_rate_limit: String,
    pub(crate) rate_limit: String,
    pub(crate) clear_rate_limit: String,
    /// `$1` referrer, `$2` limit.
    pub(crate) list_referrals: String,
    /// `$1` referrer, `$2` cursor's `joined_at`, `$3` cursor's user, `$4` limit.
    pub(crate) list_referrals_after: String,
    /// `$1` user, `$2` boundary day, `$3` since, `$4` start of the next day.
    pub(crate) referral_stats: String,
    /// `$1` now, `$2` lease end, `$3` limit.
    pub(crate) claim_outbox: String,
    pub(crate) complete_outbox: String,
    pub(crate) fail_outbox: String,
    pub(crate) prune_outbox: String,
    pub(crate) pending_outbox: String,
    /// The migrator's bookkeeping: versions applied, oldest first, with checksums.
    pub(crate) applied_migrations: String,
    /// `$1` version, `$2` description, `$3` checksum, `$4` applied at.
    pub(crate) record_migration: String,
}

impl Queries {
    /// The queries for one namespace.
    pub(crate) fn render(renderer: &Renderer<'_>) -> Self {
        let r = |template: &str| renderer.render(template);
        Queries {
            lock_user: r("SELECT id FROM {users} WHERE id = $1{lock_row}"),
            refresh_token_owner: r("SELECT user_id FROM {refresh_tokens} WHERE hash = $1"),
            reset_token_owner: r("SELECT user_id FROM {reset_tokens} WHERE hash = $1"),
            revoke_sessions: r("UPDATE {refresh_tokens} SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL"),
            insert_refresh_token: r("INSERT INTO {refresh_tokens} \
                 (hash, user_id, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)"),
            add_to_counters: r("UPDATE {users} SET referral_count = referral_count + $2, \
                 second_tier_count = second_tier_count + $3, \
                 reward_points = reward_points + $4 WHERE id = $1"),
            insert_user: r(
                "INSERT INTO {users} (id, email, password_hash, referral_code, \
                 referred_by, token_version, created_at, reward_points) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ),
            insert_referral: r("INSERT INTO {referrals} \
                 (referee_id, referrer_id, joined_at, reward_points) VALUES ($1, $2, $3, $4)"),
            count_referral_day: r(
                "INSERT INTO {referral_days} AS d (referrer_id, day, joined) \
                 VALUES ($1, $2, 1) \
                 ON CONFLICT (referrer_id, day) DO UPDATE SET joined = d.joined + 1",
            ),
            insert_reward: r("INSERT INTO {reward_ledger} \
                 (id, referral_id, beneficiary_id, kind, points) VALUES ($1, $2, $3, $4, $5)"),
            user_by_id: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = $1"
            )),
            user_by_email: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE email = $1"
            )),
            user_by_referral_code: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE referral_code = $1"
            )),
            update_password_hash: r("UPDATE {users} SET password_hash = $2 WHERE id = $1"),
            use_refresh_token: r("UPDATE {refresh_tokens} SET used_at = $2 WHERE hash = $1 \
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                 RETURNING user_id, family_id"),
            refresh_token_used_at: r("SELECT used_at FROM {refresh_tokens} WHERE hash = $1"),
            revoke_refresh_token: r("UPDATE {refresh_tokens} SET revoked_at = $2 \
                 WHERE hash = $1 AND revoked_at IS NULL"),
            supersede_reset_tokens: r("UPDATE {reset_tokens} SET superseded_at = $2 \
                 WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL"),
            insert_reset_token: r("INSERT INTO {reset_tokens} \
                 (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"),
            insert_outbox: r("INSERT INTO {outbox} (id, recipient, subject, body_text, \
                 body_html, attempts, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"),
            reset_token_user: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = (SELECT user_id FROM {reset_tokens} \
                 WHERE hash = $1 AND used_at IS NULL AND superseded_at IS NULL \
                 AND expires_at > $2)"
            )),
            use_reset_token: r("UPDATE {reset_tokens} SET used_at = $2 WHERE hash = $1 \
                 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2 \
                 RETURNING user_id"),
            reset_password: r("UPDATE {users} \
                 SET password_hash = $2, token_version = token_version + 1 WHERE id = $1"),
            // One statement: the upsert is atomic on both backends.
            hit_rate_limit: r(
                "INSERT INTO {rate_limits} AS r (rate_key, hits, started_at) \
                 VALUES ($1, 1, $2) \
                 ON CONFLICT (rate_key) DO UPDATE SET \
                 hits = CASE WHEN r.started_at + $3 <= $2 THEN 1 ELSE r.hits + 1 END, \
                 started_at = CASE WHEN r.started_at + $3 <= $2 THEN $2 ELSE r.started_at END \
                 RETURNING hits, started_at",
            ),
            rate_limit: r("SELECT hits, started_at FROM {rate_limits} \
                 WHERE rate_key = $1 AND started_at + $3 > $2"),
            clear_rate_limit: r("DELETE FROM {rate_limits} WHERE rate_key = $1"),
            list_referrals: r(
                "SELECT r.referee_id, u.email, r.joined_at, r.reward_points \
                 FROM {referrals} r JOIN {users} u ON u.id = r.referee_id \
                 WHERE r.referrer_id = $1 \
                 ORDER BY r.joined_at DESC, r.referee_id DESC LIMIT $2",
            ),
            list_referrals_after: r(
                "SELECT r.referee_id, u.email, r.joined_at, r.reward_points \
                 FROM {referrals} r JOIN {users} u ON u.id = r.referee_id \
                 WHERE r.referrer_id = $1 AND (r.joined_at, r.referee_id) < ($2, $3) \
                 ORDER BY r.joined_at DESC, r.referee_id DESC LIMIT $4",
            ),
            referral_stats: r("SELECT referral_count, second_tier_count, reward_points, \
                 (SELECT CAST(COALESCE(SUM(joined), 0) AS BIGINT) FROM {referral_days} \
                  WHERE referrer_id = $1 AND day > $2), \
                 (SELECT COUNT(*) FROM {referrals} \
                  WHERE referrer_id = $1 AND joined_at >= $3 AND joined_at < $4) \
                 FROM {users} WHERE id = $1"),
            claim_outbox: r(concat!(
                "UPDATE {outbox} SET lease_until = $2, attempts = attempts + 1 ",
                "WHERE id IN (SELECT id FROM {outbox} WHERE sent_at IS NULL ",
                "AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) ",
                "ORDER BY next_attempt_at, id LIMIT $3{skip_locked}) RETURNING ",
                outbox_columns!()
            )),
            complete_outbox: r("UPDATE {outbox} SET sent_at = $2, lease_until = NULL \
                 WHERE id = $1"),
            fail_outbox: r("UPDATE {outbox} \
                 SET next_attempt_at = $2, lease_until = NULL, last_error = $3 WHERE id = $1"),
            prune_outbox: r("DELETE FROM {outbox} WHERE sent_at < $1"),
            pending_outbox: r("SELECT COUNT(*) FROM {outbox} WHERE sent_at IS NULL"),
            applied_migrations: r("SELECT version, checksum FROM {schema_migrations} \
                 ORDER BY version"),
            record_migration: r("INSERT INTO {schema_migrations} \
                 (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)"),
        }
    }
}
