//! Access: roles and the disabled state (each change with its audit entry, its end of
//! sessions and the last-admin rule), searching users, and the audit log.

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::permissions::Role;
use crate::storage::{
    audit_actions, AccessChange, AccessOutcome, AuditEntry, OutboxMessage, Rotation, Storage,
    StorageError, UserSearch,
};
use crate::testing::fixtures::registration;
use crate::user::UserRecord;

use super::setup::*;

fn role(name: &str) -> Role {
    Role::parse(name).expect("test roles are valid")
}

/// Registers `tag` holding `user` and `admin`.
pub(super) async fn register_admin(
    storage: &dyn Storage,
    tag: &str,
    created_at: OffsetDateTime,
) -> UserRecord {
    let mut admin = user(tag, created_at);
    admin.roles = vec![Role::user(), Role::admin()];
    storage
        .create_user(registration(admin.clone()))
        .await
        .expect("registering an admin");
    admin
}

/// A change of `user` by `actor` at `now`.
fn change(user: Uuid, actor: Option<Uuid>, now: OffsetDateTime) -> AccessChange {
    AccessChange {
        user,
        roles: None,
        disabled: None,
        now,
        actor_id: actor,
        audit_id: Uuid::now_v7(),
        roles_event: Some(about_user(user, "user.updated", now)),
        disabled_event: Some(about_user(user, "user.disabled", now)),
    }
}

/// An event-like outbox message about `user`.
fn about_user(user: Uuid, topic: &str, at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: topic.to_owned(),
        user_id: Some(user),
        payload: "{}".to_owned(),
        attempts: 0,
        created_at: at,
    }
}

fn with_roles(change: AccessChange, roles: &[&str]) -> AccessChange {
    AccessChange {
        roles: Some(roles.iter().map(|name| role(name)).collect()),
        ..change
    }
}

fn disabling(change: AccessChange, disabled: bool) -> AccessChange {
    AccessChange {
        disabled: Some(disabled),
        ..change
    }
}

async fn apply(storage: &dyn Storage, change: AccessChange) -> AccessOutcome {
    storage
        .change_user_access(change)
        .await
        .expect("changing a user's access")
}

async fn audit(storage: &dyn Storage) -> Vec<AuditEntry> {
    storage
        .audit_log(None, 100)
        .await
        .expect("reading the audit log")
}

async fn search(storage: &dyn Storage, search: UserSearch) -> Vec<Uuid> {
    storage
        .search_users(search)
        .await
        .expect("searching users")
        .into_iter()
        .map(|summary| summary.user.id)
        .collect()
}

/// A registered user holds exactly the roles they were created with and is enabled.
pub async fn a_new_user_keeps_the_roles_it_was_created_with_and_is_enabled(storage: &dyn Storage) {
    let plain = register(storage, "plain", T0).await.user;
    let admin = register_admin(storage, "boss", T0).await;
    let stored = storage.user_by_id(plain.id).await.unwrap().unwrap();
    assert_eq!(stored.roles, vec![Role::user()]);
    assert_eq!(stored.disabled_at, None);
    let stored = storage.user_by_id(admin.id).await.unwrap().unwrap();
    assert_eq!(stored.roles, vec![Role::user(), Role::admin()]);
    assert!(stored.is_active_admin());
}

