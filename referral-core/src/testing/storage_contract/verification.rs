//! Email-verification tokens: single use, superseded by a newer one, expiring, and verifying
//! the address with the reward approvals the engine hands over.

use time::Duration;

use crate::rewards::{RewardApproval, RewardStatus};
use crate::storage::{Storage, VerificationTokenRecord};
use crate::tokens::OpaqueToken;

use super::setup::*;

fn verification_token(
    user: uuid::Uuid,
    created_at: time::OffsetDateTime,
) -> VerificationTokenRecord {
    VerificationTokenRecord {
        hash: OpaqueToken::generate().hash(),
        user_id: user,
        created_at,
        expires_at: created_at + Duration::hours(24),
    }
}

/// A verification token names its owner until used; using it marks the address verified,
/// once.
pub async fn a_verification_token_works_once_and_marks_the_email_verified(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    assert!(!ada.email_verified);
    let token = verification_token(ada.id, T0);
    assert!(storage
        .create_verification_token(token.clone())
        .await
        .unwrap());
    let now = at(Duration::minutes(5));
    let owner = storage
        .verification_token_user(&token.hash, now)
        .await
        .unwrap();
    assert_eq!(owner.map(|u| u.id), Some(ada.id));
    let verified = storage
        .verify_email(&token.hash, now, Vec::new(), Vec::new())
        .await
        .unwrap()
        .expect("a live token verifies");
    assert!(verified.email_verified);
    assert!(
        storage
            .user_by_id(ada.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert_eq!(
        storage
            .verify_email(&token.hash, now, Vec::new(), Vec::new())
            .await
            .unwrap(),
        None,
        "a used token works no more"
    );
    assert_eq!(
        storage
            .verification_token_user(&token.hash, now)
            .await
            .unwrap(),
        None
    );
}

/// A newer verification token supersedes the older one; an expired one does nothing.
pub async fn a_new_verification_token_supersedes_the_older_one_and_tokens_expire(
    storage: &dyn Storage,
) {
    let ada = register(storage, "ada", T0).await.user;
    let older = verification_token(ada.id, T0);
    let newer = verification_token(ada.id, at(Duration::minutes(1)));
    assert!(storage
        .create_verification_token(older.clone())
        .await
        .unwrap());
    assert!(storage
        .create_verification_token(newer.clone())
        .await
        .unwrap());
    let now = at(Duration::minutes(2));
    assert_eq!(
        storage
            .verify_email(&older.hash, now, Vec::new(), Vec::new())
            .await
            .unwrap(),
        None
    );
    let late = newer.expires_at;
    assert_eq!(
        storage
            .verify_email(&newer.hash, late, Vec::new(), Vec::new())
            .await
            .unwrap(),
        None,
        "a token expires at its expiry instant"
    );
    assert!(
        !storage
            .user_by_id(ada.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert!(storage
        .verify_email(&newer.hash, now, Vec::new(), Vec::new())
        .await
        .unwrap()
        .is_some());
}

/// No verification token is stored for a user that does not exist.
pub async fn verification_tokens_for_unknown_users_are_refused(storage: &dyn Storage) {
    let ghost = user("ghost", T0);
    assert!(!storage
        .create_verification_token(verification_token(ghost.id, T0))
        .await
        .unwrap());
}

/// Verifying applies the approvals handed with it, in the same step, with their events.
pub async fn verifying_an_email_applies_its_approvals_with_it(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    let referee = register_referred(
        storage,
        "referee",
        &referrer,
        at(Duration::seconds(1)),
        held(100, RewardApproval::OnEmailVerified),
    )
    .await
    .user;
    let pending = storage
        .pending_rewards(referee.id, RewardApproval::OnEmailVerified)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let token = verification_token(referee.id, T0);
    storage
        .create_verification_token(token.clone())
        .await
        .unwrap();
    let now = at(Duration::minutes(1));
    let before = pending_outbox_count(storage).await;
    storage
        .verify_email(
            &token.hash,
            now,
            vec![approve(&pending[0], now)],
            vec![welcome(&referee, now)],
        )
        .await
        .unwrap()
        .expect("verified");
    let counts = stats(storage, referrer.id, T0).await;
    assert_eq!(
        (counts.reward_points, counts.pending_reward_points),
        (100, 0)
    );
    assert_eq!(
        storage.reward(pending[0].id).await.unwrap().unwrap().status,
        RewardStatus::Approved
    );
    assert_eq!(
        pending_outbox_count(storage).await,
        before + 2,
        "the approval's event and the message handed over"
    );
}
