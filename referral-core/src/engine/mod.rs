//! The `Engine`: every rule of the service, behind plain async methods.

mod accounts;
mod referrals;
mod reset;
mod sessions;

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::http::User;
use crate::mailer::{LogMailer, Mailer};
use crate::password::PasswordHasher;
use crate::storage::{MemoryStorage, Storage};
use crate::tokens::AccessTokenIssuer;
use crate::user::UserRecord;

/// The referral service: accounts, tokens, password resets, referrals and rewards.
///
/// Cheap to clone (one `Arc`); share one per process. Adapters call [`Engine::handle`] for the
/// whole HTTP contract, or the typed methods directly.
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
    outbox_ready: Notify,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`]; storage defaults to [`MemoryStorage`], the mailer to [`LogMailer`],
/// the clock to [`SystemClock`].
pub struct EngineBuilder {
    config: Config,
    storage: Arc<dyn Storage>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
}

impl EngineBuilder {
    /// Where data lives.
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }

    /// How mail goes out (through the outbox).
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = mailer;
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
        let hasher = PasswordHasher::new(config.argon2)?;
        let access = AccessTokenIssuer::new(
            config.secret.as_bytes(),
            &config.issuer,
            &config.audience,
            config.access_ttl,
        );
        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                storage: self.storage,
                mailer: self.mailer,
                clock: self.clock,
                hasher,
                access,
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
            mailer: Arc::new(LogMailer),
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

    /// Resolves when mail has been queued (the outbox dispatcher waits on it).
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

    /// The API's view of a stored user.
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

    fn referral_link(&self, code: &crate::ReferralCode) -> String {
        format!("{}/register?ref={}", self.inner.config.app_base_url, code)
    }
}

pub use referrals::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RECENT_WINDOW};
pub use reset::{RESET_DONE_MESSAGE, RESET_REQUESTED_MESSAGE};
