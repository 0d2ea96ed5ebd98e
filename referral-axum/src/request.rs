//! An axum request becomes the engine's [`ApiRequest`]: method, path, query, the two headers
//! the engine reads, and the body read up to the contract's limit.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderMap;
use http_body_util::BodyExt;
use referral_core::{ApiRequest, RequestBody, MAX_BODY_BYTES};

/// How much of an oversize body is read and thrown away before answering `413`.
///
/// A server that closes a connection with unread request bytes makes its kernel reset the
/// connection, and the client then often loses the `413` (or never reads it, still
/// writing). Reading and dropping an oversize body up to this size lets the client finish
/// sending and read its answer; only bodies beyond it get the connection closed. Memory
/// stays bounded either way: nothing past [`MAX_BODY_BYTES`] is kept.
const DRAIN_LIMIT: usize = 128 * MAX_BODY_BYTES;

/// Translates an axum request into the engine's [`ApiRequest`].
///
/// The body is kept up to [`MAX_BODY_BYTES`]; a longer one becomes
/// [`RequestBody::TooLarge`], which the engine answers with `413 payload_too_large` on the
/// routes that read a body.
pub async fn api_request(request: Request) -> ApiRequest {
    let (parts, body) = request.into_parts();
    ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type: header_text(&parts.headers, CONTENT_TYPE),
        authorization: header_text(&parts.headers, AUTHORIZATION),
        body: read_body(declared_length(&parts.headers), body).await,
    }
}

/// A header's value as text. Bytes that are not UTF-8 are replaced rather than dropped, so
/// a garbled `Content-Type` is still refused as a wrong content type instead of being
/// taken for a missing one.
pub(crate) fn header_text(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
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

    fn post(body: impl Into<Body>) -> Request {
        Request::builder()
            .method("POST")
            .uri("/api/login?x=1")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, "Bearer abc")
            .body(body.into())
            .unwrap()
    }

    #[tokio::test]
    async fn method_path_query_and_headers_are_carried_over() {
        let request = api_request(post("{}")).await;
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/api/login");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(request.body, RequestBody::Complete(b"{}".to_vec()));
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_kept_whole() {
        let request = api_request(post(vec![b' '; MAX_BODY_BYTES])).await;
        assert_eq!(
            request.body,
            RequestBody::Complete(vec![b' '; MAX_BODY_BYTES])
        );
    }

    #[tokio::test]
    async fn a_body_one_byte_over_the_limit_is_too_large() {
        let request = api_request(post(vec![b' '; MAX_BODY_BYTES + 1])).await;
        assert_eq!(request.body, RequestBody::TooLarge);
    }

    #[tokio::test]
    async fn a_body_past_the_drain_limit_is_too_large() {
        let request = api_request(post(vec![b'x'; DRAIN_LIMIT + 1])).await;
        assert_eq!(request.body, RequestBody::TooLarge);
    }

    #[tokio::test]
    async fn a_declared_huge_length_is_refused_without_reading() {
        let mut request = post("{}");
        request.headers_mut().insert(
            CONTENT_LENGTH,
            (DRAIN_LIMIT + 1).to_string().parse().unwrap(),
        );
        assert_eq!(api_request(request).await.body, RequestBody::TooLarge);
    }
}