/// A change of roles stores them, bumps the token version, revokes every refresh token of
/// the user and writes its audit entry, all at once.
pub async fn a_role_change_bumps_the_token_version_revokes_sessions_and_is_audited(
    storage: &dyn Storage,
) {
    let admin = register_admin(storage, "boss", T0).await;
    let new = register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    let asked = with_roles(
        change(new.user.id, Some(admin.id), now),
        &["user", "moderator"],
    );
    let AccessOutcome::Changed(after, entry) = apply(storage, asked.clone()).await else {
        panic!("a role change changes something");
    };
    let expected = UserRecord {
        roles: vec![Role::user(), role("moderator")],
        token_version: new.user.token_version + 1,
        ..new.user.clone()
    };
    assert_eq!(after, expected);
    assert_eq!(
        storage.user_by_id(new.user.id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        rotate(storage, &new.refresh_token.hash, now).await,
        Rotation::Invalid,
        "the user's refresh token was revoked"
    );
    let expected_entry = AuditEntry {
        id: asked.audit_id,
        actor_id: Some(admin.id),
        action: audit_actions::ROLES_CHANGED.to_owned(),
        target_id: Some(new.user.id),
        details: json!({ "roles": { "from": ["user"], "to": ["user", "moderator"] } }),
        at: now,
    };
    assert_eq!(entry, expected_entry);
    assert_eq!(audit(storage).await, vec![expected_entry]);
}

/// Disabling records the instant and ends the sessions; enabling clears it; each is audited.
pub async fn disabling_records_when_and_enabling_clears_it(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let disabled_at = at(Duration::minutes(1));
    let AccessOutcome::Changed(after, entry) = apply(
        storage,
        disabling(change(new.user.id, None, disabled_at), true),
    )
    .await
    else {
        panic!("disabling changes something");
    };
    assert_eq!(after.disabled_at, Some(disabled_at));
    assert_eq!(after.token_version, new.user.token_version + 1);
    assert_eq!(entry.action, audit_actions::DISABLED);
    assert_eq!(entry.actor_id, None);
    assert_eq!(
        rotate(storage, &new.refresh_token.hash, disabled_at).await,
        Rotation::Invalid
    );
    let enabled_at = at(Duration::minutes(2));
    let AccessOutcome::Changed(after, entry) = apply(
        storage,
        disabling(change(new.user.id, None, enabled_at), false),
    )
    .await
    else {
        panic!("enabling changes something");
    };
    assert_eq!(after.disabled_at, None);
    assert_eq!(after.token_version, new.user.token_version + 2);
    assert_eq!(entry.action, audit_actions::ENABLED);
    assert_eq!(storage.user_by_id(new.user.id).await.unwrap(), Some(after));
    assert_eq!(audit(storage).await.len(), 2);
}

/// A change to what the user already has writes nothing: no version bump, no audit entry,
/// sessions kept.
pub async fn a_change_that_changes_nothing_writes_nothing(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    let same = disabling(
        with_roles(change(new.user.id, None, now), &["user", "user"]),
        false,
    );
    assert_eq!(
        apply(storage, same).await,
        AccessOutcome::Unchanged(new.user.clone())
    );
    assert_eq!(
        storage.user_by_id(new.user.id).await.unwrap(),
        Some(new.user.clone())
    );
    assert!(audit(storage).await.is_empty());
    assert!(matches!(
        rotate(storage, &new.refresh_token.hash, now).await,
        Rotation::Rotated(_)
    ));
}

/// A change of a user nobody has answers `UnknownUser` and writes nothing.
pub async fn changing_an_unknown_user_writes_nothing(storage: &dyn Storage) {
    register(storage, "ada", T0).await;
    let unknown = disabling(change(Uuid::now_v7(), None, T0), true);
    assert_eq!(apply(storage, unknown).await, AccessOutcome::UnknownUser);
    assert!(audit(storage).await.is_empty());
}

/// The only enabled admin can be neither demoted nor disabled (`LastAdmin`, nothing
/// written); with a second admin, either works.
pub async fn the_last_admin_can_be_neither_demoted_nor_disabled(storage: &dyn Storage) {
    let boss = register_admin(storage, "boss", T0).await;
    // A disabled admin does not count.
    let dormant = register_admin(storage, "dormant", T0).await;
    apply(storage, disabling(change(dormant.id, None, T0), true)).await;
    let now = at(Duration::minutes(1));
    for refused in [
        with_roles(change(boss.id, Some(boss.id), now), &["user"]),
        disabling(change(boss.id, Some(boss.id), now), true),
    ] {
        let result = storage.change_user_access(refused).await;
        assert!(
            matches!(result, Err(StorageError::LastAdmin)),
            "expected LastAdmin, got {result:?}"
        );
    }
    assert_eq!(
        storage.user_by_id(boss.id).await.unwrap(),
        Some(boss.clone())
    );
    assert_eq!(
        audit(storage).await.len(),
        1,
        "only the dormant admin's disable"
    );
    // Giving an admin other roles besides keeps them an admin.
    let kept = with_roles(change(boss.id, Some(boss.id), now), &["admin", "moderator"]);
    assert!(matches!(
        apply(storage, kept).await,
        AccessOutcome::Changed(..)
    ));
    let second = register_admin(storage, "second", T0).await;
    let demoted = with_roles(change(boss.id, Some(second.id), now), &["user"]);
    let AccessOutcome::Changed(after, _) = apply(storage, demoted).await else {
        panic!("an admin can be demoted while another remains");
    };
    assert!(!after.is_active_admin());
}

/// Two admins demoting each other at once (repeatedly): exactly one succeeds, the other
/// fails with `LastAdmin`, and one enabled admin remains.
pub async fn two_admins_demoting_each_other_at_once_leave_exactly_one(storage: Arc<dyn Storage>) {
    for round in 0..10 {
        let a = register_admin(&*storage, &format!("a{round}"), T0).await;
        let b = register_admin(&*storage, &format!("b{round}"), T0).await;
        // Only this round's pair are admins: the previous round's survivor steps down.
        for admin in search(
            &*storage,
            UserSearch {
                role: Some(Role::admin()),
                limit: 100,
                ..UserSearch::default()
            },
        )
        .await
        {
            if admin != a.id && admin != b.id {
                apply(&*storage, with_roles(change(admin, None, T0), &["user"])).await;
            }
        }
        let mut set = JoinSet::new();
        for (actor, target) in [(a.id, b.id), (b.id, a.id)] {
            let storage = Arc::clone(&storage);
            let demotion = with_roles(change(target, Some(actor), T0), &["user"]);
            set.spawn(async move { storage.change_user_access(demotion).await });
        }
        let results = join_all(set).await;
        let changed = results
            .iter()
            .filter(|result| matches!(result, Ok(AccessOutcome::Changed(..))))
            .count();
        let refused = results
            .iter()
            .filter(|result| matches!(result, Err(StorageError::LastAdmin)))
            .count();
        assert_eq!((changed, refused), (1, 1), "round {round}: {results:?}");
        let mut admins = 0;
        for id in [a.id, b.id] {
            let stored = storage.user_by_id(id).await.unwrap().unwrap();
            admins += usize::from(stored.is_active_admin());
        }
        assert_eq!(admins, 1, "round {round}");
    }
}

/// Five admins each disabling themselves at once: exactly four succeed.
pub async fn admins_disabling_themselves_at_once_leave_exactly_one(storage: Arc<dyn Storage>) {
    let mut admins = Vec::new();
    for i in 0..5 {
        admins.push(register_admin(&*storage, &format!("admin{i}"), T0).await.id);
    }
    let mut set = JoinSet::new();
    for admin in admins.clone() {
        let storage = Arc::clone(&storage);
        let disable = disabling(change(admin, Some(admin), T0), true);
        set.spawn(async move { storage.change_user_access(disable).await });
    }
    let results = join_all(set).await;
    let changed = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(changed, 4, "{results:?}");
    assert!(results.iter().all(|result| matches!(
        result,
        Ok(AccessOutcome::Changed(..)) | Err(StorageError::LastAdmin)
    )));
    let mut enabled = 0;
    for admin in admins {
        let stored = storage.user_by_id(admin).await.unwrap().unwrap();
        enabled += usize::from(stored.is_active_admin());
    }
    assert_eq!(enabled, 1);
}

/// A search lists users newest first (id descending) in pages, with their totals, and
/// filters by a part of the email and by role.
pub async fn searching_users_filters_by_email_and_role_and_pages_newest_first(
    storage: &dyn Storage,
) {
    let referrer = register(storage, "referrer", T0).await.user;
    let mut anns = Vec::new();
    for i in 0..5 {
        let joined = at(Duration::seconds(i));
        anns.push(
            register_referred(
                storage,
                &format!("ann{i}"),
                &referrer,
                joined,
                points(100, 0, 0),
            )
            .await
            .user
            .id,
        );
    }
    let admin = register_admin(storage, "boss", T0).await;
    let all = search(
        storage,
        UserSearch {
            limit: 100,
            ..UserSearch::default()
        },
    )
    .await;
    let mut expected: Vec<Uuid> = anns
        .iter()
        .copied()
        .chain([referrer.id, admin.id])
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(all, expected);

    let summaries = storage
        .search_users(UserSearch {
            email_contains: Some("referrer".into()),
            limit: 10,
            ..UserSearch::default()
        })
        .await
        .unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        (summaries[0].referrals, summaries[0].reward_points),
        (5, 500)
    );
    assert_eq!(summaries[0].user, referrer);

    let mut newest_first = anns.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    let first = search(
        storage,
        UserSearch {
            email_contains: Some("ann".into()),
            limit: 2,
            ..UserSearch::default()
        },
    )
    .await;
    assert_eq!(first, newest_first[..2]);
    let rest = search(
        storage,
        UserSearch {
            email_contains: Some("ann".into()),
            after: first.last().copied(),
            limit: 10,
            ..UserSearch::default()
        },
    )
    .await;
    assert_eq!(rest, newest_first[2..]);

    let admins = search(
        storage,
        UserSearch {
            role: Some(Role::admin()),
            limit: 10,
            ..UserSearch::default()
        },
    )
    .await;
    assert_eq!(admins, vec![admin.id]);
}

