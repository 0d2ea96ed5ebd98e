//! Users: the stored account, and the account as answers show it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::permissions::Role;
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
    /// Bumped by every password reset; access tokens carrying an older version are refused,
    /// and so are refresh tokens issued at an older version.
    pub token_version: i64,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// Whether the user proved they read mail at `email` (see
    /// [`Engine::verify_email`](crate::Engine::verify_email)).
    pub email_verified: bool,
    /// What the app keeps about the user (a JSON object of at most 4 KiB serialised).
    pub metadata: Map<String, Value>,
    /// The user's roles, each once (`[user]` at sign-up).
    pub roles: Vec<Role>,
    /// When the account was disabled; `None` while it is enabled. A disabled user cannot
    /// sign in, and every session they had ended when they were disabled.
    pub disabled_at: Option<OffsetDateTime>,
}

impl UserRecord {
    /// Whether the user holds `admin` and is enabled: one of the admins the last-admin rule
    /// counts.
    pub fn is_active_admin(&self) -> bool {
        self.disabled_at.is_none() && crate::permissions::has_admin(&self.roles)
    }
}

/// A user as answers show them (`User` in the contract); see
/// [`Engine::user_view`](crate::Engine::user_view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct User {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// The user's own referral code.
    pub referral_code: String,
    /// `{APP_BASE_URL}/register?ref={referral_code}`.
    pub referral_link: String,
    /// Who referred the user.
    pub referred_by: Option<Uuid>,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// The app's own data about the user (an object, `{}` by default).
    #[cfg_attr(feature = "http", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
    /// RFC 3339, UTC, whole seconds.
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// The user's roles (`["user"]` unless an admin changed them).
    #[serde(default)]
    pub roles: Vec<String>,
}
