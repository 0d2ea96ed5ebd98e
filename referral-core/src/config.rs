//! `Config`: every tunable of the engine, validated once at build time.

use std::fmt;

use ipnet::IpNet;
use rand::RngCore;
use time::Duration;

use crate::email::Email;
use crate::error::Error;
use crate::outbox::OutboxPolicy;
use crate::password::{Argon2Params, HashingLimits};
use crate::permissions::RolePermissions;
use crate::rate_limit::RateLimit;
use crate::rewards::RewardPolicy;
use crate::storage::CachePolicy;
use crate::templates::LinkPaths;

/// Fewest bytes a signing secret may have (HS256 wants at least its output size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Longest lifetime, window or delay any setting may have (about ten years): past it,
/// "now + duration" could overflow the date range, so longer values are refused at build.
pub const MAX_DURATION: Duration = Duration::days(3650);

/// The key that signs access tokens. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from bytes; at least 32 of them.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(Error::Config(format!(
                "the secret key must be at least {MIN_SECRET_BYTES} bytes long (got {}); generate one with `openssl rand -base64 48`",
                bytes.len()
            )));
        }
        Ok(Secret(bytes))
    }

    /// 64 random bytes from the operating system: fine for one process, but tokens die with it.
    pub fn random() -> Self {
        let mut bytes = vec![0u8; 64];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The engine's settings. Build one with [`Config::builder`].
///
/// ```
/// use referral_core::{Config, RewardPolicy};
/// let config = Config::builder()
///     .secret("an example secret of at least thirty-two bytes")
///     .app_base_url("https://links.example.com/")
///     .reward_policy(RewardPolicy { referrer: 100, referee: 25, ..RewardPolicy::default() })
///     .build()
///     .unwrap();
/// assert_eq!(config.app_base_url(), "https://links.example.com");
/// assert!(Config::builder().secret("too short").build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) secret: Secret,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) reset_ttl: Duration,
    pub(crate) app_base_url: String,
    pub(crate) link_paths: LinkPaths,
    pub(crate) rewards: RewardPolicy,
    pub(crate) login_limit: RateLimit,
    pub(crate) reset_mail_limit: RateLimit,
    pub(crate) registration_limit: RateLimit,
    pub(crate) reset_request_limit: RateLimit,
    pub(crate) verification_ttl: Duration,
    pub(crate) verification_mail_limit: RateLimit,
    pub(crate) verification_mail_on_sign_up: bool,
    pub(crate) login_requires_verified_email: bool,
    pub(crate) referral_velocity_limit: RateLimit,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) request_timeout: Duration,
    pub(crate) argon2: Argon2Params,
    pub(crate) hashing: HashingLimits,
    pub(crate) outbox: OutboxPolicy,
    pub(crate) cache: CachePolicy,
    pub(crate) role_permissions: RolePermissions,
    pub(crate) admin_emails: Vec<Email>,
    pub(crate) share_path: String,
}

impl Config {
    /// A builder with every default but the secret, which is required.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The public base URL links are built from (no trailing slash).
    pub fn app_base_url(&self) -> &str {
        &self.app_base_url
    }

    /// Access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// Refresh-token lifetime.
    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    /// Reset-token lifetime.
    pub fn reset_ttl(&self) -> Duration {
        self.reset_ttl
    }

    /// The paths of the links in mail and of the referral link.
    pub fn link_paths(&self) -> &LinkPaths {
        &self.link_paths
    }

    /// The reward policy.
    pub fn reward_policy(&self) -> RewardPolicy {
        self.rewards
    }

    /// The failed-login limit per email.
    pub fn login_limit(&self) -> RateLimit {
        self.login_limit
    }

    /// The reset-mail limit per email.
    pub fn reset_mail_limit(&self) -> RateLimit {
        self.reset_mail_limit
    }

    /// Sign-ups allowed per client address.
    pub fn registration_limit(&self) -> RateLimit {
        self.registration_limit
    }

    /// Reset requests allowed per client address.
    pub fn reset_request_limit(&self) -> RateLimit {
        self.reset_request_limit
    }

