//! The engine's answer as a Rocket response, written back byte for byte.

use std::io::Cursor;

use referral_core::ApiResponse;
use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Body, Responder, Response};

/// An [`ApiResponse`] as a Rocket [`Responder`]: the engine's status, headers and body,
/// unchanged. Rocket adds no `Content-Type` of its own: the engine's is the only one.
///
/// Return it from your own routes when you call the engine directly:
///
/// ```
/// use referral_core::{ApiRequest, Engine};
/// use referral_rocket::EngineResponse;
/// use rocket::State;
///
/// #[rocket::get("/status")]
/// async fn status(engine: &State<Engine>) -> EngineResponse {
///     engine.handle(ApiRequest::new("GET", "/api/health")).await.into()
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineResponse(pub ApiResponse);

impl From<ApiResponse> for EngineResponse {
    fn from(response: ApiResponse) -> Self {
        EngineResponse(response)
    }
}

impl<'r> Responder<'r, 'static> for EngineResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let ApiResponse {
            status,
            headers,
            body,
        } = self.0;
        let mut response = Response::build();
        response.status(Status::new(status));
        for (name, value) in headers {
            response.raw_header_adjoin(name, value);
        }
        // Rocket itself drops the body (and its length) of a `204` and of an answer to `HEAD`.
        // The body is in memory already: hand it to hyper as one chunk instead of Rocket's
        // default 4 KiB ones (a page of referrals took two trips through Rocket's body
        // channel).
        response
            .max_chunk_size(body.len().max(Body::DEFAULT_MAX_CHUNK))
            .sized_body(body.len(), Cursor::new(body));
        Ok(response.finalize())
    }
}
