//! `RecordingMailer`: keeps sent messages in memory, and fails on demand.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{MailError, Mailer, Message};

/// A mailer for tests: records every message it "sends", and can be switched to fail so the
/// retry paths can be exercised. Clones share the same record.
///
/// ```
/// # tokio_test_block(async {
/// use referral_core::{Email, Mailer, Message, RecordingMailer};
/// let mailer = RecordingMailer::new();
/// let to = Email::parse("a@example.com").unwrap();
/// mailer.send(&Message::new(to, "Hi", "text".into(), "<p>html</p>".into())).await.unwrap();
/// assert_eq!(mailer.messages().len(), 1);
/// mailer.fail_with(Some(referral_core::MailError::Unavailable("down".into())));
/// assert!(mailer.send(&mailer.messages()[0]).await.is_err());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingMailer {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<Message>,
    failure: Option<MailError>,
    attempts: usize,
}

impl RecordingMailer {
    /// A mailer that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.lock().sent.clone()
    }

    /// How many sends were attempted, failed ones included.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    /// From now on, fail every send with `failure` (or accept again with `None`).
    pub fn fail_with(&self, failure: Option<MailError>) {
        self.lock().failure = failure;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let mut state = self.lock();
        state.attempts += 1;
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        state.sent.push(message.clone());
        Ok(())
    }
}
