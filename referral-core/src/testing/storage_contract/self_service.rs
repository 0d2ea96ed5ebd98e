//! Account self-service: a password change by its owner.

use time::Duration;
use uuid::Uuid;

use crate::storage::{PasswordChange, Rotation, Storage};
use crate::testing::fixtures::refresh_token;
use crate::user::UserRecord;

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
