//! Refresh tokens: login, rotation, reuse detection, revocation, token versions.

use time::Duration;

use crate::storage::{RefreshTokenRecord, ResetTokenRecord, Rotation, Storage};
use crate::testing::fixtures::refresh_token;
use crate::tokens::OpaqueToken;
use crate::user::UserRecord;

use super::setup::*;

/// A live refresh token rotates once; its replacement belongs to the same user (the
/// placeholder owner passed in is ignored) and rotates in turn.
pub async fn a_refresh_token_rotates_into_its_replacement_for_the_same_user(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let login = refresh_token(owner.id, T0);
    storage.insert_refresh_token(login.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    let next = replacement(now);
    assert_eq!(
        storage
            .rotate_refresh_token(&login.hash, next.clone(), now)
            .await
            .unwrap(),
        Rotation::Rotated(owner.clone())
    );
    let later = at(Duration::minutes(2));
    assert_eq!(
        rotate(storage, &next.hash, later).await,
        Rotation::Rotated(owner.clone())
    );
}

/// Presenting an already-rotated token again is reuse: every refresh token of its user
/// (this family's replacement and other logins alike) is revoked; other users keep theirs.
pub async fn a_rotated_refresh_token_presented_again_revokes_the_family(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let bystander = register(storage, "grace", T0).await;
    let other_login = refresh_token(owner.user.id, T0);
    storage
        .insert_refresh_token(other_login.clone())
        .await
        .unwrap();
    let now = at(Duration::minutes(1));
    let next = replacement(now);
    assert_eq!(
        storage
            .rotate_refresh_token(&owner.refresh_token.hash, next.clone(), now)
            .await
            .unwrap(),
        Rotation::Rotated(owner.user.clone())
    );
    let later = at(Duration::minutes(2));
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, later).await,
        Rotation::Reused(owner.user.id)
    );
    assert_eq!(rotate(storage, &next.hash, later).await, Rotation::Invalid);
    assert_eq!(
        rotate(storage, &other_login.hash, later).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &bystander.refresh_token.hash, later).await,
        Rotation::Rotated(bystander.user.clone())
    );
}

/// A refresh token is live strictly before its expiry instant and dead from it on.
pub async fn a_refresh_token_expires_at_its_expiry_instant(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let expiring = refresh_token(owner.id, T0);
    let live = refresh_token(owner.id, T0);
    storage
        .insert_refresh_token(expiring.clone())
        .await
        .unwrap();
    storage.insert_refresh_token(live.clone()).await.unwrap();
    assert_eq!(
        rotate(storage, &expiring.hash, expiring.expires_at).await,
        Rotation::Invalid
    );
    let just_before = live.expires_at - Duration::microseconds(1);
    assert_eq!(
        rotate(storage, &live.hash, just_before).await,
        Rotation::Rotated(owner.clone())
    );
}

/// A revoked (logged-out) token does not rotate; revoking twice, or an unknown token, is
/// not an error; other tokens of the user live on.
pub async fn a_revoked_refresh_token_does_not_rotate(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    storage
        .revoke_refresh_token(&owner.refresh_token.hash, now)
        .await
        .unwrap();
    storage
        .revoke_refresh_token(&owner.refresh_token.hash, now)
        .await
        .unwrap();
    storage
        .revoke_refresh_token(&OpaqueToken::generate().hash(), now)
        .await
        .unwrap();
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Invalid
    );
    let other = refresh_token(owner.user.id, now);
    storage.insert_refresh_token(other.clone()).await.unwrap();
    assert_eq!(
        rotate(storage, &other.hash, now).await,
        Rotation::Rotated(owner.user.clone())
    );
}

/// A hash nobody stored does not rotate.
pub async fn an_unknown_refresh_token_does_not_rotate(storage: &dyn Storage) {
    register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    assert_eq!(
        rotate(storage, &OpaqueToken::generate().hash(), now).await,
        Rotation::Invalid
    );
}

/// Token hashes are unique: storing a refresh or reset token under a hash already stored
/// fails and leaves the first token working.
pub async fn a_token_hash_is_stored_once(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let other = register(storage, "grace", T0).await;
    let clash = RefreshTokenRecord {
        hash: owner.refresh_token.hash,
        ..refresh_token(other.user.id, T0)
    };
    assert!(storage.insert_refresh_token(clash).await.is_err());
    let reset = reset_token(owner.user.id, T0);
    storage.create_reset_token(reset.clone()).await.unwrap();
    let reset_clash = ResetTokenRecord {
        user_id: other.user.id,
        ..reset.clone()
    };
    assert!(storage.create_reset_token(reset_clash).await.is_err());
    let now = at(Duration::minutes(1));
    assert_eq!(
        storage
            .reset_token_user(&reset.hash, now)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(owner.user.id)
    );
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Rotated(owner.user.clone())
    );
}

/// Refresh and reset tokens belong to existing users; for an unknown user nothing is stored.
pub async fn tokens_for_unknown_users_are_refused(storage: &dyn Storage) {
    let ghost = user("ghost", T0);
    let login = refresh_token(ghost.id, T0);
    assert!(!storage.insert_refresh_token(login.clone()).await.unwrap());
    assert_eq!(
        rotate(storage, &login.hash, at(Duration::minutes(1))).await,
        Rotation::Invalid
    );
    let reset = reset_token(ghost.id, T0);
    assert!(!storage.create_reset_token(reset.clone()).await.unwrap());
    assert_eq!(
        storage
            .reset_token_user(&reset.hash, at(Duration::minutes(1)))
            .await
            .unwrap(),
        None
    );
}

/// A login checks the password, then stores its refresh token at the token version it read:
/// when a reset lands in between, the token is not stored, and a login at the new version
/// is.
pub async fn a_login_that_straddles_a_reset_stores_no_session(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let now = at(Duration::minutes(1));
    let stale = refresh_token(owner.id, now);
    reset_password(storage, owner.id, &fake_hash("new"), now).await;
    assert!(!storage.insert_refresh_token(stale.clone()).await.unwrap());
    assert_eq!(rotate(storage, &stale.hash, now).await, Rotation::Invalid);
    let fresh = RefreshTokenRecord {
        token_version: owner.token_version + 1,
        ..refresh_token(owner.id, now)
    };
    assert!(storage.insert_refresh_token(fresh.clone()).await.unwrap());
    let Rotation::Rotated(rotated) = rotate(storage, &fresh.hash, now).await else {
        panic!("a login at the current token version rotates");
    };
    assert_eq!(rotated.token_version, owner.token_version + 1);
}

/// A rotation answers the user as stored (after a reset: the new password and token
/// version), and the replacement carries that version, so it rotates in turn.
pub async fn a_rotation_answers_the_user_as_stored_and_keeps_the_version(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let now = at(Duration::minutes(1));
    let new_hash = fake_hash("new");
    reset_password(storage, owner.id, &new_hash, now).await;
    let expected = UserRecord {
        password_hash: new_hash,
        token_version: owner.token_version + 1,
        ..owner.clone()
    };
    let login = RefreshTokenRecord {
        token_version: expected.token_version,
        ..refresh_token(owner.id, now)
    };
    assert!(storage.insert_refresh_token(login.clone()).await.unwrap());
    let next = replacement(now);
    assert_eq!(
        storage
            .rotate_refresh_token(&login.hash, next.clone(), now)
            .await
            .unwrap(),
        Rotation::Rotated(expected.clone())
    );
    assert_eq!(
        rotate(storage, &next.hash, at(Duration::minutes(2))).await,
        Rotation::Rotated(expected)
    );
}
