//! Postmark's "send a single email" call: `POST /email` with a JSON message and the server
//! API token in `X-Postmark-Server-Token`. Success is `200` with `"ErrorCode": 0`; a refusal
//! is `{"ErrorCode": n, "Message": "…"}` (422 for a bad message or recipient, 401 for a bad
//! token).

use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::json;

use super::Outgoing;

/// Postmark's API.
pub(super) const BASE_URL: &str = "https://api.postmarkapp.com";

/// The single-email endpoint.
pub(super) const PATH: &str = "/email";

/// Transactional mail goes through the default transactional stream.
const MESSAGE_STREAM: &str = "outbound";

pub(super) fn request(outgoing: &Outgoing<'_>) -> RequestBuilder {
    let message = outgoing.message;
    outgoing
        .client
        .post(outgoing.endpoint.clone())
        .header("X-Postmark-Server-Token", outgoing.token.clone())
        .json(&json!({
            "From": outgoing.from.mailbox(),
            "To": message.to.as_str(),
            "Subject": message.subject,
            "TextBody": message.text,
            "HtmlBody": message.html,
            "MessageStream": MESSAGE_STREAM,
        }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Refusal {
    error_code: i64,
    message: String,
}

/// `Message (ErrorCode n)` from Postmark's error body.
pub(super) fn reason(body: &[u8]) -> Option<String> {
    let refusal: Refusal = serde_json::from_slice(body).ok()?;
    Some(format!(
        "{} (ErrorCode {})",
        refusal.message, refusal.error_code
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_postmarks_message_and_error_code() {
        let body = br#"{"ErrorCode":406,"Message":"You tried to send to recipient(s) that have been marked as inactive."}"#;
        assert_eq!(
            reason(body).unwrap(),
            "You tried to send to recipient(s) that have been marked as inactive. (ErrorCode 406)"
        );
        assert_eq!(reason(b"<html>Bad gateway</html>"), None);
    }
}
