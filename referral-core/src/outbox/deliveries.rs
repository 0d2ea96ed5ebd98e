//! What each outbox topic delivers: the one place that maps a queued message to the work
//! its delivery does.

use crate::engine::Engine;
use crate::error::Error;
use crate::mailer::Message;
use crate::storage::OutboxMessage;

use crate::engine::RESET_MAIL_TOPIC;

/// The mail to send for `message` now, if any. An error other than a storage outage means
/// the message can never be delivered (an unknown topic, an unreadable payload, a request
/// that expired): the dispatcher keeps it as a dead letter with that reason.
pub(super) async fn prepare(
    engine: &Engine,
    message: &OutboxMessage,
) -> Result<Option<Message>, Error> {
    match message.topic.as_str() {
        RESET_MAIL_TOPIC => engine.reset_mail(message).await,
        other => Err(Error::Internal(format!(
            "unknown outbox topic {other:?} (queued by a newer version?)"
        ))),
    }
}
