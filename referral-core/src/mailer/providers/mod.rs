//! `ApiMailer`: sends through an email provider's HTTP API (Postmark, SendGrid, Mailgun or
//! Resend) with reqwest on rustls.
//!
//! This module owns what the four have in common: their settings, where messages are
//! posted, and the send. `transport` owns the HTTP client (timeouts, no redirects) and how an
//! answer becomes success or a classified [`MailError`]; `sender` owns the `From` mailbox; each
//! provider's own file owns only the request its API documents and how it words an error.
//!
//! One `ApiMailer` with a [`Provider`] rather than four mailer types: the providers differ only
//! in the request they build and the error body they send back, so one type gives them one
//! constructor, one redacted `Debug`, one timeout and one classification, and lets
//! [`MailSettings`](super::MailSettings) map `MAIL_PROVIDER` to a mailer without a four-way
//! copy.

mod mailgun;
mod postmark;
mod resend;
mod sender;
mod sendgrid;
mod transport;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use reqwest::{Client, RequestBuilder, Url};

use super::{MailError, Mailer, Message, DEFAULT_FROM, DEFAULT_TIMEOUT};
use crate::error::Error;
use sender::Sender;

pub use transport::MAX_RETRY_AFTER;

/// An email provider with an HTTP API, with what it needs besides a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// Postmark: `POST /email`, JSON, `X-Postmark-Server-Token` (a server API token).
    Postmark,
    /// SendGrid v3 mail send: `POST /v3/mail/send`, JSON, `Authorization: Bearer`.
    Sendgrid,
    /// Mailgun messages API: `POST /v3/{domain}/messages`, `multipart/form-data`, HTTP Basic
    /// auth as `api` with the key as password.
    Mailgun {
        /// The sending domain registered with Mailgun (`mg.example.com`), part of the path.
        domain: String,
    },
    /// Resend: `POST /emails`, JSON, `Authorization: Bearer`.
    Resend,
}

