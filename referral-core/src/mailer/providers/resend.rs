//! Resend's send email call: `POST /emails` with a JSON body of `from`, `to`, `subject`,
//! `text` and `html`, and `Authorization: Bearer <key>`. Success is `200` with `{"id": "…"}`;
//! a refusal is `{"statusCode": n, "name": "validation_error", "message": "…"}`.

use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::json;

use super::Outgoing;

/// Resend's API.
pub(super) const BASE_URL: &str = "https://api.resend.com";

/// The send email endpoint.
pub(super) const PATH: &str = "/emails";

pub(super) fn request(outgoing: &Outgoing<'_>) -> RequestBuilder {
    let message = outgoing.message;
    outgoing
        .client
        .post(outgoing.endpoint.clone())
        .bearer_auth(outgoing.key.expose_secret())
        .json(&json!({
            "from": outgoing.from.mailbox(),
            "to": [message.to.as_str()],
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
        }))
}

#[derive(Deserialize)]
struct Refusal {
    name: String,
    message: String,
}

/// `name: message` from Resend's error body.
pub(super) fn reason(body: &[u8]) -> Option<String> {
    let refusal: Refusal = serde_json::from_slice(body).ok()?;
    Some(format!("{}: {}", refusal.name, refusal.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_resends_name_and_message() {
        let body =
            br#"{"statusCode":422,"name":"validation_error","message":"Invalid `to` field."}"#;
        assert_eq!(
            reason(body).unwrap(),
            "validation_error: Invalid `to` field."
        );
        assert_eq!(reason(b"error code: 1010"), None);
    }
}
