//! The records the `Storage` trait reads and writes.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::rewards::{RewardEntry, RewardStatus};
use crate::tokens::TokenHash;
use crate::user::UserRecord;
use crate::visitor::VisitorHash;

/// A registration, written in one transaction by [`Storage::create_user`](super::Storage::create_user).
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The account (token version 0).
    pub user: UserRecord,
    /// The referral, when the user signed up with a code (`user.referred_by` is its referrer).
    pub referral: Option<NewReferral>,
    /// The first refresh token (at token version 0).
    pub refresh_token: RefreshTokenRecord,
    /// Messages the registration queues, due at their `created_at`.
    pub outbox: Vec<OutboxMessage>,
}

/// The referral part of a registration.
#[derive(Debug, Clone)]
pub struct NewReferral {
    /// The referrer (owner of the code used).
    pub referrer: Uuid,
    /// The referrer's own referrer, whose second-tier count goes up.
    pub second_tier_referrer: Option<Uuid>,
    /// Ledger entries to write (zero-point rewards are not entries).
    pub rewards: Vec<RewardEntry>,
}

impl NewReferral {
    /// Approved points the referrer earns from this referral (shown in their referral
    /// list); pending ones join when approved.
    pub fn referrer_points(&self) -> i64 {
        self.rewards
            .iter()
            .filter(|entry| {
                entry.beneficiary == self.referrer && entry.status == RewardStatus::Approved
            })
            .map(|entry| entry.points)
            .sum()
    }
}

/// A refresh token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Owner.
    pub user_id: Uuid,
    /// The login it descends from; rotation keeps the family.
    pub family_id: Uuid,
    /// Issued at.
    pub issued_at: OffsetDateTime,
    /// Expires at.
    pub expires_at: OffsetDateTime,
    /// The user's token version when issued: the token only works while it is current.
    pub token_version: i64,
}

/// The outcome of [`Storage::rotate_refresh_token`](super::Storage::rotate_refresh_token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; the replacement is stored. Carries the owner as stored.
    Rotated(UserRecord),
    /// The token had already been rotated; all the owner's refresh tokens are now revoked.
    Reused(Uuid),
    /// Unknown, revoked or expired.
    Invalid,
}

/// A password change by its owner, written in one transaction by
/// [`Storage::change_password`](super::Storage::change_password).
#[derive(Debug, Clone)]
pub struct PasswordChange {
    /// The user.
    pub user: Uuid,
    /// The hash the caller verified the current password against: the change happens only
    /// while it is still the user's.
    pub expected: PasswordHash,
    /// The new password's hash.
    pub new_hash: PasswordHash,
    /// The caller's new session, stored at the token version the change sets (its own
    /// `token_version` is a placeholder and is ignored).
    pub session: RefreshTokenRecord,
    /// When (refresh tokens are revoked at this instant).
    pub now: OffsetDateTime,
    /// Messages the change queues (its `password.changed` event), due at their `created_at`.
    pub outbox: Vec<OutboxMessage>,
}

/// A change of a user's metadata, written in one transaction by
/// [`Storage::update_metadata`](super::Storage::update_metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataUpdate {
    /// The user.
    pub user: Uuid,
    /// The new metadata (checked by the engine), replacing what is stored.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Messages the change queues (its `user.updated` event), due at their `created_at`.
    pub outbox: Vec<OutboxMessage>,
}

/// An account erasure, written in one transaction by
/// [`Storage::erase_user`](super::Storage::erase_user).
#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    /// The user erased.
    pub user: Uuid,
    /// When (the tombstone's erasure instant).
    pub now: OffsetDateTime,
    /// The audit entry written with it.
    pub audit: AuditEntry,
    /// Messages it queues (its `user.deleted` event), due at their `created_at`.
    pub outbox: Vec<OutboxMessage>,
}

/// A password-reset token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetTokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Owner.
    pub user_id: Uuid,
    /// Created at.
    pub created_at: OffsetDateTime,
    /// Expires at.
    pub expires_at: OffsetDateTime,
}

/// An email-verification token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationTokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Owner.
    pub user_id: Uuid,
    /// Created at.
    pub created_at: OffsetDateTime,
    /// Expires at.
    pub expires_at: OffsetDateTime,
}

/// A conversion the app reported, recorded once per (user, kind, external id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionRecord {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The user who converted.
    pub user_id: Uuid,
    /// What kind of conversion (`purchase`, `subscription`, …), as the app names it.
    pub kind: String,
    /// The app's own id for it (an order number), which makes recording idempotent.
    pub external_id: String,
    /// Its value in the app's unit (cents, say).
    pub value: i64,
    /// When it was recorded.
    pub recorded_at: OffsetDateTime,
}

/// A position in a reward list: the last entry seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewardCursor {
    /// `created_at` of the last entry seen.
    pub created_at: OffsetDateTime,
    /// `id` of the last entry seen.
    pub id: Uuid,
}

