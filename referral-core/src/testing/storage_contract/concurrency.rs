//! Races: what concurrent calls must leave behind, whatever order they run in. Cases take
//! `Arc<dyn Storage>` and spawn tasks (run them on a multi-threaded runtime).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::password::PasswordHash;
use crate::storage::{OutboxMessage, ReferralCounts, Rotation, Storage, StorageError};
use crate::testing::fixtures::{referred_registration, refresh_token, registration};

use super::setup::*;

/// 50 parallel sign-ups with one referrer: 50 referrals, counters and ledger sums to match.
pub async fn concurrent_registrations_with_one_referrer_are_all_counted(storage: Arc<dyn Storage>) {
    const SIGN_UPS: i64 = 50;
    let policy = points(100, 7, 3);
    let grand = register(&*storage, "grand", T0 - Duration::days(3))
        .await
        .user;
    let referrer = register_referred(
        &*storage,
        "referrer",
        &grand,
        T0 - Duration::days(3),
        policy,
    )
    .await
    .user;
    let mut set = JoinSet::new();
    for i in 0..SIGN_UPS {
        let storage = Arc::clone(&storage);
        // Two calendar days, so per-day counters are raced on as well.
        let joined = at(Duration::microseconds(i) - Duration::days(i % 2));
        let new = referred_registration(user(&format!("racer{i}"), joined), &referrer, policy);
        set.spawn(async move {
            let id = new.user.id;
            storage.create_user(new).await.map(|()| id)
        });
    }
    let registered: HashSet<Uuid> = join_all(set)
        .await
        .into_iter()
        .map(|result| result.expect("every parallel registration succeeds"))
        .collect();
    let since = T0 - Duration::days(2);
    assert_eq!(
        stats(&*storage, referrer.id, since).await,
        ReferralCounts {
            total: SIGN_UPS as u64,
            since: SIGN_UPS as u64,
            second_tier: 0,
            reward_points: SIGN_UPS * 100 + 7,
            pending_reward_points: 0,
        }
    );
    assert_eq!(
        stats(&*storage, grand.id, since).await,
        ReferralCounts {
            total: 1,
            since: 0,
            second_tier: SIGN_UPS as u64,
            reward_points: 100 + SIGN_UPS * 3,
            pending_reward_points: 0,
        }
    );
    let listed = storage
        .list_referrals(referrer.id, None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), SIGN_UPS as usize);
    assert_eq!(
        listed.iter().map(|r| r.user_id).collect::<HashSet<_>>(),
        registered
    );
    assert!(listed.iter().all(|r| r.reward_points == 100));
    for id in registered {
        assert_eq!(stats(&*storage, id, since).await.reward_points, 7);
    }
}

/// 20 parallel sign-ups with one email: exactly one succeeds, 19 get `EmailTaken`.
pub async fn concurrent_registrations_of_one_email_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let mut set = JoinSet::new();
    for i in 0..20 {
        let storage = Arc::clone(&storage);
        let new = registration(user("contested", at(Duration::microseconds(i))));
        set.spawn(async move {
            let id = new.user.id;
            (id, storage.create_user(new).await)
        });
    }
    let results = join_all(set).await;
    let winners: Vec<Uuid> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one registration wins");
    for (_, result) in &results {
        assert!(
            matches!(result, Ok(()) | Err(StorageError::EmailTaken)),
            "losers get EmailTaken, got {result:?}"
        );
    }
    let stored = storage.user_by_email(&email("contested")).await.unwrap();
    assert_eq!(stored.map(|u| u.id), Some(winners[0]));
}

