//! RFC 9457 problem documents: the one place where an [`Error`] becomes an HTTP answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};
use crate::mailer::MailError;
use crate::storage::StorageError;

/// An RFC 9457 problem document with the contract's stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status code's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable, machine-readable snake_case code; clients branch on this.
    pub code: String,
    /// A sentence for people.
    pub detail: String,
    /// Field errors, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// The reason phrase of a success status we answer with.
pub fn reason_phrase_ok(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        _ => "Success",
    }
}

/// The reason phrase of an error status we answer with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

impl Problem {
    /// A problem with `status`, `code` and `detail`.
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank".to_owned(),
            title: reason_phrase(status).to_owned(),
            status,
            code: code.to_owned(),
            detail: detail.into(),
            errors: None,
        }
    }

    /// The problem for a status a framework produced on its own (a catcher): 404, 405, 413,
    /// 400 and anything else.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 => Problem::new(400, "invalid_json", "The request could not be read"),
            401 => Problem::from_error(&Error::Unauthorized),
            404 => Problem::from_error(&Error::NotFound),
            405 => Problem::new(405, "method_not_allowed", "Method not allowed on this path"),
            413 => Problem::from_error(&Error::PayloadTooLarge {
                limit: super::MAX_BODY_BYTES,
            }),
            422 => Problem::new(
                422,
                "invalid_json",
                "The request body is not of the expected shape",
            ),
            503 => Problem::new(503, "unavailable", "The service is temporarily unavailable"),
            status if status >= 500 => {
                Problem::new(status, "internal", "An internal error occurred")
            }
            status => Problem::new(status, "error", reason_phrase(status)),
        }
    }

    /// The problem document answering `error`.
    pub fn from_error(error: &Error) -> Self {
        match error {
            Error::InvalidJson(detail) => Problem::new(400, "invalid_json", detail.clone()),
            Error::Validation(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut problem = Problem::new(422, "validation_failed", detail);
                problem.errors = Some(errors.clone());
                problem
            }
            Error::EmailTaken | Error::Storage(StorageError::EmailTaken) => {
                Problem::new(409, "email_taken", "Email is already registered")
            }
            Error::UnknownReferralCode => {
                Problem::new(422, "unknown_referral_code", error.to_string())
            }
            Error::InvalidCredentials => {
                Problem::new(401, "invalid_credentials", error.to_string())
            }
            Error::Unauthorized => Problem::new(401, "unauthorized", error.to_string()),
            Error::InvalidResetToken => Problem::new(400, "invalid_reset_token", error.to_string()),
            Error::InvalidRefreshToken => {
                Problem::new(401, "invalid_refresh_token", error.to_string())
            }
            Error::RateLimited { .. } => Problem::new(429, "rate_limited", error.to_string()),
            Error::PayloadTooLarge { .. } => {
                Problem::new(413, "payload_too_large", error.to_string())
            }
            Error::NotFound => Problem::new(404, "not_found", error.to_string()),
            Error::MethodNotAllowed { .. } => {
                Problem::new(405, "method_not_allowed", error.to_string())
            }
            Error::Storage(StorageError::Unavailable(_)) => Problem::new(
                503,
                "unavailable",
                "The service is temporarily unavailable; try again shortly",
            ),
            Error::Storage(_)
            | Error::Mail(
                MailError::Rejected(_) | MailError::Unavailable(_) | MailError::Throttled { .. },
            )
            | Error::Config(_)
            | Error::Internal(_) => Problem::new(500, "internal", "An internal error occurred"),
            #[allow(unreachable_patterns)]
            _ => Problem::new(500, "internal", "An internal error occurred"),
        }
    }

    /// Extra headers the answer carries: `WWW-Authenticate` for `unauthorized`,
    /// `Retry-After` for `rate_limited`, `Allow` for `method_not_allowed`.
    pub fn headers_for(error: &Error) -> Vec<(&'static str, String)> {
        match error {
            Error::Unauthorized => vec![("www-authenticate", "Bearer".to_owned())],
            Error::RateLimited { retry_after_secs } => {
                vec![("retry-after", retry_after_secs.to_string())]
            }
            Error::MethodNotAllowed { allow } => vec![("allow", (*allow).to_owned())],
            _ => Vec::new(),
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
            (Error::UnknownReferralCode, 422, "unknown_referral_code"),
            (Error::InvalidCredentials, 401, "invalid_credentials"),
            (Error::Unauthorized, 401, "unauthorized"),
            (Error::InvalidResetToken, 400, "invalid_reset_token"),
            (Error::InvalidRefreshToken, 401, "invalid_refresh_token"),
            (
                Error::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate_limited",
            ),
            (
                Error::PayloadTooLarge { limit: 65536 },
                413,
                "payload_too_large",
            ),
            (
                Error::Storage(StorageError::unavailable("down")),
                503,
                "unavailable",
            ),
            (Error::Internal("secret detail".into()), 500, "internal"),
        ];
        for (error, status, code) in cases {
            let problem = Problem::from_error(&error);
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (status, code),
                "{error:?}"
            );
            assert_eq!(problem.kind, "about:blank");
        }
    }

    #[test]
    fn the_email_taken_detail_is_the_seeds_sentence() {
        assert_eq!(
            Problem::from_error(&Error::EmailTaken).detail,
            "Email is already registered"
        );
    }

    #[test]
    fn internal_errors_never_leak_their_text() {
        let problem = Problem::from_error(&Error::Internal("db password is hunter2".into()));
        assert!(!serde_json::to_string(&problem).unwrap().contains("hunter2"));
        let problem = Problem::from_error(&Error::Storage(StorageError::backend(
            "relation users missing",
        )));
        assert!(!problem.detail.contains("relation"));
    }

    #[test]
    fn validation_problems_list_their_fields() {
        let problem = Problem::from_error(&Error::invalid(
            "password",
            "too_short",
            "Password must be at least 8 characters",
        ));
        let errors = problem.errors.unwrap();
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code.as_str()),
            ("password", "too_short")
        );
    }
}
