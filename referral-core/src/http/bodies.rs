//! Request and response bodies of the HTTP contract, as plain serde types.
//!
//! Unknown request fields are ignored, and no request type has a field for an id, a code,
//! a referrer or rewards: a client cannot set them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/register`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Email; trimmed and compared case-insensitively.
    pub email: String,
    /// Password: 8 to 128 characters after NFKC.
    pub password: String,
    /// Someone's referral code (optional; case and surrounding spaces ignored).
    #[serde(default)]
    pub referral_code: Option<String>,
}

/// `POST /api/login`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /api/token/refresh` and `POST /api/logout`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from a `Tokens` answer.
    pub refresh_token: String,
}

/// `POST /api/reset-password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The account's email.
    pub email: String,
}

/// `POST /api/reset-password/confirm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ResetConfirmRequest {
    /// The token from the reset link.
    pub token: String,
    /// The new password.
    pub new_password: String,
}

/// Query of `GET /api/referrals`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReferralsQuery {
    /// Page size, 1..=100 (default 50); kept as text so a bad value gets a field error.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    /// RFC 3339, UTC, whole seconds.
    #[serde(with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A token pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tokens {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Opaque, single use: exchange it at `/api/token/refresh`.
    pub refresh_token: String,
    /// Seconds the refresh token lives.
    pub refresh_expires_in: i64,
}

/// `201` answer of `POST /api/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// The new user.
    pub user: User,
    /// Their first tokens.
    pub tokens: Tokens,
}

/// An answer that is only a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageBody {
    /// The sentence.
    pub message: String,
}

/// One referred user, as their referrer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Referral {
    /// The referred user's id.
    pub user_id: Uuid,
    /// Masked email: `j***@example.com`.
    pub email: String,
    /// When they joined (RFC 3339, UTC).
    #[serde(with = "rfc3339_seconds")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: OffsetDateTime,
    /// Points the referrer earned from this sign-up.
    pub reward_points: i64,
}

/// `GET /api/referrals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferralPage {
    /// Newest first.
    pub referrals: Vec<Referral>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/referral-stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferralStats {
    /// The user's own code.
    pub referral_code: String,
    /// The user's referral link.
    pub referral_link: String,
    /// Users referred.
    pub total_referrals: u64,
    /// Users referred in the last 30 days.
    pub referrals_last_30_days: u64,
    /// Sum of the user's reward ledger entries.
    pub total_reward_points: i64,
    /// Users referred by the user's referrals.
    pub second_tier_referrals: u64,
}

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// RFC 3339 in UTC with whole seconds (`2026-11-23T22:47:22Z`).
pub(crate) mod rfc3339_seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub fn format(at: OffsetDateTime) -> String {
        let at = at.to_offset(UtcOffset::UTC);
        let at = at.replace_nanosecond(0).unwrap_or(at);
        at.format(&Rfc3339).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_rfc3339_utc_whole_seconds() {
        assert_eq!(
            rfc3339_seconds::format(datetime!(2026-11-23 22:47:22.123456 UTC)),
            "2026-11-23T22:47:22Z"
        );
        assert_eq!(
            rfc3339_seconds::format(datetime!(2026-11-23 23:47:22 +1)),
            "2026-11-23T22:47:22Z"
        );
    }

    #[test]
    fn unknown_request_fields_are_ignored() {
        let body: RegisterRequest = serde_json::from_str(
            r#"{"email":"a@b.co","password":"x","id":"1","referred_by":"x","rewards":5,"referral_code":null}"#,
        )
        .unwrap();
        assert_eq!(body.referral_code, None);
    }
}
