//! The outbox: queueing, leased claims, completion, retries, dead letters, pruning.

use time::Duration;
use uuid::Uuid;

use crate::storage::{DeadLetter, OutboxMessage, Storage};

use super::setup::*;

/// A queued message is pending and claimable at once, exactly as it was queued.
pub async fn an_enqueued_message_is_claimable_as_queued(storage: &dyn Storage) {
    assert_eq!(pending(storage).await, 0);
    let message = mail(&email("ada"), T0);
    storage.enqueue_outbox(message.clone()).await.unwrap();
    assert_eq!(pending(storage).await, 1);
    let claimed = claim(storage, T0, Duration::minutes(5), 10).await;
    assert_eq!(
        claimed,
        vec![OutboxMessage {
            attempts: 1,
            ..message
        }]
    );
}

/// A claim leases messages: nobody claims them again until the lease ends, then they are
/// claimable again with one more attempt counted.
pub async fn outbox_claims_are_leased(storage: &dyn Storage) {
    let queued = queue_mail(storage, 2, T0).await;
    let lease = Duration::minutes(5);
    let first = claim(storage, T0, lease, 10).await;
    assert_eq!(ids(&first), ids(&queued));
    assert!(first.iter().all(|m| m.attempts == 1));
    assert!(
        claim(storage, T0 + lease - Duration::microseconds(1), lease, 10)
            .await
            .is_empty()
    );
    assert_eq!(
        pending(storage).await,
        2,
        "leased messages are still pending"
    );
    let again = claim(storage, T0 + lease, lease, 10).await;
    assert_eq!(ids(&again), ids(&queued));
    assert!(again.iter().all(|m| m.attempts == 2));
}

/// A claim takes at most `limit` messages, and only those due at `now`.
pub async fn outbox_claims_respect_the_limit_and_the_due_time(storage: &dyn Storage) {
    let queued = queue_mail(storage, 5, T0).await;
    let future = queue_mail(storage, 1, at(Duration::hours(1))).await;
    // Longer than the hour below, so the first five are still leased then.
    let lease = Duration::hours(2);
    let mut claimed = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = claim(storage, T0, lease, 2).await;
        assert_eq!(batch.len(), expected);
        claimed.extend(batch);
    }
    assert_eq!(ids(&claimed), ids(&queued));
    assert_eq!(
        ids(&claim(storage, at(Duration::hours(1)), lease, 10).await),
        ids(&future)
    );
}

