//! The `Mailer` trait: one `send`, and the message it sends.
//!
//! Implementations: [`LogMailer`] (prints through `tracing`, links included: development
//! only, and only when chosen), [`RecordingMailer`] (keeps messages in memory for tests, and
//! can be told to fail), [`DisabledMailer`] (refuses everything: the default when none is
//! configured), and `SmtpMailer` behind the `smtp` feature. Mail is never sent from a request: the engine queues it in the storage outbox and
//! the outbox dispatcher hands it to the mailer, with retries.

mod disabled;
mod log;
mod message;
mod recording;
#[cfg(feature = "smtp")]
mod smtp;

pub use disabled::DisabledMailer;
pub use log::LogMailer;
pub use message::Message;
pub use recording::RecordingMailer;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpCredentials, SmtpMailer, SmtpSettings, SmtpTls, DEFAULT_FROM, DEFAULT_TIMEOUT};

use async_trait::async_trait;

/// What went wrong sending a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The mail server could not be reached or answered with a temporary failure; retrying
    /// later may succeed.
    #[error("mail server unavailable: {0}")]
    Unavailable(String),
    /// The mail server refused the message for good (a permanent 5xx, a bad address).
    #[error("mail rejected: {0}")]
    Rejected(String),
}

/// Sends one message. Implementations are cheap to share (`Arc<dyn Mailer>`).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends `message`, or says why not.
    async fn send(&self, message: &Message) -> Result<(), MailError>;
}
