//! The reward lifecycle: approval policies, admin status changes, conversions and the ledger
//! listing.

use referral_core::{
    Error, NewAccount, RateLimit, RewardApproval, RewardFlag, RewardKind, RewardPolicy,
    RewardStatus,
};
use time::Duration;
use uuid::Uuid;

use crate::harness::{at_once, Harness, PASSWORD};

fn policy(approval: RewardApproval) -> RewardPolicy {
    RewardPolicy {
        referrer: 100,
        conversion: 30,
        approval,
        ..RewardPolicy::default()
    }
}

/// A referrer and a referee signed up with their code.
async fn pair(h: &Harness) -> (Uuid, Uuid) {
    let referrer = h.register("ref@example.com").await;
    let referee = h
        .engine
        .register(
            NewAccount::new("new@example.com", PASSWORD)
                .referral_code(&referrer.user.referral_code),
        )
        .await
        .unwrap();
    (referrer.user.id, referee.user.id)
}

#[tokio::test]
async fn the_default_policy_approves_at_sign_up() {
    let h = Harness::new();
    let (referrer, _) = pair(&h).await;
    let me = h.storage_user(referrer).await;
    let page = h.engine.rewards(&me, 50, None).await.unwrap();
    assert_eq!(page.rewards.len(), 1);
    assert_eq!(page.rewards[0].status, RewardStatus::Approved);
    assert_eq!(page.rewards[0].kind, RewardKind::Referrer);
    assert_eq!(h.stats_of(referrer).await.total_reward_points, 100);
}

#[tokio::test]
async fn a_conversion_approves_held_rewards_and_grants_once_per_external_id() {
    let h = Harness::with(|c| c.reward_policy(policy(RewardApproval::OnConversion)));
    let (referrer, referee) = pair(&h).await;
    let stats = h.stats_of(referrer).await;
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (0, 100)
    );
    let outcome = h
        .engine
        .record_conversion(referee, "purchase", "order-1", 4200)
        .await
        .unwrap();
    assert!(outcome.recorded);
    assert_eq!(outcome.rewards.len(), 2);
    let again = h
        .engine
        .record_conversion(referee, "purchase", " order-1 ", 4200)
        .await
        .unwrap();
    assert!(!again.recorded);
    assert!(again.rewards.is_empty());
    let stats = h.stats_of(referrer).await;
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (130, 0)
    );
    h.engine
        .record_conversion(referee, "purchase", "order-2", 10)
        .await
        .unwrap();
    assert_eq!(h.stats_of(referrer).await.total_reward_points, 160);
    let me = h.storage_user(referrer).await;
    let page = h.engine.rewards(&me, 2, None).await.unwrap();
    assert_eq!(page.rewards[0].kind, RewardKind::Conversion);
    let rest = h
        .engine
        .rewards(&me, 2, page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(rest.rewards.len(), 1);
    assert_eq!(rest.rewards[0].kind, RewardKind::Referrer);
    assert_eq!(rest.next_cursor, None);
}

#[tokio::test]
async fn a_conversion_for_an_unknown_user_is_a_clear_error_and_writes_nothing() {
    let h = Harness::new();
    let ghost = Uuid::now_v7();
    assert!(matches!(
        h.engine
            .record_conversion(ghost, "purchase", "order-1", 1)
            .await,
        Err(Error::UnknownUser)
    ));
    let (_, referee) = pair(&h).await;
    for (kind, external) in [("", "order-1"), ("purchase", "  ")] {
        assert!(matches!(
            h.engine.record_conversion(referee, kind, external, 1).await,
            Err(Error::Validation(_))
        ));
    }
}

#[tokio::test]
async fn racing_conversions_approve_a_pending_reward_once() {
    let h = Harness::with(|c| c.reward_policy(policy(RewardApproval::OnConversion)));
    let (referrer, referee) = pair(&h).await;
    let engine = h.engine.clone();
    let outcomes = at_once(8, move |i| {
        let engine = engine.clone();
        async move {
            engine
                .record_conversion(referee, "purchase", &format!("order-{i}"), 1)
                .await
        }
    })
    .await;
    assert!(outcomes.iter().all(Result::is_ok));
    let stats = h.stats_of(referrer).await;
    assert_eq!(stats.pending_reward_points, 0);
    assert_eq!(stats.total_reward_points, 100 + 8 * 30);
}

