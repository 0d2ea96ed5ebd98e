//! The route handler that hands every request under `/api` to the engine.

use referral_core::{ApiRequest, Engine, RequestBody, API_PREFIX, MAX_BODY_BYTES};
use rocket::data::{Data, ToByteUnit};
use rocket::http::Method;
use rocket::request::Request;
use rocket::route::{self, Handler, Route};

use crate::headers::mark_as_ours;
use crate::response::EngineResponse;

/// The rank of the adapter's routes. Rocket tries lower ranks first, and its default ranks
/// are all below zero, so your own routes under `/api` (say `/api/posts/<id>`) are tried
/// first and never collide with the adapter's catch-all. A route of yours that also
/// matches `/api/...` and never forwards (a catch-all `/<path..>` with its default rank,
/// for instance) would hide the API: give it a rank above this one.
pub const ROUTE_RANK: isize = 20;

/// Every method Rocket parses except `CONNECT`, which carries no path. The engine answers
/// `405` with `Allow` for the ones a path does not serve, as the contract says.
const METHODS: [Method; 8] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
    Method::Trace,
];

/// Hands the request, as the engine sees it, to [`Engine::handle`].
#[derive(Clone)]
pub(crate) struct ApiHandler {
    engine: Engine,
    /// Where the routes are mounted, without a trailing `/` (empty at the root).
    base: String,
}

impl ApiHandler {
    /// One route per method, matching `{base}/api` and everything below it.
    pub(crate) fn routes(engine: Engine, base: &str) -> Vec<Route> {
        let handler = ApiHandler {
            engine,
            base: base.trim_end_matches('/').to_owned(),
        };
        let uri = format!("{API_PREFIX}/<path..>");
        METHODS
            .into_iter()
            .map(|method| {
                let mut route = Route::ranked(ROUTE_RANK, method, &uri, handler.clone());
                route.name = Some("referral".into());
                route
            })
            .collect()
    }

    /// The request path relative to the mount point: what the engine routes on.
    fn engine_path<'a>(&self, path: &'a str) -> &'a str {
        path.strip_prefix(self.base.as_str())
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path)
    }
}

#[rocket::async_trait]
impl Handler for ApiHandler {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        mark_as_ours(request);
        let response = match data.open(MAX_BODY_BYTES.bytes()).into_bytes().await {
            Ok(body) => {
                let body = if body.is_complete() {
                    RequestBody::Complete(body.into_inner())
                } else {
                    RequestBody::TooLarge
                };
                let uri = request.uri();
                let headers = request.headers();
                let api_request = ApiRequest {
                    method: request.method().as_str().to_owned(),
                    path: self.engine_path(uri.path().as_str()).to_owned(),
                    query: uri.query().map(|query| query.as_str().to_owned()),
                    content_type: headers.get_one("Content-Type").map(str::to_owned),
                    authorization: headers.get_one("Authorization").map(str::to_owned),
                    body,
                };
                self.engine.handle(api_request).await
            }
            // The connection failed mid-body: the request could not be read.
            Err(error) => {
                tracing::debug!(%error, "reading a request body failed");
                referral_core::ApiResponse::for_status(400)
            }
        };
        route::Outcome::from(request, EngineResponse(response))
    }
}
