//! The HTTP surface as plain types: a framework-neutral request goes in, the complete answer
//! (status, headers, body) comes out. Adapters translate and decide nothing.

mod bodies;
mod problem;
mod routes;

pub use bodies::{
    Health, LoginRequest, MessageBody, Referral, ReferralPage, ReferralStats, ReferralsQuery,
    RefreshRequest, RegisterRequest, Registered, ResetConfirmRequest, ResetRequest, Tokens, User,
};
pub use problem::{reason_phrase, reason_phrase_ok, Problem};
pub use routes::{Route, API_PREFIX};

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::{Engine, RESET_DONE_MESSAGE, RESET_REQUESTED_MESSAGE};
use crate::error::Error;
use crate::user::UserRecord;

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
}

/// A framework-neutral HTTP request: what an adapter hands to [`Engine::handle`].
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Path without query, e.g. `/api/register`.
    pub path: String,
    /// Raw query string without `?`, if any.
    pub query: Option<String>,
    /// `Content-Type` header value.
    pub content_type: Option<String>,
    /// `Authorization` header value.
    pub authorization: Option<String>,
    /// The body.
    pub body: RequestBody,
}

impl ApiRequest {
    /// A request with no headers and an empty body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            query: None,
            content_type: None,
            authorization: None,
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

impl ApiResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => ApiResponse {
                status,
                headers: vec![("content-type", JSON.to_owned())],
                body: bytes,
            },
            Err(e) => ApiResponse::error(&Error::Internal(format!(
                "serialising an answer failed: {e}"
            ))),
        }
    }

    /// An empty `204 No Content`.
    pub fn no_content() -> Self {
        ApiResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The problem-document answer for `error` (server errors are logged here, once).
    pub fn error(error: &Error) -> Self {
        Self::problem(
            &Problem::from_error(error),
            Problem::headers_for(error),
            error,
        )
    }

    /// The answer for a status a framework produced on its own (its catchers).
    pub fn for_status(status: u16) -> Self {
        let problem = Problem::for_status(status);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        ApiResponse {
            status: problem.status,
            headers: vec![("content-type", PROBLEM_JSON.to_owned())],
            body,
        }
    }

    fn problem(problem: &Problem, extra: Vec<(&'static str, String)>, error: &Error) -> Self {
        if problem.status >= 500 {
            tracing::error!(error = %error, "request failed");
        }
        let mut headers = vec![("content-type", PROBLEM_JSON.to_owned())];
        headers.extend(extra);
        ApiResponse {
            status: problem.status,
            headers,
            body: serde_json::to_vec(problem).unwrap_or_default(),
        }
    }

    /// The value of header `name` (lower-case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl Engine {
    /// Answers one request of the HTTP contract: routing, body parsing, authentication,
    /// the operation, and the exact status, headers and body to send. Never panics; every
    /// failure is a problem document.
    pub async fn handle(&self, request: ApiRequest) -> ApiResponse {
        let started = Instant::now();
        let response = match self.dispatch(&request).await {
            Ok(response) => response,
            Err(error) => ApiResponse::error(&error),
        };
        tracing::info!(
            target: "referral::http",
            method = %request.method,
            path = %request.path,
            status = response.status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }

    /// Checks an `Authorization` header value and answers either the user or the complete
    /// `401` to send: what adapters' `AuthUser` extractors and guards call.
    pub async fn authorize(&self, authorization: Option<&str>) -> Result<UserRecord, ApiResponse> {
        self.authenticate(authorization)
            .await
            .map_err(|error| ApiResponse::error(&error))
    }

    async fn dispatch(&self, request: &ApiRequest) -> Result<ApiResponse, Error> {
        let route = Route::resolve(&request.method, &request.path)?;
        let auth = request.authorization.as_deref();
        Ok(match route {
            Route::Register => {
                let registered = self.register(parse_body(request)?).await?;
                let mut response = ApiResponse::json(201, &registered);
                response
                    .headers
                    .push(("location", Route::Me.path().to_owned()));
                response
            }
            Route::Login => ApiResponse::json(200, &self.login(parse_body(request)?).await?),
            Route::Refresh => {
                let body: RefreshRequest = parse_body(request)?;
                ApiResponse::json(200, &self.refresh(&body.refresh_token).await?)
            }
            Route::Logout => {
                let body: RefreshRequest = parse_body(request)?;
                self.logout(&body.refresh_token).await?;
                ApiResponse::no_content()
            }
            Route::Me => {
                let user = self.authenticate(auth).await?;
                ApiResponse::json(200, &self.user_view(&user))
            }
            Route::ResetRequest => {
                let body: ResetRequest = parse_body(request)?;
                self.request_password_reset(&body.email).await?;
                ApiResponse::json(
                    202,
                    &MessageBody {
                        message: RESET_REQUESTED_MESSAGE.to_owned(),
                    },
                )
            }
            Route::ResetConfirm => {
                let body: ResetConfirmRequest = parse_body(request)?;
                self.confirm_password_reset(&body.token, &body.new_password)
                    .await?;
                ApiResponse::json(
                    200,
                    &MessageBody {
                        message: RESET_DONE_MESSAGE.to_owned(),
                    },
                )
            }
            Route::Referrals => {
                let user = self.authenticate(auth).await?;
                let query: ReferralsQuery = serde_urlencoded::from_str(
                    request.query.as_deref().unwrap_or(""),
                )
                .map_err(|e| {
                    Error::invalid(
                        "query",
                        "invalid_query",
                        &format!("query string is malformed: {e}"),
                    )
                })?;
                ApiResponse::json(
                    200,
                    &self
                        .referrals(&user, query.limit.as_deref(), query.cursor.as_deref())
                        .await?,
                )
            }
            Route::ReferralStats => {
                let user = self.authenticate(auth).await?;
                ApiResponse::json(200, &self.referral_stats(&user).await?)
            }
            Route::Health => {
                self.health().await?;
                ApiResponse::json(
                    200,
                    &Health {
                        status: "ok".to_owned(),
                    },
                )
            }
            Route::OpenApi => ApiResponse::json(200, crate::openapi::document()),
        })
    }
}

/// Reads a JSON body of type `T`: too large → `payload_too_large`; a non-JSON content type,
/// bad syntax or a wrong shape → `invalid_json`.
fn parse_body<T: DeserializeOwned>(request: &ApiRequest) -> Result<T, Error> {
    let bytes = match &request.body {
        RequestBody::Complete(bytes) => bytes,
        RequestBody::TooLarge => {
            return Err(Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })
        }
    };
    if let Some(content_type) = &request.content_type {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media != JSON && !media.ends_with("+json") {
            return Err(Error::InvalidJson(format!(
                "Content-Type must be application/json, not {media}"
            )));
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidJson(
            "The request body is empty; a JSON object is expected".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        Error::InvalidJson(format!(
            "The request body is not valid JSON of the expected shape: {e}"
        ))
    })
}
