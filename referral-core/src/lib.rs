//! # referral-core
//!
//! The framework-agnostic engine of the `referral` crate: accounts, JWT authentication,
//! password reset by email, and referrals with rewards. It owns every rule (validation,
//! hashing, tokens, referrals, rewards, resets, rate limits) and the whole HTTP surface as
//! plain types, so the axum and Rocket adapters only translate.
//!
//! - [`Engine`]: the operations, and [`Engine::handle`] for the HTTP contract.
//! - [`Storage`]: persistence; [`MemoryStorage`] here, SQLite and PostgreSQL behind the
//!   `sqlite` and `postgres` features.
//! - [`Mailer`]: sending mail; [`LogMailer`], [`RecordingMailer`], SMTP behind `smtp`, and
//!   Postmark, SendGrid, Mailgun and Resend behind `mail-api`; [`MailSettings`] picks one.
//! - `testing` (feature `testing`): the contract suites every `Storage` and `Mailer` runs.
//!
//! ```
//! use referral_core::{ApiRequest, Config, Engine, RequestBody};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let engine = Engine::builder(Config::builder().random_secret().build()?).build()?;
//! let mut request = ApiRequest::new("GET", "/api/health");
//! request.body = RequestBody::Complete(Vec::new());
//! let response = engine.handle(request).await;
//! assert_eq!(response.status, 200);
//! # Ok::<(), referral_core::Error>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod common_passwords;
mod config;
mod email;
mod engine;
mod error;
mod http;
pub mod mailer;
mod openapi;
mod outbox;
mod password;
mod rate_limit;
mod referral_code;
mod rewards;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod settings;
pub mod storage;
mod templates;
mod tokens;
mod user;

#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigBuilder, Secret, MIN_SECRET_BYTES};
pub use email::{Email, EmailProblem, MAX_EMAIL_LEN};
pub use engine::{
    Engine, EngineBuilder, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RECENT_WINDOW, RESET_DONE_MESSAGE,
    RESET_REQUESTED_MESSAGE,
};
pub use error::{Error, FieldError};
pub use http::{
    reason_phrase, ApiRequest, ApiResponse, Health, LoginRequest, MessageBody, Problem, Referral,
    ReferralPage, ReferralStats, ReferralsQuery, RefreshRequest, RegisterRequest, Registered,
    RequestBody, ResetConfirmRequest, ResetRequest, Route, Tokens, User, API_PREFIX, JSON,
    MAX_BODY_BYTES, PROBLEM_JSON,
};
#[cfg(feature = "mail-api")]
pub use mailer::{ApiKey, ApiMailer, ApiSettings, Provider};
pub use mailer::{LogMailer, MailError, MailSettings, Mailer, Message, RecordingMailer};
#[cfg(feature = "smtp")]
pub use mailer::{SmtpCredentials, SmtpMailer, SmtpSettings, SmtpTls};
pub use openapi::document as openapi_document;
pub use outbox::{DispatchReport, OutboxDispatcher, OutboxHandle, OutboxPolicy};
pub use password::{
    Argon2Params, Password, PasswordHash, PasswordHasher, PasswordProblem, MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
};
pub use rate_limit::{RateLimit, RateWindow};
pub use referral_code::{MalformedReferralCode, ReferralCode};
pub use rewards::{RewardEntry, RewardKind, RewardPolicy};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use settings::{Settings, DEFAULT_BIND, DEFAULT_DATABASE_URL};
#[cfg(feature = "postgres")]
pub use storage::PostgresStorage;
#[cfg(feature = "sqlite")]
pub use storage::SqliteStorage;
pub use storage::{MemoryStorage, Storage, StorageError};
pub use tokens::{AccessClaims, AccessToken, AccessTokenIssuer, OpaqueToken, TokenHash};
pub use user::UserRecord;
