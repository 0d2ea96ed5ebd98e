//! The reward policy and the ledger's vocabulary: who earns how many points when someone
//! signs up with a code or converts, and when each reward is approved.
//!
//! A reward is a ledger entry with a [`RewardStatus`]: `pending` (held until its
//! [`RewardApproval`] trigger fires or an admin decides), `approved` (counts in
//! `total_reward_points`) or `revoked` (never counts). Transitions are pending → approved,
//! pending → revoked and approved → revoked; storage applies each one atomically, so a
//! pending reward is approved exactly once however many triggers race.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Why a ledger entry was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub enum RewardKind {
    /// Earned by the referrer for a direct sign-up.
    Referrer,
    /// Earned by the new user for signing up with a code.
    Referee,
    /// Earned by the referrer's own referrer.
    SecondTier,
    /// Earned by the referrer when their referee converts (see
    /// [`Engine::record_conversion`](crate::Engine::record_conversion)).
    Conversion,
    /// Written by hand (an admin's adjustment).
    Adjustment,
}

impl RewardKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Referrer => "referrer",
            RewardKind::Referee => "referee",
            RewardKind::SecondTier => "second_tier",
            RewardKind::Conversion => "conversion",
            RewardKind::Adjustment => "adjustment",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "referrer" => Some(RewardKind::Referrer),
            "referee" => Some(RewardKind::Referee),
            "second_tier" => Some(RewardKind::SecondTier),
            "conversion" => Some(RewardKind::Conversion),
            "adjustment" => Some(RewardKind::Adjustment),
            _ => None,
        }
    }
}

/// Where a reward stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub enum RewardStatus {
    /// Held: counts in `pending_reward_points`, not in `total_reward_points`.
    Pending,
    /// Counts in `total_reward_points`.
    Approved,
    /// Never counts.
    Revoked,
}

impl RewardStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardStatus::Pending => "pending",
            RewardStatus::Approved => "approved",
            RewardStatus::Revoked => "revoked",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RewardStatus::Pending),
            "approved" => Some(RewardStatus::Approved),
            "revoked" => Some(RewardStatus::Revoked),
            _ => None,
        }
    }

    /// Whether a reward may go from `self` to `to`: pending → approved, pending → revoked,
    /// approved → revoked.
    pub fn can_become(self, to: RewardStatus) -> bool {
        matches!(
            (self, to),
            (RewardStatus::Pending, RewardStatus::Approved)
                | (RewardStatus::Pending, RewardStatus::Revoked)
                | (RewardStatus::Approved, RewardStatus::Revoked)
        )
    }
}

/// What approves a pending referral reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardApproval {
    /// Approved when written, at sign-up (the default).
    #[default]
    OnSignup,
    /// Approved when the referee verifies their email address.
    OnEmailVerified,
    /// Approved when the app reports a conversion of the referee.
    OnConversion,
    /// Held for an admin to approve or revoke (a fraud flag was raised).
    Review,
}

impl RewardApproval {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardApproval::OnSignup => "on_signup",
            RewardApproval::OnEmailVerified => "on_email_verified",
            RewardApproval::OnConversion => "on_conversion",
            RewardApproval::Review => "review",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "on_signup" => Some(RewardApproval::OnSignup),
            "on_email_verified" => Some(RewardApproval::OnEmailVerified),
            "on_conversion" => Some(RewardApproval::OnConversion),
            "review" => Some(RewardApproval::Review),
            _ => None,
        }
    }
}

/// A fraud signal raised at sign-up, kept on the reward for admins to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardFlag {
    /// The referee's address is the referrer's own mailbox: no reward at all.
    SelfReferral,
    /// The referee signed up with a disposable address: held for review.
    DisposableEmail,
    /// The referrer had more sign-ups in the last hour than the velocity limit: held for
    /// review.
    Velocity,
}