    /// Email-verification token lifetime.
    pub fn verification_ttl(&self) -> Duration {
        self.verification_ttl
    }

    /// Verification mails sent per user.
    pub fn verification_mail_limit(&self) -> RateLimit {
        self.verification_mail_limit
    }

    /// Whether every sign-up queues a verification mail.
    pub fn verification_mail_on_sign_up(&self) -> bool {
        self.verification_mail_on_sign_up
    }

    /// Whether a correct login of an unverified user is refused (`403 email_not_verified`).
    pub fn login_requires_verified_email(&self) -> bool {
        self.login_requires_verified_email
    }

    /// Sign-ups per referrer per window past which their rewards are held for review.
    pub fn referral_velocity_limit(&self) -> RateLimit {
        self.referral_velocity_limit
    }

    /// Proxies whose `X-Forwarded-For` is believed (see [`client_address`](crate::client_address)).
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// How long an adapter waits for a whole request body before answering `408`.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The argon2id cost.
    pub fn argon2(&self) -> Argon2Params {
        self.argon2
    }

    /// How many password hashes run at once, and how many callers may wait for one.
    pub fn hashing(&self) -> HashingLimits {
        self.hashing
    }

    /// The outbox dispatcher's policy.
    pub fn outbox(&self) -> OutboxPolicy {
        self.outbox
    }

    /// The cache of users and referral counters.
    pub fn cache(&self) -> CachePolicy {
        self.cache
    }

    /// Which roles hold which permissions.
    pub fn role_permissions(&self) -> &RolePermissions {
        &self.role_permissions
    }

    /// The addresses granted `admin` at sign-up and at start (`ADMIN_EMAILS`).
    pub fn admin_emails(&self) -> &[Email] {
        &self.admin_emails
    }

    /// The path share links live under, at the app root (default `/r`): share links are
    /// `{APP_BASE_URL}{share_path}/{code}`.
    pub fn share_path(&self) -> &str {
        &self.share_path
    }
}

/// Builds a [`Config`]; see there for an example.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    secret: Option<Vec<u8>>,
    random_secret: bool,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
    reset_ttl: Duration,
    app_base_url: String,
    link_paths: LinkPaths,
    rewards: RewardPolicy,
    login_limit: RateLimit,
    reset_mail_limit: RateLimit,
    registration_limit: RateLimit,
    reset_request_limit: RateLimit,
    verification_ttl: Duration,
    verification_mail_limit: RateLimit,
    verification_mail_on_sign_up: bool,
    login_requires_verified_email: bool,
    referral_velocity_limit: RateLimit,
    trusted_proxies: Vec<IpNet>,
    request_timeout: Duration,
    argon2: Argon2Params,
    hashing: HashingLimits,
    outbox: OutboxPolicy,
    cache: CachePolicy,
    role_permissions: RolePermissions,
    admin_emails: Vec<String>,
    share_path: String,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            secret: None,
            random_secret: false,
            issuer: "referral".into(),
            audience: "referral-api".into(),
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            reset_ttl: Duration::minutes(30),
            app_base_url: "http://127.0.0.1:5000".into(),
            link_paths: LinkPaths::default(),
            rewards: RewardPolicy::default(),
            login_limit: RateLimit::LOGIN_DEFAULT,
            reset_mail_limit: RateLimit::RESET_MAIL_DEFAULT,
            registration_limit: RateLimit::REGISTRATION_DEFAULT,
            reset_request_limit: RateLimit::RESET_REQUEST_DEFAULT,
            verification_ttl: Duration::hours(24),
            verification_mail_limit: RateLimit::VERIFICATION_MAIL_DEFAULT,
            verification_mail_on_sign_up: true,
            login_requires_verified_email: false,
            referral_velocity_limit: RateLimit::REFERRAL_VELOCITY_DEFAULT,
            trusted_proxies: Vec::new(),
            request_timeout: Duration::seconds(10),
            argon2: Argon2Params::default(),
            hashing: HashingLimits::default(),
            outbox: OutboxPolicy::default(),
            cache: CachePolicy::default(),
            role_permissions: RolePermissions::default(),
            admin_emails: Vec::new(),
            share_path: DEFAULT_SHARE_PATH.into(),
        }
    }
}