/// A message marked sent is no longer pending and is never claimed again.
pub async fn a_completed_message_is_never_claimed_again(storage: &dyn Storage) {
    let queued = queue_mail(storage, 2, T0).await;
    let lease = Duration::minutes(5);
    let claimed = claim(storage, T0, lease, 1).await;
    assert_eq!(claimed.len(), 1);
    storage
        .complete_outbox(claimed[0].id, at(Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(pending(storage).await, 1);
    let later = claim(storage, at(Duration::days(1)), lease, 10).await;
    let remaining: Vec<Uuid> = ids(&queued)
        .into_iter()
        .filter(|id| *id != claimed[0].id)
        .collect();
    assert_eq!(ids(&later), remaining);
}

/// A failed attempt releases the message until `retry_at`; then it is claimed again.
pub async fn a_failed_message_is_retried_at_its_retry_time(storage: &dyn Storage) {
    let queued = queue_mail(storage, 1, T0).await;
    let lease = Duration::minutes(5);
    let claimed = claim(storage, T0, lease, 10).await;
    assert_eq!(ids(&claimed), ids(&queued));
    let retry_at = at(Duration::seconds(30));
    storage
        .fail_outbox(queued[0].id, retry_at, "connection refused")
        .await
        .unwrap();
    assert_eq!(pending(storage).await, 1);
    assert!(
        claim(storage, retry_at - Duration::microseconds(1), lease, 10)
            .await
            .is_empty()
    );
    let retried = claim(storage, retry_at, lease, 10).await;
    assert_eq!(ids(&retried), ids(&queued));
    assert_eq!(retried[0].attempts, 2);
}

/// A dead letter is out of the queue: not pending, never claimed, whatever the time, and
/// listed with its reason; redelivered, it is due at once with no attempts counted.
pub async fn a_dead_letter_is_never_claimed_until_redelivered(storage: &dyn Storage) {
    let queued = queue_mail(storage, 2, T0).await;
    let lease = Duration::minutes(5);
    let claimed = claim(storage, T0, lease, 1).await;
    let died_at = at(Duration::seconds(30));
    storage
        .dead_letter_outbox(claimed[0].id, died_at, "mailbox does not exist")
        .await
        .unwrap();
    assert_eq!(pending(storage).await, 1);
    let later = at(Duration::days(30));
    let others = claim(storage, later, lease, 10).await;
    assert_eq!(
        ids(&others),
        vec![queued[1].id],
        "only the live one is claimed"
    );
    assert_eq!(
        storage.dead_letters(None, 10).await.unwrap(),
        vec![DeadLetter {
            message: claimed[0].clone(),
            died_at,
            reason: "mailbox does not exist".to_owned(),
        }]
    );
    assert!(!storage
        .redeliver_outbox(queued[1].id, later, None)
        .await
        .unwrap());
    assert!(!storage
        .redeliver_outbox(Uuid::now_v7(), later, None)
        .await
        .unwrap());
    assert!(storage
        .redeliver_outbox(claimed[0].id, later, None)
        .await
        .unwrap());
    assert!(storage.dead_letters(None, 10).await.unwrap().is_empty());
    assert_eq!(pending(storage).await, 2);
    let again = claim(storage, later, lease, 10).await;
    assert_eq!(
        again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(claimed[0].id, 1)],
        "redelivered with its attempts counted afresh (the other is still leased)"
    );
}

/// Dead letters list newest first (by when they died), a page at a time after the last one
/// seen; after an id that is no dead letter, nothing.
pub async fn dead_letters_are_listed_newest_first_in_pages(storage: &dyn Storage) {
    let queued = queue_mail(storage, 3, T0).await;
    claim(storage, T0, Duration::minutes(5), 3).await;
    for (i, message) in queued.iter().enumerate() {
        storage
            .dead_letter_outbox(message.id, at(Duration::seconds(i as i64 + 1)), "gave up")
            .await
            .unwrap();
    }
    let letter_ids = |letters: Vec<DeadLetter>| -> Vec<Uuid> {
        letters
            .into_iter()
            .map(|letter| letter.message.id)
            .collect()
    };
    let first = storage.dead_letters(None, 2).await.unwrap();
    assert_eq!(letter_ids(first), vec![queued[2].id, queued[1].id]);
    let rest = storage.dead_letters(Some(queued[1].id), 2).await.unwrap();
    assert_eq!(letter_ids(rest), vec![queued[0].id]);
    assert!(storage
        .dead_letters(Some(queued[0].id), 2)
        .await
        .unwrap()
        .is_empty());
    assert!(storage
        .dead_letters(Some(Uuid::now_v7()), 2)
        .await
        .unwrap()
        .is_empty());
}

/// A message done is done: giving up on it afterwards leaves no dead letter.
pub async fn a_sent_message_never_becomes_a_dead_letter(storage: &dyn Storage) {
    queue_mail(storage, 1, T0).await;
    let claimed = claim(storage, T0, Duration::minutes(5), 1).await;
    storage.complete_outbox(claimed[0].id, T0).await.unwrap();
    storage
        .dead_letter_outbox(claimed[0].id, T0, "too late")
        .await
        .unwrap();
    assert!(storage.dead_letters(None, 10).await.unwrap().is_empty());
    assert!(!storage
        .redeliver_outbox(claimed[0].id, T0, None)
        .await
        .unwrap());
    assert_eq!(pending(storage).await, 0);
}

/// A redelivery carrying an audit entry writes it with the change; one of a message that is
/// not a dead letter writes neither.
pub async fn a_redelivery_writes_its_audit_entry_with_it(storage: &dyn Storage) {
    let queued = queue_mail(storage, 2, T0).await;
    let claimed = claim(storage, T0, Duration::minutes(5), 1).await;
    storage
        .dead_letter_outbox(claimed[0].id, at(Duration::seconds(1)), "gone")
        .await
        .unwrap();
    let audit = |target: Uuid| crate::storage::AuditEntry {
        id: Uuid::now_v7(),
        actor_id: None,
        action: "dead_letter.redelivered".to_owned(),
        target_id: Some(target),
        details: serde_json::json!({ "message_id": target }),
        at: at(Duration::minutes(1)),
    };
    assert!(!storage
        .redeliver_outbox(queued[1].id, T0, Some(audit(queued[1].id)))
        .await
        .unwrap());
    assert!(storage.audit_log(None, 10).await.unwrap().is_empty());
    let entry = audit(claimed[0].id);
    assert!(storage
        .redeliver_outbox(claimed[0].id, T0, Some(entry.clone()))
        .await
        .unwrap());
    assert_eq!(storage.audit_log(None, 10).await.unwrap(), vec![entry]);
    assert!(storage.dead_letters(None, 10).await.unwrap().is_empty());
}