/// `%`, `_` and `\` in a search are the characters themselves, not wildcards; so is `_` in
/// a role name.
pub async fn search_wildcards_match_only_themselves(storage: &dyn Storage) {
    let plain = register(storage, "ab", T0).await.user;
    let underscored = register(storage, "a_b", T0).await.user;
    for (text, expected) in [
        ("a_b", vec![underscored.id]),
        ("a%b", vec![]),
        ("a\\", vec![]),
        ("ab@", vec![plain.id]),
    ] {
        let found = search(
            storage,
            UserSearch {
                email_contains: Some(text.into()),
                limit: 10,
                ..UserSearch::default()
            },
        )
        .await;
        assert_eq!(found, expected, "{text:?}");
    }
    apply(
        storage,
        with_roles(change(underscored.id, None, T0), &["team_a"]),
    )
    .await;
    apply(storage, with_roles(change(plain.id, None, T0), &["teamxa"])).await;
    let found = search(
        storage,
        UserSearch {
            role: Some(role("team_a")),
            limit: 10,
            ..UserSearch::default()
        },
    )
    .await;
    assert_eq!(found, vec![underscored.id]);
}

/// The audit log lists entries newest first (by time, then id) in pages.
pub async fn the_audit_log_is_listed_newest_first_in_pages(storage: &dyn Storage) {
    let ada = register(storage, "ada", T0).await.user;
    let mut ids = Vec::new();
    for i in 0..5 {
        let asked = disabling(change(ada.id, None, at(Duration::seconds(i))), i % 2 == 0);
        ids.push(asked.audit_id);
        apply(storage, asked).await;
    }
    ids.reverse();
    let first: Vec<Uuid> = storage
        .audit_log(None, 2)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(first, ids[..2]);
    let rest: Vec<Uuid> = storage
        .audit_log(first.last().copied(), 10)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(rest, ids[2..]);
}

