//! `EventHandler`: the app's own code reacting to what happens in the engine (a welcome mail,
//! a profile row, a CRM update), fed by the outbox dispatcher at least once, in order per user.

use async_trait::async_trait;

use crate::engine::Event;

/// Reacts to [`Event`]s, in process. Register one or several with
/// [`EngineBuilder::event_handler`](crate::EngineBuilder::event_handler), each under a name
/// of its own.
///
/// Each handler gets every event, at least once, in order per user: the dispatcher queues one
/// delivery per handler (and one for the webhook), so a handler that fails is retried with
/// backoff on its own and blocks neither the other handlers nor other users' events; only
/// that user's later events wait for it, to stay in order. An event delivered twice (a
/// dispatcher died after the handler succeeded) carries the same [`Event::id`]: make the
/// handler idempotent on it (an `INSERT … ON CONFLICT DO NOTHING` keyed by the user, say).
///
/// A handler runs in a task of its own, bounded by half the outbox lease: one that panics or
/// hangs fails that attempt, never the dispatcher.
///
/// ```
/// use async_trait::async_trait;
/// use referral_core::{Event, EventHandler, HandlerError};
///
/// struct Welcome;
///
/// #[async_trait]
/// impl EventHandler for Welcome {
///     async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
///         if event.kind == "user.registered" {
///             let user_id = event.data["user_id"].as_str().ok_or_else(|| {
///                 HandlerError::Permanent("user.registered without a user_id".into())
///             })?;
///             // … create the app's own row for `user_id`, idempotently …
///             let _ = user_id;
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event. `Ok` marks it delivered to this handler;
    /// [`HandlerError::Transient`] retries it with backoff (for
    /// [`OutboxPolicy::give_up_after`](crate::OutboxPolicy::give_up_after), then it becomes a
    /// dead letter); [`HandlerError::Permanent`] makes it a dead letter at once.
    async fn handle(&self, event: &Event) -> Result<(), HandlerError>;
}

/// Why a handler did not handle an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// It may work later (the app's database is down, say): retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// It will never work (the event makes no sense to this handler): kept as a dead letter,
    /// which can be redelivered after a fix.
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    /// Whether retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, HandlerError::Permanent(_))
    }
}

/// The rules a handler name follows: it is stored in the outbox as part of the delivery's
/// topic, so it must survive restarts unchanged and be plain.
pub(crate) fn check_handler_name(name: &str) -> Result<(), String> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > 64 || !plain {
        return Err(format!(
            "event handler name {name:?} must be 1 to 64 characters of a-z, 0-9, '_', '-', '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_names_are_plain_and_short() {
        assert!(check_handler_name("profiles").is_ok());
        assert!(check_handler_name("crm.sync-2").is_ok());
        for bad in ["", "Profiles", "a b", "a:b", &"x".repeat(65)] {
            assert!(check_handler_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