impl ConfigBuilder {
    /// The HS256 signing secret (required, at least 32 bytes).
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Use a random secret for this process: every token dies with it. For development.
    pub fn random_secret(mut self) -> Self {
        self.random_secret = true;
        self
    }

    /// JWT `iss` (default `referral`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// JWT `aud` (default `referral-api`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Access-token lifetime (default 15 minutes).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Refresh-token lifetime (default 30 days).
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Reset-token lifetime (default 30 minutes).
    pub fn reset_ttl(mut self, ttl: Duration) -> Self {
        self.reset_ttl = ttl;
        self
    }

    /// Public base URL for referral and reset links (default `http://127.0.0.1:5000`).
    pub fn app_base_url(mut self, url: impl Into<String>) -> Self {
        self.app_base_url = url.into();
        self
    }

    /// The paths of the links in mail and of the referral link under the base URL (default
    /// `/reset-password`, `/verify-email`, `/register`).
    pub fn link_paths(mut self, paths: LinkPaths) -> Self {
        self.link_paths = paths;
        self
    }

    /// Reward policy (default: referrer 100, referee 0, second tier 0).
    pub fn reward_policy(mut self, policy: RewardPolicy) -> Self {
        self.rewards = policy;
        self
    }

    /// Failed logins allowed per email per window (default 10 per 15 minutes).
    pub fn login_limit(mut self, limit: RateLimit) -> Self {
        self.login_limit = limit;
        self
    }

    /// Reset mails sent per email per window (default 3 per hour).
    pub fn reset_mail_limit(mut self, limit: RateLimit) -> Self {
        self.reset_mail_limit = limit;
        self
    }

    /// Sign-ups allowed per client address per window (default 10 per hour).
    pub fn registration_limit(mut self, limit: RateLimit) -> Self {
        self.registration_limit = limit;
        self
    }

    /// Reset requests allowed per client address per window (default 20 per hour).
    pub fn reset_request_limit(mut self, limit: RateLimit) -> Self {
        self.reset_request_limit = limit;
        self
    }

    /// Email-verification token lifetime (default 24 hours).
    pub fn verification_ttl(mut self, ttl: Duration) -> Self {
        self.verification_ttl = ttl;
        self
    }

    /// Verification mails sent per user per window (default 3 per hour); past it,
    /// `POST /verify-email/resend` answers `429 rate_limited`.
    pub fn verification_mail_limit(mut self, limit: RateLimit) -> Self {
        self.verification_mail_limit = limit;
        self
    }

    /// Whether every sign-up queues a verification mail (default true). Off, an app verifies
    /// addresses its own way, or sends the first link with `POST /verify-email/resend`.
    pub fn verification_mail_on_sign_up(mut self, on: bool) -> Self {
        self.verification_mail_on_sign_up = on;
        self
    }

    /// Whether a correct login of a user whose email is not verified is refused with `403
    /// email_not_verified` (default false). Checked after the password, so it reveals
    /// nothing to someone without it.
    pub fn login_requires_verified_email(mut self, required: bool) -> Self {
        self.login_requires_verified_email = required;
        self
    }

    /// Sign-ups with one referrer's code per window (default 20 per hour) past which each
    /// further sign-up's rewards are flagged `velocity` and held for review.
    pub fn referral_velocity_limit(mut self, limit: RateLimit) -> Self {
        self.referral_velocity_limit = limit;
        self
    }

    /// Proxies (CIDRs) whose `X-Forwarded-For` header is believed (default none: the client
    /// address is the socket peer).
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// How long adapters wait for a whole request body (default 10 seconds); a slower
    /// client gets `408 request_timeout`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Argon2id cost (default m=19456 KiB, t=2, p=1).
    pub fn argon2(mut self, params: Argon2Params) -> Self {
        self.argon2 = params;
        self
    }

