//! `SmtpMailer`: sends through an SMTP server with lettre (tokio, rustls), configured from the
//! same variables as the seed service.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::{Body, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncTransport, Tokio1Executor};

use super::{MailError, Mailer, Message, DEFAULT_FROM, DEFAULT_TIMEOUT};
use crate::error::Error;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP, unencrypted (both `MAIL_USE_TLS` and `MAIL_USE_SSL` false): for a local
    /// development server such as `python -m aiosmtpd`.
    #[default]
    None,
    /// STARTTLS, required (`MAIL_USE_TLS`): the send fails rather than continue unencrypted.
    StartTls,
    /// TLS from the first byte (`MAIL_USE_SSL`), as on port 465.
    Implicit,
}

impl SmtpTls {
    /// The usual port for this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
        }
    }
}

/// A user name and password for SMTP AUTH.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where and how [`SmtpMailer`] sends.
///
/// ```
/// use referral_core::{SmtpSettings, SmtpTls};
/// let settings = SmtpSettings {
///     port: 587,
///     tls: SmtpTls::StartTls,
///     from: "Referral <no-reply@example.com>".into(),
///     ..SmtpSettings::new("smtp.example.com")
/// };
/// # let _ = settings;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name or IP address of the mail server (also the name its TLS certificate must carry).
    pub server: String,
    /// TCP port.
    pub port: u16,
    /// Connection protection.
    pub tls: SmtpTls,
    /// Credentials for SMTP AUTH, or `None` to send without.
    pub credentials: Option<SmtpCredentials>,
    /// The `From` mailbox: `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    /// Limit on one whole send: connecting, the SMTP dialogue and the message data.
    pub timeout: Duration,
}

impl SmtpSettings {
    /// Plain SMTP to `server` on port 25, without credentials, from [`DEFAULT_FROM`], with
    /// [`DEFAULT_TIMEOUT`]. Set the fields to change any of it (the port does not follow `tls`).
    pub fn new(server: impl Into<String>) -> Self {
        SmtpSettings {
            server: server.into(),
            port: SmtpTls::None.default_port(),
            tls: SmtpTls::None,
            credentials: None,
            from: DEFAULT_FROM.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Reads the seed's variables from the process environment; see
    /// [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Option<Self>, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the seed's variables through `lookup`:
    ///
    /// - `MAIL_SERVER`: unset or empty → `Ok(None)` (send no mail over SMTP).
    /// - `MAIL_USE_TLS` (STARTTLS, required), `MAIL_USE_SSL` (implicit TLS): booleans
    ///   (`True`/`False`, `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; unset or empty is
    ///   false). Both true is an error; both false means plain SMTP.
    /// - `MAIL_PORT`: 1 to 65535; unset or empty → 25, 587 or 465 by TLS mode.
    /// - `MAIL_USERNAME`, `MAIL_PASSWORD`: unset, empty or `None` (as the seed's `.env`
    ///   writes it) means no authentication; one without the other is an error.
    /// - `MAIL_FROM`: default [`DEFAULT_FROM`]; must be a valid mailbox on one line.
    ///
    /// Errors: [`Error::Config`] naming the variable and what it accepts.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let value = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let Some(server) = value("MAIL_SERVER") else {
            return Ok(None);
        };
        let flag = |name: &str| match value(name) {
            None => Ok(false),
            Some(text) => parse_flag(&text).ok_or_else(|| {
                Error::Config(format!(
                    "{name} must be true or false (True/False, 1/0, yes/no, on/off), not {text:?}"
                ))
            }),
        };
        let tls = match (flag("MAIL_USE_TLS")?, flag("MAIL_USE_SSL")?) {
            (false, false) => SmtpTls::None,
            (true, false) => SmtpTls::StartTls,
            (false, true) => SmtpTls::Implicit,
            (true, true) => {
                return Err(Error::Config(
                    "MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (implicit TLS) are both true; \
                     set at most one"
                        .into(),
                ))
            }
        };
        let port = match value("MAIL_PORT") {
            None => tls.default_port(),
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "MAIL_PORT must be a port number from 1 to 65535, not {text:?}"
                    ))
                })?,
        };
        let secret = |name: &str| value(name).filter(|value| value != "None");
        let credentials = match (secret("MAIL_USERNAME"), secret("MAIL_PASSWORD")) {
            (None, None) => None,
            (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
            (Some(_), None) => {
                return Err(Error::Config(
                    "MAIL_USERNAME is set but MAIL_PASSWORD is not; set both, or neither to \
                     send without authentication"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::Config(
                    "MAIL_PASSWORD is set but MAIL_USERNAME is not; set both, or neither to \
                     send without authentication"
                        .into(),
                ))
            }
        };
        let settings = SmtpSettings {
            port,
            tls,
            credentials,
            from: value("MAIL_FROM").unwrap_or_else(|| DEFAULT_FROM.to_owned()),
            ..SmtpSettings::new(server)
        };
        settings.sender()?;
        Ok(Some(settings))
    }

    /// The `From` mailbox, refusing line breaks (header injection) and anything lettre
    /// would not put in a header.
    fn sender(&self) -> Result<Mailbox, Error> {
        if self.from.contains(['\r', '\n']) {
            return Err(Error::Config(
                "MAIL_FROM must be one line; it contains a line break".into(),
            ));
        }
        self.from.parse::<Mailbox>().map_err(|error| {
            Error::Config(format!(
                "MAIL_FROM must be an address like no-reply@example.com or \
                 `Name <no-reply@example.com>`, not {:?}: {error}",
                self.from
            ))
        })
    }
}

