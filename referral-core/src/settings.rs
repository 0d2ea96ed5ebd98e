//! `Settings`: a whole service configured from environment variables, as the example
//! servers run it (the seed's variable names).

use std::net::SocketAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::Error;
use crate::mailer::{MailSettings, Mailer};
use crate::password::HashingLimits;
#[cfg(feature = "webhooks")]
use crate::webhooks::WebhookSettings;

/// Address the service listens on when `BIND` is unset.
pub const DEFAULT_BIND: &str = "127.0.0.1:5000";
/// Database used when `DATABASE_URL` is unset: a SQLite file, created and migrated on start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://referral.db";

/// Everything needed to start the service, read from the environment:
///
/// | variable | default |
/// | --- | --- |
/// | `BIND` | `127.0.0.1:5000` |
/// | `DATABASE_URL` | `sqlite://referral.db`; `postgres://…` selects PostgreSQL |
/// | `SECRET_KEY` | none: a random key per start, with a warning |
/// | `APP_BASE_URL` | `http://{BIND}` |
/// | `MAIL_PROVIDER` | `smtp` when `MAIL_SERVER` is set, else `log`; or `postmark`, `sendgrid`, `mailgun`, `resend` (see [`MailSettings`]) |
/// | `MAIL_SERVER`, `MAIL_PORT`, `MAIL_USE_TLS`, `MAIL_USE_SSL`, `MAIL_USERNAME`, `MAIL_PASSWORD`, `MAIL_FROM` | unset: mail is logged, not sent |
/// | `MAIL_API_KEY`, `MAIL_DOMAIN` (Mailgun), `MAIL_API_URL` | for the HTTP providers |
/// | `TRUSTED_PROXIES` | none: the client address is the socket peer; else comma-separated CIDRs (or addresses) whose `X-Forwarded-For` is believed |
/// | `WEBHOOK_URL`, `WEBHOOK_SECRET` | none: no webhooks; both set (the secret as `whsec_<base64>`): every event is POSTed there, signed (feature `webhooks`) |
/// | `ADMIN_EMAILS` | none; else comma-separated addresses given the `admin` role at sign-up, and at start if registered already |
/// | `HASHING_CONCURRENCY` | one per CPU core: password hashes computed at once, each holding 19 MiB (`1` holds 19 MiB less at peak; in the load bench on two cores it cost a quarter to a third of the logins and sign-ups per second) |
///
/// ```no_run
/// # async fn run() -> Result<(), referral_core::Error> {
/// let settings = referral_core::Settings::from_env()?;
/// let engine = settings.engine().await?; // opens and migrates the database
/// let outbox = engine.outbox_dispatcher().spawn(); // sends queued mail
/// # let _ = outbox; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Settings {
    /// Socket address to listen on.
    pub bind: SocketAddr,
    /// `sqlite:` or `postgres:` URL.
    pub database_url: String,
    /// Token signing key (at least 32 bytes); `None` draws a random one.
    pub secret_key: Option<String>,
    /// Public base URL for links in mail and referral links.
    pub app_base_url: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// How mail is sent: log, SMTP or an HTTP provider.
    pub mail: MailSettings,
    /// Where events are POSTed, if anywhere.
    #[cfg(feature = "webhooks")]
    pub webhook: Option<WebhookSettings>,
    /// Addresses given the `admin` role at sign-up, and at start when registered already.
    pub admin_emails: Vec<String>,
    /// Password hashes computed at once (`None`: one per CPU core); callers past them wait,
    /// [`DEFAULT_WAITING_PER_SLOT`](crate::DEFAULT_WAITING_PER_SLOT) per slot.
    pub hashing_concurrency: Option<usize>,
}

