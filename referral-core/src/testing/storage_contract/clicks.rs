//! Clicks on share links: one per visitor per window, counted per owner in totals and per
//! UTC day, and pruned without losing a total.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::storage::{Click, ClickCounts, OutboxMessage, Storage};
use crate::visitor::VisitorHash;

use super::setup::*;

const WINDOW: Duration = Duration::hours(24);

fn visitor(n: u32) -> VisitorHash {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    bytes[31] = 0xc1;
    VisitorHash::from_bytes(bytes)
}

fn click(owner: Uuid, visitor_n: u32, at: OffsetDateTime) -> Click {
    Click {
        owner,
        visitor: visitor(visitor_n),
        at,
    }
}

/// The `referral.clicked` message a batch writes per owner: its payload names the owner and
/// the clicks counted, so a case can read back what was announced.
fn clicked(owner: Uuid, clicks: u64) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: "event".to_owned(),
        user_id: Some(owner),
        payload: format!(
            r#"{{"type":"referral.clicked","data":{{"user_id":"{owner}","clicks":{clicks}}}}}"#
        ),
        attempts: 0,
        created_at: T0,
    }
}

async fn record(storage: &dyn Storage, clicks: &[Click]) -> u64 {
    storage
        .record_clicks(clicks, WINDOW, &clicked)
        .await
        .expect("recording clicks")
}

async fn counts(storage: &dyn Storage, user: Uuid, since: OffsetDateTime) -> ClickCounts {
    storage
        .click_counts(user, since)
        .await
        .expect("reading click counts")
}

/// A visitor's clicks on one owner's links count once per window: a click within the window
/// after the last counted one does not count, the first after it does.
pub async fn a_visitors_clicks_count_once_per_window(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let counted = record(
        storage,
        &[
            click(ada.id, 1, T0),
            click(ada.id, 1, at(Duration::hours(1))),
            click(ada.id, 1, at(WINDOW)),
        ],
    )
    .await;
    assert_eq!(counted, 1);
    // In a later batch too: only the window decides.
    assert_eq!(
        record(storage, &[click(ada.id, 1, at(Duration::hours(23)))]).await,
        0
    );
    assert_eq!(
        record(
            storage,
            &[click(ada.id, 1, at(WINDOW + Duration::seconds(1)))]
        )
        .await,
        1
    );
    // The window runs from the last counted click.
    assert_eq!(
        record(storage, &[click(ada.id, 1, at(Duration::hours(47)))]).await,
        0
    );
    assert_eq!(
        counts(storage, ada.id, T0 - Duration::days(30)).await.total,
        2
    );
}

/// Different visitors count apart, and one visitor counts once for each owner.
pub async fn clicks_count_per_visitor_and_per_owner(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let bob = register(storage, "bob", T0).await.user;
    let counted = record(
        storage,
        &[
            click(ada.id, 1, T0),
            click(ada.id, 2, T0),
            click(bob.id, 1, T0),
            click(ada.id, 2, T0),
        ],
    )
    .await;
    assert_eq!(counted, 3);
    let since = T0 - Duration::days(30);
    assert_eq!(
        counts(storage, ada.id, since).await,
        ClickCounts { total: 2, since: 2 }
    );
    assert_eq!(
        counts(storage, bob.id, since).await,
        ClickCounts { total: 1, since: 1 }
    );
}

/// "Since" counts the clicks of the UTC days after `since`'s day; the total counts them all.
pub async fn click_counts_since_cover_the_days_after_sinces_day(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0 - Duration::days(60)).await.user;
    let since = T0 - Duration::days(30);
    record(
        storage,
        &[
            click(ada.id, 1, T0 - Duration::days(45)),
            // On since's own day, after since: not in "since" (whole days only).
            click(ada.id, 2, since + Duration::minutes(1)),
            click(ada.id, 3, since + Duration::days(1)),
            click(ada.id, 4, T0),
            click(ada.id, 5, T0),
        ],
    )
    .await;
    assert_eq!(
        counts(storage, ada.id, since).await,
        ClickCounts { total: 5, since: 3 }
    );
}

/// A user nobody clicked for (or no user at all) has zero clicks.
pub async fn click_counts_of_a_user_without_clicks_are_zero(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    assert_eq!(counts(storage, ada.id, T0).await, ClickCounts::default());
    assert_eq!(
        counts(storage, Uuid::now_v7(), T0).await,
        ClickCounts::default()
    );
    assert_eq!(record(storage, &[]).await, 0);
}

