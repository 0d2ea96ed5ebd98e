//! The engine's error type: one variant per outcome a caller can act on, each with the
//! stable `code` and HTTP status the contract gives it.

use serde::{Deserialize, Serialize};

use crate::mailer::MailError;
use crate::storage::StorageError;

/// One invalid field of a request, as listed in a `validation_failed` problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The request field (`email`, `password`, `limit`, …).
    pub field: String,
    /// A stable snake_case code (`invalid_email`, `too_short`, `too_common`, …).
    pub code: String,
    /// A sentence a user can act on.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: &str, code: &str, message: &str) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Everything that can go wrong in the engine.
///
/// Each variant has one stable [`code`](Error::code) and one HTTP [`status`](Error::status),
/// whether the caller is an HTTP adapter or code of your own (a CLI, a job, a GraphQL
/// resolver): branch on the variant or the code, never on the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not JSON, or not of the expected shape, or not sent as JSON.
    #[error("request body is not valid JSON of the expected shape: {0}")]
    InvalidJson(String),
    /// One or more fields are invalid.
    #[error("validation failed: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldError>),
    /// The email is already registered.
    #[error("Email is already registered")]
    EmailTaken,
    /// A referral code was given that matches no user.
    #[error("Referral code does not match any user")]
    UnknownReferralCode,
    /// The referral code a user chose belongs to someone else (now or earlier: codes are
    /// never released).
    #[error("Referral code is already taken")]
    CodeTaken,
    /// Unknown email or wrong password (deliberately the same error).
    #[error("Invalid email or password")]
    InvalidCredentials,
    /// Missing, malformed, forged, expired or retired access token, or the user is gone.
    #[error("A valid bearer access token is required")]
    Unauthorized,
    /// Unknown, used, superseded or expired password-reset token.
    #[error("The password reset token is invalid or has expired")]
    InvalidResetToken,
    /// Unknown, used, superseded or expired email-verification token.
    #[error("The email verification token is invalid or has expired")]
    InvalidVerificationToken,
    /// A correct login, but the configuration requires a verified email first.
    #[error("Verify your email address before logging in")]
    EmailNotVerified,
    /// No user has that id (or the user was erased).
    #[error("No user has that id")]
    UnknownUser,
    /// No reward has that id.
    #[error("No reward has that id")]
    UnknownReward,
    /// No dead letter has that id (unknown, or queued again already).
    #[error("No dead letter has that id")]
    UnknownDeadLetter,
    /// A reward status change the lifecycle does not allow (only pending → approved,
    /// pending → revoked and approved → revoked are).
    #[error("A {} reward cannot become {}", from.as_str(), to.as_str())]
    InvalidTransition {
        /// The reward's status.
        from: crate::rewards::RewardStatus,
        /// The status asked for.
        to: crate::rewards::RewardStatus,
    },
    /// Unknown, rotated, revoked or expired refresh token.
    #[error("The refresh token is invalid or has expired")]
    InvalidRefreshToken,
    /// Too many attempts; retry after the given number of seconds.
    #[error("Too many attempts; retry in {retry_after_secs} seconds")]
    RateLimited {
        /// Seconds until the window passes (at least 1).
        retry_after_secs: u64,
    },
    /// Too many passwords are being hashed or checked at once for this request to wait its
    /// turn; retry after the given number of seconds.
    #[error("The server is busy checking other passwords; retry in {retry_after_secs} seconds")]
    Overloaded {
        /// Seconds until the queue has likely drained (at least 1).
        retry_after_secs: u64,
    },
    /// The request body is larger than the limit.
    #[error("Request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request body did not arrive in time.
    #[error("The request body was not received in time")]
    RequestTimeout,
    /// No endpoint at that path.
    #[error("No endpoint at this path")]
    NotFound,
    /// The path exists, but not for this method.
    #[error("Method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The methods the path accepts, for the `Allow` header.
        allow: String,
    },
    /// Authenticated, but none of the user's roles holds the permission required.
    #[error("You do not have permission to do this")]
    Forbidden,
    /// The account is disabled: the password was right, but it may not sign in.
    #[error("This account is disabled")]
    AccountDisabled,
    /// The change would leave no enabled admin.
    #[error("The last admin cannot be removed or disabled")]
    LastAdmin,
    /// No user has this id (under `/api/admin`).
    #[error("No user has this id")]
    UserNotFound,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Sending mail failed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A bug or an environment failure; the text is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A validation error about one field.
    pub fn invalid(field: &str, code: &str, message: &str) -> Self {
        Error::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The stable snake_case code clients branch on (`email_taken`, `rate_limited`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson(_) => "invalid_json",
            Error::Validation(_) => "validation_failed",
            Error::EmailTaken | Error::Storage(StorageError::EmailTaken) => "email_taken",
            Error::UnknownReferralCode => "unknown_referral_code",
            Error::CodeTaken => "code_taken",
            Error::InvalidCredentials => "invalid_credentials",
            Error::Unauthorized => "unauthorized",
            Error::InvalidResetToken => "invalid_reset_token",
            Error::InvalidRefreshToken => "invalid_refresh_token",
            Error::InvalidVerificationToken => "invalid_verification_token",
            Error::EmailNotVerified => "email_not_verified",
            Error::UnknownUser | Error::UnknownReward | Error::UnknownDeadLetter => "not_found",
            Error::InvalidTransition { .. } => "invalid_transition",
            Error::RateLimited { .. } => "rate_limited",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::RequestTimeout => "request_timeout",
            Error::NotFound | Error::UserNotFound => "not_found",
            Error::Forbidden => "forbidden",
            Error::AccountDisabled => "account_disabled",
            Error::LastAdmin | Error::Storage(StorageError::LastAdmin) => "last_admin",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::Overloaded { .. } | Error::Storage(StorageError::Unavailable(_)) => {
                "unavailable"
            }
            Error::Storage(_) | Error::Mail(_) | Error::Config(_) | Error::Internal(_) => {
                "internal"
            }
        }
    }

    /// The HTTP status the contract answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidJson(_) | Error::InvalidResetToken | Error::InvalidVerificationToken => {
                400
            }
            Error::EmailNotVerified => 403,
            Error::UnknownUser | Error::UnknownReward | Error::UnknownDeadLetter => 404,
            Error::InvalidTransition { .. } => 409,
            Error::InvalidCredentials | Error::Unauthorized | Error::InvalidRefreshToken => 401,
            Error::Forbidden | Error::AccountDisabled => 403,
            Error::NotFound | Error::UserNotFound => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::RequestTimeout => 408,
            Error::EmailTaken
            | Error::Storage(StorageError::EmailTaken)
            | Error::CodeTaken
            | Error::LastAdmin
            | Error::Storage(StorageError::LastAdmin) => 409,
            Error::PayloadTooLarge { .. } => 413,
            Error::Validation(_) | Error::UnknownReferralCode => 422,
            Error::RateLimited { .. } => 429,
            Error::Overloaded { .. } | Error::Storage(StorageError::Unavailable(_)) => 503,
            Error::Storage(_) | Error::Mail(_) | Error::Config(_) | Error::Internal(_) => 500,
        }
    }

    /// Seconds a client should wait before retrying, for errors that say so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after_secs } | Error::Overloaded { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_code_has_its_status() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::InvalidJson("x".into()), 400, "invalid_json"),
            (
                Error::invalid("email", "invalid_email", "bad"),
                422,
                "validation_failed",
            ),
            (Error::EmailTaken, 409, "email_taken"),
            (Error::Storage(StorageError::EmailTaken), 409, "email_taken"),
            (Error::UnknownReferralCode, 422, "unknown_referral_code"),
            (Error::CodeTaken, 409, "code_taken"),
            (Error::InvalidCredentials, 401, "invalid_credentials"),
            (Error::Unauthorized, 401, "unauthorized"),
            (Error::InvalidResetToken, 400, "invalid_reset_token"),
            (Error::InvalidRefreshToken, 401, "invalid_refresh_token"),
            (
                Error::InvalidVerificationToken,
                400,
                "invalid_verification_token",
            ),
            (Error::EmailNotVerified, 403, "email_not_verified"),
            (Error::UnknownUser, 404, "not_found"),
            (Error::UnknownReward, 404, "not_found"),
            (Error::UnknownDeadLetter, 404, "not_found"),
            (
                Error::InvalidTransition {
                    from: crate::rewards::RewardStatus::Revoked,
                    to: crate::rewards::RewardStatus::Approved,
                },
                409,
                "invalid_transition",
            ),
            (
                Error::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate_limited",
            ),
            (
                Error::Overloaded {
                    retry_after_secs: 1,
                },
                503,
                "unavailable",
            ),
            (
                Error::PayloadTooLarge { limit: 65536 },
                413,
                "payload_too_large",
            ),
            (Error::RequestTimeout, 408, "request_timeout"),
            (Error::NotFound, 404, "not_found"),
            (Error::UserNotFound, 404, "not_found"),
            (Error::Forbidden, 403, "forbidden"),
            (Error::AccountDisabled, 403, "account_disabled"),
            (Error::LastAdmin, 409, "last_admin"),
            (Error::Storage(StorageError::LastAdmin), 409, "last_admin"),
            (
                Error::MethodNotAllowed {
                    allow: "POST".into(),
                },
                405,
                "method_not_allowed",
            ),
            (
                Error::Storage(StorageError::unavailable("down")),
                503,
                "unavailable",
            ),
            (
                Error::Storage(StorageError::backend("bug")),
                500,
                "internal",
            ),
            (Error::Internal("secret detail".into()), 500, "internal"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
        }
    }
}
