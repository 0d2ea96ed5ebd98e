//! A Rocket request becomes the engine's [`ApiRequest`]: method, path, query, the headers
//! the engine reads, the socket peer, and the body read up to the contract's limit within
//! the engine's time limit.

use referral_core::{ApiRequest, Engine, RequestBody, MAX_BODY_BYTES};
use rocket::data::{Data, ToByteUnit};
use rocket::request::Request;
use rocket::tokio::io::AsyncReadExt;

/// How much of an oversize body is read and thrown away before answering `413` (8 MiB, as
/// in `referral-axum`).
///
/// A server that closes a connection with unread request bytes makes its kernel reset the
/// connection, and the client then often loses the `413` (or never reads it, still
/// writing). Reading and dropping an oversize body up to this size lets the client finish
/// sending and read its answer; only bodies beyond it get the connection closed. Memory
/// stays bounded either way: nothing past [`MAX_BODY_BYTES`] is kept.
const DRAIN_LIMIT: usize = 128 * MAX_BODY_BYTES;

/// The engine's view of `request` with `method` (Rocket's own, or a stand-in for one it
/// could not parse), without a body.
pub(crate) fn api_request(request: &Request<'_>, method: &str) -> ApiRequest {
    let uri = request.uri();
    let headers = request.headers();
    let forwarded: Vec<&str> = headers.get("X-Forwarded-For").collect();
    ApiRequest {
        method: method.to_owned(),
        path: uri.path().as_str().to_owned(),
        query: uri.query().map(|query| query.as_str().to_owned()),
        content_type: headers.get_one("Content-Type").map(str::to_owned),
        authorization: headers.get_one("Authorization").map(str::to_owned),
        forwarded_for: (!forwarded.is_empty()).then(|| forwarded.join(",")),
        user_agent: headers.get_one("User-Agent").map(str::to_owned),
        peer: request.remote().map(|address| address.ip()),
        body: RequestBody::Complete(Vec::new()),
    }
}

/// Reads the body as `referral-axum` does: kept up to [`MAX_BODY_BYTES`], anything longer
/// read on and dropped up to [`DRAIN_LIMIT`] (so the client reads its `413`), a body
/// declared longer than [`DRAIN_LIMIT`] not read at all, and a body that does not arrive
/// within [`Config::request_timeout`](referral_core::Config::request_timeout) abandoned.
/// A connection that fails mid-body gives an empty body (the engine answers
/// `invalid_json` where a body is needed).
pub(crate) async fn read_body(
    engine: &Engine,
    request: &Request<'_>,
    data: Data<'_>,
) -> RequestBody {
    let declared = request
        .headers()
        .get_one("Content-Length")
        .and_then(|length| length.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > DRAIN_LIMIT) {
        return RequestBody::TooLarge;
    }
    let timeout = engine.config().request_timeout().unsigned_abs();
    match rocket::tokio::time::timeout(timeout, drain(data)).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            tracing::debug!(%error, "request body could not be read to the end");
            RequestBody::Complete(Vec::new())
        }
        Err(_elapsed) => RequestBody::TimedOut,
    }
}

async fn drain(data: Data<'_>) -> std::io::Result<RequestBody> {
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