impl Provider {
    /// The provider's name as `MAIL_PROVIDER` spells it: `postmark`, `sendgrid`, `mailgun`
    /// or `resend`.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Postmark => "postmark",
            Provider::Sendgrid => "sendgrid",
            Provider::Mailgun { .. } => "mailgun",
            Provider::Resend => "resend",
        }
    }

    /// Scheme and host of the provider's own API, used when no base URL is configured
    /// (Mailgun's EU region is `https://api.eu.mailgun.net`, set as the base URL).
    pub fn default_base_url(&self) -> &'static str {
        match self {
            Provider::Postmark => postmark::BASE_URL,
            Provider::Sendgrid => sendgrid::BASE_URL,
            Provider::Mailgun { .. } => mailgun::BASE_URL,
            Provider::Resend => resend::BASE_URL,
        }
    }

    /// The documented path messages are posted to, appended to the base URL.
    pub fn path(&self) -> String {
        match self {
            Provider::Postmark => postmark::PATH.to_owned(),
            Provider::Sendgrid => sendgrid::PATH.to_owned(),
            Provider::Mailgun { domain } => mailgun::path(domain),
            Provider::Resend => resend::PATH.to_owned(),
        }
    }

    /// The provider's name as its users write it, for messages and logs.
    fn label(&self) -> &'static str {
        match self {
            Provider::Postmark => "Postmark",
            Provider::Sendgrid => "SendGrid",
            Provider::Mailgun { .. } => "Mailgun",
            Provider::Resend => "Resend",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A provider's API key (Postmark: the server API token). Never shown by `Debug`.
///
/// ```
/// use referral_core::ApiKey;
/// let key = ApiKey::new("re_live_secret");
/// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
/// assert_eq!(key.expose_secret(), "re_live_secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps `key`; [`ApiMailer::new`] checks that an HTTP header can carry it.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the one header that carries it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The key as a header value marked sensitive (kept out of HTTP/2 header tables and
    /// debug output), or why a header cannot carry it.
    fn header_value(&self) -> Result<HeaderValue, Error> {
        let key = self.expose_secret();
        if key.trim().is_empty() {
            return Err(Error::Config("MAIL_API_KEY must not be empty".into()));
        }
        let mut value = HeaderValue::from_str(key)
            .ok()
            // Bearer and Basic add only ASCII around the key, so the key alone decides.
            .filter(|_| !key.contains(char::is_whitespace))
            .ok_or_else(|| {
                Error::Config(
                    "MAIL_API_KEY contains characters an HTTP header cannot carry \
                     (spaces, line breaks, non-ASCII); copy the key again"
                        .into(),
                )
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where and how [`ApiMailer`] sends.
///
/// ```
/// use std::time::Duration;
/// use referral_core::{ApiKey, ApiSettings, Provider};
/// let settings = ApiSettings {
///     from: "Referral <no-reply@example.com>".into(),
///     base_url: Some("https://api.eu.mailgun.net".into()),
///     timeout: Duration::from_secs(5),
///     ..ApiSettings::new(Provider::Mailgun { domain: "mg.example.com".into() }, ApiKey::new("key-123"))
/// };
/// assert_eq!(settings.endpoint().unwrap(), "https://api.eu.mailgun.net/v3/mg.example.com/messages");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// Which API, with what it needs besides the key.
    pub provider: Provider,
    /// The provider's API key.
    pub api_key: ApiKey,
    /// The `From` mailbox: `addr@example.com` or `Name <addr@example.com>`; the provider
    /// refuses senders it has not verified.
    pub from: String,
    /// Replaces the provider's scheme and host (and may add a base path) while the
    /// documented path stays: `http://127.0.0.1:9999` makes Postmark's endpoint
    /// `http://127.0.0.1:9999/email`. `None`: [`Provider::default_base_url`].
    pub base_url: Option<String>,
    /// Limit on one whole send: connecting, the request and the answer.
    pub timeout: Duration,
}

impl ApiSettings {
    /// `provider` with `api_key`, from [`DEFAULT_FROM`], at the provider's own endpoint, with
    /// [`DEFAULT_TIMEOUT`]. Set the fields to change any of it.
    pub fn new(provider: Provider, api_key: ApiKey) -> Self {
        ApiSettings {
            provider,
            api_key,
            from: DEFAULT_FROM.to_owned(),
            base_url: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Reads the settings of the provider `name` (`MAIL_PROVIDER`'s value) through `lookup`:
    ///
    /// - `MAIL_API_KEY`: required.
    /// - `MAIL_DOMAIN`: required for `mailgun` (the sending domain), ignored otherwise.
    /// - `MAIL_API_URL`: unset → the provider's own endpoint; else an `http://` or `https://`
    ///   URL replacing its scheme and host, the documented path kept.
    /// - `MAIL_FROM`: default [`DEFAULT_FROM`]; one mailbox on one line.
    ///
    /// Empty values count as unset. Errors: [`Error::Config`] naming the variable.
    pub fn from_lookup(name: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let value = |variable: &str| {
            lookup(variable)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let name = name.trim().to_ascii_lowercase();
        let provider = match name.as_str() {
            "postmark" => Provider::Postmark,
            "sendgrid" => Provider::Sendgrid,
            "resend" => Provider::Resend,
            "mailgun" => Provider::Mailgun {
                domain: value("MAIL_DOMAIN").ok_or_else(|| {
                    Error::Config(
                        "MAIL_DOMAIN is required when MAIL_PROVIDER=mailgun: set it to your \
                         Mailgun sending domain, such as mg.example.com"
                            .into(),
                    )
                })?,
            },
            other => {
                return Err(Error::Config(format!(
                    "MAIL_PROVIDER must be postmark, sendgrid, mailgun or resend for an HTTP \
                     mail API, not {other:?}"
                )))
            }
        };
        let api_key = value("MAIL_API_KEY").map(ApiKey::new).ok_or_else(|| {
            Error::Config(format!(
                "MAIL_API_KEY is required when MAIL_PROVIDER={name}: set it to your {} API key",
                provider.label()
            ))
        })?;
        let settings = ApiSettings {
            from: value("MAIL_FROM").unwrap_or_else(|| DEFAULT_FROM.to_owned()),
            base_url: value("MAIL_API_URL"),
            ..ApiSettings::new(provider, api_key)
        };
        settings.checked()?;
        Ok(settings)
    }

    /// The URL messages are posted to: the base URL (or the provider's own) followed by the
    /// documented path.
    ///
    /// Errors: [`Error::Config`] naming `MAIL_API_URL` (not an `http(s)://` URL, or one with
    /// credentials, a query or a fragment) or `MAIL_DOMAIN` (not a domain name).
    pub fn endpoint(&self) -> Result<String, Error> {
        Ok(self.endpoint_url()?.to_string())
    }

    fn endpoint_url(&self) -> Result<Url, Error> {
        if let Provider::Mailgun { domain } = &self.provider {
            check_domain(domain)?;
        }
        let base = match &self.base_url {
            Some(base) => checked_base_url(base)?,
            None => self.provider.default_base_url().to_owned(),
        };
        let endpoint = format!("{base}{}", self.provider.path());
        Url::parse(&endpoint).map_err(|error| {
            Error::Config(format!(
                "MAIL_API_URL and the {} path do not make a URL ({endpoint}): {error}",
                self.provider.label()
            ))
        })
    }

    /// Everything a mailer needs, checked: the endpoint, the sender, the key as a header.
    fn checked(&self) -> Result<(Url, Sender, HeaderValue), Error> {
        let endpoint = self.endpoint_url()?;
        let from = Sender::parse(&self.from)?;
        let token = self.api_key.header_value()?;
        if self.timeout.is_zero() {
            return Err(Error::Config(
                "the mail API timeout must be positive".into(),
            ));
        }
        Ok((endpoint, from, token))
    }
}

/// A base URL without its trailing slashes, so the documented path can follow it.
fn checked_base_url(base: &str) -> Result<String, Error> {
    let trimmed = base.trim().trim_end_matches('/');
    let invalid = || {
        Error::Config(format!(
            "MAIL_API_URL must be an http:// or https:// URL such as https://api.eu.mailgun.net \
             or http://127.0.0.1:9999, not {base:?}"
        ))
    };
    let url = Url::parse(trimmed).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(invalid());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "MAIL_API_URL must not carry a user name or password; the key goes in MAIL_API_KEY"
                .into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "MAIL_API_URL must be a base URL without ?query or #fragment, not {base:?}"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A Mailgun sending domain: DNS labels of letters, digits and hyphens, so it can stand in
/// the path as it is.
fn check_domain(domain: &str) -> Result<(), Error> {
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "MAIL_DOMAIN must be your Mailgun sending domain, such as mg.example.com, not {domain:?}"
        )))
    }
}

/// What one provider request is built from.
struct Outgoing<'a> {
    client: &'a Client,
    endpoint: &'a Url,
    key: &'a ApiKey,
    /// The key alone as a sensitive header value.
    token: &'a HeaderValue,
    from: &'a Sender,
    message: &'a Message,
}

/// Sends multipart (text + HTML) mail through an email provider's HTTP API: Postmark,
/// SendGrid, Mailgun or Resend, each called exactly as its API documents, over reqwest with
/// rustls (no OpenSSL).
///
/// Every send is bounded by the settings' timeout. Errors say whether a retry can help: an
/// answer the provider means as "this request is wrong" (4xx other than 408 and 429: a bad
/// key, an invalid or suppressed recipient, an unverified sender) is
/// [`MailError::Rejected`]; 429 and 503 with `Retry-After` are [`MailError::Throttled`] with
/// that delay; other 429s, 408, 5xx, timeouts and connection failures are
/// [`MailError::Unavailable`]. The provider's own reason is kept in the error; the key never
/// is.
///
/// ```no_run
/// use std::sync::Arc;
/// use referral_core::{ApiKey, ApiMailer, ApiSettings, Mailer, Provider};
/// # fn main() -> Result<(), referral_core::Error> {
/// let mailer: Arc<dyn Mailer> = Arc::new(ApiMailer::new(ApiSettings {
///     from: "Referral <no-reply@example.com>".into(),
///     ..ApiSettings::new(Provider::Postmark, ApiKey::new("server-token"))
/// })?);
/// # let _ = mailer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ApiMailer {
    provider: Provider,
    client: Client,
    endpoint: Url,
    key: ApiKey,
    token: HeaderValue,
    from: Sender,
    timeout: Duration,
}

impl fmt::Debug for ApiMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiMailer")
            .field("provider", &self.provider)
            .field("endpoint", &self.endpoint.as_str())
            .field("from", &self.from.mailbox())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ApiMailer {
    /// A mailer sending as `settings` say. Nothing is contacted until the first send.
    ///
    /// Errors: [`Error::Config`] for an empty key or one a header cannot carry, a `from` that
    /// is not one mailbox, a base URL or Mailgun domain that does not make an endpoint, or a
    /// zero timeout.
    pub fn new(settings: ApiSettings) -> Result<Self, Error> {
        let (endpoint, from, token) = settings.checked()?;
        Ok(ApiMailer {
            client: transport::client(settings.timeout)?,
            provider: settings.provider,
            endpoint,
            key: settings.api_key,
            token,
            from,
            timeout: settings.timeout,
        })
    }

    /// The provider this mailer sends through.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The URL messages are posted to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    fn request(&self, message: &Message) -> RequestBuilder {
        let outgoing = Outgoing {
            client: &self.client,
            endpoint: &self.endpoint,
            key: &self.key,
            token: &self.token,
            from: &self.from,
            message,
        };
        match &self.provider {
            Provider::Postmark => postmark::request(&outgoing),
            Provider::Sendgrid => sendgrid::request(&outgoing),
            Provider::Mailgun { .. } => mailgun::request(&outgoing),
            Provider::Resend => resend::request(&outgoing),
        }
    }
}

#[async_trait]
impl Mailer for ApiMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let provider = self.provider.label();
        let answer = transport::exchange(provider, self.timeout, self.request(message)).await?;
        match &self.provider {
            Provider::Postmark => answer.outcome(provider, postmark::reason),
            Provider::Sendgrid => answer.outcome(provider, sendgrid::reason),
            Provider::Mailgun { .. } => answer.outcome(provider, mailgun::reason),
            Provider::Resend => answer.outcome(provider, resend::reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailer::settings::test_variables::{config_message, lookup};

    fn settings(name: &str, vars: &[(&str, &str)]) -> Result<ApiSettings, Error> {
        ApiSettings::from_lookup(name, lookup(vars))
    }

    fn config_error(name: &str, vars: &[(&str, &str)]) -> String {
        config_message(settings(name, vars))
    }

    #[test]
    fn each_provider_posts_to_its_documented_endpoint_by_default() {
        let key = [("MAIL_API_KEY", "k")];
        let endpoint =
            |name: &str, vars: &[(&str, &str)]| settings(name, vars).unwrap().endpoint().unwrap();
        assert_eq!(
            endpoint("postmark", &key),
            "https://api.postmarkapp.com/email"
        );
        assert_eq!(
            endpoint("sendgrid", &key),
            "https://api.sendgrid.com/v3/mail/send"
        );
        assert_eq!(
            endpoint(
                "mailgun",
                &[("MAIL_API_KEY", "k"), ("MAIL_DOMAIN", "mg.example.com")]
            ),
            "https://api.mailgun.net/v3/mg.example.com/messages"
        );
        assert_eq!(endpoint("resend", &key), "https://api.resend.com/emails");
    }

    #[test]
    fn a_base_url_replaces_scheme_and_host_and_keeps_the_documented_path() {
        let with_base = |name: &str, base: &str| {
            settings(
                name,
                &[
                    ("MAIL_API_KEY", "k"),
                    ("MAIL_DOMAIN", "mg.example.com"),
                    ("MAIL_API_URL", base),
                ],
            )
            .unwrap()
            .endpoint()
            .unwrap()
        };
        assert_eq!(
            with_base("postmark", "http://127.0.0.1:9999"),
            "http://127.0.0.1:9999/email"
        );
        assert_eq!(
            with_base("sendgrid", "http://127.0.0.1:9999/"),
            "http://127.0.0.1:9999/v3/mail/send"
        );
        assert_eq!(
            with_base("mailgun", "https://api.eu.mailgun.net"),
            "https://api.eu.mailgun.net/v3/mg.example.com/messages"
        );
        assert_eq!(
            with_base("resend", "http://relay.internal:8080/resend"),
            "http://relay.internal:8080/resend/emails"
        );
    }

    #[test]
    fn a_missing_key_names_the_variable_and_the_provider() {
        for name in ["postmark", "sendgrid", "resend"] {
            let message = config_error(name, &[("MAIL_API_KEY", "  ")]);
            assert!(message.starts_with("MAIL_API_KEY is required"), "{message}");
            assert!(message.contains(name), "{message}");
        }
        let message = config_error("mailgun", &[("MAIL_DOMAIN", "mg.example.com")]);
        assert!(message.starts_with("MAIL_API_KEY is required"), "{message}");
    }

    #[test]
    fn mailgun_without_a_domain_or_with_a_bad_one_names_mail_domain() {
        let message = config_error("mailgun", &[("MAIL_API_KEY", "k")]);
        assert!(message.starts_with("MAIL_DOMAIN is required"), "{message}");
        for bad in [
            "mg.example.com/../x",
            "-mg.example.com",
            "mg..example.com",
            "a b",
        ] {
            let message = config_error("mailgun", &[("MAIL_API_KEY", "k"), ("MAIL_DOMAIN", bad)]);
            assert!(
                message.starts_with("MAIL_DOMAIN must be"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused_by_name() {
        for bad in [
            "api.postmarkapp.com",
            "ftp://example.com",
            "http://",
            "https://example.com/?x=1",
            "https://example.com/#top",
        ] {
            let message = config_error("postmark", &[("MAIL_API_KEY", "k"), ("MAIL_API_URL", bad)]);
            assert!(message.starts_with("MAIL_API_URL must"), "{bad}: {message}");
        }
        let message = config_error(
            "postmark",
            &[
                ("MAIL_API_KEY", "k"),
                ("MAIL_API_URL", "https://user:hunter2@example.com"),
            ],
        );
        assert!(message.contains("user name or password"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_key_a_header_cannot_carry_is_refused_without_showing_it() {
        let message = config_error("resend", &[("MAIL_API_KEY", "re_secret\nX-Injected: 1")]);
        assert!(message.starts_with("MAIL_API_KEY contains"), "{message}");
        assert!(!message.contains("re_secret"), "{message}");
        let spaced = ApiMailer::new(ApiSettings::new(Provider::Resend, ApiKey::new("re one")));
        assert!(matches!(spaced, Err(Error::Config(_))));
    }

    #[test]
    fn a_from_that_is_not_one_mailbox_names_mail_from() {
        let message = config_error(
            "postmark",
            &[
                ("MAIL_API_KEY", "k"),
                ("MAIL_FROM", "a@example.com\r\nBcc: b@example.com"),
            ],
        );
        assert!(message.starts_with("MAIL_FROM"), "{message}");
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let settings = ApiSettings::new(Provider::Sendgrid, ApiKey::new("SG.very-secret-key"));
        assert!(!format!("{settings:?}").contains("very-secret"));
        let mailer = ApiMailer::new(settings).unwrap();
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("api.sendgrid.com"), "{shown}");
    }

    #[test]
    fn a_mailer_can_be_built_outside_a_runtime_and_a_zero_timeout_is_refused() {
        let mailer = ApiMailer::new(ApiSettings::new(Provider::Postmark, ApiKey::new("t")));
        assert_eq!(
            mailer.unwrap().endpoint(),
            "https://api.postmarkapp.com/email"
        );
        let zero = ApiMailer::new(ApiSettings {
            timeout: Duration::ZERO,
            ..ApiSettings::new(Provider::Postmark, ApiKey::new("t"))
        });
        assert!(matches!(zero, Err(Error::Config(_))));
    }

    #[test]
    fn an_unknown_provider_name_is_refused() {
        let message = config_error("mailchimp", &[("MAIL_API_KEY", "k")]);
        assert!(message.starts_with("MAIL_PROVIDER must be"), "{message}");
    }
}
