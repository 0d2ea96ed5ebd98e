//! Domain events: what happened, written to the outbox in the same transaction as the change
//! that caused it, and delivered from there at least once, in order per user.
//!
//! An event names the ids involved and never a secret, a hash or a token.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Engine;
use crate::storage::OutboxMessage;

/// The outbox topic of events, whatever their type (the payload names it): one user's
/// events share it, so storage hands them out one at a time, in the order they were
/// written, and each is fanned out before the next.
pub(crate) const EVENT_TOPIC: &str = "event";

/// The topic prefix of events an earlier version queued (`event.user.registered`, …).
pub(crate) const LEGACY_EVENT_TOPIC_PREFIX: &str = "event.";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// An account was created (`data`: `user_id`, `referrer_id`).
    UserRegistered,
    /// An account's email address was verified.
    UserEmailVerified,
    /// An account's metadata, roles or referral code changed.
    UserUpdated,
    /// An account was disabled.
    UserDisabled,
    /// An account was erased.
    UserDeleted,
    /// A password was changed or reset (`data`: `user_id`, `via`).
    PasswordChanged,
    /// Someone signed up with a referral code (`data`: `user_id`, `referrer_id`).
    ReferralCreated,
    /// Share-link clicks were counted for a user, aggregated: one event per user per batch
    /// the click writer counts (`data`: `user_id`, `clicks`).
    ReferralClicked,
    /// A reward ledger entry was written (`data`: `reward_id`, `user_id`, `kind`, `points`, `status`).
    RewardCreated,
    /// A pending reward was approved.
    RewardApproved,
    /// A reward was revoked.
    RewardRevoked,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 11] = [
        EventType::UserRegistered,
        EventType::UserEmailVerified,
        EventType::UserUpdated,
        EventType::UserDisabled,
        EventType::UserDeleted,
        EventType::PasswordChanged,
        EventType::ReferralCreated,
        EventType::ReferralClicked,
        EventType::RewardCreated,
        EventType::RewardApproved,
        EventType::RewardRevoked,
    ];

    /// The type's name (`user.registered`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserRegistered => "user.registered",
            EventType::UserEmailVerified => "user.email_verified",
            EventType::UserUpdated => "user.updated",
            EventType::UserDisabled => "user.disabled",
            EventType::UserDeleted => "user.deleted",
            EventType::PasswordChanged => "password.changed",
            EventType::ReferralCreated => "referral.created",
            EventType::ReferralClicked => "referral.clicked",
            EventType::RewardCreated => "reward.created",
            EventType::RewardApproved => "reward.approved",
            EventType::RewardRevoked => "reward.revoked",
        }
    }

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// An event as handlers and webhooks receive it:
/// `{ "id", "type", "occurred_at", "data": { … } }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id (UUID v7): deliveries of one event carry the same id, for idempotency.
    pub id: Uuid,
    /// The type's name (`user.registered`).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    pub occurred_at: OffsetDateTime,
    /// The ids involved and plain facts; never a secret, hash or token.
    pub data: Value,
}

impl Engine {
    /// The outbox message carrying an event of `kind` about `user` (its ordering key) with
    /// `data`, to write in the same transaction as the change.
    pub(crate) fn event(&self, kind: EventType, user: Option<Uuid>, data: Value) -> OutboxMessage {
        event_message(kind, user, data, self.now())
    }
}

/// The outbox message carrying an event of `kind` about `user` (its ordering key) with
/// `data`, as it happened at `occurred_at`.
pub(crate) fn event_message(
    kind: EventType,
    user: Option<Uuid>,
    data: Value,
    occurred_at: OffsetDateTime,
) -> OutboxMessage {
    let id = Uuid::now_v7();
    let event = Event {
        id,
        kind: kind.as_str().to_owned(),
        occurred_at,
        data,
    };
    OutboxMessage {
        id,
        topic: EVENT_TOPIC.to_owned(),
        user_id: user,
        // An `Event` is plain data: it always serialises.
        payload: serde_json::to_string(&event).unwrap_or_default(),
        attempts: 0,
        created_at: occurred_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_by_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventType::parse("user.exploded"), None);
    }
}