fn parse_flag(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Sends multipart (text + HTML) mail through an SMTP server, over lettre's async transport
/// on tokio with rustls (no OpenSSL).
///
/// Each send opens its own connection: reset mail is rare, and a connection per message
/// means a restarted mail server never meets a stale pooled one. Errors: a connection
/// failure, a timeout or a 4xx reply is [`MailError::Unavailable`] (transient); a 5xx reply or
/// a recipient the client cannot write or the server cannot take is [`MailError::Rejected`]
/// (permanent).
///
/// ```no_run
/// use std::sync::Arc;
/// use referral_core::{Config, Engine, LogMailer, Mailer, SmtpMailer};
/// # fn main() -> Result<(), referral_core::Error> {
/// let mailer: Arc<dyn Mailer> = match SmtpMailer::from_env()? {
///     Some(smtp) => Arc::new(smtp),
///     None => Arc::new(LogMailer),
/// };
/// let engine = Engine::builder(Config::builder().random_secret().build()?)
///     .mailer(mailer)
///     .build()?;
/// # let _ = engine; Ok(()) }
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    port: u16,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer sending as `settings` say. Nothing is contacted until the first send.
    ///
    /// Errors: [`Error::Config`] for an empty server, port 0, a zero timeout, or a `from`
    /// that is not a one-line mailbox.
    pub fn new(settings: SmtpSettings) -> Result<Self, Error> {
        let from = settings.sender()?;
        let server = settings.server.trim();
        if server.is_empty() || server.contains(char::is_whitespace) {
            return Err(Error::Config(format!(
                "MAIL_SERVER must be a host name or IP address, not {:?}",
                settings.server
            )));
        }
        if settings.port == 0 {
            return Err(Error::Config(
                "MAIL_PORT must be a port number from 1 to 65535, not 0".into(),
            ));
        }
        if settings.timeout.is_zero() {
            return Err(Error::Config("the SMTP timeout must be positive".into()));
        }
        let tls_error = |error: lettre::transport::smtp::Error| {
            Error::Config(format!("cannot set up TLS for {server}: {error}"))
        };
        let builder = match settings.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(server).map_err(tls_error)?
            }
            SmtpTls::Implicit => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(server).map_err(tls_error)?
            }
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let Some(credentials) = settings.credentials {
            if settings.tls == SmtpTls::None {
                tracing::warn!(
                    server,
                    "SMTP credentials configured without TLS: they travel unencrypted"
                );
            }
            builder =
                builder.credentials(Credentials::new(credentials.username, credentials.password));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
            server: server.to_owned(),
            port: settings.port,
            timeout: settings.timeout,
        })
    }

    /// A mailer from the seed's variables ([`SmtpSettings::from_env`]), or `None` when
    /// `MAIL_SERVER` is not set.
    pub fn from_env() -> Result<Option<Self>, Error> {
        SmtpSettings::from_env()?.map(Self::new).transpose()
    }

    fn build(&self, message: &Message) -> Result<lettre::Message, MailError> {
        let to = message.to.as_str().parse::<Address>().map_err(|error| {
            MailError::Rejected(format!("recipient address cannot be written: {error}"))
        })?;
        lettre::Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(message.subject.as_str())
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                body(&message.text),
                body(&message.html),
            ))
            .map_err(|error| MailError::Rejected(format!("message cannot be built: {error}")))
    }
}