    /// How many password hashes run at once and how many callers may wait for one (default:
    /// one per core, 32 waiting per slot; past that, `503 unavailable` with `Retry-After`).
    pub fn hashing(mut self, limits: HashingLimits) -> Self {
        self.hashing = limits;
        self
    }

    /// Outbox dispatcher policy.
    pub fn outbox(mut self, policy: OutboxPolicy) -> Self {
        self.outbox = policy;
        self
    }

    /// Cache of users and referral counters (default: on, 1-second TTL, 10,000 users);
    /// [`CachePolicy::disabled`] reads everything from storage.
    pub fn cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// Which roles hold which permissions (default: only `admin`'s own `admin:*`). Roles
    /// named here are the app's roles: an admin can give them to users.
    pub fn role_permissions(mut self, map: RolePermissions) -> Self {
        self.role_permissions = map;
        self
    }

    /// Addresses that get the `admin` role when they sign up, and, when
    /// [`Engine::grant_configured_admins`](crate::Engine::grant_configured_admins) runs at
    /// start, if they are registered already (`ADMIN_EMAILS`). Invalid addresses are refused
    /// at build.
    pub fn admin_emails<I, E>(mut self, emails: I) -> Self
    where
        I: IntoIterator<Item = E>,
        E: Into<String>,
    {
        self.admin_emails = emails.into_iter().map(Into::into).collect();
        self
    }

