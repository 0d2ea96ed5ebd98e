//! Rate limits: how many attempts per key per window, counted in storage so every instance
//! sharing a database shares the counts.

use time::{Duration, OffsetDateTime};

/// A fixed window opened by its first attempt, as storage keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Attempts counted in the window.
    pub count: u32,
    /// When the window opened (its first attempt).
    pub started_at: OffsetDateTime,
}

/// At most `max` attempts per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Attempts allowed per window.
    pub max: u32,
    /// Window length.
    pub window: Duration,
}

impl RateLimit {
    /// 10 failed logins per email per 15 minutes.
    pub const LOGIN_DEFAULT: RateLimit = RateLimit {
        max: 10,
        window: Duration::minutes(15),
    };

    /// 3 reset mails per email per hour.
    pub const RESET_MAIL_DEFAULT: RateLimit = RateLimit {
        max: 3,
        window: Duration::hours(1),
    };

    /// `Some(seconds to wait)` when `window` already holds `max` attempts at `now`.
    pub fn retry_after(&self, window: Option<RateWindow>, now: OffsetDateTime) -> Option<u64> {
        let window = window?;
        let ends = window.started_at + self.window;
        if window.count < self.max || ends <= now {
            return None;
        }
        let wait = (ends - now).as_seconds_f64().ceil();
        Some((wait as u64).max(1))
    }

    /// Whether an attempt that made the window's count `count` is within the limit.
    pub fn allows(&self, count: u32) -> bool {
        count <= self.max
    }
}

/// The storage key counting failed logins for a normalised email.
pub fn login_key(email: &crate::Email) -> String {
    format!("login:{}", email.as_str())
}

/// The storage key counting reset mails for a normalised email.
pub fn reset_mail_key(email: &crate::Email) -> String {
    format!("reset-mail:{}", email.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_full_window_asks_to_wait_until_it_ends() {
        let start = datetime!(2026-01-01 0:00 UTC);
        let full = Some(RateWindow {
            count: 10,
            started_at: start,
        });
        let limit = RateLimit::LOGIN_DEFAULT;
        assert_eq!(
            limit.retry_after(full, start + Duration::minutes(5)),
            Some(600)
        );
        assert_eq!(
            limit.retry_after(
                full,
                start + Duration::seconds(899) + Duration::milliseconds(500)
            ),
            Some(1)
        );
        assert_eq!(limit.retry_after(full, start + Duration::minutes(15)), None);
        assert_eq!(
            limit.retry_after(
                Some(RateWindow {
                    count: 9,
                    started_at: start
                }),
                start
            ),
            None
        );
        assert_eq!(limit.retry_after(None, start), None);
    }
}
