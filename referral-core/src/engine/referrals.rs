//! Referrals: a referrer's list (cursor-paginated, newest first) and their statistics.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Engine;
use crate::error::Error;
use crate::storage::ReferralCursor;
use crate::user::UserRecord;

/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The window of `referrals_last_30_days`.
pub const RECENT_WINDOW: Duration = Duration::days(30);

/// One referred user, as their referrer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Referral {
    /// The referred user's id.
    pub user_id: Uuid,
    /// Masked email: `j***@example.com`; `null` once the referred user erased their account.
    pub email: Option<String>,
    /// When they joined (RFC 3339, UTC).
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub joined_at: OffsetDateTime,
    /// Approved points the referrer earned from this referral.
    pub reward_points: i64,
}

/// One page of a referrer's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct ReferralPage {
    /// Newest first.
    pub referrals: Vec<Referral>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A user's referral statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct ReferralStats {
    /// The user's own code.
    pub referral_code: String,
    /// The user's referral link.
    pub referral_link: String,
    /// Users referred.
    pub total_referrals: u64,
    /// Users referred in the last 30 days.
    pub referrals_last_30_days: u64,
    /// Sum of the user's approved reward ledger entries.
    pub total_reward_points: i64,
    /// Sum of the user's pending reward ledger entries (held until approved or revoked).
    pub pending_reward_points: i64,
    /// Users referred by the user's referrals.
    pub second_tier_referrals: u64,
    /// Clicks on the user's share links, ever (one per visitor per 24 hours).
    pub clicks: u64,
    /// Of those, clicks on the last 30 UTC days, today included.
    pub clicks_last_30_days: u64,
    /// The user's share link, `{APP_BASE_URL}/r/{referral_code}`: it counts a click and
    /// redirects to the referral link.
    pub share_link: String,
}

impl Engine {
    /// One page of the users `user` referred, newest first: at most `limit` (1..=100) of
    /// them, after `cursor` (the previous page's `next_cursor`). A `limit` out of range or a
    /// cursor this API did not hand out is an [`Error::Validation`] naming the field.
    pub async fn referrals(
        &self,
        user: &UserRecord,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<ReferralPage, Error> {
        check_limit(limit)?;
        let after = cursor.map(decode_cursor).transpose()?;
        let rows = self
            .inner
            .storage
            .list_referrals(user.id, after, limit + 1)
            .await?;
        let (rows, next_cursor) = one_page(rows, limit, |last| {
            encode_cursor(last.joined_at, last.user_id)
        });
        Ok(ReferralPage {
            referrals: rows
                .into_iter()
                .map(|row| Referral {
                    user_id: row.user_id,
                    email: row.email.map(|email| email.masked()),
                    joined_at: row.joined_at,
                    reward_points: row.reward_points,
                })
                .collect(),
            next_cursor,
        })
    }

    /// The referral statistics of `user`.
    pub async fn referral_stats(&self, user: &UserRecord) -> Result<ReferralStats, Error> {
        let since = self.now() - RECENT_WINDOW;
        let counts = self.inner.storage.referral_stats(user.id, since).await?;
        let clicks = self.inner.storage.click_counts(user.id, since).await?;
        Ok(ReferralStats {
            referral_code: user.referral_code.to_string(),
            referral_link: self.referral_link(&user.referral_code),
            total_referrals: counts.total,
            referrals_last_30_days: counts.since,
            total_reward_points: counts.reward_points,
            pending_reward_points: counts.pending_reward_points,
            second_tier_referrals: counts.second_tier,
            clicks: clicks.total,
            clicks_last_30_days: clicks.since,
            share_link: self.share_link(&user.referral_code),
        })
    }
}

/// The page-size rule: 1..=100.
/// Splits `rows` (fetched with `limit + 1`) into one page of at most `limit` rows and the
/// cursor of its last row when more follow; shared by every paginated listing.
pub(crate) fn one_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(&cursor_of)).flatten();
    (rows, next_cursor)
}

pub(crate) fn check_limit(limit: u32) -> Result<u32, Error> {
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid(
            "limit",
            "out_of_range",
            "limit must be a whole number from 1 to 100",
        ))
    }
}

fn encode_cursor(joined_at: OffsetDateTime, user_id: Uuid) -> String {
    encode_position(joined_at, user_id)
}

fn decode_cursor(raw: &str) -> Result<ReferralCursor, Error> {
    let (joined_at, user_id) = decode_position(raw)?;
    Ok(ReferralCursor { joined_at, user_id })
}

/// A list position (an instant and an id) as an opaque cursor.
pub(crate) fn encode_position(at: OffsetDateTime, id: Uuid) -> String {
    let micros = at.unix_timestamp_nanos() / 1_000;
    URL_SAFE_NO_PAD.encode(format!("{micros}.{}", id.simple()))
}

/// The position [`encode_position`] wrote; a field error on `cursor` for anything else.
pub(crate) fn decode_position(raw: &str) -> Result<(OffsetDateTime, Uuid), Error> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "invalid_cursor",
            "cursor is not one this API returned",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
    let micros: i128 = micros.parse().map_err(|_| invalid())?;
    let nanos = micros.checked_mul(1_000).ok_or_else(invalid)?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((at, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_cursor_round_trips() {
        let at = datetime!(2026-11-23 22:47:22.123456 UTC);
        let id = Uuid::now_v7();
        assert_eq!(
            decode_cursor(&encode_cursor(at, id)).unwrap(),
            ReferralCursor {
                joined_at: at,
                user_id: id
            }
        );
    }

    #[test]
    fn bad_cursors_and_limits_are_field_errors() {
        let huge = URL_SAFE_NO_PAD.encode(format!("{}.{}", i128::MAX, Uuid::nil().simple()));
        for bad in ["", "!!!", "bm90LWEtY3Vyc29y", huge.as_str()] {
            assert!(
                matches!(decode_cursor(bad), Err(Error::Validation(e)) if e[0].field == "cursor"),
                "{bad}"
            );
        }
        for bad in [0, 101, u32::MAX] {
            assert!(matches!(check_limit(bad), Err(Error::Validation(e)) if e[0].field == "limit"));
        }
        assert_eq!(check_limit(100).unwrap(), 100);
    }
}
