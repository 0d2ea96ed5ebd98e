//! Account self-service: a password change by its owner, metadata, and erasure.

use time::Duration;
use uuid::Uuid;

use crate::referral_code::ReferralCode;
use crate::storage::{
    audit_actions, AuditEntry, Erasure, MetadataUpdate, PasswordChange, ReferralRecord, Rotation,
    Storage, StorageError,
};
use crate::testing::fixtures::{refresh_token, registration};
use crate::user::UserRecord;

use super::access::register_admin;
use super::setup::*;

/// A password change by `owner` from `expected`, with a new session and one event.
fn password_change(owner: &UserRecord, expected: &str, new: &str) -> PasswordChange {
    let now = at(Duration::minutes(1));
    PasswordChange {
        user: owner.id,
        expected: fake_hash(expected),
        new_hash: fake_hash(new),
        // Placeholder version: storage stores it at the version the change sets.
        session: refresh_token(owner.id, now),
        now,
        outbox: vec![about(owner, "event", now)],
    }
}

/// A change sets the hash and bumps the token version, revokes every refresh token of the
/// user (other users keep theirs), stores the caller's new session at the new version, and
/// queues its event, in one step.
pub async fn changing_a_password_revokes_every_refresh_token_and_keeps_the_new_session(
    storage: &dyn Storage,
) {
    let owner = register(storage, "ada", T0).await;
    let bystander = register(storage, "grace", T0).await;
    let second_login = refresh_token(owner.user.id, T0);
    storage
        .insert_refresh_token(second_login.clone())
        .await
        .unwrap();
    let queued_before = storage.pending_outbox().await.unwrap();
    let change = password_change(&owner.user, "ada", "new");
    let session = change.session.hash;
    let expected = UserRecord {
        password_hash: fake_hash("new"),
        token_version: owner.user.token_version + 1,
        ..owner.user.clone()
    };
    assert_eq!(
        storage.change_password(change).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        storage.user_by_id(owner.user.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(storage.pending_outbox().await.unwrap(), queued_before + 1);
    let now = at(Duration::minutes(2));
    for revoked in [&owner.refresh_token.hash, &second_login.hash] {
        assert_eq!(rotate(storage, revoked, now).await, Rotation::Invalid);
    }
    assert_eq!(
        rotate(storage, &session, now).await,
        Rotation::Rotated(expected)
    );
    assert_eq!(
        rotate(storage, &bystander.refresh_token.hash, now).await,
        Rotation::Rotated(bystander.user.clone())
    );
}

/// A change from a hash that is no longer the user's (a reset landed meanwhile) writes
/// nothing, and neither does one for an unknown user.
pub async fn a_password_change_from_a_stale_hash_writes_nothing(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let queued_before = storage.pending_outbox().await.unwrap();
    let stale = password_change(&owner.user, "not-the-stored-one", "new");
    let stale_session = stale.session.hash;
    assert_eq!(storage.change_password(stale).await.unwrap(), None);
    let mut unknown = password_change(&owner.user, "ada", "new");
    unknown.user = Uuid::now_v7();
    assert_eq!(storage.change_password(unknown).await.unwrap(), None);
    assert_eq!(
        storage.user_by_id(owner.user.id).await.unwrap(),
        Some(owner.user.clone())
    );
    assert_eq!(storage.pending_outbox().await.unwrap(), queued_before);
    let now = at(Duration::minutes(2));
    assert_eq!(
        rotate(storage, &stale_session, now).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Rotated(owner.user)
    );
}

/// The erasure of `user` at `now`, with its audit entry and one event.
fn erasure(user: &UserRecord, now: time::OffsetDateTime) -> Erasure {
    Erasure {
        user: user.id,
        now,
        audit: AuditEntry {
            id: Uuid::now_v7(),
            actor_id: Some(user.id),
            action: audit_actions::ERASED.to_owned(),
            target_id: Some(user.id),
            details: serde_json::json!({}),
            at: now,
        },
        outbox: vec![about(user, "event", now)],
    }
}

/// An erased user is found by no lookup, yet the referral naming them stays: the
/// referrer's list shows them without an email and every total is unchanged; their email
/// can register again as a new account; erasing them again finds nobody.
pub async fn erasing_a_user_keeps_referrer_totals_and_history_and_frees_the_email(
    storage: &dyn Storage,
) {
    let referrer = register(storage, "referrer", T0).await.user;
    let joined = at(Duration::seconds(1));
    let referee = register_referred(storage, "referee", &referrer, joined, points(100, 5, 0))
        .await
        .user;
    let since = T0 - Duration::days(30);
    let counts_before = stats(storage, referrer.id, since).await;
    let now = at(Duration::minutes(1));
    assert!(storage.erase_user(erasure(&referee, now)).await.unwrap());

    assert_eq!(storage.user_by_id(referee.id).await.unwrap(), None);
    assert_eq!(storage.user_by_email(&referee.email).await.unwrap(), None);
    assert_eq!(
        storage
            .user_by_referral_code(&referee.referral_code)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.list_referrals(referrer.id, None, 10).await.unwrap(),
        vec![ReferralRecord {
            user_id: referee.id,
            email: None,
            joined_at: joined,
            reward_points: 100,
        }]
    );
    assert_eq!(stats(storage, referrer.id, since).await, counts_before);
    let rewards = storage.list_rewards(referrer.id, None, 10).await.unwrap();
    assert_eq!(rewards.len(), 1);
    assert_eq!(rewards[0].referral_user, Some(referee.id));
    assert!(storage
        .search_users(crate::storage::UserSearch {
            email_contains: Some("referee".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());

    assert!(!storage.erase_user(erasure(&referee, now)).await.unwrap());
    let again = user("referee", now);
    storage
        .create_user(registration(again.clone()))
        .await
        .expect("the erased user's email registers again");
    assert_eq!(
        storage.user_by_email(&referee.email).await.unwrap(),
        Some(again)
    );
}

/// An erased user's codes stay theirs for good: nobody can claim them, a new user's
/// generated code cannot be one of them, and they are named retired (a live user's code and
/// an unknown code are not).
pub async fn an_erased_users_codes_stay_unclaimable_and_sign_up_nobody(storage: &dyn Storage) {
    let gone = register(storage, "gone", T0).await.user;
    let vanity = ReferralCode::parse("Gone_Forever").unwrap();
    assert!(storage
        .claim_referral_code(gone.id, &vanity, T0)
        .await
        .unwrap());
    let other = register(storage, "other", T0).await.user;
    assert!(storage
        .erase_user(erasure(&gone, at(Duration::minutes(1))))
        .await
        .unwrap());

    for code in [&gone.referral_code, &vanity] {
        assert!(storage.referral_code_retired(code).await.unwrap());
        let lower = ReferralCode::parse(&code.as_str().to_lowercase()).unwrap();
        assert!(storage.referral_code_retired(&lower).await.unwrap());
        assert!(matches!(
            storage.claim_referral_code(other.id, code, T0).await,
            Err(StorageError::ReferralCodeTaken)
        ));
    }
    let mut copycat = user("copycat", T0);
    copycat.referral_code = gone.referral_code.clone();
    assert!(matches!(
        storage.create_user(registration(copycat)).await,
        Err(StorageError::ReferralCodeTaken)
    ));
    assert!(!storage
        .referral_code_retired(&other.referral_code)
        .await
        .unwrap());
    let unknown = ReferralCode::parse("NOBODY42").unwrap();
    assert!(!storage.referral_code_retired(&unknown).await.unwrap());
}

/// Erasing deletes every refresh token of the user (others keep theirs), bumps nothing a
/// stale session could use (a login at the old version stores nothing), and writes its
/// audit entry and event with it.
pub async fn erasing_removes_every_token_and_writes_its_audit_entry_and_event(
    storage: &dyn Storage,
) {
    let gone = register(storage, "gone", T0).await;
    let bystander = register(storage, "grace", T0).await;
    let queued_before = storage.pending_outbox().await.unwrap();
    let now = at(Duration::minutes(1));
    let erased = erasure(&gone.user, now);
    let entry = erased.audit.clone();
    assert!(storage.erase_user(erased).await.unwrap());
    assert_eq!(
        rotate(storage, &gone.refresh_token.hash, now).await,
        Rotation::Invalid
    );
    assert!(!storage
        .insert_refresh_token(refresh_token(gone.user.id, now))
        .await
        .unwrap());
    assert_eq!(
        rotate(storage, &bystander.refresh_token.hash, now).await,
        Rotation::Rotated(bystander.user.clone())
    );
    assert_eq!(storage.pending_outbox().await.unwrap(), queued_before + 1);
    assert_eq!(storage.audit_log(None, 10).await.unwrap(), vec![entry]);
}

/// The last enabled admin cannot be erased (`LastAdmin`, nothing written); with a second
/// admin, they can.
pub async fn erasing_the_last_admin_fails_and_writes_nothing(storage: &dyn Storage) {
    let boss = register_admin(storage, "boss", T0).await;
    let now = at(Duration::minutes(1));
    assert!(matches!(
        storage.erase_user(erasure(&boss, now)).await,
        Err(StorageError::LastAdmin)
    ));
    assert_eq!(
        storage.user_by_id(boss.id).await.unwrap(),
        Some(boss.clone())
    );
    assert!(storage.audit_log(None, 10).await.unwrap().is_empty());
    register_admin(storage, "deputy", T0).await;
    assert!(storage.erase_user(erasure(&boss, now)).await.unwrap());
    assert_eq!(storage.user_by_id(boss.id).await.unwrap(), None);
}

/// `{ "handle": handle, "links": [...] }`: metadata with nesting, numbers and text that needs
/// escaping.
fn sample_metadata(handle: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_value(serde_json::json!({
        "handle": handle,
        "display_name": "Zoë \"Z\" O'Brien — ✓",
        "links": [{ "url": "https://example.com/a?b=c&d=e", "clicks": 12 }],
        "score": 1.5,
        "public": true,
        "nothing": null,
    }))
    .expect("a JSON object")
}

/// Metadata given at registration is stored as given and read back by every lookup.
pub async fn metadata_given_at_registration_is_stored_as_given(storage: &dyn Storage) {
    let mut new = registration(user("meta", T0));
    new.user.metadata = sample_metadata("meta");
    storage.create_user(new.clone()).await.unwrap();
    let stored = storage.user_by_id(new.user.id).await.unwrap().unwrap();
    assert_eq!(stored.metadata, sample_metadata("meta"));
    let by_email = storage
        .user_by_email(&new.user.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email.metadata, sample_metadata("meta"));
}

/// An update replaces the whole object (keys left out are gone), answers the user as stored
/// after it, queues its event, and leaves other users alone.
pub async fn updating_metadata_replaces_it_and_queues_its_event(storage: &dyn Storage) {
    let mut new = registration(user("meta", T0));
    new.user.metadata = sample_metadata("first");
    storage.create_user(new.clone()).await.unwrap();
    let bystander = register(storage, "grace", T0).await;
    let queued_before = storage.pending_outbox().await.unwrap();
    let mut replacement = serde_json::Map::new();
    replacement.insert("handle".into(), serde_json::json!("second"));
    let now = at(Duration::minutes(1));
    let after = storage
        .update_metadata(MetadataUpdate {
            user: new.user.id,
            metadata: replacement.clone(),
            outbox: vec![about(&new.user, "event", now)],
        })
        .await
        .unwrap()
        .expect("a live user's metadata is updated");
    assert_eq!(after.metadata, replacement);
    assert_eq!(
        after,
        UserRecord {
            metadata: replacement.clone(),
            ..new.user.clone()
        },
        "nothing but the metadata changes"
    );
    assert_eq!(storage.user_by_id(new.user.id).await.unwrap(), Some(after));
    assert_eq!(storage.pending_outbox().await.unwrap(), queued_before + 1);
    assert_eq!(
        storage.user_by_id(bystander.user.id).await.unwrap(),
        Some(bystander.user)
    );
}

/// Updating an unknown or erased user's metadata writes nothing, event included: `None`.
pub async fn updating_an_unknown_or_erased_users_metadata_writes_nothing(storage: &dyn Storage) {
    let gone = register(storage, "gone", T0).await;
    let now = at(Duration::minutes(1));
    assert!(storage.erase_user(erasure(&gone.user, now)).await.unwrap());
    let queued_before = storage.pending_outbox().await.unwrap();
    for user in [gone.user.id, Uuid::now_v7()] {
        let update = MetadataUpdate {
            user,
            metadata: sample_metadata("ghost"),
            outbox: vec![about(&gone.user, "event", now)],
        };
        assert_eq!(storage.update_metadata(update).await.unwrap(), None);
    }
    assert_eq!(storage.pending_outbox().await.unwrap(), queued_before);
    assert_eq!(storage.user_by_id(gone.user.id).await.unwrap(), None);
}
