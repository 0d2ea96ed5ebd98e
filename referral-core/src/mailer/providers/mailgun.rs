//! Mailgun's messages API: `POST /v3/{domain}/messages` with `multipart/form-data` fields
//! `from`, `to`, `subject`, `text` and `html`, authenticated with HTTP Basic as user `api`
//! and the key as password. Success is `200` with `{"id": "<…>", "message": "Queued. Thank
//! you."}`; a refusal is `{"message": "…"}` (or plain text, as its 401 `Forbidden`).

use reqwest::multipart::Form;
use reqwest::RequestBuilder;
use serde::Deserialize;

use super::Outgoing;

/// Mailgun's API in the US region (the EU region is `https://api.eu.mailgun.net`).
pub(super) const BASE_URL: &str = "https://api.mailgun.net";

/// The messages endpoint of the sending `domain` (checked to be a plain domain name).
pub(super) fn path(domain: &str) -> String {
    format!("/v3/{domain}/messages")
}

pub(super) fn request(outgoing: &Outgoing<'_>) -> RequestBuilder {
    let message = outgoing.message;
    let form = Form::new()
        .text("from", outgoing.from.mailbox())
        .text("to", message.to.as_str().to_owned())
        .text("subject", message.subject.clone())
        .text("text", message.text.clone())
        .text("html", message.html.clone());
    outgoing
        .client
        .post(outgoing.endpoint.clone())
        .basic_auth("api", Some(outgoing.key.expose_secret()))
        .multipart(form)
}

#[derive(Deserialize)]
struct Refusal {
    message: String,
}

/// Mailgun's `message`.
pub(super) fn reason(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Refusal>(body)
        .ok()
        .map(|refusal| refusal.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_mailguns_message() {
        let body =
            br#"{"message":"'to' parameter is not a valid address. please check documentation"}"#;
        assert_eq!(
            reason(body).unwrap(),
            "'to' parameter is not a valid address. please check documentation"
        );
        assert_eq!(reason(b"Forbidden"), None);
    }
}
