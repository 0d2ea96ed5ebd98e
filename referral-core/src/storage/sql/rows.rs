//! Rows as the SQL backends return them, and their conversion into the storage records.
//! The same row types decode on SQLite and PostgreSQL (`sqlx::FromRow` is generic).

use uuid::Uuid;

use super::timestamps::from_micros;
use crate::email::Email;
use crate::password::PasswordHash;
use crate::referral_code::ReferralCode;
use crate::rewards::{RewardApproval, RewardEntry, RewardFlag, RewardKind, RewardStatus};
use crate::storage::{
    AuditEntry, DeadLetter, OutboxMessage, ReferralRecord, StorageError, UserSummary,
};
use crate::user::UserRecord;

/// The `users` columns a [`UserRow`] reads, for `concat!` into queries.
macro_rules! user_columns {
    () => {
        "id, email, password_hash, referral_code, referred_by, token_version, created_at, \
         email_verified, metadata, roles, disabled_at"
    };
}
pub(crate) use user_columns;

/// The `reward_ledger` columns a [`RewardRow`] reads.
macro_rules! reward_columns {
    () => {
        "id, beneficiary_id, referral_id, kind, points, status, approval, flags, reason, \
         created_at, updated_at"
    };
}
pub(crate) use reward_columns;

/// The `outbox` columns an [`OutboxRow`] reads.
macro_rules! outbox_columns {
    () => {
        "id, topic, user_id, payload, attempts, created_at, next_attempt_at"
    };
}
pub(crate) use outbox_columns;

/// A `users` row as [`user_columns`] reads it.
#[derive(sqlx::FromRow)]
pub struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    referral_code: String,
    referred_by: Option<Uuid>,
    token_version: i64,
    created_at: i64,
    email_verified: bool,
    metadata: String,
    roles: String,
    disabled_at: Option<i64>,
}

impl UserRow {
    pub(crate) fn into_record(self) -> Result<UserRecord, StorageError> {
        Ok(UserRecord {
            id: self.id,
            email: email(&self.email)?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            referral_code: ReferralCode::parse(&self.referral_code).map_err(|_| {
                StorageError::Corrupt(format!(
                    "stored referral code {:?} is malformed",
                    self.referral_code
                ))
            })?,
            referred_by: self.referred_by,
            token_version: self.token_version,
            created_at: from_micros(self.created_at)?,
            email_verified: self.email_verified,
            metadata: serde_json::from_str(&self.metadata).map_err(|e| {
                StorageError::Corrupt(format!("stored metadata is not a JSON object: {e}"))
            })?,
            roles: serde_json::from_str(&self.roles).map_err(|_| {
                StorageError::Corrupt(format!("stored roles {:?} are malformed", self.roles))
            })?,
            disabled_at: self.disabled_at.map(from_micros).transpose()?,
        })
    }
}

/// A `reward_ledger` row as [`reward_columns`] reads it.
#[derive(sqlx::FromRow)]
pub struct RewardRow {
    id: Uuid,
    beneficiary_id: Uuid,
    referral_id: Option<Uuid>,
    kind: String,
    points: i64,
    status: String,
    approval: String,
    flags: String,
    reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl RewardRow {
    pub(crate) fn into_entry(self) -> Result<RewardEntry, StorageError> {
        let corrupt = |what: &str, value: &str| {
            StorageError::Corrupt(format!("stored reward {what} {value:?} is unknown"))
        };
        Ok(RewardEntry {
            id: self.id,
            beneficiary: self.beneficiary_id,
            referral_user: self.referral_id,
            kind: RewardKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?,
            points: self.points,
            status: RewardStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            approval: RewardApproval::parse(&self.approval)
                .ok_or_else(|| corrupt("approval", &self.approval))?,
            flags: RewardFlag::split(&self.flags).ok_or_else(|| corrupt("flags", &self.flags))?,
            reason: self.reason,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
        })
    }
}

/// A user with the referral totals kept on their row, as a search lists them.
#[derive(sqlx::FromRow)]
pub struct UserSummaryRow {
    #[sqlx(flatten)]
    user: UserRow,
    referral_count: i64,
    reward_points: i64,
}

impl UserSummaryRow {
    pub(crate) fn into_summary(self) -> Result<UserSummary, StorageError> {
        Ok(UserSummary {
            user: self.user.into_record()?,
            referrals: count(self.referral_count)?,
            reward_points: self.reward_points,
        })
    }
}

/// The `audit_log` columns an [`AuditRow`] reads.
macro_rules! audit_columns {
    () => {
        "id, actor_id, action, target_id, details, at"
    };
}
pub(crate) use audit_columns;

/// An `audit_log` row.
#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: Uuid,
    actor_id: Option<Uuid>,
    action: String,
    target_id: Option<Uuid>,
    details: String,
    at: i64,
}

impl AuditRow {
    pub(crate) fn into_entry(self) -> Result<AuditEntry, StorageError> {
        Ok(AuditEntry {
            id: self.id,
            actor_id: self.actor_id,
            action: self.action,
            target_id: self.target_id,
            details: serde_json::from_str(&self.details).map_err(|_| {
                StorageError::Corrupt(format!("audit entry {} has malformed details", self.id))
            })?,
            at: from_micros(self.at)?,
        })
    }
}

/// A row of a referrer's list.
#[derive(sqlx::FromRow)]
pub struct ReferralRow {
    referee_id: Uuid,
    /// `NULL` for an erased referee.
    email: Option<String>,
    joined_at: i64,
    reward_points: i64,
}

impl ReferralRow {
    pub(crate) fn into_record(self) -> Result<ReferralRecord, StorageError> {
        Ok(ReferralRecord {
            user_id: self.referee_id,
            email: self.email.as_deref().map(email).transpose()?,
            joined_at: from_micros(self.joined_at)?,
            reward_points: self.reward_points,
        })
    }
}

/// An `outbox` row as [`outbox_columns`] reads it.
#[derive(sqlx::FromRow)]
pub struct OutboxRow {
    id: Uuid,
    topic: String,
    user_id: Option<Uuid>,
    payload: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
}

impl OutboxRow {
    /// When the message is due (claims hand messages out oldest due first).
    pub(crate) fn due(&self) -> (i64, Uuid) {
        (self.next_attempt_at, self.id)
    }

    pub(crate) fn into_message(self) -> Result<OutboxMessage, StorageError> {
        Ok(OutboxMessage {
            id: self.id,
            topic: self.topic,
            user_id: self.user_id,
            payload: self.payload,
            attempts: u32::try_from(self.attempts).map_err(|_| {
                StorageError::Corrupt(format!("outbox attempts {} out of range", self.attempts))
            })?,
            created_at: from_micros(self.created_at)?,
        })
    }
}

/// A dead letter: its message's [`outbox_columns`], then `died_at` and `reason`.
#[derive(sqlx::FromRow)]
pub struct DeadLetterRow {
    #[sqlx(flatten)]
    message: OutboxRow,
    died_at: i64,
    reason: String,
}

impl DeadLetterRow {
    pub(crate) fn into_dead_letter(self) -> Result<DeadLetter, StorageError> {
        Ok(DeadLetter {
            message: self.message.into_message()?,
            died_at: from_micros(self.died_at)?,
            reason: self.reason,
        })
    }
}

/// A count read back from a BIGINT counter.
pub(crate) fn count(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt(format!("counter {value} is negative")))
}

fn email(stored: &str) -> Result<Email, StorageError> {
    Email::parse(stored)
        .map_err(|_| StorageError::Corrupt(format!("stored email {stored:?} is invalid")))
}
