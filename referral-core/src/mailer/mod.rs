//! The `Mailer` trait: one `send`, the message it sends, and how a failure says whether a
//! retry can help.
//!
//! Implementations: [`LogMailer`] (prints through `tracing`, links included: development
//! only, and only when chosen), [`RecordingMailer`] (keeps messages in memory for tests, and
//! can be told to fail), [`DisabledMailer`] (refuses everything: the default when none is
//! configured), `SmtpMailer` behind the `smtp` feature, and `ApiMailer` (Postmark, SendGrid,
//! Mailgun, Resend over HTTPS) behind the `mail-api` feature. [`MailSettings`] picks one from
//! the environment. Mail is never sent from a request: the engine queues it in the storage
//! outbox and the outbox dispatcher hands it to the mailer, with retries.

mod disabled;
mod log;
mod message;
#[cfg(feature = "mail-api")]
mod providers;
mod recording;
mod settings;
#[cfg(feature = "smtp")]
mod smtp;

pub use disabled::DisabledMailer;
pub use log::LogMailer;
pub use message::Message;
#[cfg(feature = "mail-api")]
pub use providers::{ApiKey, ApiMailer, ApiSettings, Provider, MAX_RETRY_AFTER};
pub use recording::RecordingMailer;
pub use settings::MailSettings;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpCredentials, SmtpMailer, SmtpSettings, SmtpTls};

use std::time::Duration;

use async_trait::async_trait;

/// The sender when `MAIL_FROM` is not set.
pub const DEFAULT_FROM: &str = "no-reply@localhost";

/// How long one send (SMTP: connect, dialogue, data; HTTP: connect, request, answer) may
/// take before it fails as [`MailError::Unavailable`] (and is retried).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong sending a message, and whether trying again can help: see
/// [`is_permanent`](Self::is_permanent) and [`retry_after`](Self::retry_after).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// Transient: the mail server could not be reached, did not answer in time, or answered
    /// with a temporary failure (SMTP 4xx; HTTP 408, 429 or 5xx). Retrying later may succeed.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
    /// Transient, and the server said when to come back (HTTP 429 or 503 with
    /// `Retry-After`): retry no sooner than `retry_after` from now.
    #[error("mail server busy, retry in {}s: {reason}", retry_after.as_secs())]
    Throttled {
        /// What the server said.
        reason: String,
        /// How long the server asked us to wait.
        retry_after: Duration,
    },
    /// Permanent: the server refused this message for good (SMTP 5xx; HTTP 4xx other than
    /// 408 and 429, such as an invalid recipient or a bad API key; an address the transport
    /// cannot carry). Sending it again would fail the same way.
    #[error("mail rejected: {0}")]
    Rejected(String),
}

impl MailError {
    /// Whether this message must not be retried: only [`Rejected`](Self::Rejected) is.
    ///
    /// ```
    /// use referral_core::MailError;
    /// assert!(MailError::Rejected("550 no such user".into()).is_permanent());
    /// assert!(!MailError::Unavailable("connection refused".into()).is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Rejected(_))
    }

    /// The delay the server asked for, when it named one ([`Throttled`](Self::Throttled)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use referral_core::MailError;
    /// let busy = MailError::Throttled { reason: "429".into(), retry_after: Duration::from_secs(30) };
    /// assert_eq!(busy.retry_after(), Some(Duration::from_secs(30)));
    /// assert!(!busy.is_permanent());
    /// assert_eq!(MailError::Unavailable("timeout".into()).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MailError::Throttled { retry_after, .. } => Some(*retry_after),
            MailError::Unavailable(_) | MailError::Rejected(_) => None,
        }
    }
}

/// Sends one message. Implementations are cheap to share (`Arc<dyn Mailer>`).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends `message`, or says why not.
    async fn send(&self, message: &Message) -> Result<(), MailError>;
}
