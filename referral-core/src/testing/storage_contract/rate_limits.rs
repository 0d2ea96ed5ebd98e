//! Rate-limit windows: counting, closing, clearing, refunds.

use time::Duration;

use crate::storage::Storage;

use super::setup::*;

/// Hits within a window count up from 1, keeping the window's start.
pub async fn rate_limit_hits_count_within_one_window(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    for (i, offset) in [0, 1, 60, 899].into_iter().enumerate() {
        let hit = storage
            .hit_rate_limit(&key("login:ada"), at(Duration::seconds(offset)), window)
            .await
            .unwrap();
        assert_eq!((hit.count, hit.started_at), (i as u32 + 1, T0));
    }
}

/// A window closes at `started_at + window`: the next hit opens a new one at that instant
/// with count 1.
pub async fn a_rate_limit_window_closes_at_its_end(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    storage.hit_rate_limit(&key("k"), T0, window).await.unwrap();
    let end = T0 + window;
    let last = end - Duration::microseconds(1);
    let hit = storage
        .hit_rate_limit(&key("k"), last, window)
        .await
        .unwrap();
    assert_eq!((hit.count, hit.started_at), (2, T0));
    let hit = storage
        .hit_rate_limit(&key("k"), end, window)
        .await
        .unwrap();
    assert_eq!((hit.count, hit.started_at), (1, end));
}

/// Clearing a key forgets its window; other keys keep counting.
pub async fn clearing_a_rate_limit_forgets_only_that_key(storage: &dyn Storage) {
    let window = Duration::hours(1);
    storage.hit_rate_limit(&key("a"), T0, window).await.unwrap();
    storage.hit_rate_limit(&key("b"), T0, window).await.unwrap();
    storage.clear_rate_limit(&key("a")).await.unwrap();
    storage.clear_rate_limit(&key("never-hit")).await.unwrap();
    assert_eq!(
        storage
            .hit_rate_limit(&key("a"), T0, window)
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        storage
            .hit_rate_limit(&key("b"), T0, window)
            .await
            .unwrap()
            .count,
        2
    );
}

/// A refund takes back one attempt of the window it was counted in, and none of a later one.
pub async fn a_refund_takes_back_one_attempt_of_its_own_window(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    storage.hit_rate_limit(&key("r"), T0, window).await.unwrap();
    let second = storage.hit_rate_limit(&key("r"), T0, window).await.unwrap();
    storage
        .refund_rate_limit(&key("r"), second.started_at)
        .await
        .unwrap();
    let third = storage.hit_rate_limit(&key("r"), T0, window).await.unwrap();
    assert_eq!(
        third.count, 2,
        "one of the two earlier attempts was refunded"
    );
    let later = T0 + window;
    storage
        .hit_rate_limit(&key("r"), later, window)
        .await
        .unwrap();
    storage.refund_rate_limit(&key("r"), T0).await.unwrap();
    let next = storage
        .hit_rate_limit(&key("r"), later, window)
        .await
        .unwrap();
    assert_eq!(
        (next.count, next.started_at),
        (2, later),
        "a refund for an ended window changes nothing"
    );
}

/// Refunds stop at zero: more refunds than hits leave the window at zero, and the next hit
/// counts 1.
pub async fn a_refund_never_takes_a_count_below_zero(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    let first = storage.hit_rate_limit(&key("z"), T0, window).await.unwrap();
    for _ in 0..3 {
        storage
            .refund_rate_limit(&key("z"), first.started_at)
            .await
            .unwrap();
    }
    storage
        .refund_rate_limit(&key("never-hit"), T0)
        .await
        .unwrap();
    let next = storage.hit_rate_limit(&key("z"), T0, window).await.unwrap();
    assert_eq!((next.count, next.started_at), (1, T0));
}