/// A message in the outbox: what to deliver, never a rendered mail or a token.
///
/// Storage keeps it as it is and hands it back; the engine alone reads `topic` and
/// `payload` (a mail to render and send at delivery time, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Id (UUID v7).
    pub id: Uuid,
    /// What kind of message this is (`mail.password_reset`, …).
    pub topic: String,
    /// The user it concerns, if any.
    pub user_id: Option<Uuid>,
    /// The engine's description of it (JSON text), without secrets.
    pub payload: String,
    /// Attempts made so far (including the one a claim starts).
    pub attempts: u32,
    /// When it was queued.
    pub created_at: OffsetDateTime,
}

/// An outbox message that was given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message as it was queued (`attempts` as last claimed).
    pub message: OutboxMessage,
    /// When it was given up on.
    pub died_at: OffsetDateTime,
    /// Why (the last error, or the reason for giving up).
    pub reason: String,
}

/// What [`Storage::prune`](super::Storage::prune) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Rate-limit windows that had ended.
    pub rate_limits: u64,
    /// Expired or revoked refresh tokens.
    pub refresh_tokens: u64,
    /// Expired, used or superseded reset and email-verification tokens.
    pub reset_tokens: u64,
    /// Outbox messages done long ago, and old dead letters.
    pub outbox: u64,
    /// Hourly sign-up counts older than any "last 30 days" boundary (SQL storages).
    pub referral_hours: u64,
}

/// One row of a referrer's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralRecord {
    /// The referred user.
    pub user_id: Uuid,
    /// Their email (the engine masks it); `None` once their account was erased.
    pub email: Option<Email>,
    /// When they registered.
    pub joined_at: OffsetDateTime,
    /// Approved points the referrer earned from this referral.
    pub reward_points: i64,
}

/// A position in a referral list: the last row seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralCursor {
    /// `joined_at` of the last row seen.
    pub joined_at: OffsetDateTime,
    /// `user_id` of the last row seen.
    pub user_id: Uuid,
}

/// A user's referral counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReferralCounts {
    /// Users this user referred.
    pub total: u64,
    /// Of those, joined at or after the `since` asked for.
    pub since: u64,
    /// Users referred by this user's referrals.
    pub second_tier: u64,
    /// Sum of this user's approved reward ledger entries.
    pub reward_points: i64,
    /// Sum of this user's pending reward ledger entries.
    pub pending_reward_points: i64,
}

/// One entry of the audit log: who changed what, written in the transaction of the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The user who made the change; `None` for the operator (the `admin` CLI, the
    /// `ADMIN_EMAILS` grant at start).
    pub actor_id: Option<Uuid>,
    /// What was done (`user.roles_changed`, `user.disabled`, `user.enabled`, …).
    pub action: String,
    /// The user (or other record) it was done to.
    pub target_id: Option<Uuid>,
    /// What changed, as JSON; never a secret.
    pub details: serde_json::Value,
    /// When.
    pub at: OffsetDateTime,
}

/// A change of a user's roles or disabled state, written by
/// [`Storage::change_user_access`](super::Storage::change_user_access).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessChange {
    /// The user changed.
    pub user: Uuid,
    /// The roles the user holds afterwards (`None`: unchanged).
    pub roles: Option<Vec<crate::permissions::Role>>,
    /// Whether the user is disabled afterwards (`None`: unchanged).
    pub disabled: Option<bool>,
    /// When (the disable instant, and the audit entry's `at`).
    pub now: OffsetDateTime,
    /// Who makes the change (`None`: the operator), for the audit entry.
    pub actor_id: Option<Uuid>,
    /// The audit entry's id.
    pub audit_id: Uuid,
    /// The event written (with the change) when the roles change: `user.updated`.
    pub roles_event: Option<OutboxMessage>,
    /// The event written (with the change) when the user becomes disabled: `user.disabled`.
    pub disabled_event: Option<OutboxMessage>,
}

/// What [`Storage::change_user_access`](super::Storage::change_user_access) did.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessOutcome {
    /// Something changed: the user as stored afterwards, and the audit entry written.
    Changed(UserRecord, AuditEntry),
    /// The user already had these roles and this state: nothing was written.
    Unchanged(UserRecord),
    /// No user has this id.
    UnknownUser,
}

/// Which users [`Storage::search_users`](super::Storage::search_users) lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSearch {
    /// Only users whose email contains this text (already lower-case; `%` and `_` match
    /// themselves).
    pub email_contains: Option<String>,
    /// Only users holding this role.
    pub role: Option<crate::permissions::Role>,
    /// Strictly after this user in the listing order (newest first: id descending).
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// A user with their referral totals, as the admin listing shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// The user.
    pub user: UserRecord,
    /// Users they referred.
    pub referrals: u64,
    /// Sum of their reward ledger entries.
    pub reward_points: i64,
}

