//! `LogMailer`: prints messages through `tracing` instead of sending them.

use async_trait::async_trait;

use super::{MailError, Mailer, Message};

/// Writes each message to the log at `INFO` (target `referral::mail`) instead of sending it:
/// the zero-configuration default of the example servers, for development.
///
/// The log carries the message body, reset links included: do not use it in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        tracing::info!(
            target: "referral::mail",
            to = %message.to,
            subject = %message.subject,
            "mail printed, not sent (the log mailer is for development); text body follows:\n{}",
            message.text
        );
        Ok(())
    }
}
