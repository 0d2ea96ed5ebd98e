//! The `Engine`: every rule of the service, behind plain async methods that take and
//! return domain types. The HTTP surface (behind the `http` feature) maps requests onto
//! these methods; a CLI, a job or a GraphQL resolver calls them directly.

mod accounts;
mod codes;
mod events;
mod referrals;
mod reset;
mod sessions;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::client_address::client_address;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::mailer::{DisabledMailer, Mailer};
use crate::password::PasswordHasher;
use crate::rate_limit::{RateKeys, RateLimit, RateScope};
use crate::referral_code::ReferralCode;
use crate::storage::{MemoryStorage, Storage};
use crate::tokens::AccessTokenIssuer;
use crate::user::{User, UserRecord};

pub use accounts::{NewAccount, Registered};
pub(crate) use events::EVENT_TOPIC_PREFIX;
pub use events::{Event, EventType};
pub use referrals::{
    Referral, ReferralPage, ReferralStats, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RECENT_WINDOW,
};
pub(crate) use reset::RESET_MAIL_TOPIC;
pub use reset::{RESET_DONE_MESSAGE, RESET_REQUESTED_MESSAGE};

/// The referral service: accounts, tokens, password resets, referrals and rewards.
///
/// Cheap to clone (one `Arc`); share one per process.
///
/// ```
/// use std::sync::Arc;
/// use referral_core::{Config, Engine, MemoryStorage, RecordingMailer};
/// let config = Config::builder().random_secret().build()?;
/// let engine = Engine::builder(config)
///     .storage(Arc::new(MemoryStorage::new()))
///     .mailer(Arc::new(RecordingMailer::new()))
///     .build()?;
/// # let _ = engine;
/// # Ok::<(), referral_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    storage: Arc<dyn Storage>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    access: AccessTokenIssuer,
    rate_keys: RateKeys,
    outbox_ready: Notify,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`]. Storage defaults to [`MemoryStorage`] and the clock to
/// [`SystemClock`]. Give a mailer: without one, the engine logs a warning when built and
/// sends nothing (every message becomes a dead letter; see [`DisabledMailer`]).
pub struct EngineBuilder {
    config: Config,
    storage: Arc<dyn Storage>,
    mailer: Option<Arc<dyn Mailer>>,
    clock: Arc<dyn Clock>,
}

impl EngineBuilder {
    /// Where data lives.
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }

    /// How mail goes out (through the outbox): SMTP, an HTTP provider, or
    /// [`LogMailer`](crate::LogMailer) for development.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Where "now" comes from.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the engine.
    pub fn build(self) -> Result<Engine, Error> {
        let config = self.config;
        let hasher = PasswordHasher::with_limits(config.argon2, config.hashing)?;
        let access = AccessTokenIssuer::new(
            config.secret.as_bytes(),
            &config.issuer,
            &config.audience,
            config.access_ttl,
        );
        let rate_keys = RateKeys::new(config.secret.as_bytes())?;
        let mailer = self.mailer.unwrap_or_else(|| {
            tracing::warn!(
                "the referral engine has no mailer: password-reset mail will not be sent \
                 (each message is kept as a dead letter); configure one with \
                 EngineBuilder::mailer (LogMailer prints mail to the log, for development)"
            );
            Arc::new(DisabledMailer)
        });
        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                storage: self.storage,
                mailer,
                clock: self.clock,
                hasher,
                access,
                rate_keys,
                outbox_ready: Notify::new(),
            }),
        })
    }
}

impl Engine {
    /// A builder around `config`.
    pub fn builder(config: Config) -> EngineBuilder {
        EngineBuilder {
            config,
            storage: Arc::new(MemoryStorage::new()),
            mailer: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The mailer the outbox dispatcher uses.
    pub fn mailer(&self) -> &Arc<dyn Mailer> {
        &self.inner.mailer
    }

    /// The password hasher (argon2id with the configured cost).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The access-token issuer.
    pub fn access_tokens(&self) -> &AccessTokenIssuer {
        &self.inner.access
    }

    /// Resolves when something has been queued in the outbox (the dispatcher waits on it).
    pub async fn outbox_ready(&self) {
        self.inner.outbox_ready.notified().await;
    }

    pub(crate) fn wake_outbox(&self) {
        self.inner.outbox_ready.notify_waiters();
        self.inner.outbox_ready.notify_one();
    }

    /// The current time, truncated to whole microseconds (what SQL backends keep).
    pub fn now(&self) -> OffsetDateTime {
        let now = self.inner.clock.now();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// Checks that storage answers.
    pub async fn health(&self) -> Result<(), Error> {
        self.inner.storage.ping().await.map_err(Error::from)
    }

    /// The address a request comes from, given its socket peer and its `X-Forwarded-For`
    /// header, under the configured trusted proxies (see
    /// [`client_address`](crate::client_address)).
    pub fn client_address(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<IpAddr> {
        client_address(peer, forwarded_for, &self.inner.config.trusted_proxies)
    }

    /// The answers' view of a stored user.
    pub fn user_view(&self, user: &UserRecord) -> User {
        User {
            id: user.id,
            email: user.email.to_string(),
            referral_code: user.referral_code.to_string(),
            referral_link: self.referral_link(&user.referral_code),
            referred_by: user.referred_by,
            created_at: user.created_at,
        }
    }

    /// `{APP_BASE_URL}/register?ref={code}`.
    pub fn referral_link(&self, code: &ReferralCode) -> String {
        format!("{}/register?ref={}", self.inner.config.app_base_url, code)
    }

    /// Counts one attempt under `scope`/`identifier` against `limit` and decides on the
    /// count it got: [`Error::RateLimited`] past the limit. Returns the window's start, to
    /// refund the attempt with.
    pub(crate) async fn count_attempt(
        &self,
        scope: RateScope,
        identifier: &str,
        limit: RateLimit,
    ) -> Result<CountedAttempt, Error> {
        let key = self.inner.rate_keys.key(scope, identifier);
        let now = self.now();
        let window = self
            .inner
            .storage
            .hit_rate_limit(&key, now, limit.window)
            .await?;
        match limit.retry_after(window, now) {
            Some(retry_after_secs) => Err(Error::RateLimited { retry_after_secs }),
            None => Ok(CountedAttempt {
                key,
                started_at: window.started_at,
            }),
        }
    }

    /// Takes back an attempt [`count_attempt`](Self::count_attempt) counted.
    pub(crate) async fn refund_attempt(&self, attempt: CountedAttempt) -> Result<(), Error> {
        self.inner
            .storage
            .refund_rate_limit(&attempt.key, attempt.started_at)
            .await?;
        Ok(())
    }

    /// Forgets every attempt counted under `scope`/`identifier`.
    pub(crate) async fn clear_attempts(
        &self,
        scope: RateScope,
        identifier: &str,
    ) -> Result<(), Error> {
        let key = self.inner.rate_keys.key(scope, identifier);
        self.inner.storage.clear_rate_limit(&key).await?;
        Ok(())
    }
}

/// An attempt counted within its limit.
pub(crate) struct CountedAttempt {
    key: crate::rate_limit::RateKey,
    started_at: OffsetDateTime,
}
