//! The reward lifecycle: a user's ledger (`GET /rewards`), status changes (approve, revoke)
//! and conversions the app reports.
//!
//! Every status change is a [`RewardTransition`] that storage applies only while the reward
//! still has the status it was read with, together with its `reward.approved` or
//! `reward.revoked` event: two triggers racing to approve one pending reward approve it once.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::referrals::{check_limit, one_page};
use super::{Engine, EventType};
use crate::error::Error;
use crate::rewards::{
    RewardApproval, RewardEntry, RewardFlag, RewardKind, RewardStatus, RewardTransition,
};
use crate::storage::{audit_actions, AuditEntry, ConversionRecord, RewardCursor};
use crate::user::UserRecord;

/// Longest conversion kind or external id, in bytes.
pub const MAX_CONVERSION_ID_BYTES: usize = 200;

/// Longest reason an admin gives for a revocation or an adjustment, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The largest number of points one adjustment adds or takes.
pub const MAX_ADJUSTMENT_POINTS: i64 = 1_000_000;

/// A ledger entry as answers show it (`Reward` in the contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Reward {
    /// Entry id.
    pub id: Uuid,
    /// Why it was written.
    pub kind: RewardKind,
    /// Points (never zero; an adjustment may be negative).
    pub points: i64,
    /// `pending`, `approved` or `revoked`.
    pub status: RewardStatus,
    /// The referred user whose sign-up or conversion earned it.
    pub referral_user_id: Option<Uuid>,
    /// Why it was adjusted or revoked, when someone said.
    pub reason: Option<String>,
    /// Fraud signals raised at sign-up (`self_referral`, `disposable_email`, `velocity`).
    #[cfg_attr(feature = "http", schema(value_type = Vec<String>))]
    pub flags: Vec<RewardFlag>,
    /// RFC 3339, UTC.
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Last status change (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

impl From<RewardEntry> for Reward {
    fn from(entry: RewardEntry) -> Self {
        Reward {
            id: entry.id,
            kind: entry.kind,
            points: entry.points,
            status: entry.status,
            referral_user_id: entry.referral_user,
            reason: entry.reason,
            flags: entry.flags,
            created_at: entry.created_at,
            updated_at: entry.updated_at,
        }
    }
}

/// One page of a user's rewards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct RewardPage {
    /// Newest first.
    pub rewards: Vec<Reward>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What [`Engine::record_conversion`] did (the body of the admin route's answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct ConversionOutcome {
    /// `false` when this (user, kind, external id) was recorded before: nothing was written.
    pub recorded: bool,
    /// The user's pending `on_conversion` rewards now approved, and the `conversion`
    /// rewards the policy granted.
    pub rewards: Vec<Reward>,
}

impl Engine {
    /// One page of the rewards `user` earned, newest first: at most `limit` (1..=100), after
    /// `cursor` (the previous page's `next_cursor`). Errors as for
    /// [`referrals`](Self::referrals).
    pub async fn rewards(
        &self,
        user: &UserRecord,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RewardPage, Error> {
        check_limit(limit)?;
        let after = cursor.map(decode_cursor).transpose()?;
        let rows = self
            .inner
            .storage
            .list_rewards(user.id, after, limit + 1)
            .await?;
        Ok(reward_page(rows, limit))
    }

    /// Every user's rewards with `status` (the review queue: `pending`), newest first: at
    /// most `limit` (1..=100), after `cursor` (the previous page's `next_cursor`). Errors as
    /// for [`referrals`](Self::referrals).
    pub async fn rewards_with_status(
        &self,
        status: RewardStatus,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RewardPage, Error> {
        check_limit(limit)?;
        let after = cursor.map(decode_cursor).transpose()?;
        let rows = self
            .inner
            .storage
            .rewards_with_status(status, after, limit + 1)
            .await?;
        Ok(reward_page(rows, limit))
    }

    /// An admin (`actor`; `None`: the operator) approves pending reward `id`, with its
    /// `reward.approved` event and an audit entry in the same transaction.
    ///
    /// Errors: [`Error::UnknownReward`]; [`Error::InvalidTransition`] unless it is pending.
    pub async fn approve_reward(
        &self,
        actor: Option<&UserRecord>,
        id: Uuid,
    ) -> Result<Reward, Error> {
        self.decide_reward(
            actor.map(|actor| actor.id),
            id,
            RewardStatus::Approved,
            None,
        )
        .await
    }

    /// An admin (`actor`; `None`: the operator) revokes reward `id` (pending or approved)
    /// for `reason` (1 to [`MAX_REASON_CHARS`] characters, kept on the entry), with its
    /// `reward.revoked` event and an audit entry in the same transaction.
    ///
    /// Errors: [`Error::Validation`] (`reason`); [`Error::UnknownReward`];
    /// [`Error::InvalidTransition`] when it is revoked already.
    pub async fn revoke_reward(
        &self,
        actor: Option<&UserRecord>,
        id: Uuid,
        reason: &str,
    ) -> Result<Reward, Error> {
        let reason = reason_field(reason)?;
        self.decide_reward(
            actor.map(|actor| actor.id),
            id,
            RewardStatus::Revoked,
            Some(reason),
        )
        .await
    }

    /// An admin (`actor`; `None`: the operator) adds `points` to user `user`'s total, or takes
    /// them when negative, for `reason`: an approved ledger entry of kind `adjustment`,
    /// written with its `reward.created` event and an audit entry in one transaction. Points
    /// are a non-zero whole number from -[`MAX_ADJUSTMENT_POINTS`] to
    /// [`MAX_ADJUSTMENT_POINTS`]; a total may go below zero.
    ///
    /// Errors: [`Error::Validation`] (`points`, `reason`); [`Error::UserNotFound`].
    pub async fn adjust_points(
        &self,
        actor: Option<&UserRecord>,
        user: Uuid,
        points: i64,
        reason: &str,
    ) -> Result<Reward, Error> {
        if points == 0 || points.abs() > MAX_ADJUSTMENT_POINTS {
            return Err(Error::invalid(
                "points",
                "out_of_range",
                &format!(
                    "points must be a whole number from -{MAX_ADJUSTMENT_POINTS} to \
                     {MAX_ADJUSTMENT_POINTS}, not 0"
                ),
            ));
        }
        let reason = reason_field(reason)?;
        let now = self.now();
        let entry = RewardEntry {
            id: Uuid::now_v7(),
            beneficiary: user,
            referral_user: None,
            kind: RewardKind::Adjustment,
            points,
            status: RewardStatus::Approved,
            approval: RewardApproval::OnSignup,
            flags: Vec::new(),
            reason: Some(reason.to_owned()),
            created_at: now,
            updated_at: now,
        };
        let audit = AuditEntry {
            id: Uuid::now_v7(),
            actor_id: actor.map(|actor| actor.id),
            action: audit_actions::POINTS_ADJUSTED.to_owned(),
            target_id: Some(user),
            details: json!({ "reward_id": entry.id, "points": points, "reason": reason }),
            at: now,
        };
        let event = self.reward_created_event(&entry);
        if !self
            .inner
            .storage
            .add_reward(entry.clone(), vec![event], audit)
            .await?
        {
            return Err(Error::UserNotFound);
        }
        self.wake_outbox();
        tracing::info!(user = %user, points, "points adjusted");
        Ok(entry.into())
    }

    /// Moves reward `id` to `to` (the app approving or revoking it), with `reason` kept on
    /// the entry: pending → approved, pending → revoked, approved → revoked. The audit log
    /// records it as the operator's.
    ///
    /// Errors: [`Error::UnknownReward`]; [`Error::InvalidTransition`] for any other change,
    /// including a reward another caller moved first.
    pub async fn set_reward_status(
        &self,
        id: Uuid,
        to: RewardStatus,
        reason: Option<&str>,
    ) -> Result<Reward, Error> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        self.decide_reward(None, id, to, reason).await
    }

    /// Moves reward `id` to `to` on someone's decision: with its event and an audit entry
    /// naming `actor`.
    async fn decide_reward(
        &self,
        actor: Option<Uuid>,
        id: Uuid,
        to: RewardStatus,
        reason: Option<&str>,
    ) -> Result<Reward, Error> {
        let storage = &self.inner.storage;
        let current = storage.reward(id).await?.ok_or(Error::UnknownReward)?;
        if !current.status.can_become(to) {
            return Err(Error::InvalidTransition {
                from: current.status,
                to,
            });
        }
        let mut transition = self.transition(&current, to, reason);
        transition.audit = Some(AuditEntry {
            id: Uuid::now_v7(),
            actor_id: actor,
            action: match to {
                RewardStatus::Revoked => audit_actions::REWARD_REVOKED,
                _ => audit_actions::REWARD_APPROVED,
            }
            .to_owned(),
            target_id: Some(current.beneficiary),
            details: json!({
                "reward_id": current.id,
                "from": current.status.as_str(),
                "to": to.as_str(),
                "points": current.points,
                "reason": reason,
            }),
            at: transition.at,
        });
        match storage.transition_reward(transition).await? {
            Some(entry) => {
                self.wake_outbox();
                tracing::info!(reward = %id, status = to.as_str(), "reward status changed");
                Ok(entry.into())
            }
            None => Err(Error::InvalidTransition {
                from: storage
                    .reward(id)
                    .await?
                    .map_or(current.status, |now| now.status),
                to,
            }),
        }
    }

    /// Records that `user_id` converted (`kind`: what they did, as the app names it;
    /// `external_id`: the app's own id for it, an order number; `value` in the app's unit):
    /// approves the user's pending referral rewards that wait for a conversion and grants the
    /// referrer the policy's `conversion` points, all at once. Idempotent per (user, kind,
    /// external id): recording it again writes nothing and answers `recorded: false`.
    ///
    /// Errors: [`Error::UnknownUser`] (nothing written); [`Error::Validation`] for an empty
    /// or over-long `kind` or `external_id`.
    pub async fn record_conversion(
        &self,
        user_id: Uuid,
        kind: &str,
        external_id: &str,
        value: i64,
    ) -> Result<ConversionOutcome, Error> {
        self.convert(None, user_id, kind, external_id, value).await
    }

    /// Records a conversion as [`record_conversion`](Self::record_conversion) does, on an
    /// admin's word (`POST /api/admin/users/{id}/conversions`): a recording writes an audit
    /// entry naming `actor` in its transaction; a repeat writes nothing.
    ///
    /// Errors: as `record_conversion`.
    pub async fn record_conversion_as(
        &self,
        actor: &UserRecord,
        user_id: Uuid,
        kind: &str,
        external_id: &str,
        value: i64,
    ) -> Result<ConversionOutcome, Error> {
        self.convert(Some(actor.id), user_id, kind, external_id, value)
            .await
    }

    /// Records a conversion; audited when an admin (`actor`) reported it.
    async fn convert(
        &self,
        actor: Option<Uuid>,
        user_id: Uuid,
        kind: &str,
        external_id: &str,
        value: i64,
    ) -> Result<ConversionOutcome, Error> {
        let kind = conversion_field("kind", kind)?;
        let external_id = conversion_field("external_id", external_id)?;
        let storage = &self.inner.storage;
        let user = storage
            .user_by_id(user_id)
            .await?
            .ok_or(Error::UnknownUser)?;
        let now = self.now();
        let approvals = self
            .approvals_of(user.id, RewardApproval::OnConversion, "conversion")
            .await?;
        let points = self.inner.config.rewards.conversion;
        let grants: Vec<RewardEntry> = match user.referred_by {
            Some(referrer) if points != 0 => vec![RewardEntry {
                id: Uuid::now_v7(),
                beneficiary: referrer,
                referral_user: Some(user.id),
                kind: RewardKind::Conversion,
                points,
                status: RewardStatus::Approved,
                approval: RewardApproval::OnSignup,
                flags: Vec::new(),
                reason: None,
                created_at: now,
                updated_at: now,
            }],
            _ => Vec::new(),
        };
        let outbox = grants
            .iter()
            .map(|entry| self.reward_created_event(entry))
            .collect();
        let conversion = ConversionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            kind: kind.to_owned(),
            external_id: external_id.to_owned(),
            value,
            recorded_at: now,
        };
        let audit = actor.map(|actor| AuditEntry {
            id: Uuid::now_v7(),
            actor_id: Some(actor),
            action: audit_actions::CONVERSION_RECORDED.to_owned(),
            target_id: Some(user.id),
            details: json!({
                "conversion_id": conversion.id,
                "kind": conversion.kind,
                "external_id": conversion.external_id,
                "value": conversion.value,
            }),
            at: now,
        });
        match storage
            .record_conversion(conversion, approvals, grants, outbox, audit)
            .await?
        {
            None => Ok(ConversionOutcome {
                recorded: false,
                rewards: Vec::new(),
            }),
            Some(entries) => {
                self.wake_outbox();
                tracing::info!(user = %user.id, "conversion recorded");
                Ok(ConversionOutcome {
                    recorded: true,
                    rewards: entries.into_iter().map(Reward::from).collect(),
                })
            }
        }
    }

    /// Approvals of the pending rewards `referral_user` earned that wait for `approval`.
    pub(crate) async fn approvals_of(
        &self,
        referral_user: Uuid,
        approval: RewardApproval,
        reason: &str,
    ) -> Result<Vec<RewardTransition>, Error> {
        Ok(self
            .inner
            .storage
            .pending_rewards(referral_user, approval)
            .await?
            .iter()
            .map(|entry| self.transition(entry, RewardStatus::Approved, Some(reason)))
            .collect())
    }

    /// The transition of `entry` from its current status to `to`, with its event.
    fn transition(
        &self,
        entry: &RewardEntry,
        to: RewardStatus,
        reason: Option<&str>,
    ) -> RewardTransition {
        let kind = match to {
            RewardStatus::Revoked => EventType::RewardRevoked,
            _ => EventType::RewardApproved,
        };
        let event = self.event(
            kind,
            Some(entry.beneficiary),
            json!({
                "reward_id": entry.id,
                "user_id": entry.beneficiary,
                "referral_user_id": entry.referral_user,
                "points": entry.points,
                "status": to.as_str(),
            }),
        );
        RewardTransition {
            reward: entry.id,
            from: entry.status,
            to,
            reason: reason.map(str::to_owned),
            at: self.now(),
            event: Some(event),
            audit: None,
        }
    }

    /// The `reward.created` event of a new ledger entry.
    pub(crate) fn reward_created_event(
        &self,
        entry: &RewardEntry,
    ) -> crate::storage::OutboxMessage {
        self.event(
            EventType::RewardCreated,
            Some(entry.beneficiary),
            json!({
                "reward_id": entry.id,
                "user_id": entry.beneficiary,
                "referral_user_id": entry.referral_user,
                "kind": entry.kind.as_str(),
                "points": entry.points,
                "status": entry.status.as_str(),
                "flags": entry.flags,
            }),
        )
    }
}

fn conversion_field<'a>(field: &str, value: &'a str) -> Result<&'a str, Error> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_CONVERSION_ID_BYTES {
        return Err(Error::invalid(
            field,
            "invalid_length",
            &format!("{field} must be 1 to {MAX_CONVERSION_ID_BYTES} bytes"),
        ));
    }
    Ok(value)
}

