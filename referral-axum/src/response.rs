//! The engine's [`ApiResponse`] as an axum response: status, headers and body, unchanged.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use referral_core::{ApiResponse, Error};

/// An engine answer, written back as it is.
///
/// ```
/// use axum::response::IntoResponse;
/// use referral_axum::EngineResponse;
/// use referral_core::{ApiResponse, Error};
///
/// let response = EngineResponse(ApiResponse::for_status(404)).into_response();
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineResponse(pub ApiResponse);

impl From<ApiResponse> for EngineResponse {
    fn from(response: ApiResponse) -> Self {
        EngineResponse(response)
    }
}

impl IntoResponse for EngineResponse {
    fn into_response(self) -> Response {
        let ApiResponse {
            status,
            headers,
            body,
        } = self.0;
        let mut response = Response::new(Body::from(body));
        // The engine only answers with real statuses; a bad one would be a bug in core, and
        // a plain 500 is the answer that hides nothing and panics on nothing.
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::try_from(value),
            ) {
                (Ok(name), Ok(value)) => {
                    response.headers_mut().append(name, value);
                }
                _ => tracing::warn!(header = name, "dropped a header HTTP cannot carry"),
            }
        }
        response
    }
}

/// An engine [`Error`] as the contract's problem answer, so handlers of your own can use
/// `?` on engine calls: `Result<EngineResponse, ApiError>`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        EngineResponse(ApiResponse::error(&self.0)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_headers_and_body_are_copied() {
        let answer = ApiResponse {
            status: 429,
            headers: vec![
                ("content-type", "application/problem+json".to_owned()),
                ("retry-after", "42".to_owned()),
            ],
            body: b"{\"status\":429}".to_vec(),
        };
        let response = EngineResponse(answer).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()["retry-after"], "42");
    }

    #[test]
    fn a_header_value_http_cannot_carry_is_dropped_not_panicked_on() {
        let answer = ApiResponse {
            status: 200,
            headers: vec![("location", "/api/me\r\nx: y".to_owned())],
            body: Vec::new(),
        };
        let response = EngineResponse(answer).into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("location").is_none());
    }
}
