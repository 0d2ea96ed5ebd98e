//! The reward lifecycle: pending and approved sums kept apart, transitions applied once and
//! only where the lifecycle allows, the ledger listing, and conversions recorded once.

use time::Duration;
use uuid::Uuid;

use crate::rewards::{RewardApproval, RewardEntry, RewardKind, RewardStatus};
use crate::storage::{AuditEntry, ConversionRecord, ReferralRecord, RewardCursor, Storage};

use super::setup::*;

/// Pending entries count in the pending sum only, and the referral shows approved points.
pub async fn pending_rewards_count_apart_from_approved_ones(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    let referee = register_referred(
        storage,
        "referee",
        &referrer,
        at(Duration::seconds(1)),
        held(100, RewardApproval::OnConversion),
    )
    .await
    .user;
    let counts = stats(storage, referrer.id, T0).await;
    assert_eq!((counts.total, counts.reward_points), (1, 0));
    assert_eq!(counts.pending_reward_points, 100);
    let listed = storage.list_referrals(referrer.id, None, 10).await.unwrap();
    assert_eq!(
        listed,
        vec![ReferralRecord {
            user_id: referee.id,
            email: Some(referee.email.clone()),
            joined_at: at(Duration::seconds(1)),
            reward_points: 0,
        }]
    );
    let rewards = storage.list_rewards(referrer.id, None, 10).await.unwrap();
    assert_eq!(rewards.len(), 1);
    assert_eq!(rewards[0].status, RewardStatus::Pending);
    assert_eq!(rewards[0].referral_user, Some(referee.id));
    assert_eq!(rewards[0].kind, RewardKind::Referrer);
}

/// Approving moves the points into the total and the referral; revoking takes them out.
pub async fn approving_and_revoking_move_the_points(storage: &dyn Storage) {
    let (referrer, entry) = referrer_with_pending(storage, RewardApproval::Review).await;
    let now = at(Duration::minutes(1));
    let approved = storage
        .transition_reward(approve(&entry, now))
        .await
        .unwrap()
        .expect("a pending reward is approved");
    assert_eq!(approved.status, RewardStatus::Approved);
    assert_eq!(approved.updated_at, now);
    let counts = stats(storage, referrer.id, T0).await;
    assert_eq!(
        (counts.reward_points, counts.pending_reward_points),
        (100, 0)
    );
    assert_eq!(
        storage.list_referrals(referrer.id, None, 1).await.unwrap()[0].reward_points,
        100
    );
    let later = at(Duration::minutes(2));
    let revoked = storage
        .transition_reward(revoke(&approved, later, "chargeback"))
        .await
        .unwrap()
        .expect("an approved reward is revoked");
    assert_eq!(revoked.reason.as_deref(), Some("chargeback"));
    let counts = stats(storage, referrer.id, T0).await;
    assert_eq!((counts.reward_points, counts.pending_reward_points), (0, 0));
    assert_eq!(
        storage.list_referrals(referrer.id, None, 1).await.unwrap()[0].reward_points,
        0
    );
}

/// A transition applies only while the reward still has the status it names, and never one
/// the lifecycle forbids (revoked is final).
pub async fn a_reward_leaves_a_status_only_once(storage: &dyn Storage) {
    let (referrer, entry) = referrer_with_pending(storage, RewardApproval::Review).await;
    let now = at(Duration::minutes(1));
    assert!(storage
        .transition_reward(approve(&entry, now))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        storage
            .transition_reward(approve(&entry, now))
            .await
            .unwrap(),
        None,
        "already approved"
    );
    let revoked = storage
        .transition_reward(revoke(
            &RewardEntry {
                status: RewardStatus::Approved,
                ..entry.clone()
            },
            now,
            "fraud",
        ))
        .await
        .unwrap()
        .expect("revoked");
    let mut back = approve(&revoked, now);
    back.from = RewardStatus::Revoked;
    assert_eq!(storage.transition_reward(back).await.unwrap(), None);
    assert_eq!(
        storage.reward(entry.id).await.unwrap().unwrap().status,
        RewardStatus::Revoked
    );
    assert_eq!(stats(storage, referrer.id, T0).await.reward_points, 0);
    let mut ghost = approve(&entry, now);
    ghost.reward = Uuid::now_v7();
    assert_eq!(storage.transition_reward(ghost).await.unwrap(), None);
}

