//! The HTTP surface as plain data (feature `http`): the endpoint table, a framework-neutral
//! request going in and the complete answer (status, headers, body) coming out, the request
//! bodies, the problem documents and the OpenAPI document. Adapters turn the table into
//! native routes, translate requests and answers, and decide nothing.

mod bodies;
mod endpoints;
mod openapi;
mod problem;
mod serve;

pub use bodies::{
    AdjustmentRequest, AdminRewardsQuery, AdminUsersQuery, ChangePasswordRequest,
    ConversionRequest, DeleteAccountRequest, Health, LoginRequest, MessageBody, PasswordChanged,
    ReferralCodeRequest, ReferralsQuery, RefreshRequest, RegisterRequest, ResetConfirmRequest,
    ResetRequest, RevokeRequest, UpdateMeRequest, VerifyEmailRequest,
};
pub use endpoints::{Access, Endpoint, EndpointSpec, Method, Mount, PathParams, Scope, API_PREFIX};
pub use openapi::document as openapi_document;
pub use problem::{reason_phrase, reason_phrase_ok, Problem};
pub use serve::parse_json;

use std::net::IpAddr;

use serde::Serialize;

use crate::error::Error;

/// Largest request body accepted, in bytes (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `application/json`
pub const JSON: &str = "application/json";
/// `application/problem+json`
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A request body as the adapter read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The whole body (at most [`MAX_BODY_BYTES`]).
    Complete(Vec<u8>),
    /// The body was longer than [`MAX_BODY_BYTES`]; reading stopped.
    TooLarge,
    /// The body did not arrive within [`Config::request_timeout`](crate::Config::request_timeout).
    TimedOut,
}

/// A framework-neutral HTTP request: what an adapter hands to the engine.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Method, e.g. `POST`.
    pub method: String,
    /// The whole path as received, without query, e.g. `/api/register`.
    pub path: String,
    /// Raw query string without `?`, if any.
    pub query: Option<String>,
    /// `Content-Type` header value.
    pub content_type: Option<String>,
    /// `Authorization` header value.
    pub authorization: Option<String>,
    /// `X-Forwarded-For` header values, joined with `,` (believed only from trusted proxies).
    pub forwarded_for: Option<String>,
    /// `User-Agent` header value (share links tell visitors apart by it).
    pub user_agent: Option<String>,
    /// The socket peer's address.
    pub peer: Option<IpAddr>,
    /// The body.
    pub body: RequestBody,
}

impl ApiRequest {
    /// A request with no headers, no peer and an empty body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            query: None,
            content_type: None,
            authorization: None,
            forwarded_for: None,
            user_agent: None,
            peer: None,
            body: RequestBody::Complete(Vec::new()),
        }
    }
}

/// A complete HTTP answer: what an adapter writes back, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// Status code.
    pub status: u16,
    /// Headers, lower-case names (including `content-type` when there is a body).
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes (empty for `204`).
    pub body: Vec<u8>,
}

/// Headers on every answer of the contract: nothing in it may be cached (answers carry
/// tokens and personal data), sniffed as another type, or framed.
const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

impl ApiResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => ApiResponse {
                status,
                headers: with_security_headers(vec![("content-type", JSON.to_owned())]),
                body: bytes,
            },
            Err(e) => ApiResponse::error(&Error::Internal(format!(
                "serialising an answer failed: {e}"
            ))),
        }
    }

    /// A `302 Found` to `location`, without a body.
    pub fn redirect(location: &str) -> Self {
        ApiResponse {
            status: 302,
            headers: with_security_headers(vec![("location", location.to_owned())]),
            body: Vec::new(),
        }
    }

    /// An empty `204 No Content`.
    pub fn no_content() -> Self {
        ApiResponse {
            status: 204,
            headers: with_security_headers(Vec::new()),
            body: Vec::new(),
        }
    }

    /// The problem-document answer for `error` (server errors are logged here, once).
    pub fn error(error: &Error) -> Self {
        let problem = Problem::from_error(error);
        if problem.status >= 500 && problem.code != "unavailable" {
            tracing::error!(error = %error, "request failed");
        } else if problem.status >= 500 {
            tracing::warn!(error = %error, "request refused: unavailable");
        }
        Self::problem(&problem, Problem::headers_for(error))
    }

    /// The answer for a status a framework produced on its own (its catchers).
    pub fn for_status(status: u16) -> Self {
        Self::problem(&Problem::for_status(status), Vec::new())
    }

    fn problem(problem: &Problem, extra: Vec<(&'static str, String)>) -> Self {
        let mut headers = vec![("content-type", PROBLEM_JSON.to_owned())];
        headers.extend(extra);
        ApiResponse {
            status: problem.status,
            headers: with_security_headers(headers),
            body: serde_json::to_vec(problem).unwrap_or_default(),
        }
    }

    /// The value of header `name` (any case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn with_security_headers(mut headers: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    headers.extend(
        SECURITY_HEADERS
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    headers
}
