//! Rate limits: how many attempts per key per window, counted in storage so every instance
//! sharing a database shares the counts.
//!
//! Every limit is decided on the count an attempt gets when it is counted (one atomic
//! upsert), never on a count read before: of 60 concurrent attempts against a limit of 10,
//! exactly 10 see a count within the limit.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use crate::error::Error;

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

    /// 3 verification mails per user per hour.
    pub const VERIFICATION_MAIL_DEFAULT: RateLimit = RateLimit {
        max: 3,
        window: Duration::hours(1),
    };

    /// 20 sign-ups per referrer per hour before their rewards are held for review.
    pub const REFERRAL_VELOCITY_DEFAULT: RateLimit = RateLimit {
        max: 20,
        window: Duration::hours(1),
    };

    /// 10 sign-ups per client address per hour.
    pub const REGISTRATION_DEFAULT: RateLimit = RateLimit {
        max: 10,
        window: Duration::hours(1),
    };

    /// 20 reset requests per client address per hour.
    pub const RESET_REQUEST_DEFAULT: RateLimit = RateLimit {
        max: 20,
        window: Duration::hours(1),
    };

    /// `None` when the attempt that made `window` what it is (just counted) is within the
    /// limit; otherwise `Some(seconds to wait)` until the window ends, at least 1.
    pub fn retry_after(&self, window: RateWindow, now: OffsetDateTime) -> Option<u64> {
        if window.count <= self.max {
            return None;
        }
        let ends = window.started_at + self.window;
        let wait = (ends - now).as_seconds_f64().ceil().max(1.0);
        Some(wait as u64)
    }

    /// Whether an attempt that made the window's count `count` is within the limit.
    pub fn allows(&self, count: u32) -> bool {
        count <= self.max
    }
}

/// What a rate limit counts: the scope of the limit and the identifier counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope {
    /// Failed logins per normalised email (or per raw string, when it is not an email).
    Login,
    /// Reset mails per normalised email.
    ResetMail,
    /// Registrations per client address.
    RegisterFromAddress,
    /// Reset requests per client address.
    ResetFromAddress,
    /// Verification mails per user id.
    VerificationMail,
    /// Sign-ups with one referrer's code, per referrer id (the velocity fraud signal).
    ReferralVelocity,
}

impl RateScope {
    fn label(self) -> &'static [u8] {
        match self {
            RateScope::Login => b"login",
            RateScope::ResetMail => b"reset-mail",
            RateScope::RegisterFromAddress => b"register-address",
            RateScope::ResetFromAddress => b"reset-address",
            RateScope::VerificationMail => b"verification-mail",
            RateScope::ReferralVelocity => b"referral-velocity",
        }
    }
}

/// The key a rate-limit window is stored under: an HMAC-SHA256, keyed with the engine's
/// secret, of the scope and the normalised identifier. Fixed-size whatever the identifier
/// (so an attacker cannot grow rows with long keys), and it reveals no email or address to
/// a database reader. Made by [`RateKeys`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateKey([u8; 32]);

impl RateKey {
    /// Wraps 32 bytes read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RateKey(bytes)
    }

    /// The 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Derives [`RateKey`]s with one secret key.
#[derive(Clone)]
pub struct RateKeys(Hmac<Sha256>);

impl RateKeys {
    /// Keys derived with `secret` (the engine uses its signing secret).
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        Hmac::<Sha256>::new_from_slice(secret)
            .map(RateKeys)
            .map_err(|e| Error::Config(format!("rate-limit key: {e}")))
    }

    /// The key counting `identifier` under `scope`.
    pub fn key(&self, scope: RateScope, identifier: &str) -> RateKey {
        let mut mac = self.0.clone();
        mac.update(scope.label());
        mac.update(&[0]);
        mac.update(identifier.as_bytes());
        RateKey(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for RateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RateKeys(<redacted>)")
    }
}

impl fmt::Debug for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RateKey({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_attempt_past_the_limit_waits_until_the_window_ends() {
        let start = datetime!(2026-01-01 0:00 UTC);
        let over = RateWindow {
            count: 11,
            started_at: start,
        };
        let limit = RateLimit::LOGIN_DEFAULT;
        assert_eq!(
            limit.retry_after(over, start + Duration::minutes(5)),
            Some(600)
        );
        assert_eq!(
            limit.retry_after(
                over,
                start + Duration::seconds(899) + Duration::milliseconds(500)
            ),
            Some(1)
        );
        let tenth = RateWindow {
            count: 10,
            started_at: start,
        };
        assert_eq!(limit.retry_after(tenth, start), None);
    }

    #[test]
    fn rate_keys_are_fixed_size_keyed_and_scoped() {
        let long = "x".repeat(10_000);
        let one = RateKeys::new(b"secret one").unwrap();
        let two = RateKeys::new(b"secret two").unwrap();
        let key = one.key(RateScope::Login, &long);
        assert_eq!(key.as_bytes().len(), 32);
        assert_ne!(key, two.key(RateScope::Login, &long));
        assert_ne!(key, one.key(RateScope::ResetMail, &long));
        assert_eq!(key, one.key(RateScope::Login, &long));
        assert!(!format!("{key:?}").contains("xxxx"));
    }
}
