//! The stored account.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::referral_code::ReferralCode;

/// An account as storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Normalised email, unique.
    pub email: Email,
    /// Argon2id hash of the NFKC-normalised password.
    pub password_hash: PasswordHash,
    /// The user's own referral code, unique.
    pub referral_code: ReferralCode,
    /// Who referred the user, if anyone. Set once, at registration.
    pub referred_by: Option<Uuid>,
    /// Bumped by every password reset; access tokens carrying an older version are refused.
    pub token_version: i64,
    /// When the account was created.
    pub created_at: OffsetDateTime,
}