/// An admin's reason: trimmed, 1 to [`MAX_REASON_CHARS`] characters.
fn reason_field(raw: &str) -> Result<&str, Error> {
    let reason = raw.trim();
    let length = reason.chars().count();
    if length == 0 || length > MAX_REASON_CHARS {
        return Err(Error::invalid(
            "reason",
            "invalid_length",
            &format!("reason must be 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason)
}

fn encode_cursor(created_at: OffsetDateTime, id: Uuid) -> String {
    super::referrals::encode_position(created_at, id)
}

fn decode_cursor(raw: &str) -> Result<RewardCursor, Error> {
    let (created_at, id) = super::referrals::decode_position(raw)?;
    Ok(RewardCursor { created_at, id })
}

/// A page of `limit` rewards out of `rows` read with one more, and the cursor to the next.
fn reward_page(rows: Vec<RewardEntry>, limit: u32) -> RewardPage {
    let (rows, next_cursor) = one_page(rows, limit, |last| encode_cursor(last.created_at, last.id));
    RewardPage {
        rewards: rows.into_iter().map(Reward::from).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_reward_cursor_round_trips() {
        let at = datetime!(2026-12-02 10:00:00.5 UTC);
        let id = Uuid::now_v7();
        assert_eq!(
            decode_cursor(&encode_cursor(at, id)).unwrap(),
            RewardCursor { created_at: at, id }
        );
        assert!(decode_cursor("garbage").is_err());
    }

    #[test]
    fn a_reason_is_trimmed_and_holds_1_to_500_characters() {
        assert_eq!(reason_field("  fraud ").unwrap(), "fraud");
        assert!(reason_field(" ").is_err());
        assert!(reason_field(&"é".repeat(500)).is_ok());
        assert!(reason_field(&"é".repeat(501)).is_err());
    }

    #[test]
    fn conversion_ids_are_trimmed_and_bounded() {
        assert_eq!(conversion_field("kind", " purchase ").unwrap(), "purchase");
        assert!(conversion_field("kind", "  ").is_err());
        assert!(conversion_field("external_id", &"x".repeat(201)).is_err());
    }
}
