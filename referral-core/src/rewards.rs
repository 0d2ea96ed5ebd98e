//! The reward policy: who earns how many points when someone signs up with a code.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a ledger entry was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// Earned by the referrer for a direct sign-up.
    Referrer,
    /// Earned by the new user for signing up with a code.
    Referee,
    /// Earned by the referrer's own referrer.
    SecondTier,
}

impl RewardKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Referrer => "referrer",
            RewardKind::Referee => "referee",
            RewardKind::SecondTier => "second_tier",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "referrer" => Some(RewardKind::Referrer),
            "referee" => Some(RewardKind::Referee),
            "second_tier" => Some(RewardKind::SecondTier),
            _ => None,
        }
    }
}

/// One ledger entry: `points` credited to `beneficiary` for the sign-up of a referee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardEntry {
    /// Entry id.
    pub id: Uuid,
    /// Who earns the points.
    pub beneficiary: Uuid,
    /// Why.
    pub kind: RewardKind,
    /// How many points (never zero).
    pub points: i64,
}

/// How many points each party earns per sign-up with a referral code.
///
/// ```
/// use referral_core::RewardPolicy;
/// let policy = RewardPolicy { referrer: 50, referee: 10, second_tier: 5 };
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
}

impl Default for RewardPolicy {
    fn default() -> Self {
        RewardPolicy {
            referrer: 100,
            referee: 0,
            second_tier: 0,
        }
    }
}

impl RewardPolicy {
    /// The ledger entries for `referee` signing up with `referrer`'s code, where
    /// `second_tier` is the referrer's own referrer. Zero-point rewards write no entry.
    pub fn entries(
        &self,
        referrer: Uuid,
        referee: Uuid,
        second_tier: Option<Uuid>,
    ) -> Vec<RewardEntry> {
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
                kind,
                points,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_pays_the_referrer_only() {
        let (referrer, referee, grand) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let entries = RewardPolicy::default().entries(referrer, referee, Some(grand));
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].beneficiary, entries[0].kind, entries[0].points),
            (referrer, RewardKind::Referrer, 100)
        );
    }

    #[test]
    fn a_full_policy_pays_all_three_tiers() {
        let (referrer, referee, grand) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let policy = RewardPolicy {
            referrer: 50,
            referee: 10,
            second_tier: 5,
        };
        let entries = policy.entries(referrer, referee, Some(grand));
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
            .entries(referrer, referee, None)
            .iter()
            .all(|e| e.kind != RewardKind::SecondTier));
    }
}