/// 8 parallel consumptions of one reset token: exactly one succeeds, and the token version
/// goes up exactly once.
pub async fn concurrent_consumptions_of_one_reset_token_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let owner = register(&*storage, "ada", T0).await.user;
    let token = reset_token(owner.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    let mut set = JoinSet::new();
    for i in 0..8 {
        let storage = Arc::clone(&storage);
        let hash = token.hash;
        set.spawn(async move {
            let new_hash = fake_hash(&format!("racer{i}"));
            let result = storage
                .consume_reset_token(&hash, &new_hash, now, Vec::new())
                .await;
            (new_hash, result.expect("consuming a reset token"))
        });
    }
    let results = join_all(set).await;
    let winners: Vec<&PasswordHash> = results
        .iter()
        .filter(|(_, r)| r.is_some())
        .map(|(h, _)| h)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one consumption wins");
    assert!(results
        .iter()
        .all(|(_, r)| r.is_none() || *r == Some(owner.id)));
    let stored = storage
        .user_by_id(owner.id)
        .await
        .unwrap()
        .expect("owner stored");
    assert_eq!(stored.token_version, 1);
    assert_eq!(&stored.password_hash, winners[0]);
}

/// Two parallel rotations of one refresh token: exactly one `Rotated`; the other sees the
/// token already rotated (`Reused`). Repeated to give races a chance.
pub async fn concurrent_rotations_of_one_refresh_token_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let owner = register(&*storage, "ada", T0).await.user;
    for round in 0..10 {
        let now = at(Duration::minutes(round));
        let login = refresh_token(owner.id, now);
        storage.insert_refresh_token(login.clone()).await.unwrap();
        let mut set = JoinSet::new();
        for _ in 0..2 {
            let storage = Arc::clone(&storage);
            let hash = login.hash;
            set.spawn(async move {
                storage
                    .rotate_refresh_token(&hash, replacement(now), now)
                    .await
                    .expect("rotating a refresh token")
            });
        }
        let mut outcomes = join_all(set).await;
        outcomes.sort_by_key(|o| matches!(o, Rotation::Reused(_)));
        assert_eq!(
            outcomes,
            vec![Rotation::Rotated(owner.clone()), Rotation::Reused(owner.id)],
            "round {round}"
        );
    }
}

/// Parallel reset tokens for one user leave exactly one live.
pub async fn concurrent_reset_requests_leave_one_live_token(storage: Arc<dyn Storage>) {
    let owner = register(&*storage, "ada", T0).await.user;
    let mut set = JoinSet::new();
    for i in 0..8 {
        let storage = Arc::clone(&storage);
        let token = reset_token(owner.id, at(Duration::microseconds(i)));
        set.spawn(async move {
            assert!(storage
                .create_reset_token(token.clone())
                .await
                .expect("creating a reset token"));
            token.hash
        });
    }
    let hashes = join_all(set).await;
    let now = at(Duration::minutes(1));
    let mut live = 0;
    for hash in &hashes {
        if storage.reset_token_user(hash, now).await.unwrap().is_some() {
            live += 1;
        }
    }
    assert_eq!(live, 1, "exactly one reset token stays live");
}

/// Parallel hits on a fresh key each get a count of their own: the counts returned are
/// exactly 1..=20, so of concurrent attempts against a limit exactly `limit` are allowed.
pub async fn concurrent_rate_limit_hits_get_distinct_counts(storage: Arc<dyn Storage>) {
    let window = Duration::minutes(15);
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let storage = Arc::clone(&storage);
        set.spawn(async move {
            storage
                .hit_rate_limit(&key("login:contested"), T0, window)
                .await
                .expect("hitting a rate limit")
                .count
        });
    }
    let mut counts = join_all(set).await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
    let next = storage
        .hit_rate_limit(&key("login:contested"), T0, window)
        .await
        .unwrap();
    assert_eq!(next.count, 21);
}

/// Parallel claimers never receive the same message, and together they claim every due one.
pub async fn concurrent_outbox_claims_never_hand_out_a_message_twice(storage: Arc<dyn Storage>) {
    let queued = queue_mail(&*storage, 12, T0).await;
    let lease = Duration::minutes(5);
    let mut set = JoinSet::new();
    for _ in 0..6 {
        let storage = Arc::clone(&storage);
        set.spawn(async move { claim(&*storage, T0, lease, 4).await });
    }
    let claimed: Vec<OutboxMessage> = join_all(set).await.into_iter().flatten().collect();
    assert_eq!(
        ids(&claimed),
        ids(&queued),
        "each message claimed exactly once"
    );
    assert!(claim(&*storage, T0, lease, 100).await.is_empty());
}

