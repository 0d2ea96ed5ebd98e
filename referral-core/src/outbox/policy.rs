//! `OutboxPolicy`: how often the dispatcher looks for mail, how it retries, how long it keeps
//! what it sent.

use time::Duration;

use crate::error::Error;

/// How the outbox dispatcher works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// Messages claimed per round (default 20).
    pub batch: u32,
    /// How long a claim holds a message before another dispatcher may take it (default 5 min).
    pub lease: Duration,
    /// Delay before the first retry; doubles per attempt (default 5 s).
    ///
    /// There is no give-up: once the doubling reaches [`backoff_max`](Self::backoff_max)
    /// (after 11 attempts with the defaults, about 1.5 hours after the first), a message that
    /// still fails is retried every `backoff_max` until it goes out, so none is lost. Its last
    /// error is kept in storage and each failure is logged.
    pub backoff_base: Duration,
    /// Longest delay between retries (default 1 h).
    pub backoff_max: Duration,
    /// How often the dispatcher looks for due messages when not woken (default 1 s).
    pub poll_interval: Duration,
    /// How long sent messages are kept before pruning (default 7 days).
    pub retention: Duration,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        OutboxPolicy {
            batch: 20,
            lease: Duration::minutes(5),
            backoff_base: Duration::seconds(5),
            backoff_max: Duration::hours(1),
            poll_interval: Duration::seconds(1),
            retention: Duration::days(7),
        }
    }
}

impl OutboxPolicy {
    pub(crate) fn validated(self) -> Result<Self, Error> {
        let all_positive = [
            self.lease,
            self.backoff_base,
            self.backoff_max,
            self.poll_interval,
            self.retention,
        ]
        .iter()
        .all(|d| d.is_positive());
        if self.batch == 0 || !all_positive {
            return Err(Error::Config(
                "outbox policy values must be positive".into(),
            ));
        }
        Ok(self)
    }

    /// The delay before retrying after `attempts` failed attempts: base × 2^(attempts-1),
    /// capped at `backoff_max`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let factor = 1i64 << exponent;
        let delay = self
            .backoff_base
            .checked_mul(factor as i32)
            .unwrap_or(self.backoff_max);
        delay.min(self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = OutboxPolicy::default();
        assert_eq!(policy.backoff(1), Duration::seconds(5));
        assert_eq!(policy.backoff(2), Duration::seconds(10));
        assert_eq!(policy.backoff(4), Duration::seconds(40));
        assert_eq!(policy.backoff(30), Duration::hours(1));
    }
}