/// A user's rewards are listed newest first, and the cursor continues without gaps.
pub async fn rewards_are_listed_newest_first_and_the_cursor_continues(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    for i in 0..5 {
        register_referred(
            storage,
            &format!("referee{i}"),
            &referrer,
            at(Duration::seconds(i)),
            points(100, 0, 0),
        )
        .await;
    }
    let all = storage.list_rewards(referrer.id, None, 10).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all
        .windows(2)
        .all(|pair| (pair[0].created_at, pair[0].id) > (pair[1].created_at, pair[1].id)));
    let first = storage.list_rewards(referrer.id, None, 2).await.unwrap();
    let last = &first[1];
    let rest = storage
        .list_rewards(
            referrer.id,
            Some(RewardCursor {
                created_at: last.created_at,
                id: last.id,
            }),
            10,
        )
        .await
        .unwrap();
    assert_eq!([first, rest].concat(), all);
    let stranger = register(storage, "stranger", T0).await.user;
    assert!(storage
        .list_rewards(stranger.id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Every user's rewards of one status are listed newest first, the cursor continues without
/// gaps, and other statuses stay out.
pub async fn rewards_of_one_status_are_listed_across_users_newest_first(storage: &dyn Storage) {
    let alice = register(storage, "alice", T0).await.user;
    let bob = register(storage, "bob", T0).await.user;
    let mut held_ids = Vec::new();
    for i in 0..4 {
        let referrer = if i % 2 == 0 { &alice } else { &bob };
        let new = register_referred(
            storage,
            &format!("held{i}"),
            referrer,
            at(Duration::seconds(i)),
            held(100, RewardApproval::Review),
        )
        .await;
        held_ids.extend(
            new.referral
                .into_iter()
                .flat_map(|r| r.rewards)
                .map(|e| e.id),
        );
    }
    register_referred(
        storage,
        "paid",
        &alice,
        at(Duration::seconds(10)),
        points(100, 0, 0),
    )
    .await;
    let pending = storage
        .rewards_with_status(RewardStatus::Pending, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|e| e.status == RewardStatus::Pending));
    held_ids.reverse();
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), held_ids);
    let first = storage
        .rewards_with_status(RewardStatus::Pending, None, 3)
        .await
        .unwrap();
    let last = &first[2];
    let rest = storage
        .rewards_with_status(
            RewardStatus::Pending,
            Some(RewardCursor {
                created_at: last.created_at,
                id: last.id,
            }),
            3,
        )
        .await
        .unwrap();
    assert_eq!([first, rest].concat(), pending);
    let approved = storage
        .rewards_with_status(RewardStatus::Approved, None, 10)
        .await
        .unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].beneficiary, alice.id);
    assert!(storage
        .rewards_with_status(RewardStatus::Revoked, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A transition carrying an audit entry writes it with the change; one that does not apply
/// writes no entry.
pub async fn a_decided_transition_writes_its_audit_entry_with_it(storage: &dyn Storage) {
    let (referrer, entry) = referrer_with_pending(storage, RewardApproval::Review).await;
    let now = at(Duration::minutes(1));
    let audited = |transition: crate::rewards::RewardTransition| {
        let audit = AuditEntry {
            id: Uuid::now_v7(),
            actor_id: Some(referrer.id),
            action: "reward.approved".to_owned(),
            target_id: Some(entry.beneficiary),
            details: serde_json::json!({ "reward_id": entry.id }),
            at: now,
        };
        (
            crate::rewards::RewardTransition {
                audit: Some(audit.clone()),
                ..transition
            },
            audit,
        )
    };
    let (first, audit) = audited(approve(&entry, now));
    assert!(storage.transition_reward(first).await.unwrap().is_some());
    assert_eq!(storage.audit_log(None, 10).await.unwrap(), vec![audit]);
    let (again, _) = audited(approve(&entry, now));
    assert_eq!(storage.transition_reward(again).await.unwrap(), None);
    assert_eq!(storage.audit_log(None, 10).await.unwrap().len(), 1);
}

/// A conversion is recorded once per (user, kind, external id): again, nothing is written.
pub async fn a_conversion_is_recorded_once_per_external_id(storage: &dyn Storage) {
    let (referrer, entry) = referrer_with_pending(storage, RewardApproval::OnConversion).await;
    let referee = entry.referral_user.expect("a referral reward");
    let now = at(Duration::minutes(1));
    let grant = conversion_reward(referrer.id, referee, 25, now);
    let first = storage
        .record_conversion(
            conversion(referee, "order-1", now),
            vec![approve(&entry, now)],
            vec![grant.clone()],
            Vec::new(),
            None,
        )
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(first.len(), 2);
    let again = storage
        .record_conversion(
            conversion(referee, "order-1", now),
            Vec::new(),
            vec![conversion_reward(referrer.id, referee, 25, now)],
            Vec::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(stats(storage, referrer.id, T0).await.reward_points, 125);
    assert_eq!(
        storage.list_referrals(referrer.id, None, 1).await.unwrap()[0].reward_points,
        125
    );
    let other = storage
        .record_conversion(
            conversion(referee, "order-2", now),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        other,
        Some(Vec::new()),
        "another external id is another conversion"
    );
}

/// A conversion for a user that does not exist fails and writes nothing.
pub async fn a_conversion_for_an_unknown_user_writes_nothing(storage: &dyn Storage) {
    let ghost = Uuid::now_v7();
    let now = at(Duration::minutes(1));
    assert!(storage
        .record_conversion(
            conversion(ghost, "order-1", now),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            None
        )
        .await
        .is_err());
    let ada = register(storage, "ada", T0).await.user;
    assert!(storage
        .record_conversion(
            conversion(ada.id, "order-1", now),
            Vec::new(),
            vec![conversion_reward(ghost, ada.id, 5, now)],
            Vec::new(),
            None,
        )
        .await
        .is_err());
    assert_eq!(
        storage
            .record_conversion(
                conversion(ada.id, "order-1", now),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                None
            )
            .await
            .unwrap(),
        Some(Vec::new()),
        "the failed recording left nothing behind"
    );
}

fn conversion(user: Uuid, external_id: &str, at: time::OffsetDateTime) -> ConversionRecord {
    ConversionRecord {
        id: Uuid::now_v7(),
        user_id: user,
        kind: "purchase".to_owned(),
        external_id: external_id.to_owned(),
        value: 4200,
        recorded_at: at,
    }
}

fn conversion_reward(
    beneficiary: Uuid,
    referee: Uuid,
    points: i64,
    at: time::OffsetDateTime,
) -> RewardEntry {
    RewardEntry {
        id: Uuid::now_v7(),
        beneficiary,
        referral_user: Some(referee),
        kind: RewardKind::Conversion,
        points,
        status: RewardStatus::Approved,
        approval: RewardApproval::OnSignup,
        flags: Vec::new(),
        reason: None,
        created_at: at,
        updated_at: at,
    }
}

/// An added entry counts by its status with its message and audit entry; for a user that
/// does not exist nothing is written.
pub async fn an_added_reward_counts_with_its_message_and_audit_entry(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let now = at(Duration::minutes(1));
    let entry = |user: Uuid, points: i64| RewardEntry {
        id: Uuid::now_v7(),
        beneficiary: user,
        referral_user: None,
        kind: RewardKind::Adjustment,
        points,
        status: RewardStatus::Approved,
        approval: RewardApproval::OnSignup,
        flags: Vec::new(),
        reason: Some("goodwill".to_owned()),
        created_at: now,
        updated_at: now,
    };
    let audit = |user: Uuid| AuditEntry {
        id: Uuid::now_v7(),
        actor_id: None,
        action: "reward.adjusted".to_owned(),
        target_id: Some(user),
        details: serde_json::json!({}),
        at: now,
    };
    let queued = storage.pending_outbox().await.unwrap();
    let ghost = Uuid::now_v7();
    assert!(!storage
        .add_reward(entry(ghost, 5), vec![mail(&ada.email, now)], audit(ghost))
        .await
        .unwrap());
    assert!(storage.audit_log(None, 10).await.unwrap().is_empty());
    assert_eq!(storage.pending_outbox().await.unwrap(), queued);
    let plus = entry(ada.id, 50);
    let written = audit(ada.id);
    assert!(storage
        .add_reward(plus.clone(), vec![mail(&ada.email, now)], written.clone())
        .await
        .unwrap());
    assert!(storage
        .add_reward(entry(ada.id, -80), Vec::new(), audit(ada.id))
        .await
        .unwrap());
    assert_eq!(stats(storage, ada.id, T0).await.reward_points, -30);
    assert_eq!(storage.reward(plus.id).await.unwrap(), Some(plus));
    assert_eq!(storage.pending_outbox().await.unwrap(), queued + 1);
    assert_eq!(storage.audit_log(None, 10).await.unwrap().len(), 2);
    assert!(storage
        .audit_log(None, 10)
        .await
        .unwrap()
        .contains(&written));
}
