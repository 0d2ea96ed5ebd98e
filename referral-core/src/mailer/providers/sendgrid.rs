//! SendGrid's v3 mail send: `POST /v3/mail/send` with a JSON body of `personalizations`
//! (the recipient), `from`, `subject` and `content` (text/plain first, then text/html), and
//! `Authorization: Bearer <key>`. Success is `202 Accepted` with an empty body; a refusal is
//! `{"errors": [{"message", "field", "help"}]}`.

use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Outgoing;

/// SendGrid's API.
pub(super) const BASE_URL: &str = "https://api.sendgrid.com";

/// The v3 mail send endpoint.
pub(super) const PATH: &str = "/v3/mail/send";

pub(super) fn request(outgoing: &Outgoing<'_>) -> RequestBuilder {
    let message = outgoing.message;
    let mut from = json!({ "email": outgoing.from.address() });
    if let (Some(name), Value::Object(from)) = (outgoing.from.name(), &mut from) {
        from.insert("name".into(), name.into());
    }
    outgoing
        .client
        .post(outgoing.endpoint.clone())
        .bearer_auth(outgoing.key.expose_secret())
        .json(&json!({
            "personalizations": [{ "to": [{ "email": message.to.as_str() }] }],
            "from": from,
            "subject": message.subject,
            // SendGrid requires text/plain before text/html.
            "content": [
                { "type": "text/plain", "value": message.text },
                { "type": "text/html", "value": message.html },
            ],
        }))
}

#[derive(Deserialize)]
struct Refusal {
    errors: Vec<Problem>,
}

#[derive(Deserialize)]
struct Problem {
    message: String,
    #[serde(default)]
    field: Option<String>,
}

/// Each of SendGrid's `errors`, as `field: message`, joined by `; `.
pub(super) fn reason(body: &[u8]) -> Option<String> {
    let refusal: Refusal = serde_json::from_slice(body).ok()?;
    let problems: Vec<String> = refusal
        .errors
        .into_iter()
        .map(|problem| match problem.field {
            Some(field) if !field.is_empty() => format!("{field}: {}", problem.message),
            _ => problem.message,
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_lists_each_error_with_its_field() {
        let body = br#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs"},{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}"#;
        assert_eq!(
            reason(body).unwrap(),
            "personalizations.0.to.0.email: Does not contain a valid address.; \
             The provided authorization grant is invalid, expired, or revoked"
        );
        assert_eq!(reason(br#"{"errors":[]}"#), None);
        assert_eq!(reason(b"Bad Gateway"), None);
    }
}