/// A change writes the roles event when the roles change and the disabled event when the
/// user becomes disabled, with the change; enabling or an unchanged request writes none.
pub async fn a_change_writes_its_events_with_it(storage: &dyn Storage) {
    let admin = register_admin(storage, "boss", T0).await;
    let new = register(storage, "ada", T0).await;
    let queued = storage.pending_outbox().await.unwrap();
    let now = at(Duration::minutes(1));
    let both = disabling(
        with_roles(
            change(new.user.id, Some(admin.id), now),
            &["user", "moderator"],
        ),
        true,
    );
    let expected = [both.roles_event.clone(), both.disabled_event.clone()];
    assert!(matches!(
        apply(storage, both).await,
        AccessOutcome::Changed(..)
    ));
    let claimed = storage
        .claim_outbox(at(Duration::hours(1)), at(Duration::hours(2)), 100)
        .await
        .unwrap();
    for event in expected.into_iter().flatten() {
        assert!(
            claimed.iter().any(|message| message.id == event.id),
            "{} was written",
            event.topic
        );
    }
    assert_eq!(storage.pending_outbox().await.unwrap(), queued + 2);
    let enabling = disabling(change(new.user.id, Some(admin.id), now), false);
    apply(storage, enabling).await;
    let same = with_roles(
        change(new.user.id, Some(admin.id), now),
        &["user", "moderator"],
    );
    assert!(matches!(
        apply(storage, same).await,
        AccessOutcome::Unchanged(_)
    ));
    assert_eq!(storage.pending_outbox().await.unwrap(), queued + 2);
}
