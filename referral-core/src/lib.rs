//! # referral-core
//!
//! The framework-agnostic engine of the `referral` crate: accounts, JWT authentication,
//! password reset by email, and referrals with rewards. It owns every rule (validation,
//! hashing, tokens, referrals, rewards, resets, rate limits) and, behind the `http` feature,
//! the whole HTTP surface as data, so the axum and Rocket adapters only translate.
//!
//! - [`Engine`]: the operations, taking and returning domain types (for a CLI, a job, a
//!   GraphQL resolver as much as for HTTP); every [`Error`] has a stable
//!   [`code`](Error::code) and [`status`](Error::status).
//! - `http` (feature `http`): the endpoint table ([`Endpoint`], [`Mount`]),
//!   [`Engine::serve`] for one endpoint, [`Engine::handle`] for the whole contract, request
//!   bodies, problem documents and the OpenAPI document.
//! - [`Storage`]: persistence; [`MemoryStorage`] here, SQLite and PostgreSQL behind the
//!   `sqlite` and `postgres` features.
//! - [`Mailer`]: sending mail; [`LogMailer`], [`RecordingMailer`], SMTP behind `smtp`, and
//!   Postmark, SendGrid, Mailgun and Resend behind `mail-api`; [`MailSettings`] picks one.
//! - Events ([`Event`]): written with the change that causes them and delivered at least
//!   once, in order per user, to each [`EventHandler`] and, behind `webhooks`, to a
//!   webhook signed the Standard Webhooks way ([`WebhookSettings`]).
//! - [`templates`]: the mail the engine sends ([`MailTemplates`](templates::MailTemplates)) and
//!   where its links point ([`LinkPaths`](templates::LinkPaths)), both replaceable by the app.
//! - [`permissions`]: roles, permissions and the role → permission map behind
//!   `/api/admin` and the adapters' `RequirePermission` guards.
//! - `testing` (feature `testing`): the contract suites every `Storage` and `Mailer` runs.
//!
//! ```
//! use std::sync::Arc;
//! use referral_core::{Config, Engine, LogMailer, NewAccount};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let engine = Engine::builder(Config::builder().random_secret().build()?)
//!     .mailer(Arc::new(LogMailer))
//!     .build()?;
//! let jane = engine
//!     .register(NewAccount::new("jane@example.com", "correct horse battery"))
//!     .await?;
//! let tokens = engine.login("jane@example.com", "correct horse battery").await?;
//! let me = engine.authenticate(&tokens.access_token).await?;
//! assert_eq!(me.id, jane.user.id);
//! # Ok::<(), referral_core::Error>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client_address;
mod clock;
mod common_passwords;
mod config;
mod email;
mod engine;
mod error;
mod event_handler;
mod fraud;
#[cfg(feature = "http")]
mod http;
pub mod mailer;
mod metadata;
mod outbox;
mod password;
pub mod permissions;
mod rate_limit;
mod referral_code;
mod rewards;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod settings;
pub mod storage;
pub mod templates;
mod timestamp;
mod tokens;
mod user;
mod visitor;
#[cfg(feature = "webhooks")]
mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

pub use client_address::client_address;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, ConfigBuilder, Secret, DEFAULT_SHARE_PATH, MAX_DURATION, MIN_SECRET_BYTES,
};
pub use email::{Email, EmailProblem, MAX_EMAIL_LEN};
pub use engine::{
    AccessUpdate, AdminReferrer, AdminUser, AdminUserDetail, AdminUserPage, AuditLogEntry,
    AuditPage, ClickQueueStats, ConversionOutcome, Engine, EngineBuilder, Event, EventType,
    NewAccount, Referral, ReferralPage, ReferralStats, Registered, Reward, RewardPage, CLICK_BATCH,
    CLICK_QUEUE_CAPACITY, CLICK_WINDOW, DEFAULT_PAGE_SIZE, MAX_ADJUSTMENT_POINTS,
    MAX_CONVERSION_ID_BYTES, MAX_PAGE_SIZE, MAX_REASON_CHARS, PASSWORD_CHANGED_MESSAGE,
    RECENT_WINDOW, RESET_DONE_MESSAGE, RESET_REQUESTED_MESSAGE, VERIFICATION_SENT_MESSAGE,
};
pub use error::{Error, FieldError};
pub use event_handler::{EventHandler, HandlerError};
#[cfg(feature = "http")]
pub use http::{
    openapi_document, parse_json, reason_phrase, reason_phrase_ok, Access, AdjustmentRequest,
    AdminRewardsQuery, AdminUsersQuery, ApiRequest, ApiResponse, ChangePasswordRequest,
    ConversionRequest, DeleteAccountRequest, Endpoint, EndpointSpec, Health, LoginRequest,
    MessageBody, Method, Mount, PasswordChanged, PathParams, Problem, ReferralCodeRequest,
    ReferralsQuery, RefreshRequest, RegisterRequest, RequestBody, ResetConfirmRequest,
    ResetRequest, RevokeRequest, Scope, UpdateMeRequest, VerifyEmailRequest, API_PREFIX, JSON,
    MAX_BODY_BYTES, PROBLEM_JSON,
};
#[cfg(feature = "mail-api")]
pub use mailer::{ApiKey, ApiMailer, ApiSettings, Provider};
pub use mailer::{
    DisabledMailer, LogMailer, MailError, MailSettings, Mailer, Message, RecordingMailer,
};
#[cfg(feature = "smtp")]
pub use mailer::{SmtpCredentials, SmtpMailer, SmtpSettings, SmtpTls};
pub use metadata::{MetadataError, MetadataValidator, MAX_METADATA_BYTES};
pub use outbox::{
    DeadLetterPage, DeadLetterView, DispatchReport, OutboxDispatcher, OutboxHandle, OutboxPolicy,
    REDELIVERY_QUEUED_MESSAGE,
};
pub use password::{
    Argon2Params, HashingLimits, Password, PasswordHash, PasswordHasher, PasswordProblem,
    DEFAULT_WAITING_PER_SLOT, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
pub use permissions::{Permission, Role, RolePermissions};
pub use rate_limit::{RateKey, RateKeys, RateLimit, RateScope, RateWindow};
pub use referral_code::{
    MalformedReferralCode, ReferralCode, VanityCodeProblem, MAX_CODE_LEN, MIN_CODE_LEN,
    RESERVED_CODES,
};
pub use rewards::{
    RewardApproval, RewardEntry, RewardFlag, RewardKind, RewardPolicy, RewardStatus,
    RewardTransition,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use settings::{Settings, DEFAULT_BIND, DEFAULT_DATABASE_URL};
#[cfg(feature = "postgres")]
pub use storage::PostgresStorage;
#[cfg(feature = "sqlite")]
pub use storage::SqliteStorage;
pub use storage::{
    CachePolicy, CacheStats, Click, ClickCounts, MemoryStorage, Storage, StorageError,
};
pub use tokens::{AccessClaims, AccessToken, AccessTokenIssuer, OpaqueToken, TokenHash, Tokens};
pub use user::{User, UserRecord};
pub use visitor::{VisitorHash, VisitorKeys};
#[cfg(feature = "webhooks")]
pub use webhooks::{
    WebhookError, WebhookSecret, WebhookSettings, MAX_WEBHOOK_SECRET_BYTES,
    MIN_WEBHOOK_SECRET_BYTES, WEBHOOK_SECRET_PREFIX,
};