/// A login storing its refresh token while a reset of the same user commits: either the
/// login came first and the reset revoked its token, or it came after and stored nothing.
/// Either way no session of the old password survives. Repeated to give races a chance.
pub async fn a_login_racing_a_reset_never_outlives_it(storage: Arc<dyn Storage>) {
    for round in 0..10 {
        let owner = register(&*storage, &format!("ada{round}"), T0).await.user;
        let now = at(Duration::minutes(1));
        let login = refresh_token(owner.id, now);
        let storing = {
            let (storage, login) = (Arc::clone(&storage), login.clone());
            async move { storage.insert_refresh_token(login).await }
        };
        racing_a_reset(&storage, owner.id, fake_hash("new"), now, storing)
            .await
            .expect("storing a refresh token");
        assert_eq!(
            rotate(&*storage, &login.hash, now).await,
            Rotation::Invalid,
            "round {round}"
        );
    }
}

/// A rotation racing a reset of the same user either happens first (and the reset revokes
/// its replacement) or fails: no refresh token issued before the reset works after it.
pub async fn a_rotation_racing_a_reset_either_precedes_it_or_fails(storage: Arc<dyn Storage>) {
    for round in 0..10 {
        let new = register(&*storage, &format!("ada{round}"), T0).await;
        let now = at(Duration::minutes(1));
        let next = replacement(now);
        let rotating = {
            let (storage, next) = (Arc::clone(&storage), next.clone());
            let presented = new.refresh_token.hash;
            async move { storage.rotate_refresh_token(&presented, next, now).await }
        };
        let rotation = racing_a_reset(&storage, new.user.id, fake_hash("new"), now, rotating)
            .await
            .expect("rotating a refresh token");
        assert!(
            matches!(rotation, Rotation::Rotated(_) | Rotation::Invalid),
            "round {round}: {rotation:?}"
        );
        assert_eq!(
            rotate(&*storage, &next.hash, at(Duration::minutes(2))).await,
            Rotation::Invalid,
            "round {round}: the replacement does not outlive the reset"
        );
    }
}

/// A rehash at login racing a reset never undoes the reset: the password is the reset's.
pub async fn a_rehash_racing_a_reset_keeps_the_reset_password(storage: Arc<dyn Storage>) {
    for round in 0..10 {
        let new = register(&*storage, &format!("ada{round}"), T0).await;
        let now = at(Duration::minutes(1));
        let from_reset = fake_hash("from-reset");
        let rehashing = {
            let (storage, verified) = (Arc::clone(&storage), new.user.password_hash.clone());
            let user = new.user.id;
            async move {
                storage
                    .replace_password_hash(user, &verified, &fake_hash("rehashed"))
                    .await
            }
        };
        racing_a_reset(&storage, new.user.id, from_reset.clone(), now, rehashing)
            .await
            .expect("replacing a password hash");
        let stored = storage.user_by_id(new.user.id).await.unwrap();
        assert_eq!(
            stored.map(|u| u.password_hash),
            Some(from_reset),
            "round {round}"
        );
    }
}

/// Runs `racer` on a task of its own while a reset of `user` to `new_hash` at `now` runs on
/// another; checks the reset went through and answers what `racer` did.
async fn racing_a_reset<T: Send + 'static>(
    storage: &Arc<dyn Storage>,
    user: Uuid,
    new_hash: PasswordHash,
    now: OffsetDateTime,
    racer: impl Future<Output = T> + Send + 'static,
) -> T {
    let token = reset_token(user, now);
    assert!(storage
        .create_reset_token(token.clone())
        .await
        .expect("creating a reset token"));
    let racing = tokio::spawn(racer);
    let resetting = {
        let storage = Arc::clone(storage);
        tokio::spawn(async move {
            storage
                .consume_reset_token(&token.hash, &new_hash, now, Vec::new())
                .await
        })
    };
    let reset = resetting
        .await
        .expect("the reset panicked")
        .expect("consuming a reset token");
    assert_eq!(reset, Some(user), "the reset went through");
    racing.await.expect("the racer panicked")
}

