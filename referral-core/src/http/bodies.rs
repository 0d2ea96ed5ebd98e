//! Request bodies of the HTTP contract and the small answers that only HTTP has, as plain
//! serde types. The engine's operations take domain values; these map onto them.
//!
//! Unknown request fields are ignored, and no request type has a field for an id, a code,
//! a referrer or rewards: a client cannot set them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /register`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Email; trimmed and compared case-insensitively.
    pub email: String,
    /// Password: 8 to 128 characters after NFKC.
    pub password: String,
    /// Someone's referral code (optional; case and surrounding spaces ignored).
    #[serde(default)]
    pub referral_code: Option<String>,
    /// The app's data about the user: a JSON object of at most 4 KiB serialised (absent or
    /// `null`: `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /login`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /token/refresh` and `POST /logout`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from a `Tokens` answer.
    pub refresh_token: String,
}

/// `POST /reset-password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The account's email.
    pub email: String,
}

/// `POST /reset-password/confirm`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ResetConfirmRequest {
    /// The token from the reset link.
    pub token: String,
    /// The new password.
    pub new_password: String,
}

/// `PUT /referral-code`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReferralCodeRequest {
    /// The code: 4 to 32 characters of `A-Z a-z 0-9 _ -`, unique without case, not a
    /// reserved word.
    pub code: String,
}

/// `POST /verify-email`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The token from the verification link.
    pub token: String,
}

/// Query of the cursor-paginated lists, `GET /referrals`, `GET /rewards` and
/// `GET /admin/audit`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReferralsQuery {
    /// Page size, 1..=100 (default 50); kept as text so a bad value gets a field error.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of `GET /admin/users`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminUsersQuery {
    /// Only users whose email contains this text (any case).
    pub query: Option<String>,
    /// Page size, 1..=100 (default 50), as text.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of `GET /admin/rewards`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminRewardsQuery {
    /// `pending` (default), `approved` or `revoked`.
    pub status: Option<String>,
    /// Page size, 1..=100 (default 50), as text.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /admin/rewards/{id}/revoke`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// Why: 1 to 500 characters, kept on the reward and in the audit log.
    pub reason: String,
}

/// `POST /admin/users/{id}/adjustments`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AdjustmentRequest {
    /// Points to add (negative: to take), non-zero, at most 1,000,000 either way.
    pub points: i64,
    /// Why: 1 to 500 characters, kept on the entry and in the audit log.
    pub reason: String,
}

/// `POST /admin/users/{id}/conversions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ConversionRequest {
    /// What the user did (`purchase`), as the app names it: 1 to 200 bytes.
    pub kind: String,
    /// The app's own id for it (an order number), 1 to 200 bytes: recording the same
    /// (user, kind, external id) again changes nothing.
    pub external_id: String,
    /// Its value in the app's unit (default 0).
    #[serde(default)]
    pub value: i64,
}

/// `POST /change-password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The password the account has now.
    pub current_password: String,
    /// The new password: the rules of registration.
    pub new_password: String,
}

/// `PATCH /me`: what to change; a field left out stays as it is.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// The app's data about the user, replacing what is stored: a JSON object of at most
    /// 4 KiB serialised (`null` is refused, as anything but an object is).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// A field that is there, even as `null`: `Some` (a field left out is `None` by `default`).
fn present<'de, D>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// `DELETE /me`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The account's password.
    pub password: String,
}

/// What `POST /change-password` answers: a sentence, and the caller's new tokens (every
/// other session of the user has ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordChanged {
    /// The sentence.
    pub message: String,
    /// The caller's new tokens.
    pub tokens: crate::tokens::Tokens,
}

/// An answer that is only a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageBody {
    /// The sentence.
    pub message: String,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_request_fields_are_ignored() {
        let body: RegisterRequest = serde_json::from_str(
            r#"{"email":"a@b.co","password":"x","id":"1","referred_by":"x","rewards":5,"referral_code":null}"#,
        )
        .unwrap();
        assert_eq!(body.referral_code, None);
        assert_eq!(body.metadata, None);
    }

    #[test]
    fn a_null_metadata_is_sent_and_a_missing_one_is_not() {
        let sent: UpdateMeRequest = serde_json::from_str(r#"{"metadata":null}"#).unwrap();
        assert_eq!(sent.metadata, Some(serde_json::Value::Null));
        let missing: UpdateMeRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(missing.metadata, None);
    }
}