    /// The path share links live under at the app root (default `/r`, so links are
    /// `{APP_BASE_URL}/r/{code}`): one or more plain segments. Serve the share route there
    /// too (`Api::share_path` on the axum adapter; Rocket's stage reads it from here).
    pub fn share_path(mut self, path: impl Into<String>) -> Self {
        self.share_path = path.into();
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Config, Error> {
        let secret = match (self.secret, self.random_secret) {
            (Some(bytes), _) => Secret::new(bytes)?,
            (None, true) => Secret::random(),
            (None, false) => {
                return Err(Error::Config(
                    "a secret key is required: call .secret(..) with at least 32 bytes".into(),
                ))
            }
        };
        let positive = |name: &str, ttl: Duration| bounded(name, ttl);
        let app_base_url = self.app_base_url.trim().trim_end_matches('/').to_owned();
        let scheme_ok = app_base_url.starts_with("http://") || app_base_url.starts_with("https://");
        if !scheme_ok || app_base_url.contains(['?', '#', ' ']) {
            return Err(Error::Config(format!(
                "app base URL must be an http(s) URL without query or fragment, got {app_base_url:?}"
            )));
        }
        for (name, limit) in [
            ("login limit", self.login_limit),
            ("reset mail limit", self.reset_mail_limit),
            ("registration limit", self.registration_limit),
            ("reset request limit", self.reset_request_limit),
            ("verification mail limit", self.verification_mail_limit),
            ("referral velocity limit", self.referral_velocity_limit),
        ] {
            if limit.max == 0 {
                return Err(Error::Config(format!("{name} needs a positive count")));
            }
            bounded(&format!("{name} window"), limit.window)?;
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(Error::Config(
                "issuer and audience must not be empty".into(),
            ));
        }
        self.argon2.validate()?;
        self.hashing.validate()?;
        let admin_emails = self
            .admin_emails
            .iter()
            .map(|raw| {
                Email::parse(raw).map_err(|problem| {
                    Error::Config(format!(
                        "admin email {raw:?} is not a valid address: {}",
                        problem.message()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let share_path = self.share_path.trim_end_matches('/').to_owned();
        if !is_plain_path(&share_path) {
            return Err(Error::Config(format!(
                "the share path is an absolute path of plain segments like `/r` or `/go`, \
                 got {:?}",
                self.share_path
            )));
        }
        Ok(Config {
            secret,
            issuer: self.issuer,
            audience: self.audience,
            access_ttl: positive("access token lifetime", self.access_ttl)?,
            refresh_ttl: positive("refresh token lifetime", self.refresh_ttl)?,
            reset_ttl: positive("reset token lifetime", self.reset_ttl)?,
            app_base_url,
            link_paths: self.link_paths.validated()?,
            rewards: self.rewards,
            login_limit: self.login_limit,
            reset_mail_limit: self.reset_mail_limit,
            registration_limit: self.registration_limit,
            reset_request_limit: self.reset_request_limit,
            verification_ttl: positive("verification token lifetime", self.verification_ttl)?,
            verification_mail_limit: self.verification_mail_limit,
            verification_mail_on_sign_up: self.verification_mail_on_sign_up,
            login_requires_verified_email: self.login_requires_verified_email,
            referral_velocity_limit: self.referral_velocity_limit,
            trusted_proxies: self.trusted_proxies,
            request_timeout: positive("request timeout", self.request_timeout)?,
            argon2: self.argon2,
            hashing: self.hashing,
            outbox: self.outbox.validated()?,
            cache: self.cache.validate()?,
            role_permissions: self.role_permissions,
            admin_emails,
            share_path,
        })
    }
}

/// Where share links live unless configured: `{APP_BASE_URL}/r/{code}`.
pub const DEFAULT_SHARE_PATH: &str = "/r";

/// Whether `path` is `/` followed by one or more plain segments (`/r`, `/v1/go`).
pub(crate) fn is_plain_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        })
    })
}

/// `duration` when it is positive and at most [`MAX_DURATION`]; a config error naming
/// `name` otherwise.
pub(crate) fn bounded(name: &str, duration: Duration) -> Result<Duration, Error> {
    if duration.is_positive() && duration <= MAX_DURATION {
        Ok(duration)
    } else {
        Err(Error::Config(format!(
            "{name} must be positive and at most {} days, got {duration}",
            MAX_DURATION.whole_days()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_under_32_bytes_is_refused_with_a_clear_message() {
        let err = Config::builder().secret([0u8; 31]).build().unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        assert!(Config::builder().secret([0u8; 32]).build().is_ok());
    }

    #[test]
    fn the_share_path_is_a_plain_absolute_path() {
        let build = |path: &str| Config::builder().random_secret().share_path(path).build();
        assert_eq!(build("/go/").unwrap().share_path(), "/go");
        assert_eq!(build("/v1/r").unwrap().share_path(), "/v1/r");
        for bad in ["", "/", "r", "/a b", "/a//b", "/{code}"] {
            assert!(build(bad).is_err(), "{bad:?}");
        }
        let config = Config::builder().random_secret().build().unwrap();
        assert_eq!(config.share_path(), DEFAULT_SHARE_PATH);
    }

    #[test]
    fn a_missing_secret_is_refused() {
        assert!(Config::builder().build().is_err());
        assert!(Config::builder().random_secret().build().is_ok());
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::builder().random_secret().build().unwrap();
        assert_eq!(config.access_ttl(), Duration::minutes(15));
        assert_eq!(config.refresh_ttl(), Duration::days(30));
        assert_eq!(config.reset_ttl(), Duration::minutes(30));
        assert_eq!(
            config.login_limit(),
            RateLimit {
                max: 10,
                window: Duration::minutes(15)
            }
        );
        assert_eq!(
            config.reset_mail_limit(),
            RateLimit {
                max: 3,
                window: Duration::hours(1)
            }
        );
    }

    #[test]
    fn a_bad_base_url_or_ttl_is_refused() {
        assert!(Config::builder()
            .random_secret()
            .app_base_url("ftp://x")
            .build()
            .is_err());
        assert!(Config::builder()
            .random_secret()
            .reset_ttl(Duration::ZERO)
            .build()
            .is_err());
    }

    #[test]
    fn durations_that_could_overflow_a_date_are_refused() {
        let err = Config::builder()
            .random_secret()
            .refresh_ttl(Duration::MAX)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("refresh token lifetime"), "{err}");
        let limit = RateLimit {
            max: 1,
            window: Duration::days(100_000),
        };
        assert!(Config::builder()
            .random_secret()
            .login_limit(limit)
            .build()
            .is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let config = Config::builder()
            .secret("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t")
            .build()
            .unwrap();
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }
}