#[tokio::test]
async fn an_admin_approves_or_revokes_and_nothing_else() {
    let h = Harness::with(|c| c.reward_policy(policy(RewardApproval::OnConversion)));
    let (referrer, _) = pair(&h).await;
    let me = h.storage_user(referrer).await;
    let reward = h.engine.rewards(&me, 1, None).await.unwrap().rewards[0].clone();
    let approved = h
        .engine
        .set_reward_status(reward.id, RewardStatus::Approved, None)
        .await
        .unwrap();
    assert_eq!(approved.status, RewardStatus::Approved);
    assert!(matches!(
        h.engine
            .set_reward_status(reward.id, RewardStatus::Approved, None)
            .await,
        Err(Error::InvalidTransition { .. })
    ));
    let revoked = h
        .engine
        .set_reward_status(reward.id, RewardStatus::Revoked, Some(" chargeback "))
        .await
        .unwrap();
    assert_eq!(revoked.reason.as_deref(), Some("chargeback"));
    assert_eq!(h.stats_of(referrer).await.total_reward_points, 0);
    for to in [
        RewardStatus::Approved,
        RewardStatus::Pending,
        RewardStatus::Revoked,
    ] {
        let err = h
            .engine
            .set_reward_status(reward.id, to, None)
            .await
            .unwrap_err();
        assert_eq!((err.status(), err.code()), (409, "invalid_transition"));
    }
    let err = h
        .engine
        .set_reward_status(Uuid::now_v7(), RewardStatus::Approved, None)
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (404, "not_found"));
}

#[tokio::test]
async fn a_self_referral_earns_nothing_and_keeps_its_flag() {
    let h = Harness::new();
    let referrer = h.register("jane.doe@gmail.com").await;
    h.engine
        .register(
            NewAccount::new("JaneDoe+second@googlemail.com", PASSWORD)
                .referral_code(&referrer.user.referral_code),
        )
        .await
        .unwrap();
    let stats = h.stats_of(referrer.user.id).await;
    assert_eq!(stats.total_referrals, 1);
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (0, 0)
    );
    let me = h.storage_user(referrer.user.id).await;
    let reward = h.engine.rewards(&me, 1, None).await.unwrap().rewards[0].clone();
    assert_eq!(reward.status, RewardStatus::Revoked);
    assert_eq!(reward.flags, vec![RewardFlag::SelfReferral]);
}

#[tokio::test]
async fn a_disposable_address_holds_the_reward_for_review_whatever_the_policy() {
    let h = Harness::new();
    let (referrer, _) = pair(&h).await;
    let code = h.storage_user(referrer).await.referral_code.to_string();
    h.engine
        .register(NewAccount::new("throwaway@mailinator.com", PASSWORD).referral_code(&code))
        .await
        .unwrap();
    let stats = h.stats_of(referrer).await;
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (100, 100)
    );
    let me = h.storage_user(referrer).await;
    let held = h.engine.rewards(&me, 1, None).await.unwrap().rewards[0].clone();
    assert_eq!(held.status, RewardStatus::Pending);
    assert_eq!(held.flags, vec![RewardFlag::DisposableEmail]);
    // Only an admin moves it: a conversion does not.
    let referee = held.referral_user_id.unwrap();
    h.engine
        .record_conversion(referee, "purchase", "order-1", 1)
        .await
        .unwrap();
    assert_eq!(h.stats_of(referrer).await.pending_reward_points, 100);
    h.engine
        .set_reward_status(held.id, RewardStatus::Approved, None)
        .await
        .unwrap();
    assert_eq!(h.stats_of(referrer).await.total_reward_points, 200);
}

#[tokio::test]
async fn sign_ups_past_the_velocity_limit_are_held_for_review() {
    let h = Harness::with(|c| {
        c.referral_velocity_limit(RateLimit {
            max: 2,
            window: Duration::hours(1),
        })
    });
    let referrer = h.register("ref@example.com").await;
    for i in 0..3 {
        h.engine
            .register(
                NewAccount::new(format!("new{i}@example.com"), PASSWORD)
                    .referral_code(&referrer.user.referral_code),
            )
            .await
            .unwrap();
    }
    let stats = h.stats_of(referrer.user.id).await;
    assert_eq!(
        (stats.total_reward_points, stats.pending_reward_points),
        (200, 100)
    );
    let me = h.storage_user(referrer.user.id).await;
    let newest = h.engine.rewards(&me, 1, None).await.unwrap().rewards[0].clone();
    assert_eq!(newest.flags, vec![RewardFlag::Velocity]);
    h.clock.advance(Duration::hours(1));
    h.engine
        .register(
            NewAccount::new("later@example.com", PASSWORD)
                .referral_code(&referrer.user.referral_code),
        )
        .await
        .unwrap();
    assert_eq!(h.stats_of(referrer.user.id).await.total_reward_points, 300);
}
