//! RFC 9457 problem documents: the one place where an [`Error`] becomes an HTTP answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};
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
        302 => "Found",
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
        408 => "Request Timeout",
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
            408 => Problem::from_error(&Error::RequestTimeout),
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

    /// The problem document answering `error`: its [`status`](Error::status) and
    /// [`code`](Error::code), and a detail that never carries internals.
    pub fn from_error(error: &Error) -> Self {
        let status = error.status();
        let detail = match error {
            Error::Validation(errors) => errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            Error::InvalidJson(detail) => detail.clone(),
            Error::EmailTaken | Error::Storage(StorageError::EmailTaken) => {
                "Email is already registered".to_owned()
            }
            Error::Overloaded { .. } => error.to_string(),
            _ if error.code() == "unavailable" => {
                "The service is temporarily unavailable; try again shortly".to_owned()
            }
            _ if status >= 500 => "An internal error occurred".to_owned(),
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, error.code(), detail);
        if let Error::Validation(errors) = error {
            problem.errors = Some(errors.clone());
        }
        problem
    }

    /// Extra headers the answer carries: `WWW-Authenticate` for `unauthorized`,
    /// `Retry-After` for `rate_limited` and an overloaded `unavailable`, `Allow` for
    /// `method_not_allowed`.
    pub fn headers_for(error: &Error) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if matches!(error, Error::Unauthorized) {
            headers.push(("www-authenticate", "Bearer".to_owned()));
        }
        if let Some(seconds) = error.retry_after_secs() {
            headers.push(("retry-after", seconds.to_string()));
        }
        if let Error::MethodNotAllowed { allow } = error {
            headers.push(("allow", allow.clone()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_overloaded_hasher_answers_503_with_retry_after() {
        let error = Error::Overloaded {
            retry_after_secs: 2,
        };
        let problem = Problem::from_error(&error);
        assert_eq!(
            (problem.status, problem.code.as_str()),
            (503, "unavailable")
        );
        assert_eq!(
            Problem::headers_for(&error),
            vec![("retry-after", "2".to_owned())]
        );
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
