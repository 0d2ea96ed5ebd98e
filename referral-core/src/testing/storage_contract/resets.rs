//! Password-reset tokens: single use, superseded by a newer one, expiring, ending sessions.

use time::Duration;

use crate::storage::{Rotation, Storage};
use crate::testing::fixtures::refresh_token;
use crate::tokens::OpaqueToken;
use crate::user::UserRecord;

use super::setup::*;

/// A reset token names its user while live, and nobody from its expiry instant on.
pub async fn a_reset_token_names_its_user_until_it_expires(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let token = reset_token(owner.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let just_before = token.expires_at - Duration::microseconds(1);
    assert_eq!(
        storage
            .reset_token_user(&token.hash, just_before)
            .await
            .unwrap(),
        Some(owner)
    );
    assert_eq!(
        storage
            .reset_token_user(&token.hash, token.expires_at)
            .await
            .unwrap(),
        None
    );
    let unknown = OpaqueToken::generate().hash();
    assert_eq!(storage.reset_token_user(&unknown, T0).await.unwrap(), None);
}

/// A reset token is consumed once; afterwards it neither consumes nor names its user.
pub async fn a_reset_token_works_once(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let token = reset_token(owner.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("new"), now, Vec::new())
            .await
            .unwrap(),
        Some(owner.id)
    );
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("newer"), now, Vec::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.reset_token_user(&token.hash, now).await.unwrap(),
        None
    );
    let stored = storage
        .user_by_id(owner.id)
        .await
        .unwrap()
        .expect("owner stored");
    assert_eq!(stored.password_hash, fake_hash("new"));
    let unknown = OpaqueToken::generate().hash();
    assert_eq!(
        storage
            .consume_reset_token(&unknown, &fake_hash("x"), now, Vec::new())
            .await
            .unwrap(),
        None
    );
}

/// Consuming a reset token sets the new hash, bumps the token version, and revokes every
/// refresh token of the user, and of the user only.
pub async fn consuming_a_reset_token_changes_the_password_and_ends_every_session(
    storage: &dyn Storage,
) {
    let owner = register(storage, "ada", T0).await;
    let bystander = register(storage, "grace", T0).await;
    let second_login = refresh_token(owner.user.id, T0);
    storage
        .insert_refresh_token(second_login.clone())
        .await
        .unwrap();
    let token = reset_token(owner.user.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    storage
        .consume_reset_token(&token.hash, &fake_hash("new"), now, Vec::new())
        .await
        .unwrap();
    let expected = UserRecord {
        password_hash: fake_hash("new"),
        token_version: owner.user.token_version + 1,
        ..owner.user.clone()
    };
    assert_eq!(
        storage.user_by_id(owner.user.id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &second_login.hash, now).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &bystander.refresh_token.hash, now).await,
        Rotation::Rotated(bystander.user.clone())
    );
    assert_eq!(
        storage.user_by_id(bystander.user.id).await.unwrap(),
        Some(bystander.user)
    );
}

/// A new reset token for a user supersedes their older unconsumed ones; other users'
/// tokens are untouched.
pub async fn a_new_reset_token_supersedes_the_older_one(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let other = register(storage, "grace", T0).await.user;
    let older = reset_token(owner.id, T0);
    let theirs = reset_token(other.id, T0);
    storage.create_reset_token(older.clone()).await.unwrap();
    storage.create_reset_token(theirs.clone()).await.unwrap();
    let newer = reset_token(owner.id, at(Duration::minutes(1)));
    storage.create_reset_token(newer.clone()).await.unwrap();
    let now = at(Duration::minutes(2));
    assert_eq!(
        storage.reset_token_user(&older.hash, now).await.unwrap(),
        None
    );
    assert_eq!(
        storage
            .consume_reset_token(&older.hash, &fake_hash("old"), now, Vec::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .reset_token_user(&theirs.hash, now)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(other.id)
    );
    assert_eq!(
        storage
            .consume_reset_token(&newer.hash, &fake_hash("new"), now, Vec::new())
            .await
            .unwrap(),
        Some(owner.id)
    );
}

/// Consuming a token at or after its expiry does nothing: no password or version change.
pub async fn an_expired_reset_token_cannot_be_consumed(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let token = reset_token(owner.user.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    assert_eq!(
        storage
            .consume_reset_token(
                &token.hash,
                &fake_hash("late"),
                token.expires_at,
                Vec::new()
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.user_by_id(owner.user.id).await.unwrap(),
        Some(owner.user.clone())
    );
    let now = token.expires_at;
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Rotated(owner.user.clone())
    );
}

/// Consuming a live token queues the events given with it; a token that is not live queues
/// nothing.
pub async fn consuming_a_reset_token_queues_its_events_with_the_change(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let token = reset_token(ada.id, T0);
    assert!(storage.create_reset_token(token.clone()).await.unwrap());
    let before = pending(storage).await;
    let event = about(&ada, "event", T0);
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("new"), T0, vec![event.clone()])
            .await
            .unwrap(),
        Some(ada.id)
    );
    assert_eq!(pending(storage).await, before + 1);
    let again = about(&ada, "event", T0);
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("newer"), T0, vec![again])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        pending(storage).await,
        before + 1,
        "nothing queued for a used token"
    );
}
