//! Pruning: what housekeeping deletes, and what it must keep for every other rule to hold.

use time::Duration;

use crate::storage::{PruneReport, RefreshTokenRecord, ResetTokenRecord, Rotation, Storage};
use crate::testing::fixtures::refresh_token;

use super::setup::*;

/// Pruning deletes what no rule needs any more — rate-limit windows ended at `now`, refresh
/// tokens expired or revoked, reset tokens expired, used or superseded, dead letters that
/// died before their cutoff — and keeps open windows, live refresh tokens, used ones not yet
/// expired (so presenting one again is still caught as reuse), the live reset token, and
/// dead letters that died later.
pub async fn pruning_deletes_ended_windows_and_dead_tokens_only(storage: &dyn Storage) {
    let now = at(Duration::hours(1));
    let cutoff = at(Duration::seconds(30));

    storage
        .hit_rate_limit(&key("ended"), T0, Duration::hours(1))
        .await
        .unwrap();
    storage
        .hit_rate_limit(&key("open"), T0, Duration::hours(2))
        .await
        .unwrap();

    let ada = register(storage, "ada", T0).await;
    let next = replacement(T0);
    let rotated = storage
        .rotate_refresh_token(&ada.refresh_token.hash, next.clone(), T0)
        .await
        .unwrap();
    assert!(matches!(rotated, Rotation::Rotated(_)));
    let expired = RefreshTokenRecord {
        expires_at: now,
        ..refresh_token(ada.user.id, T0)
    };
    assert!(storage.insert_refresh_token(expired).await.unwrap());
    let revoked = refresh_token(ada.user.id, T0);
    assert!(storage.insert_refresh_token(revoked.clone()).await.unwrap());
    storage
        .revoke_refresh_token(&revoked.hash, T0)
        .await
        .unwrap();

    // Grace's reset revokes her registration's refresh token too.
    let grace = register(storage, "grace", T0).await.user;
    reset_password(storage, grace.id, &fake_hash("new"), T0).await;
    let superseded = reset_token(grace.id, at(Duration::seconds(1)));
    assert!(storage.create_reset_token(superseded).await.unwrap());
    let live = ResetTokenRecord {
        expires_at: now + Duration::hours(1),
        ..reset_token(grace.id, at(Duration::seconds(2)))
    };
    assert!(storage.create_reset_token(live.clone()).await.unwrap());
    let linus = register(storage, "linus", T0).await.user;
    assert!(storage
        .create_reset_token(reset_token(linus.id, T0))
        .await
        .unwrap());

    queue_mail(storage, 4, T0).await;
    let claimed = claim(storage, T0, Duration::minutes(5), 3).await;
    storage
        .dead_letter_outbox(claimed[0].id, at(Duration::seconds(10)), "gave up")
        .await
        .unwrap();
    storage
        .dead_letter_outbox(claimed[1].id, at(Duration::minutes(50)), "gave up")
        .await
        .unwrap();
    storage
        .complete_outbox(claimed[2].id, at(Duration::seconds(20)))
        .await
        .unwrap();

    assert_eq!(
        storage.prune(now, cutoff, cutoff).await.unwrap(),
        PruneReport {
            rate_limits: 1,
            refresh_tokens: 3,
            reset_tokens: 3,
            outbox: 2,
            referral_hours: 0,
        }
    );
    assert_eq!(
        storage.prune(now, cutoff, cutoff).await.unwrap(),
        PruneReport::default(),
        "pruning again finds nothing"
    );

    let open = storage
        .hit_rate_limit(&key("open"), now, Duration::hours(2))
        .await
        .unwrap();
    assert_eq!((open.count, open.started_at), (2, T0));
    let reopened = storage
        .hit_rate_limit(&key("ended"), now, Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((reopened.count, reopened.started_at), (1, now));
    assert_eq!(
        storage.reset_token_user(&live.hash, now).await.unwrap(),
        storage.user_by_id(grace.id).await.unwrap()
    );
    let letters = storage.dead_letters(None, 10).await.unwrap();
    assert_eq!(
        letters.iter().map(|l| l.message.id).collect::<Vec<_>>(),
        vec![claimed[1].id]
    );
    assert_eq!(pending(storage).await, 1);
    assert!(matches!(
        rotate(storage, &next.hash, now).await,
        Rotation::Rotated(_)
    ));
    assert_eq!(
        rotate(storage, &ada.refresh_token.hash, now).await,
        Rotation::Reused(ada.user.id),
        "a used token outlives pruning until it expires"
    );
}

/// Pruning deletes messages done before the cutoff and never a pending one.
pub async fn pruning_deletes_only_messages_done_before_the_cutoff(storage: &dyn Storage) {
    queue_mail(storage, 3, T0).await;
    let claimed = claim(storage, T0, Duration::minutes(5), 2).await;
    let (early, late) = (at(Duration::seconds(10)), at(Duration::seconds(20)));
    storage.complete_outbox(claimed[0].id, early).await.unwrap();
    storage.complete_outbox(claimed[1].id, late).await.unwrap();
    let prune = |done_before| async move {
        storage
            .prune(T0, done_before, T0)
            .await
            .expect("pruning")
            .outbox
    };
    assert_eq!(prune(early).await, 0, "done at the cutoff is kept");
    assert_eq!(prune(late).await, 1);
    assert_eq!(prune(at(Duration::days(365))).await, 1);
    assert_eq!(prune(at(Duration::days(365))).await, 0);
    assert_eq!(pending(storage).await, 1);
    assert_eq!(
        claim(storage, at(Duration::days(1)), Duration::minutes(5), 10)
            .await
            .len(),
        1
    );
}
