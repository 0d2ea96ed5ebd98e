//! Event deliveries: fanning an event out into one delivery per destination, and claiming one
//! user's messages of one topic in order.

use std::sync::Arc;

use time::Duration;
use tokio::task::JoinSet;

use crate::storage::Storage;

use super::setup::*;

const LEASE: Duration = Duration::minutes(5);

/// Of one user's open messages of one topic, only the earliest (by creation, then id) is
/// claimed; the next one is claimed once it is done. Other topics and other users are not
/// held back, and messages about no user are never held back.
pub async fn a_users_messages_of_one_topic_are_claimed_in_order(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let bob = register(storage, "bob", T0).await.user;
    let topic = "delivery:handler:crm";
    // Queued out of order: the later one first, with the smaller id.
    let second = about(&ada, topic, at(Duration::seconds(2)));
    let first = about(&ada, topic, at(Duration::seconds(1)));
    let other_topic = about(&ada, "delivery:webhook", at(Duration::seconds(3)));
    let other_user = about(&bob, topic, at(Duration::seconds(4)));
    for message in [&second, &first, &other_topic, &other_user] {
        enqueue(storage, message).await;
    }
    let mails = queue_mail(storage, 2, T0).await;
    let now = at(Duration::minutes(1));
    let claimed = claim(storage, now, LEASE, 10).await;
    let mut expected = vec![first.id, other_topic.id, other_user.id];
    expected.extend(mails.iter().map(|mail| mail.id));
    expected.sort();
    assert_eq!(ids(&claimed), expected, "the later message of ada waits");
    storage.complete_outbox(first.id, now).await.unwrap();
    assert_eq!(ids(&claim(storage, now, LEASE, 10).await), vec![second.id]);
}

/// A message waiting for its retry, or leased, still holds back the later messages of its
/// topic and user; once it is a dead letter they go on.
pub async fn a_failing_message_holds_back_only_its_users_later_messages(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let topic = "delivery:handler:crm";
    let first = about(&ada, topic, T0);
    let second = about(&ada, topic, at(Duration::seconds(1)));
    enqueue(storage, &first).await;
    enqueue(storage, &second).await;
    assert_eq!(ids(&claim(storage, T0, LEASE, 10).await), vec![first.id]);
    let later = at(Duration::minutes(1));
    assert!(
        claim(storage, later, LEASE, 10).await.is_empty(),
        "a leased message holds back the next"
    );
    let retry_at = at(Duration::hours(1));
    storage
        .fail_outbox(first.id, retry_at, "handler failed")
        .await
        .unwrap();
    assert!(
        claim(storage, later, LEASE, 10).await.is_empty(),
        "a message waiting for its retry holds back the next"
    );
    assert_eq!(
        ids(&claim(storage, retry_at, LEASE, 10).await),
        vec![first.id]
    );
    storage
        .dead_letter_outbox(first.id, retry_at, "gave up")
        .await
        .unwrap();
    assert_eq!(
        ids(&claim(storage, retry_at, LEASE, 10).await),
        vec![second.id]
    );
}

/// Fanning out an event marks it done and queues its deliveries, due at their creation,
/// in one step; a second fan-out of the same event writes nothing.
pub async fn an_event_is_fanned_out_once_into_its_deliveries(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let event = about(&ada, "event", T0);
    enqueue(storage, &event).await;
    let claimed = claim(storage, T0, LEASE, 10).await;
    assert_eq!(ids(&claimed), vec![event.id]);
    let copies = vec![
        about(&ada, "delivery:handler:crm", T0),
        about(&ada, "delivery:webhook", T0),
    ];
    assert!(storage
        .fan_out_event(event.id, copies.clone(), T0)
        .await
        .unwrap());
    assert_eq!(
        pending(storage).await,
        2,
        "the event is done, its copies pending"
    );
    let again = vec![about(&ada, "delivery:handler:crm", T0)];
    assert!(!storage.fan_out_event(event.id, again, T0).await.unwrap());
    assert_eq!(pending(storage).await, 2, "nothing written the second time");
    let delivered = claim(storage, T0, LEASE, 10).await;
    assert_eq!(ids(&delivered), ids(&copies));
    assert!(delivered.iter().all(|copy| copy.attempts == 1));
    assert!(!storage
        .fan_out_event(uuid::Uuid::now_v7(), Vec::new(), T0)
        .await
        .unwrap());
}

/// Of concurrent fan-outs of one event (a dispatcher whose lease ran out, and the next one),
/// exactly one writes its deliveries.
pub async fn concurrent_fan_outs_of_one_event_have_exactly_one_winner(storage: Arc<dyn Storage>) {
    let ada = register(&*storage, "ada", T0).await.user;
    let event = about(&ada, "event", T0);
    enqueue(&*storage, &event).await;
    let mut set = JoinSet::new();
    for _ in 0..8 {
        let storage = Arc::clone(&storage);
        let copy = about(&ada, "delivery:handler:crm", T0);
        set.spawn(async move { storage.fan_out_event(event.id, vec![copy], T0).await });
    }
    let outcomes = join_all(set).await;
    let won = outcomes
        .into_iter()
        .filter(|outcome| *outcome.as_ref().expect("a fan-out"))
        .count();
    assert_eq!(won, 1);
    assert_eq!(pending(&*storage).await, 1, "one copy, the event done");
}
