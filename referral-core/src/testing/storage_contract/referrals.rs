//! Referral statistics (counters that cost the same at any size) and the cursor listing.

use time::Duration;
use uuid::Uuid;

use crate::storage::{ReferralCounts, ReferralCursor, ReferralRecord, Storage};

use super::setup::*;

/// Stats count direct referrals, referrals of referrals, and sum every ledger entry.
pub async fn stats_count_second_tier_and_sum_rewards(storage: &dyn Storage) {
    let policy = points(100, 7, 3);
    let root = register(storage, "root", T0).await.user;
    let mut children = Vec::new();
    for i in 0..3 {
        let child = register_referred(
            storage,
            &format!("child{i}"),
            &root,
            at(Duration::seconds(i)),
            policy,
        )
        .await
        .user;
        children.push(child);
    }
    for (i, child) in children.iter().enumerate().take(2) {
        for j in 0..2 {
            register_referred(
                storage,
                &format!("grandchild{i}{j}"),
                child,
                at(Duration::minutes(1)),
                policy,
            )
            .await;
        }
    }
    let since = T0 - Duration::days(30);
    assert_eq!(
        stats(storage, root.id, since).await,
        ReferralCounts {
            total: 3,
            since: 3,
            second_tier: 4,
            reward_points: 3 * 100 + 4 * 3,
            pending_reward_points: 0,
        }
    );
    assert_eq!(
        stats(storage, children[0].id, since).await,
        ReferralCounts {
            total: 2,
            since: 2,
            second_tier: 0,
            reward_points: 7 + 2 * 100,
            pending_reward_points: 0,
        }
    );
    assert_eq!(
        stats(storage, children[2].id, since).await,
        ReferralCounts {
            total: 0,
            since: 0,
            second_tier: 0,
            reward_points: 7,
            pending_reward_points: 0,
        }
    );
}

/// `since` counts referrals joined at or after the instant, whatever the time of day or
/// the minute of the hour (storages may bucket by day and hour; the count stays exact).
pub async fn stats_count_referrals_joined_at_or_after_since(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0 - Duration::days(60))
        .await
        .user;
    let window = Duration::days(30);
    let micro = Duration::microseconds(1);
    // T0 is noon: T0 - 30 days falls in the middle of a day; these straddle it and midnight.
    let offsets = [
        -Duration::days(45),
        -window - Duration::hours(12), // the boundary day's midnight
        -window - micro,
        -window,
        -window + micro,
        -window - Duration::hours(3),
        -window - Duration::minutes(61),
        -window - Duration::minutes(59),
        -window + Duration::minutes(30),
        -window + Duration::hours(1) - micro, // the boundary hour's last microsecond
        -window + Duration::hours(1),
        -window + Duration::minutes(301),
        -window + Duration::hours(12) - micro, // the boundary day's last microsecond
        -window + Duration::hours(12),         // the next midnight
        -Duration::days(29),
        -Duration::days(1),
        Duration::ZERO,
        Duration::hours(1),
    ];
    let mut joined = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let when = at(*offset);
        register_referred(
            storage,
            &format!("referee{i}"),
            &referrer,
            when,
            points(1, 0, 0),
        )
        .await;
        joined.push(when);
    }
    let sinces = [
        T0 - window,
        T0 - window - Duration::hours(12),
        T0 - window + Duration::hours(12),
        T0 - window + micro,
        T0 - window - micro,
        T0 - window + Duration::minutes(25),
        T0 - window + Duration::minutes(30),
        T0 - window - Duration::minutes(113),
        T0 - window + Duration::minutes(299),
        T0 - window + Duration::hours(1),
        T0 - Duration::days(100),
        T0 - Duration::hours(1),
        T0 + Duration::days(1),
    ];
    for since in sinces {
        let expected = joined.iter().filter(|when| **when >= since).count() as u64;
        let counts = stats(storage, referrer.id, since).await;
        assert_eq!(
            counts.since, expected,
            "referrals joined at or after {since}"
        );
        assert_eq!(counts.total, offsets.len() as u64);
    }
}

/// A user nobody signed up with, and an unknown id, have all-zero stats.
pub async fn stats_of_a_user_without_referrals_are_zero(storage: &dyn Storage) {
    let lonely = register(storage, "lonely", T0).await.user;
    assert_eq!(
        stats(storage, lonely.id, T0 - Duration::days(30)).await,
        ReferralCounts::default()
    );
    assert_eq!(
        stats(storage, Uuid::now_v7(), T0).await,
        ReferralCounts::default()
    );
}

/// Pages come newest first (ties by user id, descending), and following each page's last
/// row as the cursor visits every referral exactly once.
pub async fn listing_is_newest_first_and_the_cursor_continues_without_gaps(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    let seconds = [5, 1, 3, 3, 2, 5, 4, 3];
    let mut expected = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        let joined = at(Duration::seconds(*s));
        let policy = points(10 * (i as i64 + 1), 0, 0);
        let referee = register_referred(storage, &format!("referee{i}"), &referrer, joined, policy)
            .await
            .user;
        expected.push(ReferralRecord {
            user_id: referee.id,
            email: Some(referee.email),
            joined_at: joined,
            reward_points: policy.referrer,
        });
    }
    expected.sort_by_key(|r| std::cmp::Reverse((r.joined_at, r.user_id)));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = storage
            .list_referrals(referrer.id, cursor, 3)
            .await
            .unwrap();
        assert!(page.len() <= 3, "a page holds at most `limit` rows");
        let Some(last) = page.last() else { break };
        cursor = Some(ReferralCursor {
            joined_at: last.joined_at,
            user_id: last.user_id,
        });
        let full = page.len() == 3;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(seen, expected);
    let after_last = ReferralCursor {
        joined_at: expected[expected.len() - 1].joined_at,
        user_id: expected[expected.len() - 1].user_id,
    };
    assert!(storage
        .list_referrals(referrer.id, Some(after_last), 3)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        storage
            .list_referrals(referrer.id, None, 100)
            .await
            .unwrap(),
        expected
    );
}

/// A referrer's list holds their direct referrals only: neither second-tier referrals nor
/// anyone else's.
pub async fn listing_shows_only_the_referrers_own_referrals(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    let other = register(storage, "other", T0).await.user;
    let direct = register_referred(
        storage,
        "direct",
        &referrer,
        at(Duration::seconds(1)),
        points(100, 0, 0),
    )
    .await
    .user;
    register_referred(
        storage,
        "second",
        &direct,
        at(Duration::seconds(2)),
        points(100, 0, 0),
    )
    .await;
    register_referred(
        storage,
        "theirs",
        &other,
        at(Duration::seconds(3)),
        points(100, 0, 0),
    )
    .await;
    let list = storage.list_referrals(referrer.id, None, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|r| r.user_id).collect::<Vec<_>>(),
        vec![direct.id]
    );
    assert!(storage
        .list_referrals(Uuid::now_v7(), None, 10)
        .await
        .unwrap()
        .is_empty());
}