impl Settings {
    /// Reads the process environment (load a `.env` first if you use one).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bind_text = get("BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            Error::Config(format!(
                "BIND must be an address like 127.0.0.1:5000, got {bind_text:?}"
            ))
        })?;
        Ok(Settings {
            bind,
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            secret_key: get("SECRET_KEY"),
            app_base_url: get("APP_BASE_URL").unwrap_or_else(|| format!("http://{bind}")),
            trusted_proxies: parse_proxies(get("TRUSTED_PROXIES").as_deref().unwrap_or(""))?,
            mail: MailSettings::from_lookup(&lookup)?,
            #[cfg(feature = "webhooks")]
            webhook: webhook_settings(get("WEBHOOK_URL"), get("WEBHOOK_SECRET"))?,
            admin_emails: get("ADMIN_EMAILS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|email| !email.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            hashing_concurrency: get("HASHING_CONCURRENCY")
                .map(|text| match text.parse::<usize>() {
                    Ok(slots) if slots >= 1 => Ok(slots),
                    _ => Err(Error::Config(format!(
                        "HASHING_CONCURRENCY must be a whole number of at least 1, got {text:?}"
                    ))),
                })
                .transpose()?,
        })
    }

    /// The engine these settings describe: storage opened (and migrated), the mailer
    /// [`MailSettings`] names, secret key or a random one (with a warning), and the `admin`
    /// role given to the registered users among `ADMIN_EMAILS`
    /// ([`Engine::grant_configured_admins`]).
    pub async fn engine(&self) -> Result<Engine, Error> {
        let mut config = Config::builder()
            .app_base_url(&self.app_base_url)
            .trusted_proxies(self.trusted_proxies.iter().copied())
            .admin_emails(self.admin_emails.iter().cloned());
        if let Some(concurrency) = self.hashing_concurrency {
            config = config.hashing(HashingLimits::with_concurrency(concurrency));
        }
        config = match &self.secret_key {
            Some(key) => config.secret(key),
            None => {
                tracing::warn!(
                    "SECRET_KEY is not set: using a random key; every token dies with this process"
                );
                config.random_secret()
            }
        };
        let config = config.build()?;
        let storage = crate::storage::open(&self.database_url).await?;
        let builder = Engine::builder(config)
            .storage(storage)
            .mailer(self.mailer()?);
        #[cfg(feature = "webhooks")]
        let builder = match &self.webhook {
            Some(webhook) => builder.webhook(webhook.clone()),
            None => builder,
        };
        let engine = builder.build()?;
        engine.grant_configured_admins().await?;
        Ok(engine)
    }

    fn mailer(&self) -> Result<Arc<dyn Mailer>, Error> {
        self.mail.mailer()
    }
}

/// `WEBHOOK_URL` and `WEBHOOK_SECRET`: both or neither.
#[cfg(feature = "webhooks")]
fn webhook_settings(
    url: Option<String>,
    secret: Option<String>,
) -> Result<Option<WebhookSettings>, Error> {
    let in_variable = |error: Error, variable: &str| match error {
        Error::Config(message) => Error::Config(format!("{variable}: {message}")),
        other => other,
    };
    match (url, secret) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::Config(
            "WEBHOOK_URL is set but WEBHOOK_SECRET is not: set the secret the receiver \
             verifies signatures with (whsec_ then base64)"
                .into(),
        )),
        (None, Some(_)) => Err(Error::Config(
            "WEBHOOK_SECRET is set but WEBHOOK_URL is not: set where events are POSTed".into(),
        )),
        (Some(url), Some(secret)) => {
            // Check the secret first, so a bad URL's message never has to mention it.
            crate::webhooks::WebhookSecret::parse(&secret)
                .map_err(|error| in_variable(error, "WEBHOOK_SECRET"))?;
            WebhookSettings::new(&url, &secret)
                .map(Some)
                .map_err(|error| in_variable(error, "WEBHOOK_URL"))
        }
    }
}

