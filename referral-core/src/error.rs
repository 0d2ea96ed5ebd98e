//! The engine's error type: one variant per outcome a caller can act on.

use serde::{Deserialize, Serialize};

use crate::mailer::MailError;
use crate::storage::StorageError;

/// One invalid field of a request, as listed in a `validation_failed` problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Everything that can go wrong in the engine. Each variant maps to exactly one HTTP answer
/// (see [`Problem`](crate::Problem)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not JSON, or not of the expected shape.
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
    /// Unknown email or wrong password (deliberately the same error).
    #[error("Invalid email or password")]
    InvalidCredentials,
    /// Missing, malformed, forged, expired or retired access token, or the user is gone.
    #[error("A valid bearer access token is required")]
    Unauthorized,
    /// Unknown, used, superseded or expired password-reset token.
    #[error("The password reset token is invalid or has expired")]
    InvalidResetToken,
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
    /// No endpoint at that path.
    #[error("No endpoint at this path")]
    NotFound,
    /// The path exists, but not for this method.
    #[error("Method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The methods the path accepts, for the `Allow` header.
        allow: &'static str,
    },
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
}
