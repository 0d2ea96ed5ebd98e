//! `OutboxPolicy`: how often the dispatcher looks for work, how it retries, when it gives
//! up, how long it keeps what it delivered, and how often it tidies storage.

use time::Duration;

use crate::config::bounded;
use crate::error::Error;

/// How the outbox dispatcher works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// Messages claimed per round (default 20).
    pub batch: u32,
    /// How long a claim holds a message before another dispatcher may take it (default 5 min).
    pub lease: Duration,
    /// Delay before the first retry; doubles per attempt up to
    /// [`backoff_max`](Self::backoff_max) (default 5 s).
    pub backoff_base: Duration,
    /// Longest delay between retries (default 1 h).
    pub backoff_max: Duration,
    /// How long a message is retried after it was queued before it becomes a dead letter
    /// (default 3 days). A permanent failure (the mail server or provider refuses the
    /// message for good) makes it one at once.
    pub give_up_after: Duration,
    /// How often the dispatcher looks for due messages when not woken (default 1 s).
    pub poll_interval: Duration,
    /// How long delivered messages are kept before pruning (default 7 days).
    pub retention: Duration,
    /// How long dead letters are kept, for listing and redelivery, before pruning (default
    /// 30 days).
    pub dead_retention: Duration,
    /// How often the dispatcher prunes what no rule needs any more: ended rate-limit
    /// windows, dead tokens, old messages (default 1 min).
    pub housekeeping_interval: Duration,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        OutboxPolicy {
            batch: 20,
            lease: Duration::minutes(5),
            backoff_base: Duration::seconds(5),
            backoff_max: Duration::hours(1),
            give_up_after: Duration::days(3),
            poll_interval: Duration::seconds(1),
            retention: Duration::days(7),
            dead_retention: Duration::days(30),
            housekeeping_interval: Duration::minutes(1),
        }
    }
}

impl OutboxPolicy {
    pub(crate) fn validated(self) -> Result<Self, Error> {
        if self.batch == 0 {
            return Err(Error::Config("outbox batch must be positive".into()));
        }
        for (name, duration) in [
            ("outbox lease", self.lease),
            ("outbox backoff base", self.backoff_base),
            ("outbox backoff max", self.backoff_max),
            ("outbox give-up delay", self.give_up_after),
            ("outbox poll interval", self.poll_interval),
            ("outbox retention", self.retention),
            ("outbox dead-letter retention", self.dead_retention),
            ("outbox housekeeping interval", self.housekeeping_interval),
        ] {
            bounded(name, duration)?;
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

    #[test]
    fn a_policy_with_an_unbounded_duration_is_refused() {
        let policy = OutboxPolicy {
            give_up_after: Duration::MAX,
            ..OutboxPolicy::default()
        };
        assert!(policy.validated().is_err());
    }
}