/// `TRUSTED_PROXIES`: comma-separated CIDRs or single addresses.
fn parse_proxies(text: &str) -> Result<Vec<IpNet>, Error> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    Error::Config(format!(
                        "TRUSTED_PROXIES must list CIDRs or addresses like 10.0.0.0/8, got {entry:?}"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::DEFAULT_WAITING_PER_SLOT;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_the_documented_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:5000");
        assert_eq!(s.database_url, "sqlite://referral.db");
        assert_eq!(s.app_base_url, "http://127.0.0.1:5000");
        assert!(s.secret_key.is_none());
    }

    #[test]
    fn app_base_url_follows_bind_unless_set() {
        assert_eq!(
            settings(&[("BIND", "0.0.0.0:8080")]).unwrap().app_base_url,
            "http://0.0.0.0:8080"
        );
        let s = settings(&[
            ("BIND", "0.0.0.0:8080"),
            ("APP_BASE_URL", "https://x.example"),
        ])
        .unwrap();
        assert_eq!(s.app_base_url, "https://x.example");
    }

    #[test]
    fn trusted_proxies_are_cidrs_or_addresses() {
        let s = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,::1")]).unwrap();
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(settings(&[]).unwrap().trusted_proxies.is_empty());
        let err = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]).unwrap_err();
        assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
    }

    #[cfg(feature = "webhooks")]
    #[test]
    fn webhooks_need_both_a_url_and_a_secret() {
        assert!(settings(&[]).unwrap().webhook.is_none());
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let both = settings(&[
            ("WEBHOOK_URL", "https://hooks.example/in"),
            ("WEBHOOK_SECRET", secret),
        ])
        .unwrap();
        assert_eq!(both.webhook.unwrap().url, "https://hooks.example/in");
        for (vars, says) in [
            (
                &[("WEBHOOK_URL", "https://hooks.example/in")][..],
                "WEBHOOK_SECRET is not",
            ),
            (&[("WEBHOOK_SECRET", secret)][..], "WEBHOOK_URL is not"),
            (
                &[
                    ("WEBHOOK_URL", "https://hooks.example/in"),
                    ("WEBHOOK_SECRET", "hunter2"),
                ][..],
                "WEBHOOK_SECRET: the webhook secret must start with",
            ),
            (
                &[("WEBHOOK_URL", "hooks.example"), ("WEBHOOK_SECRET", secret)][..],
                "WEBHOOK_URL: the webhook URL",
            ),
        ] {
            let err = settings(vars).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            assert!(
                !err.contains("MfKQ9r8"),
                "the secret is never repeated: {err}"
            );
        }
    }

    #[test]
    fn admin_emails_are_a_comma_separated_list() {
        let s = settings(&[("ADMIN_EMAILS", " ada@example.com, ,Bob@Example.com ")]).unwrap();
        assert_eq!(s.admin_emails, ["ada@example.com", "Bob@Example.com"]);
        assert!(settings(&[]).unwrap().admin_emails.is_empty());
    }

    #[tokio::test]
    async fn a_malformed_admin_email_is_refused_at_start() {
        let s = settings(&[
            ("ADMIN_EMAILS", "not-an-address"),
            ("DATABASE_URL", "sqlite::memory:"),
        ])
        .unwrap();
        let err = s.engine().await.unwrap_err();
        assert!(err.to_string().contains("admin email"), "{err}");
    }

    #[test]
    fn a_bad_bind_address_is_a_clear_error() {
        let err = settings(&[("BIND", "localhost")]).unwrap_err();
        assert!(err.to_string().contains("BIND"), "{err}");
    }

    #[tokio::test]
    async fn a_short_secret_key_is_refused_at_start() {
        let s = settings(&[("SECRET_KEY", "short"), ("DATABASE_URL", "sqlite::memory:")]).unwrap();
        let err = s.engine().await.unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn hashing_concurrency_is_a_whole_number_of_at_least_one() {
        let s = settings(&[("HASHING_CONCURRENCY", " 1 ")]).unwrap();
        assert_eq!(s.hashing_concurrency, Some(1));
        assert_eq!(settings(&[]).unwrap().hashing_concurrency, None);
        for bad in ["0", "-1", "two", "1.5"] {
            let err = settings(&[("HASHING_CONCURRENCY", bad)]).unwrap_err();
            assert!(err.to_string().contains("HASHING_CONCURRENCY"), "{err}");
        }
    }

    #[tokio::test]
    async fn the_engine_hashes_with_the_configured_concurrency() {
        let s = settings(&[
            ("HASHING_CONCURRENCY", "1"),
            ("DATABASE_URL", "sqlite::memory:"),
        ])
        .unwrap();
        let engine = s.engine().await.unwrap();
        assert_eq!(engine.hasher().limits().concurrency, 1);
        assert_eq!(
            engine.hasher().limits().max_waiting,
            DEFAULT_WAITING_PER_SLOT
        );
    }
}
