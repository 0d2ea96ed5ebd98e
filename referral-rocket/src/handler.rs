//! The route handler that hands every request under `/api` to the engine.

use referral_core::{ApiRequest, ApiResponse, Engine, RequestBody, API_PREFIX, MAX_BODY_BYTES};
use rocket::data::{Data, ToByteUnit};
use rocket::http::Method;
use rocket::request::Request;
use rocket::route::{self, Handler, Route};
use rocket::tokio::io::AsyncReadExt;

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

/// How much of an oversize body is read and thrown away before answering `413` (8 MiB, as
/// in `referral-axum`).
///
/// A server that closes a connection with unread request bytes makes its kernel reset the
/// connection, and the client then often loses the `413` (or never reads it, still
/// writing). Reading and dropping an oversize body up to this size lets the client finish
/// sending and read its answer; only bodies beyond it get the connection closed. Memory
/// stays bounded either way: nothing past [`MAX_BODY_BYTES`] is kept.
const DRAIN_LIMIT: usize = 128 * MAX_BODY_BYTES;

/// The method handed to the engine for a request whose method Rocket could not parse
/// (`PROPFIND`, any extension method): Rocket keeps no trace of it. The contract serves
/// none of these methods, so the engine answers what it answers any of them: `404` for an
/// unknown path, `405` with `Allow` for a known one.
const UNPARSED_METHOD: &str = "UNPARSED";

/// Hands the request, as the engine sees it, to [`Engine::handle`].
#[derive(Clone)]
pub(crate) struct ApiHandler {
    engine: Engine,
    /// Where the routes are mounted, without a trailing `/` (empty at the root).
    base: String,
}

impl ApiHandler {
    /// The handler of the API mounted at `base`.
    pub(crate) fn new(engine: Engine, base: &str) -> Self {
        ApiHandler {
            engine,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// One route per method, matching `{base}/api` and everything below it.
    pub(crate) fn routes(&self) -> Vec<Route> {
        let uri = format!("{API_PREFIX}/<path..>");
        METHODS
            .into_iter()
            .map(|method| {
                let mut route = Route::ranked(ROUTE_RANK, method, &uri, self.clone());
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
        let response = match read_body(request, data).await {
            Ok(body) => {
                let mut api_request = self.api_request(request, request.method().as_str());
                api_request.body = body;
                self.engine.handle(api_request).await
            }
            // The connection failed mid-body: the request could not be read.
            Err(error) => {
                tracing::debug!(%error, "reading a request body failed");
                ApiResponse::for_status(400)
            }
        };
        route::Outcome::from(request, EngineResponse(response))
    }
}

impl ApiHandler {
    /// The engine's view of `request` with `method`, and an empty body.
    fn api_request(&self, request: &Request<'_>, method: &str) -> ApiRequest {
        let uri = request.uri();
        let headers = request.headers();
        ApiRequest {
            method: method.to_owned(),
            path: self.engine_path(uri.path().as_str()).to_owned(),
            query: uri.query().map(|query| query.as_str().to_owned()),
            content_type: headers.get_one("Content-Type").map(str::to_owned),
            authorization: headers.get_one("Authorization").map(str::to_owned),
            body: RequestBody::Complete(Vec::new()),
        }
    }

    /// The engine's answer to a request under the API that Rocket refused to parse because
    /// of its method (see [`UNPARSED_METHOD`]). Its body is never read: no route of the
    /// contract serves such a method, so the engine answers before reading one.
    pub(crate) async fn unparsed_method(&self, request: &Request<'_>) -> ApiResponse {
        mark_as_ours(request);
        self.engine
            .handle(self.api_request(request, UNPARSED_METHOD))
            .await
    }
}

/// Reads the body as `referral-axum` does: kept up to [`MAX_BODY_BYTES`], anything longer
/// read on and dropped up to [`DRAIN_LIMIT`] (so the client reads its `413`), and a body
/// declared longer than [`DRAIN_LIMIT`] not read at all.
async fn read_body(request: &Request<'_>, data: Data<'_>) -> std::io::Result<RequestBody> {
    let declared = request
        .headers()
        .get_one("Content-Length")
        .and_then(|length| length.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > DRAIN_LIMIT) {
        return Ok(RequestBody::TooLarge);
    }
    let mut stream = data.open(DRAIN_LIMIT.bytes());
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        if seen < MAX_BODY_BYTES {
            let keep = read.min(MAX_BODY_BYTES - seen);
            kept.extend_from_slice(&chunk[..keep]);
        }
        seen = seen.saturating_add(read);
    }
    Ok(if seen > MAX_BODY_BYTES {
        RequestBody::TooLarge
    } else {
        RequestBody::Complete(kept)
    })
}