/// A body sent as plain 7bit when RFC 5322 allows it (ASCII, no CR, lines of at most 998
/// characters), so links read verbatim in the raw message even for clients that do not
/// decode transfer encodings; otherwise lettre's choice (quoted-printable or base64).
fn body(text: &str) -> Body {
    let seven_bit = text.is_ascii()
        && !text.contains(['\r', '\0'])
        && text.lines().all(|line| line.len() <= 998);
    if seven_bit {
        Body::dangerous_pre_encoded(
            text.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        Body::new(text.to_owned())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let email = self.build(message)?;
        // lettre bounds only the TCP connect; a server that accepts and then stalls would
        // hold the send forever, so the whole exchange is bounded here.
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(outcome) => outcome
                .map(drop)
                .map_err(|error| self.classify(error, message)),
            Err(_elapsed) => Err(MailError::Unavailable(format!(
                "{}:{} did not complete the SMTP exchange within {} ms",
                self.server,
                self.port,
                self.timeout.as_millis()
            ))),
        }
    }
}

impl SmtpMailer {
    /// Final: a permanent (5xx) reply, or a recipient this server cannot carry (a non-ASCII
    /// address where it lacks SMTPUTF8: lettre refuses before sending, and no retry will
    /// change the server). Worth a retry: a refused connection, a timeout, a TLS failure, a
    /// 4xx, and the same SMTPUTF8 refusal when it is our own `From` that is non-ASCII (a
    /// configuration fault, not this message's).
    fn classify(&self, error: lettre::transport::smtp::Error, message: &Message) -> MailError {
        let unsendable_recipient = error.is_client()
            && !message.to.as_str().is_ascii()
            && self.from.email.to_string().is_ascii()
            && error.to_string().contains("SMTPUTF8");
        if error.is_permanent() || unsendable_recipient {
            MailError::Rejected(error.to_string())
        } else {
            MailError::Unavailable(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailer::settings::test_variables::{config_message, lookup};

    #[test]
    fn ascii_bodies_go_out_as_7bit_with_long_links_intact_and_others_are_encoded() {
        let link = format!(
            "https://links.example.org/reset-password?token={}",
            "x".repeat(80)
        );
        let plain = body(&format!("Open this link:\n{link}\n"));
        assert_eq!(plain.encoding(), ContentTransferEncoding::SevenBit);
        let raw = String::from_utf8(plain.into_vec()).unwrap();
        assert!(raw.contains(&link));
        assert!(raw.contains("\r\n") && !raw.contains("\r\r"));
        assert_ne!(body("café").encoding(), ContentTransferEncoding::SevenBit);
        assert_ne!(
            body(&"y".repeat(1200)).encoding(),
            ContentTransferEncoding::SevenBit
        );
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Option<SmtpSettings>, Error> {
        SmtpSettings::from_lookup(lookup(vars))
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        config_message(settings(vars))
    }

    #[test]
    fn no_mail_server_means_no_smtp() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[("MAIL_SERVER", "  ")]).unwrap(), None);
        assert_eq!(settings(&[("MAIL_PORT", "1025")]).unwrap(), None);
    }

    #[test]
    fn the_seed_local_server_settings_mean_plain_smtp_without_auth() {
        let parsed = settings(&[
            ("MAIL_SERVER", "localhost"),
            ("MAIL_PORT", "1025"),
            ("MAIL_USE_TLS", "False"),
            ("MAIL_USE_SSL", "False"),
            ("MAIL_USERNAME", "None"),
            ("MAIL_PASSWORD", "None"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            parsed,
            SmtpSettings {
                port: 1025,
                ..SmtpSettings::new("localhost")
            }
        );
        assert_eq!(parsed.from, DEFAULT_FROM);
        assert_eq!(parsed.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn tls_flags_select_the_mode_and_its_default_port() {
        let starttls = settings(&[
            ("MAIL_SERVER", "smtp.example.com"),
            ("MAIL_USE_TLS", "true"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((starttls.tls, starttls.port), (SmtpTls::StartTls, 587));
        let implicit = settings(&[("MAIL_SERVER", "smtp.example.com"), ("MAIL_USE_SSL", "1")])
            .unwrap()
            .unwrap();
        assert_eq!((implicit.tls, implicit.port), (SmtpTls::Implicit, 465));
        let plain = settings(&[("MAIL_SERVER", "mx"), ("MAIL_USE_TLS", "no")])
            .unwrap()
            .unwrap();
        assert_eq!((plain.tls, plain.port), (SmtpTls::None, 25));
    }

    #[test]
    fn both_tls_flags_true_is_refused() {
        let message = config_error(&[
            ("MAIL_SERVER", "mx"),
            ("MAIL_USE_TLS", "True"),
            ("MAIL_USE_SSL", "yes"),
        ]);
        assert!(message.contains("both true"), "{message}");
    }

    #[test]
    fn a_flag_that_is_not_a_boolean_is_refused_by_name() {
        let message = config_error(&[("MAIL_SERVER", "mx"), ("MAIL_USE_SSL", "maybe")]);
        assert!(message.starts_with("MAIL_USE_SSL"), "{message}");
    }

    #[test]
    fn a_bad_port_is_refused() {
        for port in ["0", "65536", "smtp", "-1"] {
            let message = config_error(&[("MAIL_SERVER", "mx"), ("MAIL_PORT", port)]);
            assert!(message.starts_with("MAIL_PORT"), "{message}");
        }
    }

    #[test]
    fn credentials_need_both_halves() {
        let with = settings(&[
            ("MAIL_SERVER", "mx"),
            ("MAIL_USERNAME", "mailer"),
            ("MAIL_PASSWORD", "s3cret"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            with.credentials,
            Some(SmtpCredentials {
                username: "mailer".into(),
                password: "s3cret".into()
            })
        );
        let message = config_error(&[("MAIL_SERVER", "mx"), ("MAIL_USERNAME", "mailer")]);
        assert!(message.contains("MAIL_PASSWORD is not"), "{message}");
        let message = config_error(&[
            ("MAIL_SERVER", "mx"),
            ("MAIL_USERNAME", ""),
            ("MAIL_PASSWORD", "s3cret"),
        ]);
        assert!(message.contains("MAIL_USERNAME is not"), "{message}");
    }

    #[test]
    fn a_from_with_a_line_break_is_refused() {
        let message = config_error(&[
            ("MAIL_SERVER", "mx"),
            ("MAIL_FROM", "a@example.com\r\nBcc: victim@example.com"),
        ]);
        assert!(message.contains("line break"), "{message}");
        let direct = SmtpMailer::new(SmtpSettings {
            from: "a@example.com\nBcc: b@example.com".into(),
            ..SmtpSettings::new("mx")
        });
        assert!(matches!(direct, Err(Error::Config(_))));
    }

    #[test]
    fn a_from_that_is_not_a_mailbox_is_refused() {
        let message = config_error(&[("MAIL_SERVER", "mx"), ("MAIL_FROM", "not an address")]);
        assert!(message.starts_with("MAIL_FROM"), "{message}");
        let named = settings(&[
            ("MAIL_SERVER", "mx"),
            ("MAIL_FROM", "Referral <r@example.com>"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(named.from, "Referral <r@example.com>");
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let settings = SmtpSettings {
            credentials: Some(SmtpCredentials {
                username: "mailer".into(),
                password: "hunter2-secret".into(),
            }),
            ..SmtpSettings::new("mx")
        };
        assert!(!format!("{settings:?}").contains("hunter2-secret"));
        let mailer = SmtpMailer::new(settings).unwrap();
        assert!(!format!("{mailer:?}").contains("hunter2-secret"));
    }

    #[test]
    fn a_mailer_can_be_built_outside_a_runtime_for_every_tls_mode() {
        for tls in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Implicit] {
            let mailer = SmtpMailer::new(SmtpSettings {
                tls,
                port: tls.default_port(),
                ..SmtpSettings::new("smtp.example.com")
            });
            assert!(mailer.is_ok(), "{tls:?}: {mailer:?}");
        }
    }

    #[test]
    fn an_empty_server_or_zero_timeout_is_refused() {
        assert!(matches!(
            SmtpMailer::new(SmtpSettings::new(" ")),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            SmtpMailer::new(SmtpSettings {
                timeout: Duration::ZERO,
                ..SmtpSettings::new("mx")
            }),
            Err(Error::Config(_))
        ));
    }
}