/// Audit actions: of [`AccessChange`]s, and of erasures.
pub mod audit_actions {
    /// The roles changed (details: `roles.from`, `roles.to`).
    pub const ROLES_CHANGED: &str = "user.roles_changed";
    /// The user was disabled.
    pub const DISABLED: &str = "user.disabled";
    /// The user was enabled again.
    pub const ENABLED: &str = "user.enabled";
    /// Roles and the disabled state changed at once (details name both).
    pub const ACCESS_CHANGED: &str = "user.access_changed";
    /// A reward was approved by hand (target: its beneficiary; details: `reward_id`,
    /// `from`, `to`, `points`, `reason`).
    pub const REWARD_APPROVED: &str = "reward.approved";
    /// A reward was revoked by hand (details as for [`REWARD_APPROVED`]).
    pub const REWARD_REVOKED: &str = "reward.revoked";
    /// Points were added or taken by hand (target: the user; details: `reward_id`, `points`,
    /// `reason`).
    pub const POINTS_ADJUSTED: &str = "reward.adjusted";
    /// An admin recorded a conversion (target: the user; details: `conversion_id`, `kind`,
    /// `external_id`, `value`).
    pub const CONVERSION_RECORDED: &str = "conversion.recorded";
    /// A dead letter was queued again (target: the message's id; details: `message_id`).
    pub const DEAD_LETTER_REDELIVERED: &str = "dead_letter.redelivered";
    /// The account was erased (by its owner: the actor is the user; or by an admin).
    pub const ERASED: &str = "user.erased";
}

impl AccessChange {
    /// The events to write with a change that took `before` to `after`: the roles event when
    /// the roles changed, the disabled event when the user became disabled.
    pub fn events(&self, before: &UserRecord, after: &UserRecord) -> Vec<OutboxMessage> {
        let roles = (before.roles != after.roles)
            .then(|| self.roles_event.clone())
            .flatten();
        let disabled = (before.disabled_at.is_none() && after.disabled_at.is_some())
            .then(|| self.disabled_event.clone())
            .flatten();
        roles.into_iter().chain(disabled).collect()
    }

    /// The user as this change leaves `before`, and the audit entry it writes; `None` when
    /// it changes nothing. A change bumps the token version (earlier access tokens and every
    /// refresh token stop working); the backends also revoke the refresh tokens.
    ///
    /// Shared by every backend, so they agree on what a change does.
    pub fn apply(&self, before: &UserRecord) -> Option<(UserRecord, AuditEntry)> {
        let roles = self
            .roles
            .clone()
            .map(crate::permissions::dedup_roles)
            .filter(|roles| *roles != before.roles);
        let disabled = self
            .disabled
            .filter(|disabled| *disabled != before.disabled_at.is_some());
        if roles.is_none() && disabled.is_none() {
            return None;
        }
        let mut after = before.clone();
        let mut details = serde_json::Map::new();
        if let Some(roles) = roles {
            details.insert(
                "roles".into(),
                serde_json::json!({ "from": before.roles, "to": roles }),
            );
            after.roles = roles;
        }
        if let Some(disabled) = disabled {
            details.insert(
                "disabled".into(),
                serde_json::json!({ "from": !disabled, "to": disabled }),
            );
            after.disabled_at = disabled.then_some(self.now);
        }
        after.token_version += 1;
        let action = match (details.contains_key("roles"), disabled) {
            (true, Some(_)) => audit_actions::ACCESS_CHANGED,
            (true, None) => audit_actions::ROLES_CHANGED,
            (false, Some(true)) => audit_actions::DISABLED,
            (false, _) => audit_actions::ENABLED,
        };
        let entry = AuditEntry {
            id: self.audit_id,
            actor_id: self.actor_id,
            action: action.to_owned(),
            target_id: Some(self.user),
            details: serde_json::Value::Object(details),
            at: self.now,
        };
        Some((after, entry))
    }
}

/// Makes the `referral.clicked` event for clicks counted for one owner:
/// [`Storage::record_clicks`](super::Storage::record_clicks) calls it once per owner with
/// the number it counted for them in the batch, and writes the message in the batch's
/// transaction (clicks are announced aggregated, one event per owner per batch).
pub type ClickEvent<'a> = &'a (dyn Fn(Uuid, u64) -> OutboxMessage + Send + Sync);

/// One click on a share link, as the engine queues it for
/// [`Storage::record_clicks`](super::Storage::record_clicks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Click {
    /// The owner of the code clicked.
    pub owner: Uuid,
    /// Who clicked: a keyed hash of their address and user agent.
    pub visitor: VisitorHash,
    /// When.
    pub at: OffsetDateTime,
}

/// A user's click counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClickCounts {
    /// Clicks counted, ever.
    pub total: u64,
    /// Of those, counted on UTC days after the day of the `since` asked for.
    pub since: u64,
}