/// Pruning forgets visitors whose last counted click is older than the cutoff (they hold
/// nothing back any more) and the day counts before the stats window; totals stay.
pub async fn pruning_clicks_forgets_old_visitors_and_days_and_keeps_totals(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0 - Duration::days(60)).await.user;
    record(
        storage,
        &[
            click(ada.id, 1, T0 - Duration::days(40)),
            click(ada.id, 2, T0 - Duration::hours(30)),
            click(ada.id, 3, T0 - Duration::hours(2)),
        ],
    )
    .await;
    let pruned = storage
        .prune_clicks(T0 - WINDOW, T0 - Duration::days(30))
        .await
        .expect("pruning clicks");
    // Visitors 1 and 2, and the day of the click 40 days ago.
    assert_eq!(pruned, 3);
    let since = T0 - Duration::days(30);
    assert_eq!(
        counts(storage, ada.id, since).await,
        ClickCounts { total: 3, since: 2 }
    );
    // Visitor 3 is still held back; visitor 2 was past its window anyway.
    assert_eq!(
        record(storage, &[click(ada.id, 3, T0), click(ada.id, 2, T0)]).await,
        1
    );
}

/// Concurrent batches (several server instances) never count one visitor twice in a
/// window, and lose no click of distinct visitors.
pub async fn concurrent_click_batches_count_each_visitor_once(storage: Arc<dyn Storage>) {
    const BATCHES: u32 = 8;
    const PER_BATCH: u32 = 40;
    let ada = register(&*storage, "ada", T0).await.user;
    let mut set = JoinSet::new();
    for batch in 0..BATCHES {
        let storage = Arc::clone(&storage);
        let owner = ada.id;
        set.spawn(async move {
            // Visitor 0 in every batch; the others each in one batch only.
            let mut clicks = vec![click(owner, 0, at(Duration::seconds(i64::from(batch))))];
            clicks.extend(
                (1..=PER_BATCH).map(|n| click(owner, batch * 1_000 + n, at(Duration::seconds(1)))),
            );
            storage.record_clicks(&clicks, WINDOW, &clicked).await
        });
    }
    let counted: u64 = join_all(set)
        .await
        .into_iter()
        .map(|result| result.expect("every batch is recorded"))
        .sum();
    let expected = u64::from(BATCHES * PER_BATCH) + 1;
    assert_eq!(counted, expected);
    assert_eq!(
        counts(&*storage, ada.id, T0 - Duration::days(30)).await,
        ClickCounts {
            total: expected,
            since: expected
        }
    );
}

/// A batch announces what it counted in its own transaction: one message per owner with
/// clicks counted, carrying that owner's count; an owner with none counted gets none.
pub async fn counted_clicks_are_announced_once_per_owner_per_batch(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let bob = register(storage, "bob", T0).await.user;
    // What the registrations queued is claimed first, so only the batch's messages remain.
    drain_outbox(storage).await;
    record(storage, &[click(bob.id, 9, T0)]).await;
    drain_outbox(storage).await;
    let counted = record(
        storage,
        &[
            click(ada.id, 1, T0),
            click(ada.id, 2, T0),
            click(ada.id, 1, at(Duration::hours(1))),
            // Held back: bob's visitor 9 was counted in the window.
            click(bob.id, 9, at(Duration::hours(2))),
        ],
    )
    .await;
    assert_eq!(counted, 2);
    let announced = claim(storage, at(Duration::hours(3)), Duration::minutes(5), 100).await;
    assert_eq!(
        announced.len(),
        1,
        "one message, for ada only: {announced:?}"
    );
    assert_eq!(announced[0].user_id, Some(ada.id));
    assert!(
        announced[0].payload.contains(r#""clicks":2"#),
        "the message carries the count: {}",
        announced[0].payload
    );
}

/// Claims and completes whatever the outbox holds.
async fn drain_outbox(storage: &dyn Storage) {
    loop {
        let now = at(Duration::hours(3));
        let claimed = claim(storage, now, Duration::minutes(5), 100).await;
        if claimed.is_empty() {
            return;
        }
        for message in claimed {
            storage
                .complete_outbox(message.id, now)
                .await
                .expect("completing a message");
        }
    }
}