/// Ten concurrent approvals of one pending reward: exactly one applies, and the points are
/// counted once.
pub async fn concurrent_approvals_of_one_pending_reward_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let (referrer, entry) =
        referrer_with_pending(&*storage, crate::rewards::RewardApproval::Review).await;
    let mut set = JoinSet::new();
    for i in 0..10 {
        let storage = Arc::clone(&storage);
        let transition = approve(&entry, at(Duration::seconds(10 + i)));
        set.spawn(async move { storage.transition_reward(transition).await });
    }
    let winners = join_all(set)
        .await
        .into_iter()
        .map(|result| result.expect("a transition answers"))
        .filter(Option::is_some)
        .count();
    assert_eq!(winners, 1);
    let counts = stats(&*storage, referrer.id, T0).await;
    assert_eq!(
        (counts.reward_points, counts.pending_reward_points),
        (100, 0)
    );
    assert_eq!(pending(&*storage).await, 1, "one approval event");
}

/// Ten concurrent recordings of one conversion: exactly one is recorded; its approval and
/// grant are written once.
pub async fn concurrent_recordings_of_one_conversion_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let (referrer, entry) =
        referrer_with_pending(&*storage, crate::rewards::RewardApproval::OnConversion).await;
    let referee = entry.referral_user.expect("a referral reward");
    let mut set = JoinSet::new();
    for _ in 0..10 {
        let storage = Arc::clone(&storage);
        let now = at(Duration::minutes(1));
        let conversion = crate::storage::ConversionRecord {
            id: Uuid::now_v7(),
            user_id: referee,
            kind: "purchase".to_owned(),
            external_id: "order-1".to_owned(),
            value: 1,
            recorded_at: now,
        };
        let approval = approve(&entry, now);
        set.spawn(async move {
            storage
                .record_conversion(conversion, vec![approval], Vec::new(), Vec::new(), None)
                .await
        });
    }
    let recorded = join_all(set)
        .await
        .into_iter()
        .map(|result| result.expect("a recording answers"))
        .filter(Option::is_some)
        .count();
    assert_eq!(recorded, 1);
    let counts = stats(&*storage, referrer.id, T0).await;
    assert_eq!(
        (counts.reward_points, counts.pending_reward_points),
        (100, 0)
    );
}

/// A conversion approving a pending reward races an admin revoking it: exactly one of the
/// two changes the reward, and the sums match the status it ends in.
pub async fn a_conversion_racing_an_admin_revocation_applies_one_of_them(
    storage: Arc<dyn Storage>,
) {
    let (referrer, entry) =
        referrer_with_pending(&*storage, crate::rewards::RewardApproval::OnConversion).await;
    let referee = entry.referral_user.expect("a referral reward");
    let now = at(Duration::minutes(1));
    let approving = {
        let storage = Arc::clone(&storage);
        let conversion = crate::storage::ConversionRecord {
            id: Uuid::now_v7(),
            user_id: referee,
            kind: "purchase".to_owned(),
            external_id: "order-1".to_owned(),
            value: 1,
            recorded_at: now,
        };
        let approval = approve(&entry, now);
        tokio::spawn(async move {
            storage
                .record_conversion(conversion, vec![approval], Vec::new(), Vec::new(), None)
                .await
        })
    };
    let revoking = {
        let storage = Arc::clone(&storage);
        let revocation = revoke(&entry, now, "fraud");
        tokio::spawn(async move { storage.transition_reward(revocation).await })
    };
    let approved = approving
        .await
        .expect("no panic")
        .expect("recorded")
        .expect("a new conversion")
        .len();
    let revoked = revoking
        .await
        .expect("no panic")
        .expect("answers")
        .is_some();
    assert_eq!(approved + usize::from(revoked), 1);
    let status = storage.reward(entry.id).await.unwrap().unwrap().status;
    let counts = stats(&*storage, referrer.id, T0).await;
    match status {
        crate::rewards::RewardStatus::Approved => {
            assert_eq!(
                (counts.reward_points, counts.pending_reward_points),
                (100, 0)
            )
        }
        crate::rewards::RewardStatus::Revoked => {
            assert_eq!((counts.reward_points, counts.pending_reward_points), (0, 0))
        }
        other => panic!("the reward is still {other:?}"),
    }
}
