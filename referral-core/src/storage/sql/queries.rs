//! The query text both SQL backends share, with table names as placeholders (see
//! [`namespace`](super::namespace)), rendered once per storage for its namespace.
//!
//! Parameters are `$1`, `$2`, … on both backends (SQLite reads `$n` as the n-th argument);
//! timestamps are BIGINT unix microseconds; upserts name their target through an alias, so
//! the text never depends on how a table name is qualified.

use super::namespace::Renderer;
use super::rows::{audit_columns, outbox_columns, reward_columns, user_columns};

/// The condition an enabled admin's row meets (the partial index `users_active_admins`
/// has the same predicate). Role names hold no quotes, so `"admin"` matches one role.
macro_rules! active_admin {
    () => {
        "roles LIKE '%\"admin\"%' AND disabled_at IS NULL"
    };
}

/// Every statement of the [`Storage`](crate::Storage) implementation and of the migrator's
/// bookkeeping, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Queries {
    /// `$1` user: the user, with their row locked (where the backend has row locks).
    pub(crate) lock_user: String,
    /// `$1` hash: the owner of a refresh token.
    pub(crate) refresh_token_owner: String,
    /// `$1` hash: the owner of a reset token.
    pub(crate) reset_token_owner: String,
    /// `$1` user, `$2` now: revokes every live refresh token of the user.
    pub(crate) revoke_sessions: String,
    /// `$1` hash, `$2` user, `$3` family, `$4` issued, `$5` expires, `$6` token version:
    /// stores the token only while `$6` is its user's token version, holding the user's row
    /// (so a reset waits for it, or it sees the reset's new version).
    pub(crate) insert_refresh_token: String,
    /// `$1` user, `$2` referrals, `$3` second-tier referrals, `$4` approved points, `$5`
    /// pending points: adds to counters.
    pub(crate) add_to_counters: String,
    pub(crate) insert_user: String,
    pub(crate) insert_referral: String,
    /// `$1` referrer, `$2` UTC day: one more sign-up that day.
    pub(crate) count_referral_day: String,
    /// `$1` referrer, `$2` hour (hours since the epoch).
    pub(crate) count_referral_hour: String,
    /// `$1` the oldest hour to keep.
    pub(crate) prune_referral_hours: String,
    pub(crate) insert_reward: String,
    pub(crate) user_by_id: String,
    pub(crate) user_by_email: String,
    /// `$1` code key: the user holding the code, current or earlier.
    pub(crate) user_by_referral_code: String,
    /// `$1` code key, `$2` code, `$3` owner, `$4` created: records a new user's code.
    pub(crate) insert_referral_code: String,
    /// `$1` code key, `$2` code, `$3` user, `$4` now: records the code as the user's, or
    /// rewrites it when it already is; returns a row only then (someone else's: none).
    pub(crate) claim_referral_code: String,
    /// `$1` user, `$2` code: the user's current code.
    pub(crate) set_current_referral_code: String,
    /// `$1` user, `$2` the hash expected, `$3` the new one.
    pub(crate) replace_password_hash: String,
    /// `$1` hash, `$2` now, `$3` the user's token version: marks a live refresh token of that
    /// version used, returning its family.
    pub(crate) use_refresh_token: String,
    /// `$1` hash: when the token was used, if ever.
    pub(crate) refresh_token_used_at: String,
    pub(crate) revoke_refresh_token: String,
    /// `$1` user, `$2` now: supersedes the user's unconsumed reset tokens.
    pub(crate) supersede_reset_tokens: String,
    pub(crate) insert_reset_token: String,
    /// `$1` hash, `$2` now: the owner of a live reset token.
    pub(crate) reset_token_user: String,
    /// `$1` hash, `$2` now: marks a live reset token used, returning its user.
    pub(crate) use_reset_token: String,
    /// `$1` user, `$2` hash: the password a reset sets, ending every access token.
    pub(crate) reset_password: String,
    /// `$1` key, `$2` now, `$3` the end of a window opening now: one more hit, in the open
    /// window or a new one.
    pub(crate) hit_rate_limit: String,
    /// `$1` key, `$2` the start of the window to take a hit back from.
    pub(crate) refund_rate_limit: String,
    pub(crate) clear_rate_limit: String,
    /// `$1` referrer, `$2` limit.
    pub(crate) list_referrals: String,
    /// `$1` referrer, `$2` cursor's `joined_at`, `$3` cursor's user, `$4` limit.
    pub(crate) list_referrals_after: String,
    /// `$1` user, `$2` boundary day, `$3` boundary hour, `$4` first hour of the next day,
    /// `$5` since, `$6` start of the next hour.
    pub(crate) referral_stats: String,
    /// `$1` owner, `$2` visitor, `$3` clicked at, `$4` the start of the window before it:
    /// counts the click as the visitor's latest unless one was counted in the window.
    pub(crate) count_click_visitor: String,
    /// `$1` owner, `$2` clicks.
    pub(crate) add_click_total: String,
    /// `$1` owner, `$2` UTC day, `$3` clicks.
    pub(crate) add_click_day: String,
    /// `$1` user, `$2` the day of `since`.
    pub(crate) click_counts: String,
    /// `$1` cutoff.
    pub(crate) prune_click_visitors: String,
    /// `$1` the first day kept.
    pub(crate) prune_click_days: String,
    /// `$1` id, `$2` topic, `$3` user, `$4` payload, `$5` attempts, `$6` created (and due).
    pub(crate) insert_outbox: String,
    /// `$1` now, `$2` lease end, `$3` limit.
    pub(crate) claim_outbox: String,
    /// `$1` id, `$2` now: marks an open message done (the event a fan-out replaces).
    pub(crate) fan_out_done: String,
    pub(crate) complete_outbox: String,
    pub(crate) fail_outbox: String,
    /// `$1` id, `$2` now, `$3` reason.
    pub(crate) dead_letter_outbox: String,
    /// `$1` limit.
    pub(crate) dead_letters: String,
    /// `$1` the last dead letter seen, `$2` limit.
    pub(crate) dead_letters_after: String,
    /// `$1` id, `$2` now.
    pub(crate) redeliver_outbox: String,
    pub(crate) pending_outbox: String,
    /// `$1` now: windows that have ended.
    pub(crate) prune_rate_limits: String,
    /// `$1` now.
    pub(crate) prune_expired_refresh_tokens: String,
    pub(crate) prune_revoked_refresh_tokens: String,
    /// `$1` now: expired, used or superseded.
    pub(crate) prune_reset_tokens: String,
    /// `$1` now: expired, used or superseded.
    pub(crate) prune_verification_tokens: String,
    /// `$1` hash: the owner of a verification token.
    pub(crate) verification_token_owner: String,
    /// `$1` user, `$2` now: supersedes the user's unconsumed verification tokens.
    pub(crate) supersede_verification_tokens: String,
    pub(crate) insert_verification_token: String,
    /// `$1` hash, `$2` now: the owner of a live verification token.
    pub(crate) verification_token_user: String,
    /// `$1` hash, `$2` now: marks a live verification token used, returning its user.
    pub(crate) use_verification_token: String,
    /// `$1` user.
    pub(crate) mark_email_verified: String,
    /// `$1` id.
    pub(crate) reward_by_id: String,
    /// `$1` referral user, `$2` approval.
    pub(crate) pending_rewards: String,
    /// `$1` beneficiary, `$2` limit.
    pub(crate) list_rewards: String,
    /// `$1` beneficiary, `$2` cursor's `created_at`, `$3` cursor's id, `$4` limit.
    pub(crate) list_rewards_after: String,
    /// `$1` status, `$2` limit.
    pub(crate) rewards_with_status: String,
    /// `$1` status, `$2` cursor's `created_at`, `$3` cursor's id, `$4` limit.
    pub(crate) rewards_with_status_after: String,
    /// `$1` id, `$2` the status it must have, `$3` the new one, `$4` reason (or keep),
    /// `$5` now: the entry as changed.
    pub(crate) transition_reward: String,
    /// `$1` referee, `$2` referrer, `$3` points: adds to the referral's approved points.
    pub(crate) add_to_referral_points: String,
    /// `$1` id, `$2` user, `$3` kind, `$4` external id, `$5` value, `$6` at: nothing when
    /// recorded before.
    pub(crate) insert_conversion: String,
    /// `$1` cutoff.
    pub(crate) prune_done_outbox: String,
    /// `$1` cutoff.
    pub(crate) prune_dead_outbox: String,
    /// `$1` user, `$2` the tombstone's email, `$3` now: erases a live user's personal data.
    pub(crate) erase_user: String,
    /// `$1` user, `$2` metadata (JSON text): the user's columns afterwards, no row for an
    /// unknown or erased user.
    pub(crate) update_metadata: String,
    /// `$1` user: deletes every refresh token of the user.
    pub(crate) delete_user_refresh_tokens: String,
    /// `$1` user.
    pub(crate) delete_user_reset_tokens: String,
    /// `$1` user.
    pub(crate) delete_user_verification_tokens: String,
    /// `$1` code key: how many erased users hold the code (0 or 1).
    pub(crate) referral_code_retired: String,
    /// `$1` user: how many enabled admins there are besides the user.
    pub(crate) other_active_admins: String,
    /// `$1` user, `$2` roles (JSON), `$3` disabled at, `$4` token version.
    pub(crate) update_access: String,
    /// `$1` id, `$2` actor, `$3` action, `$4` target, `$5` details (JSON), `$6` at.
    pub(crate) insert_audit: String,
    /// `$1` email pattern (LIKE, `\` escaping) or NULL, `$2` role pattern (alike) or NULL, `$3` the
    /// last user seen or NULL, `$4` limit.
    pub(crate) search_users: String,
    /// `$1` limit.
    pub(crate) audit_log: String,
    /// `$1` the last entry seen, `$2` limit.
    pub(crate) audit_log_after: String,
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
            lock_user: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = $1 AND erased_at IS NULL{lock_row}"
            )),
            refresh_token_owner: r("SELECT user_id FROM {refresh_tokens} WHERE hash = $1"),
            reset_token_owner: r("SELECT user_id FROM {reset_tokens} WHERE hash = $1"),
            revoke_sessions: r("UPDATE {refresh_tokens} SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL"),
            insert_refresh_token: r("INSERT INTO {refresh_tokens} \
                 (hash, user_id, family_id, issued_at, expires_at, token_version) \
                 SELECT $1, $2, $3, $4, $5, $6 FROM {users} \
                 WHERE id = $2 AND token_version = $6{lock_row}"),
            add_to_counters: r("UPDATE {users} SET referral_count = referral_count + $2, \
                 second_tier_count = second_tier_count + $3, \
                 reward_points = reward_points + $4, \
                 pending_points = pending_points + $5 WHERE id = $1"),
            insert_user: r(
                "INSERT INTO {users} (id, email, password_hash, referral_code, \
                 referred_by, token_version, created_at, reward_points, pending_points, \
                 email_verified, metadata, roles, disabled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            ),
            insert_referral: r("INSERT INTO {referrals} \
                 (referee_id, referrer_id, joined_at, reward_points) VALUES ($1, $2, $3, $4)"),
            count_referral_day: r(
                "INSERT INTO {referral_days} AS d (referrer_id, day, joined) \
                 VALUES ($1, $2, 1) \
                 ON CONFLICT (referrer_id, day) DO UPDATE SET joined = d.joined + 1",
            ),
            count_referral_hour: r(
                "INSERT INTO {referral_hours} AS h (referrer_id, hour, joined) \
                 VALUES ($1, $2, 1) \
                 ON CONFLICT (referrer_id, hour) DO UPDATE SET joined = h.joined + 1",
            ),
            prune_referral_hours: r("DELETE FROM {referral_hours} WHERE hour < $1"),
            insert_reward: r("INSERT INTO {reward_ledger} \
                 (id, referral_id, beneficiary_id, kind, points, status, approval, flags, \
                 reason, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            user_by_id: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = $1 AND erased_at IS NULL"
            )),
            user_by_email: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE email = $1 AND erased_at IS NULL"
            )),
            user_by_referral_code: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = ",
                "(SELECT owner_id FROM {referral_codes} WHERE code_key = $1) AND erased_at IS NULL"
            )),
            insert_referral_code: r("INSERT INTO {referral_codes} \
                 (code_key, code, owner_id, created_at) VALUES ($1, $2, $3, $4)"),
            // One statement on the key: of racing claims of a free code one inserts, and the
            // others meet its row and, not being its owner, change nothing.
            claim_referral_code: r(
                "INSERT INTO {referral_codes} AS c (code_key, code, owner_id, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (code_key) DO UPDATE SET code = $2 WHERE c.owner_id = $3 \
                 RETURNING owner_id",
            ),
            set_current_referral_code: r("UPDATE {users} SET referral_code = $2 WHERE id = $1"),
            replace_password_hash: r("UPDATE {users} SET password_hash = $3 \
                 WHERE id = $1 AND password_hash = $2"),
            use_refresh_token: r("UPDATE {refresh_tokens} SET used_at = $2 WHERE hash = $1 \
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                 AND token_version = $3 RETURNING family_id"),
            refresh_token_used_at: r("SELECT used_at FROM {refresh_tokens} WHERE hash = $1"),
            revoke_refresh_token: r("UPDATE {refresh_tokens} SET revoked_at = $2 \
                 WHERE hash = $1 AND revoked_at IS NULL"),
            supersede_reset_tokens: r("UPDATE {reset_tokens} SET superseded_at = $2 \
                 WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL"),
            insert_reset_token: r("INSERT INTO {reset_tokens} \
                 (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"),
            reset_token_user: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = (SELECT user_id FROM {reset_tokens} \
                 WHERE hash = $1 AND used_at IS NULL AND superseded_at IS NULL \
                 AND expires_at > $2) AND erased_at IS NULL"
            )),
            use_reset_token: r("UPDATE {reset_tokens} SET used_at = $2 WHERE hash = $1 \
                 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2 \
                 RETURNING user_id"),
            reset_password: r("UPDATE {users} \
                 SET password_hash = $2, token_version = token_version + 1 WHERE id = $1"),
            // One statement: the upsert is atomic on both backends, so of concurrent hits
            // each gets a count of its own.
            hit_rate_limit: r(
                "INSERT INTO {rate_limits} AS w (rate_key, hits, started_at, ends_at) \
                 VALUES ($1, 1, $2, $3) \
                 ON CONFLICT (rate_key) DO UPDATE SET \
                 hits = CASE WHEN w.ends_at <= $2 THEN 1 ELSE w.hits + 1 END, \
                 started_at = CASE WHEN w.ends_at <= $2 THEN $2 ELSE w.started_at END, \
                 ends_at = CASE WHEN w.ends_at <= $2 THEN $3 ELSE w.ends_at END \
                 RETURNING hits, started_at",
            ),
            refund_rate_limit: r("UPDATE {rate_limits} SET hits = hits - 1 \
                 WHERE rate_key = $1 AND started_at = $2 AND hits > 0"),
            clear_rate_limit: r("DELETE FROM {rate_limits} WHERE rate_key = $1"),
            list_referrals: r("SELECT r.referee_id, \
                 CASE WHEN u.erased_at IS NULL THEN u.email END AS email, \
                 r.joined_at, r.reward_points \
                 FROM {referrals} r JOIN {users} u ON u.id = r.referee_id \
                 WHERE r.referrer_id = $1 \
                 ORDER BY r.joined_at DESC, r.referee_id DESC LIMIT $2"),
            list_referrals_after: r("SELECT r.referee_id, \
                 CASE WHEN u.erased_at IS NULL THEN u.email END AS email, \
                 r.joined_at, r.reward_points \
                 FROM {referrals} r JOIN {users} u ON u.id = r.referee_id \
                 WHERE r.referrer_id = $1 AND (r.joined_at, r.referee_id) < ($2, $3) \
                 ORDER BY r.joined_at DESC, r.referee_id DESC LIMIT $4"),
            // Days after the boundary day from day buckets, the boundary day's hours after
            // the boundary hour from hour buckets, and the boundary hour exactly: at most
            // 30 + 23 bucket rows and an hour of referrals, whatever the total.
            referral_stats: r("SELECT referral_count, second_tier_count, reward_points, \
                 pending_points, \
                 (SELECT CAST(COALESCE(SUM(joined), 0) AS BIGINT) FROM {referral_days} \
                  WHERE referrer_id = $1 AND day > $2) \
                 + (SELECT CAST(COALESCE(SUM(joined), 0) AS BIGINT) FROM {referral_hours} \
                  WHERE referrer_id = $1 AND hour > $3 AND hour < $4), \
                 (SELECT COUNT(*) FROM {referrals} \
                  WHERE referrer_id = $1 AND joined_at >= $5 AND joined_at < $6) \
                 FROM {users} WHERE id = $1"),
            // One statement: a visitor seen in the window leaves the row as it is and no row
            // is affected, so concurrent batches never count one visitor twice.
            count_click_visitor: r(
                "INSERT INTO {click_visitors} AS v (owner_id, visitor, counted_at) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (owner_id, visitor) DO UPDATE SET counted_at = $3 \
                 WHERE v.counted_at < $4",
            ),
            add_click_total: r("INSERT INTO {click_totals} AS t (owner_id, clicks) \
                 VALUES ($1, $2) \
                 ON CONFLICT (owner_id) DO UPDATE SET clicks = t.clicks + $2"),
            add_click_day: r("INSERT INTO {click_days} AS d (owner_id, day, clicks) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (owner_id, day) DO UPDATE SET clicks = d.clicks + $3"),
            click_counts: r("SELECT \
                 (SELECT COALESCE(MAX(clicks), 0) FROM {click_totals} WHERE owner_id = $1), \
                 (SELECT CAST(COALESCE(SUM(clicks), 0) AS BIGINT) FROM {click_days} \
                  WHERE owner_id = $1 AND day > $2)"),
            prune_click_visitors: r("DELETE FROM {click_visitors} WHERE counted_at < $1"),
            prune_click_days: r("DELETE FROM {click_days} WHERE day < $1"),
            insert_outbox: r("INSERT INTO {outbox} \
                 (id, topic, user_id, payload, attempts, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)"),
            // A message about a user waits while an earlier one of its topic and user is
            // open (served by the `outbox_order` index): one user's events stay in order.
            claim_outbox: r(concat!(
                "UPDATE {outbox} SET lease_until = $2, attempts = attempts + 1 ",
                "WHERE id IN (SELECT o.id FROM {outbox} o ",
                "WHERE o.sent_at IS NULL AND o.died_at IS NULL AND o.next_attempt_at <= $1 ",
                "AND (o.lease_until IS NULL OR o.lease_until <= $1) ",
                "AND (o.user_id IS NULL OR NOT EXISTS (SELECT 1 FROM {outbox} e ",
                "WHERE e.topic = o.topic AND e.user_id = o.user_id ",
                "AND e.sent_at IS NULL AND e.died_at IS NULL ",
                "AND (e.created_at, e.id) < (o.created_at, o.id))) ",
                "ORDER BY o.next_attempt_at, o.id LIMIT $3{skip_locked}) RETURNING ",
                outbox_columns!()
            )),
            fan_out_done: r("UPDATE {outbox} SET sent_at = $2, lease_until = NULL \
                 WHERE id = $1 AND sent_at IS NULL AND died_at IS NULL"),
            complete_outbox: r("UPDATE {outbox} SET sent_at = $2, lease_until = NULL \
                 WHERE id = $1"),
            fail_outbox: r("UPDATE {outbox} \
                 SET next_attempt_at = $2, lease_until = NULL, last_error = $3 WHERE id = $1"),
            dead_letter_outbox: r("UPDATE {outbox} \
                 SET died_at = $2, lease_until = NULL, last_error = $3 \
                 WHERE id = $1 AND sent_at IS NULL"),
            dead_letters: r(concat!(
                "SELECT ",
                outbox_columns!(),
                ", died_at, COALESCE(last_error, '') AS reason FROM {outbox} ",
                "WHERE died_at IS NOT NULL ORDER BY died_at DESC, id DESC LIMIT $1"
            )),
            dead_letters_after: r(concat!(
                "SELECT ",
                outbox_columns!(),
                ", died_at, COALESCE(last_error, '') AS reason FROM {outbox} ",
                "WHERE died_at IS NOT NULL AND (died_at, id) < ",
                "(SELECT died_at, id FROM {outbox} WHERE id = $1 AND died_at IS NOT NULL) ",
                "ORDER BY died_at DESC, id DESC LIMIT $2"
            )),
            redeliver_outbox: r("UPDATE {outbox} SET died_at = NULL, lease_until = NULL, \
                 attempts = 0, next_attempt_at = $2 WHERE id = $1 AND died_at IS NOT NULL"),
            pending_outbox: r("SELECT COUNT(*) FROM {outbox} \
                 WHERE sent_at IS NULL AND died_at IS NULL"),
            prune_rate_limits: r("DELETE FROM {rate_limits} WHERE ends_at <= $1"),
            prune_expired_refresh_tokens: r("DELETE FROM {refresh_tokens} WHERE expires_at <= $1"),
            prune_revoked_refresh_tokens: r("DELETE FROM {refresh_tokens} \
                 WHERE revoked_at IS NOT NULL"),
            prune_reset_tokens: r("DELETE FROM {reset_tokens} WHERE expires_at <= $1 \
                 OR used_at IS NOT NULL OR superseded_at IS NOT NULL"),
            prune_verification_tokens: r("DELETE FROM {verification_tokens} \
                 WHERE expires_at <= $1 OR used_at IS NOT NULL OR superseded_at IS NOT NULL"),
            verification_token_owner: r("SELECT user_id FROM {verification_tokens} \
                 WHERE hash = $1"),
            supersede_verification_tokens: r("UPDATE {verification_tokens} \
                 SET superseded_at = $2 \
                 WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL"),
            insert_verification_token: r("INSERT INTO {verification_tokens} \
                 (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"),
            verification_token_user: r(concat!(
                "SELECT ",
                user_columns!(),
                " FROM {users} WHERE id = (SELECT user_id FROM {verification_tokens} \
                 WHERE hash = $1 AND used_at IS NULL AND superseded_at IS NULL \
                 AND expires_at > $2) AND erased_at IS NULL"
            )),
            use_verification_token: r("UPDATE {verification_tokens} SET used_at = $2 \
                 WHERE hash = $1 AND used_at IS NULL AND superseded_at IS NULL \
                 AND expires_at > $2 RETURNING user_id"),
            mark_email_verified: r("UPDATE {users} SET email_verified = TRUE WHERE id = $1"),
            reward_by_id: r(concat!(
                "SELECT ",
                reward_columns!(),
                " FROM {reward_ledger} WHERE id = $1"
            )),
            pending_rewards: r(concat!(
                "SELECT ",
                reward_columns!(),
                " FROM {reward_ledger} WHERE referral_id = $1 AND status = 'pending' \
                 AND approval = $2 ORDER BY created_at, id"
            )),
            list_rewards: r(concat!(
                "SELECT ",
                reward_columns!(),
                " FROM {reward_ledger} WHERE beneficiary_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            )),
            list_rewards_after: r(concat!(
                "SELECT ",
                reward_columns!(),
                " FROM {reward_ledger} WHERE beneficiary_id = $1 \
                 AND (created_at, id) < ($2, $3) \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            )),
            rewards_with_status: r(concat!(
                "SELECT ",
                reward_columns!(),
                " FROM {reward_ledger} WHERE status = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            )),
            rewards_with_status_after: r(concat!(
                "SELECT ",
                reward_columns!(),
                " FROM {reward_ledger} WHERE status = $1 \
                 AND (created_at, id) < ($2, $3) \
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            )),
            transition_reward: r(concat!(
                "UPDATE {reward_ledger} SET status = $3, reason = COALESCE($4, reason), \
                 updated_at = $5 WHERE id = $1 AND status = $2 RETURNING ",
                reward_columns!()
            )),
            add_to_referral_points: r("UPDATE {referrals} \
                 SET reward_points = reward_points + $3 \
                 WHERE referee_id = $1 AND referrer_id = $2"),
            insert_conversion: r("INSERT INTO {conversions} \
                 (id, user_id, kind, external_id, value, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (user_id, kind, external_id) DO NOTHING"),
            prune_done_outbox: r("DELETE FROM {outbox} WHERE sent_at < $1"),
            prune_dead_outbox: r("DELETE FROM {outbox} WHERE died_at < $1"),
            // Personal data goes; the id, code, referrer, counters and created_at stay so
            // every row naming the user holds. Roles go too: a tombstone is no admin.
            erase_user: r("UPDATE {users} SET email = $2, password_hash = '', \
                 metadata = '{}', roles = '[]', email_verified = FALSE, erased_at = $3, \
                 token_version = token_version + 1 WHERE id = $1 AND erased_at IS NULL"),
            update_metadata: r(concat!(
                "UPDATE {users} SET metadata = $2 WHERE id = $1 AND erased_at IS NULL RETURNING ",
                user_columns!()
            )),
            delete_user_refresh_tokens: r("DELETE FROM {refresh_tokens} WHERE user_id = $1"),
            delete_user_reset_tokens: r("DELETE FROM {reset_tokens} WHERE user_id = $1"),
            delete_user_verification_tokens: r(
                "DELETE FROM {verification_tokens} WHERE user_id = $1",
            ),
            referral_code_retired: r("SELECT COUNT(*) FROM {referral_codes} c \
                 JOIN {users} u ON u.id = c.owner_id \
                 WHERE c.code_key = $1 AND u.erased_at IS NOT NULL"),
            other_active_admins: r(concat!(
                "SELECT COUNT(*) FROM {users} WHERE ",
                active_admin!(),
                " AND id <> $1"
            )),
            update_access: r("UPDATE {users} \
                 SET roles = $2, disabled_at = $3, token_version = $4 WHERE id = $1"),
            insert_audit: r("INSERT INTO {audit_log} \
                 (id, actor_id, action, target_id, details, at) VALUES ($1, $2, $3, $4, $5, $6)"),
            search_users: r(concat!(
                "SELECT ",
                user_columns!(),
                ", referral_count, reward_points FROM {users} ",
                "WHERE erased_at IS NULL AND ($1 IS NULL OR email LIKE $1 ESCAPE '\\') ",
                "AND ($2 IS NULL OR roles LIKE $2 ESCAPE '\\') ",
                "AND ($3 IS NULL OR id < $3) ",
                "ORDER BY id DESC LIMIT $4"
            )),
            audit_log: r(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM {audit_log} ORDER BY at DESC, id DESC LIMIT $1"
            )),
            audit_log_after: r(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM {audit_log} WHERE (at, id) < ",
                "(SELECT at, id FROM {audit_log} WHERE id = $1) ",
                "ORDER BY at DESC, id DESC LIMIT $2"
            )),
            applied_migrations: r("SELECT version, checksum FROM {schema_migrations} \
                 ORDER BY version"),
            record_migration: r("INSERT INTO {schema_migrations} \
                 (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)"),
        }
    }
}
