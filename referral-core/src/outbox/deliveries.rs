//! What each outbox topic delivers: the one place that maps a queued message to the work
//! its delivery does.
//!
//! - `mail.*`: a mail, rendered (and its token created) now.
//! - `event`: an event as the engine wrote it with its change; it is fanned out into one
//!   delivery per destination, each retried on its own. One user's events are fanned out one
//!   at a time, in order, so their deliveries are queued in that order too.
//! - `delivery:handler:<name>`, `delivery:webhook`: one event for one destination.

use std::sync::Arc;

use uuid::Uuid;

use crate::engine::{Engine, Event};
use crate::error::Error;
use crate::event_handler::EventHandler;
use crate::mailer::Message;
use crate::storage::OutboxMessage;

use crate::engine::{
    EVENT_TOPIC, LEGACY_EVENT_TOPIC_PREFIX, RESET_MAIL_TOPIC, VERIFICATION_MAIL_TOPIC,
};

/// The topic prefix of an event's delivery to an in-process handler (then its name).
pub(crate) const HANDLER_TOPIC_PREFIX: &str = "delivery:handler:";

/// The topic of an event's delivery to the webhook.
pub(crate) const WEBHOOK_TOPIC: &str = "delivery:webhook";

/// The work one claimed message asks for.
pub(super) enum Work {
    /// Send this mail.
    Mail(Message),
    /// Nothing to send (a reset for an unknown email, an event nobody receives): done.
    Nothing,
    /// Replace the event by these deliveries, one per destination.
    FanOut(Vec<OutboxMessage>),
    /// Hand the event to this handler.
    Handler(Arc<dyn EventHandler>, Event),
    /// POST the event (its JSON as queued) to the webhook.
    #[cfg(feature = "webhooks")]
    Webhook {
        /// The event's id: the `webhook-id`, the same on every attempt.
        event_id: Uuid,
        /// The body to sign and send.
        body: String,
    },
    /// This process cannot deliver it (a handler or webhook configured only in another
    /// version or instance): retried later, and given up on like any failure.
    Elsewhere(String),
}

/// The work to do for `message` now. An error other than a storage outage means the message
/// can never be delivered (an unknown topic, an unreadable payload, a request that expired):
/// the dispatcher keeps it as a dead letter with that reason.
pub(super) async fn prepare(engine: &Engine, message: &OutboxMessage) -> Result<Work, Error> {
    match message.topic.as_str() {
        RESET_MAIL_TOPIC => Ok(engine
            .reset_mail(message)
            .await?
            .map_or(Work::Nothing, Work::Mail)),
        VERIFICATION_MAIL_TOPIC => Ok(engine
            .verification_mail_message(message)
            .await?
            .map_or(Work::Nothing, Work::Mail)),
        topic if topic == EVENT_TOPIC || topic.starts_with(LEGACY_EVENT_TOPIC_PREFIX) => {
            let copies = fan_out(engine, message);
            Ok(if copies.is_empty() {
                Work::Nothing
            } else {
                Work::FanOut(copies)
            })
        }
        topic if topic.starts_with(HANDLER_TOPIC_PREFIX) => {
            let name = &topic[HANDLER_TOPIC_PREFIX.len()..];
            let event = parse_event(message)?;
            Ok(match engine.event_handler(name) {
                Some(handler) => Work::Handler(Arc::clone(handler), event),
                None => Work::Elsewhere(format!(
                    "no event handler named {name:?} is registered in this process"
                )),
            })
        }
        WEBHOOK_TOPIC => webhook(engine, message),
        other => Err(Error::Internal(format!(
            "unknown outbox topic {other:?} (queued by a newer version?)"
        ))),
    }
}

/// One delivery of `event` per destination this engine has: each registered handler, and the
/// webhook when one is configured. The copies keep the event's user and time, and get ids
/// drawn now (UUID v7, increasing): one user's events are fanned out one after the other, so
/// each destination receives them in the order they happened.
fn fan_out(engine: &Engine, event: &OutboxMessage) -> Vec<OutboxMessage> {
    let handlers = engine
        .event_handler_names()
        .map(|name| format!("{HANDLER_TOPIC_PREFIX}{name}"));
    let webhook = engine.has_webhook().then(|| WEBHOOK_TOPIC.to_owned());
    handlers
        .chain(webhook)
        .map(|topic| OutboxMessage {
            id: Uuid::now_v7(),
            topic,
            user_id: event.user_id,
            payload: event.payload.clone(),
            attempts: 0,
            created_at: event.created_at,
        })
        .collect()
}

fn parse_event(message: &OutboxMessage) -> Result<Event, Error> {
    serde_json::from_str(&message.payload)
        .map_err(|e| Error::Internal(format!("unreadable event payload: {e}")))
}

#[cfg(feature = "webhooks")]
fn webhook(engine: &Engine, message: &OutboxMessage) -> Result<Work, Error> {
    let event = parse_event(message)?;
    Ok(if engine.has_webhook() {
        Work::Webhook {
            event_id: event.id,
            body: message.payload.clone(),
        }
    } else {
        Work::Elsewhere("no webhook is configured in this process".into())
    })
}

#[cfg(not(feature = "webhooks"))]
fn webhook(_engine: &Engine, message: &OutboxMessage) -> Result<Work, Error> {
    parse_event(message)?;
    Ok(Work::Elsewhere(
        "this build has no webhooks (feature `webhooks`)".into(),
    ))
}
