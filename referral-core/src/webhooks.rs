//! Webhooks (feature `webhooks`): every event POSTed to the app's receiver, signed as the
//! [Standard Webhooks](https://www.standardwebhooks.com/) specification says.
//!
//! Each request carries the event as its JSON body and three headers:
//!
//! - `webhook-id`: the event's id, the same on every retry (the receiver's idempotency key);
//! - `webhook-timestamp`: when this attempt was sent, in unix seconds (receivers refuse
//!   old ones, against replays);
//! - `webhook-signature`: `v1,` then the base64 HMAC-SHA256, keyed with the secret's bytes,
//!   of `{webhook-id}.{webhook-timestamp}.{body}`.
//!
//! A `2xx` answer delivers the event; anything else (another status, no answer within the
//! timeout) is retried by the outbox with exponential backoff for
//! [`OutboxPolicy::give_up_after`](crate::OutboxPolicy::give_up_after) (3 days), then kept as
//! a dead letter ([`Engine::dead_letters`](crate::Engine::dead_letters)).

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Error;

/// The prefix of a secret as Standard Webhooks writes it.
pub const WEBHOOK_SECRET_PREFIX: &str = "whsec_";

/// Fewest bytes a webhook secret may have (the specification's lower bound).
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 24;

/// Most bytes a webhook secret may have (the specification's upper bound).
pub const MAX_WEBHOOK_SECRET_BYTES: usize = 64;

/// The key webhooks are signed with, shared with the receiver. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Reads a secret written `whsec_<base64>` (standard alphabet, padded), of 24 to 64
    /// bytes. Generate one with `echo "whsec_$(openssl rand -base64 32)"`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let encoded = text
            .trim()
            .strip_prefix(WEBHOOK_SECRET_PREFIX)
            .ok_or_else(|| {
                Error::Config(format!(
                    "the webhook secret must start with {WEBHOOK_SECRET_PREFIX:?} followed by \
                 base64 (generate one with `echo \"whsec_$(openssl rand -base64 32)\"`)"
                ))
            })?;
        let bytes = STANDARD.decode(encoded).map_err(|error| {
            Error::Config(format!(
                "the webhook secret after {WEBHOOK_SECRET_PREFIX:?} is not base64: {error}"
            ))
        })?;
        Self::from_bytes(bytes)
    }

    /// A secret from its bytes (24 to 64 of them).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let bytes = bytes.into();
        if !(MIN_WEBHOOK_SECRET_BYTES..=MAX_WEBHOOK_SECRET_BYTES).contains(&bytes.len()) {
            return Err(Error::Config(format!(
                "the webhook secret must be {MIN_WEBHOOK_SECRET_BYTES} to \
                 {MAX_WEBHOOK_SECRET_BYTES} bytes long (got {})",
                bytes.len()
            )));
        }
        Ok(WebhookSecret(bytes))
    }

    /// The secret as the receiver is given it: `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{WEBHOOK_SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` header of a request: `v1,` and the base64 HMAC-SHA256 of
    /// `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Where events are POSTed and how they are signed: give it to
/// [`EngineBuilder::webhook`](crate::EngineBuilder::webhook). The example servers read
/// `WEBHOOK_URL` and `WEBHOOK_SECRET`.
///
/// ```
/// use referral_core::WebhookSettings;
/// let settings = WebhookSettings::new(
///     "https://app.example.com/hooks/referral",
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
/// )?;
/// assert!(WebhookSettings::new("https://app.example.com/hooks", "not-a-secret").is_err());
/// # let _ = settings;
/// # Ok::<(), referral_core::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookSettings {
    /// The receiver's URL (`http` or `https`).
    pub url: String,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// How long one request may take before it counts as failed (default 10 s; the outbox
    /// also bounds it by half its lease).
    pub timeout: Duration,
}

impl WebhookSettings {
    /// Settings for `url`, with `secret` written `whsec_<base64>`.
    ///
    /// Errors: [`Error::Config`] for a URL that is not `http(s)://…` or a malformed secret,
    /// with a message saying which.
    pub fn new(url: &str, secret: &str) -> Result<Self, Error> {
        let url = url.trim();
        let parsed = reqwest::Url::parse(url).map_err(|error| {
            Error::Config(format!("the webhook URL {url:?} is not a URL: {error}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
            return Err(Error::Config(format!(
                "the webhook URL {url:?} must be an http:// or https:// URL with a host"
            )));
        }
        Ok(WebhookSettings {
            url: url.to_owned(),
            secret: WebhookSecret::parse(secret)?,
            timeout: Duration::from_secs(10),
        })
    }

    /// With another request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Why a webhook request failed (it is retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No answer: connection refused, reset, timed out.
    #[error("the webhook receiver could not be reached: {0}")]
    Unreachable(String),
    /// The receiver answered with a status other than `2xx`.
    #[error("the webhook receiver answered {status}")]
    Refused {
        /// The status it answered.
        status: u16,
        /// The delay its `Retry-After` header asked for, if any.
        retry_after: Option<Duration>,
    },
}

impl WebhookError {
    /// The delay the receiver asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WebhookError::Refused { retry_after, .. } => *retry_after,
            WebhookError::Unreachable(_) => None,
        }
    }
}

/// A configured webhook: the settings and the HTTP client that sends to it.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl Webhook {
    pub(crate) fn new(settings: WebhookSettings) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("referral-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| {
                Error::Config(format!("the webhook client could not be built: {error}"))
            })?;
        Ok(Webhook { client, settings })
    }

    /// POSTs one event's JSON `body`, signed for the attempt made at `now`.
    pub(crate) async fn post(
        &self,
        event_id: Uuid,
        now: OffsetDateTime,
        body: &str,
    ) -> Result<(), WebhookError> {
        let id = event_id.to_string();
        let timestamp = now.unix_timestamp();
        let signature = self.settings.secret.sign(&id, timestamp, body);
        let response = self
            .client
            .post(&self.settings.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|error| WebhookError::Unreachable(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(WebhookError::Refused {
            status: status.as_u16(),
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries (their test suite):
    /// this secret, id, timestamp and body sign to this signature.
    #[test]
    fn the_specifications_example_signs_as_published() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_needs_its_prefix_base64_and_a_sane_length() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
        let secret = WebhookSecret::parse(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ").unwrap();
        assert_eq!(secret.expose(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
    }

    #[test]
    fn a_webhook_url_is_http_or_https() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(WebhookSettings::new("https://example.com/hook", secret).is_ok());
        assert!(WebhookSettings::new("http://127.0.0.1:9000/", secret).is_ok());
        for bad in ["ftp://example.com/", "example.com/hook", ""] {
            assert!(
                WebhookSettings::new(bad, secret).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
