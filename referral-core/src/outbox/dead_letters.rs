//! Dead letters: messages the dispatcher gave up on (a permanent failure, or retried for
//! [`OutboxPolicy::give_up_after`](crate::OutboxPolicy::give_up_after)), listed and
//! redelivered through the engine. An admin API exposes these same two calls.

use uuid::Uuid;

use crate::engine::{check_limit, Engine};
use crate::error::Error;
use crate::storage::DeadLetter;

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

    /// Queues a dead letter again, due now with its attempts counted afresh (after fixing
    /// what made it fail: a handler, the receiver, the mail settings), and wakes the
    /// dispatcher. An event goes again to the one destination it had failed for, with the
    /// same event id. Returns `false` when `id` is not a dead letter (unknown, or already
    /// redelivered).
    pub async fn redeliver_dead_letter(&self, id: Uuid) -> Result<bool, Error> {
        let redelivered = self.storage().redeliver_outbox(id, self.now()).await?;
        if redelivered {
            tracing::info!(message = %id, "dead letter redelivered");
            self.wake_outbox();
        }
        Ok(redelivered)
    }
}
