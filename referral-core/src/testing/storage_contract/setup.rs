//! What the cases build: the instant they call "now", users, tokens, messages, keys, and
//! short forms of the calls they make.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::RateKey;
use crate::rewards::{RewardApproval, RewardEntry, RewardPolicy, RewardStatus, RewardTransition};
use crate::storage::{
    NewUser, OutboxMessage, ReferralCounts, RefreshTokenRecord, ResetTokenRecord, Rotation, Storage,
};
use crate::testing::fixtures::{self, referred_registration, refresh_token, registration};
use crate::tokens::{OpaqueToken, TokenHash};
use crate::user::UserRecord;

/// The instant the cases treat as "now": whole seconds, so every backend keeps it exactly.
pub(super) const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

pub(super) fn at(offset: Duration) -> OffsetDateTime {
    T0 + offset
}

pub(super) fn email(tag: &str) -> Email {
    Email::parse(&format!("{tag}@example.com")).expect("test emails are valid")
}

pub(super) fn fake_hash(tag: &str) -> PasswordHash {
    // Storage never verifies hashes, so any PHC-shaped text will do.
    PasswordHash::from_phc(format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdA${tag}"))
}

pub(super) fn user(tag: &str, created_at: OffsetDateTime) -> UserRecord {
    fixtures::user_record(email(tag), fake_hash(tag), created_at)
}

/// A replacement as the engine passes it: user and family are placeholders.
pub(super) fn replacement(issued_at: OffsetDateTime) -> RefreshTokenRecord {
    refresh_token(Uuid::nil(), issued_at)
}

pub(super) fn points(referrer: i64, referee: i64, second_tier: i64) -> RewardPolicy {
    RewardPolicy {
        referrer,
        referee,
        second_tier,
        ..RewardPolicy::default()
    }
}

pub(super) async fn register(
    storage: &dyn Storage,
    tag: &str,
    created_at: OffsetDateTime,
) -> NewUser {
    let new = registration(user(tag, created_at));
    storage
        .create_user(new.clone())
        .await
        .expect("registering a new user");
    new
}

pub(super) async fn register_referred(
    storage: &dyn Storage,
    tag: &str,
    referrer: &UserRecord,
    created_at: OffsetDateTime,
    policy: RewardPolicy,
) -> NewUser {
    let new = referred_registration(user(tag, created_at), referrer, policy);
    storage
        .create_user(new.clone())
        .await
        .expect("registering a referred user");
    new
}

pub(super) fn reset_token(user: Uuid, created_at: OffsetDateTime) -> ResetTokenRecord {
    ResetTokenRecord {
        hash: OpaqueToken::generate().hash(),
        user_id: user,
        created_at,
        expires_at: created_at + Duration::minutes(30),
    }
}

pub(super) fn mail(to: &Email, created_at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: "mail.password_reset".to_owned(),
        user_id: None,
        payload: format!("{{\"email\":\"{to}\"}}"),
        attempts: 0,
        created_at,
    }
}

/// Queues `count` messages due at their creation.
pub(super) async fn queue_mail(
    storage: &dyn Storage,
    count: usize,
    created_at: OffsetDateTime,
) -> Vec<OutboxMessage> {
    let to = email(&format!("mail-owner-{}", Uuid::now_v7().simple()));
    let mut queued = Vec::new();
    for _ in 0..count {
        let message = mail(&to, created_at);
        storage
            .enqueue_outbox(message.clone())
            .await
            .expect("queueing a message");
        queued.push(message);
    }
    queued
}

pub(super) async fn stats(
    storage: &dyn Storage,
    user: Uuid,
    since: OffsetDateTime,
) -> ReferralCounts {
    storage
        .referral_stats(user, since)
        .await
        .expect("reading referral stats")
}

pub(super) async fn rotate(
    storage: &dyn Storage,
    token: &TokenHash,
    now: OffsetDateTime,
) -> Rotation {
    storage
        .rotate_refresh_token(token, replacement(now), now)
        .await
        .expect("rotating a refresh token")
}

pub(super) async fn pending(storage: &dyn Storage) -> u64 {
    storage
        .pending_outbox()
        .await
        .expect("counting pending mail")
}

pub(super) async fn claim(
    storage: &dyn Storage,
    now: OffsetDateTime,
    lease: Duration,
    limit: u32,
) -> Vec<OutboxMessage> {
    storage
        .claim_outbox(now, now + lease, limit)
        .await
        .expect("claiming outbox messages")
}

