//! An axum request becomes the engine's [`ApiRequest`]: method, path, query, the headers the
//! engine reads, the socket peer, and the body read up to the contract's limit within the
//! engine's time limit.

use std::net::SocketAddr;
use std::sync::Once;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, FromRequest, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderName};
use http_body_util::BodyExt;
use referral_core::{ApiRequest, Engine, RequestBody, MAX_BODY_BYTES};

/// How much of an oversize body is read and thrown away before answering `413`.
///
/// A server that closes a connection with unread request bytes makes its kernel reset the
/// connection, and the client then often loses the `413` (or never reads it, still
/// writing). Reading and dropping an oversize body up to this size lets the client finish
/// sending and read its answer; only bodies beyond it get the connection closed. Memory
/// stays bounded either way: nothing past [`MAX_BODY_BYTES`] is kept.
const DRAIN_LIMIT: usize = 128 * MAX_BODY_BYTES;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The engine's view of an axum request: the whole request, body included, as the
/// library's own routes read it. Take it in a handler of your own that replaces an
/// endpoint, then answer with [`Engine::serve`] (or [`parse_json`](referral_core::parse_json)
/// and the typed engine methods) to keep the contract's parsing and problem answers.
///
/// ```
/// use axum::extract::State;
/// use referral_axum::{EngineRequest, EngineResponse};
/// use referral_core::{Endpoint, Engine, Mount};
///
/// // Health, with a header of our own.
/// async fn health(State(engine): State<Engine>, EngineRequest(request): EngineRequest) -> EngineResponse {
///     let mut answer = engine.serve(&Mount::default(), Endpoint::Health, request).await;
///     answer.headers.push(("x-served-by", "my-app".to_owned()));
///     answer.into()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct EngineRequest(pub ApiRequest);

impl<S> FromRequest<S> for EngineRequest
where
    Engine: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let engine = Engine::from_ref(state);
        Ok(EngineRequest(api_request(&engine, request, true).await))
    }
}

/// Translates an axum request into the engine's [`ApiRequest`], reading the body when
/// `with_body` (up to [`MAX_BODY_BYTES`]; longer is [`RequestBody::TooLarge`]; slower than
/// [`Config::request_timeout`](referral_core::Config::request_timeout) is
/// [`RequestBody::TimedOut`]).
///
/// The peer address comes from axum's [`ConnectInfo`]: serve the app with
/// `into_make_service_with_connect_info::<SocketAddr>()`, or the per-address limits (sign-ups,
/// reset requests) cannot count anyone.
pub async fn api_request(engine: &Engine, request: Request, with_body: bool) -> ApiRequest {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if peer.is_none() {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                "referral: requests carry no peer address; serve the app with \
                 `into_make_service_with_connect_info::<SocketAddr>()` so per-address limits apply"
            )
        });
    }
    let body = if with_body {
        let timeout = engine.config().request_timeout().unsigned_abs();
        let declared = declared_length(&parts.headers);
        tokio::time::timeout(timeout, read_body(declared, body))
            .await
            .unwrap_or(RequestBody::TimedOut)
    } else {
        RequestBody::Complete(Vec::new())
    };
    ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type: header_text(&parts.headers, CONTENT_TYPE),
        authorization: header_text(&parts.headers, AUTHORIZATION),
        forwarded_for: joined(&parts.headers, X_FORWARDED_FOR),
        user_agent: header_text(&parts.headers, USER_AGENT),
        peer,
        body,
    }
}

/// A header's value as text. Bytes that are not UTF-8 are replaced rather than dropped, so
/// a garbled `Content-Type` is still refused as a wrong content type instead of being
/// taken for a missing one.
pub(crate) fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Every value of a repeatable header, joined with `,` in the order received.
fn joined(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn read_body(declared: Option<usize>, mut body: Body) -> RequestBody {
    if declared.is_some_and(|length| length > DRAIN_LIMIT) {
        return RequestBody::TooLarge;
    }
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The client broke off mid-body. Nothing it sent can be trusted to be whole; an
            // empty body gets the engine's `invalid_json` answer on routes that need one.
            tracing::debug!("request body could not be read to the end");
            return RequestBody::Complete(Vec::new());
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing the contract reads
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= MAX_BODY_BYTES {
            kept.extend_from_slice(&data);
        }
    }
    if seen > MAX_BODY_BYTES {
        RequestBody::TooLarge
    } else {
        RequestBody::Complete(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use referral_core::Config;

    fn engine() -> Engine {
        Engine::builder(Config::builder().random_secret().build().unwrap())
            .build()
            .unwrap()
    }

    fn post(body: impl Into<Body>) -> Request {
        let mut request = Request::builder()
            .method("POST")
            .uri("/api/login?x=1")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, "Bearer abc")
            .header("x-forwarded-for", "1.1.1.1")
            .header("x-forwarded-for", "2.2.2.2")
            .body(body.into())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 9], 4000))));
        request
    }

    #[tokio::test]
    async fn method_path_query_headers_and_peer_are_carried_over() {
        let request = api_request(&engine(), post("{}"), true).await;
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/api/login");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(request.forwarded_for.as_deref(), Some("1.1.1.1,2.2.2.2"));
        assert_eq!(request.peer, Some([127, 0, 0, 9].into()));
        assert_eq!(request.body, RequestBody::Complete(b"{}".to_vec()));
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_kept_whole() {
        let request = api_request(&engine(), post(vec![b' '; MAX_BODY_BYTES]), true).await;
        assert_eq!(
            request.body,
            RequestBody::Complete(vec![b' '; MAX_BODY_BYTES])
        );
    }

    #[tokio::test]
    async fn a_body_one_byte_over_the_limit_is_too_large() {
        let request = api_request(&engine(), post(vec![b' '; MAX_BODY_BYTES + 1]), true).await;
        assert_eq!(request.body, RequestBody::TooLarge);
    }

    #[tokio::test]
    async fn a_body_past_the_drain_limit_is_too_large() {
        let request = api_request(&engine(), post(vec![b'x'; DRAIN_LIMIT + 1]), true).await;
        assert_eq!(request.body, RequestBody::TooLarge);
    }

    #[tokio::test]
    async fn a_declared_huge_length_is_refused_without_reading() {
        let mut request = post("{}");
        request.headers_mut().insert(
            CONTENT_LENGTH,
            (DRAIN_LIMIT + 1).to_string().parse().unwrap(),
        );
        assert_eq!(
            api_request(&engine(), request, true).await.body,
            RequestBody::TooLarge
        );
    }

    #[tokio::test]
    async fn a_body_that_never_arrives_times_out() {
        let config = Config::builder()
            .random_secret()
            .request_timeout(time::Duration::milliseconds(50))
            .build()
            .unwrap();
        let engine = Engine::builder(config).build().unwrap();
        let request = api_request(&engine, post(Body::new(Pending)), true).await;
        assert_eq!(request.body, RequestBody::TimedOut);
    }

    /// A body that never yields a byte: a client that stopped sending.
    struct Pending;

    impl axum::body::HttpBody for Pending {
        type Data = axum::body::Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            std::task::Poll::Pending
        }
    }
}