impl RewardFlag {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardFlag::SelfReferral => "self_referral",
            RewardFlag::DisposableEmail => "disposable_email",
            RewardFlag::Velocity => "velocity",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "self_referral" => Some(RewardFlag::SelfReferral),
            "disposable_email" => Some(RewardFlag::DisposableEmail),
            "velocity" => Some(RewardFlag::Velocity),
            _ => None,
        }
    }

    /// Flags as stored: their names, comma-separated, in order.
    pub fn join(flags: &[RewardFlag]) -> String {
        flags
            .iter()
            .map(|flag| flag.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Flags read back from [`join`](Self::join)'s text; `None` when a name is unknown.
    pub fn split(text: &str) -> Option<Vec<RewardFlag>> {
        text.split(',')
            .filter(|name| !name.is_empty())
            .map(RewardFlag::parse)
            .collect()
    }
}

/// One ledger entry: `points` credited to `beneficiary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardEntry {
    /// Entry id (UUID v7).
    pub id: Uuid,
    /// Who earns the points.
    pub beneficiary: Uuid,
    /// The referred user whose sign-up or conversion earned it (`None` for an adjustment).
    pub referral_user: Option<Uuid>,
    /// Why.
    pub kind: RewardKind,
    /// How many points (never zero).
    pub points: i64,
    /// Where it stands.
    pub status: RewardStatus,
    /// What approves it while it is pending.
    pub approval: RewardApproval,
    /// Fraud signals raised when it was written.
    pub flags: Vec<RewardFlag>,
    /// Why it was adjusted or revoked, when someone said.
    pub reason: Option<String>,
    /// Written at.
    pub created_at: OffsetDateTime,
    /// Last status change (or `created_at`).
    pub updated_at: OffsetDateTime,
}

impl RewardEntry {
    /// This entry with the fraud `flags` raised at its sign-up, and what they do to it:
    /// `self_referral` revokes it at once (no reward at all, the flag kept for admins to
    /// see); any other flag holds it `pending` for review, whatever the policy says.
    pub fn flagged(mut self, flags: &[RewardFlag]) -> Self {
        if flags.is_empty() {
            return self;
        }
        self.flags = flags.to_vec();
        if flags.contains(&RewardFlag::SelfReferral) {
            self.status = RewardStatus::Revoked;
            self.reason = Some("self-referral: the referee is the referrer's own mailbox".into());
        } else {
            self.status = RewardStatus::Pending;
            self.approval = RewardApproval::Review;
        }
        self
    }
}

/// A status change of one reward, as the engine asks storage to apply it: only while the
/// reward is still `from`, atomically with the event it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardTransition {
    /// The reward.
    pub reward: Uuid,
    /// The status it must still have.
    pub from: RewardStatus,
    /// The status it gets.
    pub to: RewardStatus,
    /// Why (kept on the reward when given).
    pub reason: Option<String>,
    /// When.
    pub at: OffsetDateTime,
    /// The outbox message (a `reward.approved` / `reward.revoked` event) written with it.
    pub event: Option<crate::storage::OutboxMessage>,
    /// The audit entry written with it, when someone decided it (an admin, the operator).
    pub audit: Option<crate::storage::AuditEntry>,
}

/// How many points each party earns, and when referral rewards are approved.
///
/// ```
/// use referral_core::{RewardApproval, RewardPolicy};
/// let policy = RewardPolicy {
///     referrer: 50,
///     referee: 10,
///     approval: RewardApproval::OnEmailVerified,
///     ..RewardPolicy::default()
/// };
/// assert_eq!(RewardPolicy::default().referrer, 100);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardPolicy {
    /// Points for the referrer per direct sign-up (default 100).
    pub referrer: i64,
    /// Points for the new user (default 0).
    pub referee: i64,
    /// Points for the referrer's referrer (default 0).
    pub second_tier: i64,
    /// Points for the referrer each time their referee converts (default 0), approved when
    /// the conversion is recorded.
    pub conversion: i64,
    /// When sign-up rewards are approved (default [`RewardApproval::OnSignup`]).
    pub approval: RewardApproval,
}

impl Default for RewardPolicy {
    fn default() -> Self {
        RewardPolicy {
            referrer: 100,
            referee: 0,
            second_tier: 0,
            conversion: 0,
            approval: RewardApproval::OnSignup,
        }
    }
}

