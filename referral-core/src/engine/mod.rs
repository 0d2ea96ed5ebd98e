//! The `Engine`: every rule of the service, behind plain async methods that take and
//! return domain types. The HTTP surface (behind the `http` feature) maps requests onto
//! these methods; a CLI, a job or a GraphQL resolver calls them directly.

mod accounts;
mod admin;
mod clicks;
mod codes;
mod events;
mod referrals;
mod reset;
mod rewards;
mod self_service;
mod sessions;
mod verification;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::client_address::client_address;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::event_handler::{check_handler_name, EventHandler};
use crate::mailer::{DisabledMailer, Mailer};
use crate::metadata::MetadataValidator;
use crate::password::PasswordHasher;
use crate::rate_limit::{RateKeys, RateLimit, RateScope};
use crate::referral_code::ReferralCode;
use crate::storage::{CacheStats, CachingStorage, MemoryStorage, Storage};
use crate::templates::{DefaultTemplates, MailTemplates};
use crate::tokens::AccessTokenIssuer;
use crate::user::{User, UserRecord};
#[cfg(feature = "webhooks")]
use crate::webhooks::{Webhook, WebhookSettings};

use crate::visitor::VisitorKeys;
use clicks::ClickQueue;

pub use accounts::{NewAccount, Registered};
pub(crate) use admin::{decode_id_cursor, encode_id_cursor};
pub use admin::{
    AccessUpdate, AdminReferrer, AdminUser, AdminUserDetail, AdminUserPage, AuditLogEntry,
    AuditPage,
};
pub use clicks::{ClickQueueStats, CLICK_BATCH, CLICK_QUEUE_CAPACITY, CLICK_WINDOW};
pub use events::{Event, EventType};
pub(crate) use events::{EVENT_TOPIC, LEGACY_EVENT_TOPIC_PREFIX};
pub(crate) use referrals::{check_limit, one_page};
pub use referrals::{
    Referral, ReferralPage, ReferralStats, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RECENT_WINDOW,
};
pub(crate) use reset::RESET_MAIL_TOPIC;
pub use reset::{RESET_DONE_MESSAGE, RESET_REQUESTED_MESSAGE};
pub use rewards::{
    ConversionOutcome, Reward, RewardPage, MAX_ADJUSTMENT_POINTS, MAX_CONVERSION_ID_BYTES,
    MAX_REASON_CHARS,
};
pub use self_service::PASSWORD_CHANGED_MESSAGE;
pub(crate) use verification::VERIFICATION_MAIL_TOPIC;
pub use verification::VERIFICATION_SENT_MESSAGE;

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
    /// The cache in front of `storage` (which is then the cache itself), when enabled.
    cache: Option<Arc<CachingStorage>>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    access: AccessTokenIssuer,
    rate_keys: RateKeys,
    visitor_keys: VisitorKeys,
    clicks: ClickQueue,
    outbox_ready: Notify,
    handlers: Vec<(String, Arc<dyn EventHandler>)>,
    #[cfg(feature = "webhooks")]
    webhook: Option<Webhook>,
    templates: Arc<dyn MailTemplates>,
    metadata_validator: Option<Arc<dyn MetadataValidator>>,
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
    handlers: Vec<(String, Arc<dyn EventHandler>)>,
    #[cfg(feature = "webhooks")]
    webhook: Option<WebhookSettings>,
    templates: Arc<dyn MailTemplates>,
    metadata_validator: Option<Arc<dyn MetadataValidator>>,
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

    /// Adds an in-process [`EventHandler`] under `name`, which every event is delivered to
    /// (at least once, in order per user). Several may be added, each under its own name: 1
    /// to 64 characters of `a-z 0-9 _ - .`, kept in the outbox with its deliveries, so keep
    /// it stable across restarts. A bad or repeated name fails [`build`](Self::build).
    pub fn event_handler(
        mut self,
        name: impl Into<String>,
        handler: Arc<dyn EventHandler>,
    ) -> Self {
        self.handlers.push((name.into(), handler));
        self
    }

    /// The messages the engine sends (default [`DefaultTemplates`]): implement
    /// [`MailTemplates`] for the ones that should look like your product.
    pub fn mail_templates(mut self, templates: Arc<dyn MailTemplates>) -> Self {
        self.templates = templates;
        self
    }

    /// The app's check of user metadata, run at sign-up and on every change after the
    /// engine's own rules (a JSON object of at most
    /// [`MAX_METADATA_BYTES`](crate::MAX_METADATA_BYTES)); each key it refuses is a field
    /// error `metadata.<key>` of [`Error::Validation`]. Without one, any object within the
    /// size is accepted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use referral_core::{Config, Engine, MetadataError};
    /// let engine = Engine::builder(Config::builder().random_secret().build()?)
    ///     .metadata_validator(Arc::new(|metadata: &serde_json::Map<_, _>| {
    ///         match metadata.get("handle").map(|handle| handle.is_string()) {
    ///             Some(false) => Err(vec![MetadataError::new(
    ///                 "handle",
    ///                 "not_text",
    ///                 "handle must be text",
    ///             )]),
    ///             _ => Ok(()),
    ///         }
    ///     }))
    ///     .build()?;
    /// # let _ = engine;
    /// # Ok::<(), referral_core::Error>(())
    /// ```
    pub fn metadata_validator(mut self, validator: Arc<dyn MetadataValidator>) -> Self {
        self.metadata_validator = Some(validator);
        self
    }

    /// Delivers every event to a webhook too, as POSTs signed the Standard Webhooks way
    /// (feature `webhooks`).
    #[cfg(feature = "webhooks")]
    pub fn webhook(mut self, settings: WebhookSettings) -> Self {
        self.webhook = Some(settings);
        self
    }

    /// Builds the engine.
    ///
    /// Errors: [`Error::Config`] for an event handler name that is malformed or given twice
    /// (and what building the hasher, keys and webhook client refuses).
    pub fn build(self) -> Result<Engine, Error> {
        let config = self.config;
        for (at, (name, _)) in self.handlers.iter().enumerate() {
            check_handler_name(name).map_err(Error::Config)?;
            if self.handlers[..at]
                .iter()
                .any(|(earlier, _)| earlier == name)
            {
                return Err(Error::Config(format!(
                    "two event handlers are named {name:?}; each needs a name of its own"
                )));
            }
        }
        #[cfg(feature = "webhooks")]
        let webhook = self.webhook.map(Webhook::new).transpose()?;
        let hasher = PasswordHasher::with_limits(config.argon2, config.hashing)?;
        let access = AccessTokenIssuer::new(
            config.secret.as_bytes(),
            &config.issuer,
            &config.audience,
            config.access_ttl,
        );
        let rate_keys = RateKeys::new(config.secret.as_bytes())?;
        let visitor_keys = VisitorKeys::new(config.secret.as_bytes())?;
        let mailer = self.mailer.unwrap_or_else(|| {
            tracing::warn!(
                "the referral engine has no mailer: password-reset mail will not be sent \
                 (each message is kept as a dead letter); configure one with \
                 EngineBuilder::mailer (LogMailer prints mail to the log, for development)"
            );
            Arc::new(DisabledMailer)
        });
        let cache = config
            .cache
            .enabled
            .then(|| Arc::new(CachingStorage::new(self.storage.clone(), config.cache)));
        let storage = match &cache {
            Some(cache) => cache.clone() as Arc<dyn Storage>,
            None => self.storage,
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                storage,
                cache,
                mailer,
                clock: self.clock,
                hasher,
                access,
                rate_keys,
                visitor_keys,
                clicks: ClickQueue::new(),
                outbox_ready: Notify::new(),
                handlers: self.handlers,
                #[cfg(feature = "webhooks")]
                webhook,
                templates: self.templates,
                metadata_validator: self.metadata_validator,
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
            handlers: Vec::new(),
            #[cfg(feature = "webhooks")]
            webhook: None,
            templates: Arc::new(DefaultTemplates),
            metadata_validator: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The storage (behind the cache when it is on: writes through it keep the cache exact).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The cache's hits, misses and invalidations; `None` when the cache is off.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(|cache| cache.stats())
    }

    /// The cache in front of the storage; `None` when it is off. After writing to the
    /// library's tables around the engine (an admin script, say), call
    /// [`CachingStorage::invalidate_all`].
    pub fn cache(&self) -> Option<&Arc<CachingStorage>> {
        self.inner.cache.as_ref()
    }

    /// The mailer the outbox dispatcher uses.
    pub fn mailer(&self) -> &Arc<dyn Mailer> {
        &self.inner.mailer
    }

    /// The names of the registered event handlers, in the order they were added.
    pub fn event_handler_names(&self) -> impl Iterator<Item = &str> {
        self.inner.handlers.iter().map(|(name, _)| name.as_str())
    }

    /// The event handler registered under `name`.
    pub(crate) fn event_handler(&self, name: &str) -> Option<&Arc<dyn EventHandler>> {
        self.inner
            .handlers
            .iter()
            .find(|(registered, _)| registered == name)
            .map(|(_, handler)| handler)
    }

    /// Whether events go to a webhook too.
    pub fn has_webhook(&self) -> bool {
        #[cfg(feature = "webhooks")]
        return self.inner.webhook.is_some();
        #[cfg(not(feature = "webhooks"))]
        return false;
    }

    /// The webhook events go to, if configured.
    #[cfg(feature = "webhooks")]
    pub(crate) fn webhook(&self) -> Option<&Webhook> {
        self.inner.webhook.as_ref()
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

    /// Checks metadata against the engine's rules and the app's validator.
    pub(crate) fn check_metadata(
        &self,
        metadata: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Vec<crate::error::FieldError>> {
        crate::metadata::check(metadata, self.inner.metadata_validator.as_deref())
    }

    pub(crate) fn wake_outbox(&self) {
        self.inner.outbox_ready.notify_waiters();
        self.inner.outbox_ready.notify_one();
    }

    /// The current time, truncated to whole microseconds (what SQL backends keep).
    pub fn now(&self) -> OffsetDateTime {
        now_on(self.inner.clock.as_ref())
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
            email_verified: user.email_verified,
            metadata: user.metadata.clone(),
            created_at: user.created_at,
            roles: user.roles.iter().map(ToString::to_string).collect(),
        }
    }

    /// `{APP_BASE_URL}/register?ref={code}` (the path per [`LinkPaths`](crate::templates::LinkPaths)).
    pub fn referral_link(&self, code: &ReferralCode) -> String {
        self.register_url(Some(code))
    }

    /// The registration page (`{APP_BASE_URL}{register_path}`), with `?ref={code}` when there
    /// is a code (codes need no escaping: `A-Z a-z 0-9 _ -`).
    fn register_url(&self, code: Option<&ReferralCode>) -> String {
        let config = &self.inner.config;
        let page = format!("{}{}", config.app_base_url, config.link_paths.register_path);
        match code {
            Some(code) => format!("{page}?ref={code}"),
            None => page,
        }
    }

    /// `{APP_BASE_URL}{path}?token={token}`: a link in mail.
    pub(crate) fn token_link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.inner.config.app_base_url)
    }

    /// The messages the engine sends.
    pub fn mail_templates(&self) -> &Arc<dyn MailTemplates> {
        &self.inner.templates
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

/// `clock`'s time to the microsecond, the precision storage keeps.
pub(crate) fn now_on(clock: &dyn Clock) -> OffsetDateTime {
    let now = clock.now();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}
