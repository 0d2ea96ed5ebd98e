//! Dead letters: messages the dispatcher gave up on (a permanent failure, or retried for
//! [`OutboxPolicy::give_up_after`](crate::OutboxPolicy::give_up_after)), listed and
//! redelivered through the engine, and by admins under `/api/admin/dead-letters`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::deliveries::{HANDLER_TOPIC_PREFIX, WEBHOOK_TOPIC};
use crate::engine::{
    check_limit, decode_id_cursor, encode_id_cursor, one_page, Engine, EVENT_TOPIC,
    LEGACY_EVENT_TOPIC_PREFIX,
};
use crate::error::Error;
use crate::storage::{audit_actions, AuditEntry, DeadLetter};
use crate::user::UserRecord;

/// What `POST /api/admin/dead-letters/{id}/redeliver` answers.
pub const REDELIVERY_QUEUED_MESSAGE: &str = "The message is queued for delivery again.";

/// A dead letter as an admin sees it: what it was for and why it failed, never its payload
/// (an address, an event's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct DeadLetterView {
    /// The message's id (what redelivery names).
    pub id: Uuid,
    /// What it delivers: `mail.password_reset`, `mail.email_verification`,
    /// `delivery:handler:<name>`, `delivery:webhook`, `event`.
    pub topic: String,
    /// The event's type (`user.registered`, ...) when it carries an event, else `null`.
    pub event_type: Option<String>,
    /// The event's id (the `webhook-id`) when it carries an event, else `null`.
    pub event_id: Option<Uuid>,
    /// The user it concerns, if any.
    pub user_id: Option<Uuid>,
    /// Attempts made.
    pub attempts: u32,
    /// The last error, or why it was given up on.
    pub last_error: String,
    /// When it was queued (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When it was given up on (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub failed_at: OffsetDateTime,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(letter: DeadLetter) -> Self {
        #[derive(Deserialize)]
        struct EventHead {
            id: Uuid,
            #[serde(rename = "type")]
            kind: String,
        }
        let topic = letter.message.topic.as_str();
        let carries_event = topic == EVENT_TOPIC
            || topic.starts_with(LEGACY_EVENT_TOPIC_PREFIX)
            || topic.starts_with(HANDLER_TOPIC_PREFIX)
            || topic == WEBHOOK_TOPIC;
        let head = carries_event
            .then(|| serde_json::from_str::<EventHead>(&letter.message.payload).ok())
            .flatten();
        DeadLetterView {
            id: letter.message.id,
            topic: letter.message.topic,
            event_type: head.as_ref().map(|head| head.kind.clone()),
            event_id: head.map(|head| head.id),
            user_id: letter.message.user_id,
            attempts: letter.message.attempts,
            last_error: letter.reason,
            created_at: letter.message.created_at,
            failed_at: letter.died_at,
        }
    }
}

/// One page of `GET /api/admin/dead-letters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct DeadLetterPage {
    /// Newest first (by when they were given up on).
    pub dead_letters: Vec<DeadLetterView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl Engine {
    /// Dead letters, newest first (by when they were given up on), a page of at most
    /// `limit` (1 to [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE), as every list) after the one with id `after` (the last of
    /// the previous page; an id that is no dead letter lists nothing).
    ///
    /// Each names its topic (`mail.password_reset`, `delivery:handler:<name>`,
    /// `delivery:webhook`), its user, its payload (an address or an event, never a token),
    /// why it was given up on and when. Errors: [`Error::Validation`] for a `limit` out of
    /// range.
    pub async fn dead_letters(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, Error> {
        let limit = check_limit(limit)?;
        Ok(self.storage().dead_letters(after, limit).await?)
    }

    /// One page of dead letters as an admin sees them (no payloads), newest first: at most
    /// `limit` (1..=100) after `cursor` (the previous page's `next_cursor`).
    ///
    /// Errors: [`Error::Validation`] for a `limit` out of range or a cursor this API did not
    /// give.
    pub async fn dead_letter_page(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<DeadLetterPage, Error> {
        check_limit(limit)?;
        let after = cursor.map(decode_id_cursor).transpose()?;
        let rows = self.storage().dead_letters(after, limit + 1).await?;
        let (rows, next_cursor) = one_page(rows, limit, |last| encode_id_cursor(last.message.id));
        Ok(DeadLetterPage {
            dead_letters: rows.into_iter().map(DeadLetterView::from).collect(),
            next_cursor,
        })
    }

    /// Queues a dead letter again, due now with its attempts counted afresh (after fixing
    /// what made it fail: a handler, the receiver, the mail settings), and wakes the
    /// dispatcher. An event goes again to the one destination it had failed for, with the
    /// same event id. The audit log records it as the operator's. Returns `false` when `id`
    /// is not a dead letter (unknown, or already redelivered).
    pub async fn redeliver_dead_letter(&self, id: Uuid) -> Result<bool, Error> {
        match self.redeliver_dead_letter_as(None, id).await {
            Ok(()) => Ok(true),
            Err(Error::UnknownDeadLetter) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Queues dead letter `id` again as [`redeliver_dead_letter`](Self::redeliver_dead_letter)
    /// does, on behalf of `actor` (`None`: the operator), with an audit entry in the same
    /// transaction.
    ///
    /// Errors: [`Error::UnknownDeadLetter`] when `id` is not a dead letter.
    pub async fn redeliver_dead_letter_as(
        &self,
        actor: Option<&UserRecord>,
        id: Uuid,
    ) -> Result<(), Error> {
        let now = self.now();
        let audit = AuditEntry {
            id: Uuid::now_v7(),
            actor_id: actor.map(|actor| actor.id),
            action: audit_actions::DEAD_LETTER_REDELIVERED.to_owned(),
            target_id: Some(id),
            details: json!({ "message_id": id }),
            at: now,
        };
        if !self
            .storage()
            .redeliver_outbox(id, now, Some(audit))
            .await?
        {
            return Err(Error::UnknownDeadLetter);
        }
        tracing::info!(message = %id, "dead letter redelivered");
        self.wake_outbox();
        Ok(())
    }
}