pub(super) fn ids(messages: &[OutboxMessage]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    ids.sort();
    ids
}

pub(super) async fn join_all<T: Send + 'static>(mut set: JoinSet<T>) -> Vec<T> {
    let mut results = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        results.push(joined.expect("a concurrent call panicked"));
    }
    results
}

/// A rate-limit key made from a tag (storage only compares keys).
pub(super) fn key(tag: &str) -> RateKey {
    let mut bytes = [0u8; 32];
    for (slot, byte) in bytes.iter_mut().zip(tag.bytes()) {
        *slot = byte;
    }
    RateKey::from_bytes(bytes)
}

/// Resets `user`'s password to `new_hash` at `now` through a reset token, as the engine does:
/// the token version goes up and every session ends.
pub(super) async fn reset_password(
    storage: &dyn Storage,
    user: Uuid,
    new_hash: &PasswordHash,
    now: OffsetDateTime,
) {
    let token = reset_token(user, now);
    assert!(storage
        .create_reset_token(token.clone())
        .await
        .expect("creating a reset token"));
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, new_hash, now, Vec::new())
            .await
            .expect("consuming a reset token"),
        Some(user)
    );
}

/// A message about `user` of a registration, due at `created_at`.
pub(super) fn welcome(user: &UserRecord, created_at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: "mail.welcome".to_owned(),
        user_id: Some(user.id),
        payload: format!("{{\"email\":\"{}\"}}", user.email),
        attempts: 0,
        created_at,
    }
}

/// A message of `topic` about `user` (an event, a delivery of one), due at `created_at`.
pub(super) fn about(user: &UserRecord, topic: &str, created_at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: topic.to_owned(),
        user_id: Some(user.id),
        payload: format!("{{\"id\":\"{}\"}}", Uuid::now_v7()),
        attempts: 0,
        created_at,
    }
}

/// Queues `message` on its own.
pub(super) async fn enqueue(storage: &dyn Storage, message: &OutboxMessage) {
    storage
        .enqueue_outbox(message.clone())
        .await
        .expect("queueing a message");
}

/// A policy paying the referrer `referrer` points, held pending until `approval`.
pub(super) fn held(referrer: i64, approval: RewardApproval) -> RewardPolicy {
    RewardPolicy {
        referrer,
        referee: 0,
        second_tier: 0,
        conversion: 0,
        approval,
    }
}

/// A referrer and the pending reward (100 points, waiting for `approval`) a referee's
/// sign-up earned them.
pub(super) async fn referrer_with_pending(
    storage: &dyn Storage,
    approval: RewardApproval,
) -> (UserRecord, RewardEntry) {
    let referrer = register(storage, "referrer", T0).await.user;
    let referee = register_referred(
        storage,
        "referee",
        &referrer,
        at(Duration::seconds(1)),
        held(100, approval),
    )
    .await;
    let entry = referee
        .referral
        .and_then(|referral| referral.rewards.into_iter().next())
        .expect("a held policy writes an entry");
    (referrer, entry)
}

/// The approval of `entry` (pending) at `at`, with an event.
pub(super) fn approve(entry: &RewardEntry, at: OffsetDateTime) -> RewardTransition {
    RewardTransition {
        reward: entry.id,
        from: RewardStatus::Pending,
        to: RewardStatus::Approved,
        reason: None,
        at,
        event: Some(event_about(entry.beneficiary, at)),
        audit: None,
    }
}

/// The revocation of `entry` from its status at `at`, for `reason`.
pub(super) fn revoke(entry: &RewardEntry, at: OffsetDateTime, reason: &str) -> RewardTransition {
    RewardTransition {
        reward: entry.id,
        from: entry.status,
        to: RewardStatus::Revoked,
        reason: Some(reason.to_owned()),
        at,
        event: Some(event_about(entry.beneficiary, at)),
        audit: None,
    }
}

fn event_about(user: Uuid, at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: "event.reward.approved".to_owned(),
        user_id: Some(user),
        payload: "{}".to_owned(),
        attempts: 0,
        created_at: at,
    }
}

/// Messages neither done nor dead.
pub(super) async fn pending_outbox_count(storage: &dyn Storage) -> u64 {
    pending(storage).await
}
