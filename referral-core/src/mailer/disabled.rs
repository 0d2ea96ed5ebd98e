//! `DisabledMailer`: what an engine built without a mailer sends with — nothing.

use async_trait::async_trait;

use super::{MailError, Mailer, Message};

/// Refuses every message, permanently: the outbox keeps each as a dead letter (listable and
/// redeliverable once a mailer is configured) instead of printing or dropping it.
///
/// [`Engine::builder`](crate::Engine::builder) uses it, with a loud warning at build time,
/// when no mailer is given: mail is never printed unless [`LogMailer`](super::LogMailer) is
/// chosen explicitly.
#[derive(Debug, Clone, Copy, Default)]
pub struct DisabledMailer;

#[async_trait]
impl Mailer for DisabledMailer {
    async fn send(&self, _message: &Message) -> Result<(), MailError> {
        Err(MailError::Rejected(
            "no mailer is configured: build the engine with .mailer(..)".into(),
        ))
    }
}