impl RewardPolicy {
    /// The ledger entries for `referee` signing up at `at` with `referrer`'s code, where
    /// `second_tier` is the referrer's own referrer. Zero-point rewards write no entry. Each
    /// is approved at once under [`RewardApproval::OnSignup`], pending otherwise.
    pub fn entries(
        &self,
        referrer: Uuid,
        referee: Uuid,
        second_tier: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Vec<RewardEntry> {
        let status = match self.approval {
            RewardApproval::OnSignup => RewardStatus::Approved,
            _ => RewardStatus::Pending,
        };
        [
            (Some(referrer), RewardKind::Referrer, self.referrer),
            (Some(referee), RewardKind::Referee, self.referee),
            (second_tier, RewardKind::SecondTier, self.second_tier),
        ]
        .into_iter()
        .filter_map(|(beneficiary, kind, points)| {
            let beneficiary = beneficiary?;
            (points != 0).then(|| RewardEntry {
                id: Uuid::now_v7(),
                beneficiary,
                referral_user: Some(referee),
                kind,
                points,
                status,
                approval: self.approval,
                flags: Vec::new(),
                reason: None,
                created_at: at,
                updated_at: at,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-12-02 10:00 UTC);

    #[test]
    fn the_default_policy_pays_the_referrer_only_and_approves_at_once() {
        let (referrer, referee, grand) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let entries = RewardPolicy::default().entries(referrer, referee, Some(grand), AT);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].beneficiary, entries[0].kind, entries[0].points),
            (referrer, RewardKind::Referrer, 100)
        );
        assert_eq!(entries[0].status, RewardStatus::Approved);
        assert_eq!(entries[0].referral_user, Some(referee));
    }

    #[test]
    fn a_full_policy_pays_all_three_tiers() {
        let (referrer, referee, grand) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let policy = RewardPolicy {
            referrer: 50,
            referee: 10,
            second_tier: 5,
            ..RewardPolicy::default()
        };
        let entries = policy.entries(referrer, referee, Some(grand), AT);
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.beneficiary, e.kind, e.points))
            .collect();
        assert_eq!(
            got,
            vec![
                (referrer, RewardKind::Referrer, 50),
                (referee, RewardKind::Referee, 10),
                (grand, RewardKind::SecondTier, 5)
            ]
        );
        assert!(policy
            .entries(referrer, referee, None, AT)
            .iter()
            .all(|e| e.kind != RewardKind::SecondTier));
    }

    #[test]
    fn a_policy_approving_later_writes_pending_entries() {
        let policy = RewardPolicy {
            approval: RewardApproval::OnConversion,
            ..RewardPolicy::default()
        };
        let entries = policy.entries(Uuid::now_v7(), Uuid::now_v7(), None, AT);
        assert_eq!(entries[0].status, RewardStatus::Pending);
        assert_eq!(entries[0].approval, RewardApproval::OnConversion);
    }

    #[test]
    fn a_self_referral_is_revoked_and_other_flags_hold_the_reward_for_review() {
        let entry =
            RewardPolicy::default().entries(Uuid::now_v7(), Uuid::now_v7(), None, AT)[0].clone();
        assert_eq!(entry.clone().flagged(&[]), entry);
        let own = entry
            .clone()
            .flagged(&[RewardFlag::SelfReferral, RewardFlag::Velocity]);
        assert_eq!(own.status, RewardStatus::Revoked);
        assert!(own.reason.is_some());
        let held = entry.flagged(&[RewardFlag::DisposableEmail]);
        assert_eq!(
            (held.status, held.approval, held.flags),
            (
                RewardStatus::Pending,
                RewardApproval::Review,
                vec![RewardFlag::DisposableEmail]
            )
        );
    }

    #[test]
    fn only_the_three_transitions_are_allowed() {
        use RewardStatus::*;
        for from in [Pending, Approved, Revoked] {
            for to in [Pending, Approved, Revoked] {
                let allowed = matches!(
                    (from, to),
                    (Pending, Approved) | (Pending, Revoked) | (Approved, Revoked)
                );
                assert_eq!(from.can_become(to), allowed, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in [
            RewardKind::Referrer,
            RewardKind::Referee,
            RewardKind::SecondTier,
            RewardKind::Conversion,
            RewardKind::Adjustment,
        ] {
            assert_eq!(RewardKind::parse(kind.as_str()), Some(kind));
        }
        for approval in [
            RewardApproval::OnSignup,
            RewardApproval::OnEmailVerified,
            RewardApproval::OnConversion,
            RewardApproval::Review,
        ] {
            assert_eq!(RewardApproval::parse(approval.as_str()), Some(approval));
        }
        let flags = vec![RewardFlag::DisposableEmail, RewardFlag::Velocity];
        assert_eq!(
            RewardFlag::split(&RewardFlag::join(&flags)),
            Some(flags.clone())
        );
        assert_eq!(RewardFlag::split(""), Some(Vec::new()));
        assert_eq!(RewardFlag::split("nope"), None);
    }
}
