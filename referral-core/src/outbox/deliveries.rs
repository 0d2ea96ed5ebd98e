//! What each outbox topic delivers: the one place that maps a queued message to the work
//! its delivery does.

use crate::engine::Engine;
use crate::error::Error;
use crate::mailer::Message;
use crate::storage::OutboxMessage;

use crate::engine::{EVENT_TOPIC_PREFIX, RESET_MAIL_TOPIC};

/// The mail to send for `message` now, if any. An error other than a storage outage means
/// the message can never be delivered (an unknown topic, an unreadable payload, a request
/// that expired): the dispatcher keeps it as a dead letter with that reason.
pub(super) async fn prepare(
    engine: &Engine,
    message: &OutboxMessage,
) -> Result<Option<Message>, Error> {
    match message.topic.as_str() {
        RESET_MAIL_TOPIC => engine.reset_mail(message).await,
        // No handler or webhook is configured to receive events: delivered to nobody.
        topic if topic.starts_with(EVENT_TOPIC_PREFIX) => Ok(None),
        other => Err(Error::Internal(format!(
            "unknown outbox topic {other:?} (queued by a newer version?)"
        ))),
    }
}
