//! The `Storage` trait: the persistence the engine needs, one atomic operation per method.
//!
//! Implementations: [`MemoryStorage`] always; `SqliteStorage` and `PostgresStorage` behind the
//! `sqlite` and `postgres` features. Whoever implements the trait runs the contract suite in
//! `referral_core::testing` (feature `testing`) and knows they are done.
//!
//! # Choosing a database
//!
//! [`open`] picks the backend from the URL scheme (as `DATABASE_URL` gives it), creates a
//! missing SQLite file, and runs the embedded migrations:
//!
//! - `sqlite://referral.db` (feature `sqlite`; SQLite is bundled, nothing to install): the
//!   embedded default, one file in WAL mode, for a single server instance.
//!   `sqlite::memory:` keeps everything in memory, for tests.
//! - `postgres://user:password@host:5432/database` (feature `postgres`): for several server
//!   instances sharing one database, and for scale. Size the pool with
//!   `PostgresStorage::connect_with(options, PostgresStorage::pool_options().max_connections(n))`.
//! - [`MemoryStorage`]: no database at all; data lives as long as the process.
//!
//! Both SQL backends keep counters on the user row (total and second-tier referrals, reward
//! points) and per-day sign-up counts, updated in the registration transaction, so
//! [`Storage::referral_stats`] costs the same for 10 referrals and for 100,000.
//!
//! # Testing against PostgreSQL
//!
//! The PostgreSQL tests read the server's URL from `REFERRAL_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates a database of its own and
//! drops it afterwards, so runs never collide. Unset, they print one line and pass.

mod error;
mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
mod records;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::StorageError;
pub use memory::MemoryStorage;
pub use open::open;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStorage, DEFAULT_SCHEMA};
pub use records::{
    NewReferral, NewUser, OutboxMessage, ReferralCounts, ReferralCursor, ReferralRecord,
    RefreshTokenRecord, ResetTokenRecord, Rotation,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStorage;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStorage, DEFAULT_TABLE_PREFIX};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::RateWindow;
use crate::referral_code::ReferralCode;
use crate::tokens::TokenHash;
use crate::user::UserRecord;

/// Persistence for accounts, tokens, referrals, rewards, rate limits and the mail outbox.
///
/// Every method is one atomic step: where it writes more than one thing, all of it happens
/// or none of it does, and concurrent calls never break the invariants named on each method.
/// Errors are [`StorageError`]; an unreachable backend is [`StorageError::Unavailable`].
///
/// Token hashes are unique: storing a refresh or reset token under a hash already stored
/// fails, as does storing one for a user that does not exist. Timestamps may be kept to the
/// microsecond (the SQL backends do); the engine relies on nothing finer.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Creates a user, atomically with its referral (if any), the referral's reward ledger
    /// entries, the counters behind [`referral_stats`](Self::referral_stats), and the user's
    /// first refresh token.
    ///
    /// Fails with [`StorageError::EmailTaken`] when the email exists (concurrent registrations
    /// of one email: exactly one succeeds) and [`StorageError::ReferralCodeTaken`] when the
    /// new user's code exists; nothing is written then.
    async fn create_user(&self, new: NewUser) -> Result<(), StorageError>;

    /// The user with this id.
    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError>;

    /// The user with this normalised email.
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError>;

    /// The user whose own referral code this is.
    async fn user_by_referral_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Replaces a user's password hash (rehash at login with new parameters); nothing else
    /// changes.
    async fn update_password_hash(
        &self,
        user: Uuid,
        hash: &PasswordHash,
    ) -> Result<(), StorageError>;

    /// Stores a new refresh token (a login).
    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StorageError>;

    /// Rotates the refresh token `presented`, atomically: when it is live (unused, unrevoked,
    /// unexpired at `now`), it is marked used and `replacement` is stored with the presented
    /// token's user and family (its own `user_id` and `family_id` are placeholders and are
    /// ignored): [`Rotation::Rotated`]. When it was already rotated, every refresh token of its
    /// user is revoked: [`Rotation::Reused`]. Otherwise [`Rotation::Invalid`]. Of concurrent
    /// rotations of one token, exactly one is `Rotated`.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StorageError>;

    /// Revokes one refresh token (a logout). Revoking an unknown or revoked token is not an
    /// error.
    async fn revoke_refresh_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<(), StorageError>;

    /// Stores a reset token and the message carrying it, atomically, and supersedes every
    /// earlier unconsumed reset token of the same user.
    async fn create_reset_token(
        &self,
        token: ResetTokenRecord,
        mail: OutboxMessage,
    ) -> Result<(), StorageError>;

    /// The owner of a live (unused, unsuperseded, unexpired at `now`) reset token.
    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Consumes a live reset token, atomically with its effects: the user's password hash
    /// becomes `new_hash`, the token version is bumped, and every refresh token of the user
    /// is revoked. Returns the user's id, or `None` when the token is not live. Of concurrent
    /// consumptions of one token, exactly one returns `Some`.
    async fn consume_reset_token(
        &self,
        token: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<Option<Uuid>, StorageError>;

    /// Counts one attempt under `key`, atomically, and returns the window after counting:
    /// when no window is open at `now` (none yet, or `started_at + window <= now`), a new one
    /// opens at `now` with count 1.
    async fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<RateWindow, StorageError>;

    /// The window open under `key` at `now`, if any.
    async fn rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<Option<RateWindow>, StorageError>;

    /// Forgets the window under `key`.
    async fn clear_rate_limit(&self, key: &str) -> Result<(), StorageError>;

    /// The users `referrer` referred, newest first (`joined_at` descending, then `user_id`
    /// descending), strictly after `after` in that order, at most `limit` of them.
    async fn list_referrals(
        &self,
        referrer: Uuid,
        after: Option<ReferralCursor>,
        limit: u32,
    ) -> Result<Vec<ReferralRecord>, StorageError>;

    /// The user's referral counters: total referrals, referrals joined at or after `since`,
    /// second-tier referrals, and the sum of the user's reward ledger entries. Must cost the
    /// same for a user with 10 referrals and one with 100,000.
    async fn referral_stats(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ReferralCounts, StorageError>;

    /// Claims up to `limit` outbox messages due at `now` (unsent, `next_attempt_at <= now`,
    /// not leased or with an expired lease), leasing each until `lease_until` and counting an
    /// attempt. Concurrent claimers never receive the same message while its lease runs.
    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError>;

    /// Marks a claimed message sent; it is never claimed again.
    async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError>;

    /// Releases a claimed message after a failed attempt, to be retried at `retry_at`, and
    /// records the error text.
    async fn fail_outbox(
        &self,
        id: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StorageError>;

    /// Deletes messages sent before `sent_before`; returns how many.
    async fn prune_outbox(&self, sent_before: OffsetDateTime) -> Result<u64, StorageError>;

    /// Counts the outbox messages not yet sent (for health and tests).
    async fn pending_outbox(&self) -> Result<u64, StorageError>;
}
