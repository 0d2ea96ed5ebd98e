//! Accounts: registration (with its referral, rewards, first session and messages, all or
//! nothing), lookups, and password-hash replacement.

use time::Duration;
use uuid::Uuid;

use crate::referral_code::ReferralCode;
use crate::storage::{NewUser, ReferralCounts, ReferralRecord, Rotation, Storage, StorageError};
use crate::testing::fixtures::{referred_registration, registration};
use crate::user::UserRecord;

use super::setup::*;

/// `ping` succeeds on a working storage.
pub async fn a_reachable_storage_answers_ping(storage: &dyn Storage) {
    storage.ping().await.expect("ping on a fresh storage");
}

/// A created user reads back identically by id, by email and by referral code.
pub async fn a_created_user_is_found_by_id_email_and_referral_code(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let expected = Some(new.user.clone());
    assert_eq!(storage.user_by_id(new.user.id).await.unwrap(), expected);
    assert_eq!(
        storage.user_by_email(&new.user.email).await.unwrap(),
        expected
    );
    assert_eq!(
        storage
            .user_by_referral_code(&new.user.referral_code)
            .await
            .unwrap(),
        expected
    );
}

/// Lookups of ids, emails and codes nobody has answer `None`.
pub async fn unknown_users_are_not_found(storage: &dyn Storage) {
    register(storage, "ada", T0).await;
    assert_eq!(storage.user_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(storage.user_by_email(&email("nobody")).await.unwrap(), None);
    let code = loop {
        let code = ReferralCode::generate();
        if storage
            .user_by_referral_code(&code)
            .await
            .unwrap()
            .is_none()
        {
            break code;
        }
    };
    assert_eq!(storage.user_by_referral_code(&code).await.unwrap(), None);
}

/// A second registration of an email fails with `EmailTaken` and writes nothing.
pub async fn registering_the_same_email_twice_fails(storage: &dyn Storage) {
    let first = register(storage, "ada", T0).await;
    let second = registration(user("ada", at(Duration::seconds(1))));
    let result = storage.create_user(second.clone()).await;
    assert!(
        matches!(result, Err(StorageError::EmailTaken)),
        "expected EmailTaken, got {result:?}"
    );
    assert_eq!(storage.user_by_id(second.user.id).await.unwrap(), None);
    assert_eq!(
        storage
            .user_by_referral_code(&second.user.referral_code)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.user_by_email(&first.user.email).await.unwrap(),
        Some(first.user)
    );
    let now = at(Duration::seconds(2));
    assert_eq!(
        rotate(storage, &second.refresh_token.hash, now).await,
        Rotation::Invalid
    );
}

/// A registration whose referral code belongs to someone fails with `ReferralCodeTaken` and
/// writes nothing (the engine then draws another code).
pub async fn registering_with_a_taken_referral_code_fails(storage: &dyn Storage) {
    let first = register(storage, "ada", T0).await;
    let mut clash = user("grace", at(Duration::seconds(1)));
    clash.referral_code = first.user.referral_code.clone();
    let clash = registration(clash);
    let result = storage.create_user(clash.clone()).await;
    assert!(
        matches!(result, Err(StorageError::ReferralCodeTaken)),
        "expected ReferralCodeTaken, got {result:?}"
    );
    assert_eq!(storage.user_by_id(clash.user.id).await.unwrap(), None);
    assert_eq!(
        storage.user_by_email(&clash.user.email).await.unwrap(),
        None
    );
    let now = at(Duration::seconds(2));
    assert_eq!(
        rotate(storage, &clash.refresh_token.hash, now).await,
        Rotation::Invalid
    );
}

/// A referred registration that fails (email taken) leaves no referral, reward or counter.
pub async fn a_refused_registration_leaves_the_referrer_untouched(storage: &dyn Storage) {
    let grand = register(storage, "grand", T0).await.user;
    let referrer = register_referred(storage, "referrer", &grand, T0, points(100, 10, 5))
        .await
        .user;
    let before_referrer = stats(storage, referrer.id, T0 - Duration::days(1)).await;
    let before_grand = stats(storage, grand.id, T0 - Duration::days(1)).await;
    let duplicate = referred_registration(
        user("grand", at(Duration::seconds(1))),
        &referrer,
        points(100, 10, 5),
    );
    let result = storage.create_user(duplicate).await;
    assert!(
        matches!(result, Err(StorageError::EmailTaken)),
        "got {result:?}"
    );
    assert_eq!(
        stats(storage, referrer.id, T0 - Duration::days(1)).await,
        before_referrer
    );
    assert_eq!(
        stats(storage, grand.id, T0 - Duration::days(1)).await,
        before_grand
    );
    assert!(storage
        .list_referrals(referrer.id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A referral naming a referrer that does not exist is an error, and nothing is written.
pub async fn a_referral_to_an_unknown_referrer_is_refused(storage: &dyn Storage) {
    let ghost = user("ghost", T0);
    let new = referred_registration(user("ada", T0), &ghost, points(100, 0, 0));
    assert!(storage.create_user(new.clone()).await.is_err());
    assert_eq!(storage.user_by_id(new.user.id).await.unwrap(), None);
    assert_eq!(storage.user_by_email(&new.user.email).await.unwrap(), None);
}

/// A registration with a code writes the referee's referrer, the referral, every ledger
/// entry and the counters of both tiers, in the one call.
pub async fn a_registration_with_a_code_records_the_referral_and_its_rewards(
    storage: &dyn Storage,
) {
    let grand = register(storage, "grand", T0).await.user;
    let policy = points(100, 10, 5);
    let referrer = register_referred(
        storage,
        "referrer",
        &grand,
        at(Duration::seconds(1)),
        policy,
    )
    .await
    .user;
    let joined = at(Duration::seconds(2));
    let referee = register_referred(storage, "referee", &referrer, joined, policy)
        .await
        .user;

    let stored = storage
        .user_by_id(referee.id)
        .await
        .unwrap()
        .expect("referee stored");
    assert_eq!(stored.referred_by, Some(referrer.id));
    assert_eq!(
        storage.list_referrals(referrer.id, None, 10).await.unwrap(),
        vec![ReferralRecord {
            user_id: referee.id,
            email: Some(referee.email.clone()),
            joined_at: joined,
            reward_points: 100,
        }]
    );
    let since = T0 - Duration::days(30);
    assert_eq!(
        stats(storage, referrer.id, since).await,
        ReferralCounts {
            total: 1,
            since: 1,
            second_tier: 0,
            reward_points: 100 + 10,
            pending_reward_points: 0,
        },
        "the referrer earned 100 as referrer and 10 as the grand referrer's referee"
    );
    assert_eq!(
        stats(storage, grand.id, since).await,
        ReferralCounts {
            total: 1,
            since: 1,
            second_tier: 1,
            reward_points: 100 + 5,
            pending_reward_points: 0,
        }
    );
    assert_eq!(
        stats(storage, referee.id, since).await,
        ReferralCounts {
            total: 0,
            since: 0,
            second_tier: 0,
            reward_points: 10,
            pending_reward_points: 0,
        }
    );
}

/// The refresh token passed with a registration is stored for the new user.
pub async fn registration_stores_the_first_refresh_token(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    assert_eq!(
        rotate(storage, &new.refresh_token.hash, now).await,
        Rotation::Rotated(new.user.clone())
    );
}

/// `replace_password_hash` replaces the hash it is told is there, and leaves the token
/// version and sessions alone.
pub async fn replacing_a_password_hash_changes_nothing_else(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let other = register(storage, "grace", T0).await;
    let hash = fake_hash("rehashed");
    assert!(storage
        .replace_password_hash(new.user.id, &new.user.password_hash, &hash)
        .await
        .unwrap());
    let expected = UserRecord {
        password_hash: hash,
        ..new.user.clone()
    };
    assert_eq!(
        storage.user_by_id(new.user.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        storage.user_by_id(other.user.id).await.unwrap(),
        Some(other.user)
    );
    let now = at(Duration::minutes(1));
    assert_eq!(
        rotate(storage, &new.refresh_token.hash, now).await,
        Rotation::Rotated(expected)
    );
}

/// A rehash at login replaces only the hash the login verified: once a reset has set another
/// password, the rehash changes nothing and says so.
pub async fn a_rehash_never_overwrites_a_newer_password(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let verified = new.user.password_hash.clone();
    let from_reset = fake_hash("set-by-a-reset");
    reset_password(storage, new.user.id, &from_reset, at(Duration::minutes(1))).await;
    assert!(!storage
        .replace_password_hash(new.user.id, &verified, &fake_hash("rehashed"))
        .await
        .unwrap());
    let stored = storage.user_by_id(new.user.id).await.unwrap();
    assert_eq!(stored.map(|u| u.password_hash), Some(from_reset));
    assert!(!storage
        .replace_password_hash(Uuid::now_v7(), &verified, &fake_hash("rehashed"))
        .await
        .unwrap());
}

/// The messages a registration queues are written with the account, due at their creation;
/// a refused registration queues none.
pub async fn registration_queues_its_messages_with_the_account(storage: &dyn Storage) {
    let ada = user("ada", T0);
    // Two topics: messages of one topic about one user are claimed one at a time.
    let queued = vec![welcome(&ada, T0), about(&ada, "event", T0)];
    let new = NewUser {
        outbox: queued.clone(),
        ..registration(ada.clone())
    };
    storage.create_user(new).await.unwrap();
    assert_eq!(pending(storage).await, 2);
    let twin = UserRecord {
        id: Uuid::now_v7(),
        referral_code: ReferralCode::generate(),
        ..ada.clone()
    };
    let refused = NewUser {
        outbox: vec![welcome(&twin, T0)],
        ..registration(twin)
    };
    assert!(matches!(
        storage.create_user(refused).await,
        Err(StorageError::EmailTaken)
    ));
    assert_eq!(pending(storage).await, 2, "the refused one queued nothing");
    let claimed = claim(storage, T0, Duration::minutes(5), 10).await;
    assert_eq!(ids(&claimed), ids(&queued));
    assert!(claimed
        .iter()
        .all(|message| message.user_id == Some(ada.id) && message.attempts == 1));
}
