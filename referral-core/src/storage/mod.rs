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

mod cache;
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

pub use cache::{CachePolicy, CacheStats, CachingStorage, MAX_CACHE_TTL};
pub use error::StorageError;
pub use memory::MemoryStorage;
pub use open::open;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStorage, DEFAULT_SCHEMA};
pub use records::{
    audit_actions, AccessChange, AccessOutcome, AuditEntry, Click, ClickCounts, ClickEvent,
    ConversionRecord, DeadLetter, Erasure, MetadataUpdate, NewReferral, NewUser, OutboxMessage,
    PasswordChange, PruneReport, ReferralCounts, ReferralCursor, ReferralRecord,
    RefreshTokenRecord, ResetTokenRecord, RewardCursor, Rotation, UserSearch, UserSummary,
    VerificationTokenRecord,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStorage;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStorage, DEFAULT_TABLE_PREFIX, SQLITE_PAGE_CACHE_KIB};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::{RateKey, RateWindow};
use crate::referral_code::ReferralCode;
use crate::rewards::{RewardApproval, RewardEntry, RewardStatus, RewardTransition};
use crate::tokens::TokenHash;
use crate::user::UserRecord;

/// Persistence for accounts, tokens, referrals, rewards, rate limits and the outbox.
///
/// Every method is one atomic step: where it writes more than one thing, all of it happens
/// or none of it does, and concurrent calls never break the invariants named on each method.
/// Errors are [`StorageError`]; an unreachable backend is [`StorageError::Unavailable`].
///
/// Token hashes are unique: storing a refresh or reset token under a hash already stored
/// fails, as does storing one for a user that does not exist. Timestamps may be kept to the
/// microsecond (the SQL backends do); the engine relies on nothing finer.
///
/// Nothing a database reader could use is stored: tokens only as hashes, rate-limit keys
/// only as keyed hashes, and outbox payloads name what to send (an address, a user id),
/// never a token or a rendered message.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Creates a user, atomically with its referral (if any), the referral's reward ledger
    /// entries, the counters behind [`referral_stats`](Self::referral_stats), the user's
    /// first refresh token, and the outbox messages the registration queues.
    ///
    /// Fails with [`StorageError::EmailTaken`] when the email exists (concurrent registrations
    /// of one email: exactly one succeeds) and [`StorageError::ReferralCodeTaken`] when
    /// someone holds the new user's code (without case, current or earlier); nothing is
    /// written then. The new user's code is recorded as theirs for good (see
    /// [`claim_referral_code`](Self::claim_referral_code)).
    async fn create_user(&self, new: NewUser) -> Result<(), StorageError>;

    /// The user with this id. An erased user is never found, by this or any other lookup.
    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError>;

    /// The user with this normalised email.
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError>;

    /// The user holding this referral code, matched without case: their current code or an
    /// earlier one (codes are never released, so a printed link keeps naming its owner).
    async fn user_by_referral_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Makes `code` the user's current referral code, atomically. A code nobody holds (none
    /// equal to it without case, current or earlier) becomes the user's for good, recorded
    /// at `now`; a code the user already holds becomes current again, written as `code`
    /// writes it. The user's earlier codes stay theirs:
    /// [`user_by_referral_code`](Self::user_by_referral_code) keeps finding them by each.
    ///
    /// Fails with [`StorageError::ReferralCodeTaken`] when someone else holds the code (of
    /// concurrent claims of one free code, exactly one succeeds: the database's key on the
    /// lower-cased code decides). Returns `false`, changing nothing, when the user does not
    /// exist.
    async fn claim_referral_code(
        &self,
        user: Uuid,
        code: &ReferralCode,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Replaces a user's password hash with `new` only while it is still `expected` (the
    /// hash a login just verified), and changes nothing else: a rehash at login never
    /// overwrites a password set meanwhile by a reset. Returns whether it was replaced.
    async fn replace_password_hash(
        &self,
        user: Uuid,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StorageError>;

    /// Stores a new refresh token (a login) only while its user's token version is still
    /// `token.token_version`: a login whose password check straddled a reset or a password
    /// change stores nothing. Returns whether it was stored (`false` also when the user does
    /// not exist).
    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<bool, StorageError>;

    /// Rotates the refresh token `presented`, atomically: when it is live (unused, unrevoked,
    /// unexpired at `now`) and was issued at its user's current token version, it is marked
    /// used and `replacement` is stored with the presented token's user, family and token
    /// version (the replacement's own `user_id`, `family_id` and `token_version` are
    /// placeholders and are ignored): [`Rotation::Rotated`] with the user as stored after the
    /// rotation, so the caller issues an access token at the version the rotation matched.
    /// When it was already rotated, every refresh token of its user is revoked:
    /// [`Rotation::Reused`]. Otherwise (unknown, revoked, expired, or of an older token
    /// version) [`Rotation::Invalid`]. Of concurrent rotations of one token, exactly one is
    /// `Rotated`; a rotation racing a password reset either happens before it (and its
    /// replacement is revoked by the reset) or fails.
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

    /// Stores a reset token and supersedes every earlier unconsumed reset token of the same
    /// user, atomically. Returns `false` (storing nothing) when the user does not exist.
    async fn create_reset_token(&self, token: ResetTokenRecord) -> Result<bool, StorageError>;

    /// The owner of a live (unused, unsuperseded, unexpired at `now`) reset token.
    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Consumes a live reset token, atomically with its effects: the user's password hash
    /// becomes `new_hash`, the token version is bumped, every refresh token of the user
    /// is revoked, and `events` are queued in the outbox (nothing of it when the token is
    /// not live). Returns the user's id, or `None` when the token is not live. Of concurrent
    /// consumptions of one token, exactly one returns `Some`.
    async fn consume_reset_token(
        &self,
        token: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        events: Vec<OutboxMessage>,
    ) -> Result<Option<Uuid>, StorageError>;

    /// Changes a user's password by its owner, atomically with its effects, only while the
    /// stored hash is still `change.expected` (the one the caller verified the current
    /// password against): the hash becomes `change.new_hash`, the token version is bumped
    /// (every earlier access token is refused), every refresh token of the user is revoked,
    /// `change.session` is stored at the new version (the caller's session goes on), and
    /// `change.outbox` is queued. Returns the user as stored after it, or `None` (writing
    /// nothing) when the user does not exist or their hash changed meanwhile (a reset or
    /// another change won). Of concurrent changes from one hash, exactly one returns `Some`.
    async fn change_password(
        &self,
        change: PasswordChange,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Replaces a user's metadata with `update.metadata` and queues `update.outbox`, in one
    /// transaction. Returns the user as stored after it, or `None` (writing nothing) when
    /// there is no such user or they were erased.
    async fn update_metadata(
        &self,
        update: MetadataUpdate,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Erases a user, atomically with its effects: the row stays as a tombstone under its
    /// id (the referrals, ledger entries, conversions and codes naming it hold, so
    /// referrers' lists and totals stay right) but its email, password hash, metadata and
    /// roles are removed, it is marked erased at `erasure.now` and its token version is
    /// bumped; every refresh, reset and verification token of the user is deleted; the audit
    /// entry and `erasure.outbox` are written. Afterwards no lookup finds the user, their
    /// email is free for a new account, [`list_referrals`](Self::list_referrals) shows them
    /// without an email, and their codes stay theirs: nobody can claim them
    /// ([`referral_code_retired`](Self::referral_code_retired) names them).
    ///
    /// Returns `false` (writing nothing) when there is no such user, or they were erased
    /// already. Fails with [`StorageError::LastAdmin`] (writing nothing) when the user is the
    /// last enabled admin, serialised with changes of access as
    /// [`change_user_access`](Self::change_user_access) is.
    async fn erase_user(&self, erasure: Erasure) -> Result<bool, StorageError>;

    /// Whether `code` (without case, current or earlier) belongs to an erased user: a code
    /// nobody can hold again and that signs nobody up as a referrer.
    async fn referral_code_retired(&self, code: &ReferralCode) -> Result<bool, StorageError>;

    /// Counts one attempt under `key`, atomically, and returns the window after counting:
    /// when no window is open at `now` (none yet, or `started_at + window <= now`), a new one
    /// opens at `now` with count 1. Callers decide on the returned count, so of `n`
    /// concurrent hits on a fresh key the counts returned are exactly `1..=n`.
    async fn hit_rate_limit(
        &self,
        key: &RateKey,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<RateWindow, StorageError>;

    /// Takes back one attempt counted under `key` in the window that opened at `started_at`
    /// (a successful login refunds its attempt). Does nothing when that window is no longer
    /// the current one or its count is already zero.
    async fn refund_rate_limit(
        &self,
        key: &RateKey,
        started_at: OffsetDateTime,
    ) -> Result<(), StorageError>;

    /// Forgets the window under `key`.
    async fn clear_rate_limit(&self, key: &RateKey) -> Result<(), StorageError>;

    /// The users `referrer` referred, newest first (`joined_at` descending, then `user_id`
    /// descending), strictly after `after` in that order, at most `limit` of them.
    async fn list_referrals(
        &self,
        referrer: Uuid,
        after: Option<ReferralCursor>,
        limit: u32,
    ) -> Result<Vec<ReferralRecord>, StorageError>;

    /// The user's referral counters: total referrals, referrals joined at or after `since`,
    /// second-tier referrals, and the sums of the user's approved and of their pending reward
    /// ledger entries (revoked ones never count). Must cost the same for a user with 10
    /// referrals and one with 100,000.
    async fn referral_stats(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ReferralCounts, StorageError>;

    /// Stores an email-verification token and supersedes every earlier unconsumed one of the
    /// same user, atomically. Returns `false` (storing nothing) when the user does not exist.
    async fn create_verification_token(
        &self,
        token: VerificationTokenRecord,
    ) -> Result<bool, StorageError>;

    /// The owner of a live (unused, unsuperseded, unexpired at `now`) verification token.
    async fn verification_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// Consumes a live verification token, atomically with its effects: the owner's
    /// `email_verified` becomes true, each of `approvals` is applied as
    /// [`transition_reward`](Self::transition_reward) applies it (those whose reward is no
    /// longer `from` are skipped), and `outbox` is queued. Returns the user as stored after
    /// it, or `None` (writing nothing) when the token is not live. Of concurrent
    /// consumptions of one token, exactly one returns `Some`.
    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
        approvals: Vec<RewardTransition>,
        outbox: Vec<OutboxMessage>,
    ) -> Result<Option<UserRecord>, StorageError>;

    /// One ledger entry.
    async fn reward(&self, id: Uuid) -> Result<Option<RewardEntry>, StorageError>;

    /// The pending entries earned by `referral_user`'s sign-up or conversions that wait for
    /// `approval`, oldest first.
    async fn pending_rewards(
        &self,
        referral_user: Uuid,
        approval: RewardApproval,
    ) -> Result<Vec<RewardEntry>, StorageError>;

    /// The entries `beneficiary` earned, newest first (`created_at` descending, then `id`
    /// descending), strictly after `after` in that order, at most `limit` of them.
    async fn list_rewards(
        &self,
        beneficiary: Uuid,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError>;

    /// Every user's entries with `status` (the admins' review queue), newest first
    /// (`created_at` descending, then `id` descending), strictly after `after` in that
    /// order, at most `limit` of them.
    async fn rewards_with_status(
        &self,
        status: RewardStatus,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError>;

    /// Moves a reward from `transition.from` to `transition.to`, atomically with its effects:
    /// the reason (when given) and `updated_at` are set, the beneficiary's approved and
    /// pending sums and the referral's points follow, and the transition's event and audit
    /// entry (when it carries them) are written.
    /// Only while the reward is still `from`: returns the entry as stored after the change,
    /// or `None` (writing nothing) when there is no such reward or it is no longer `from`.
    /// Of concurrent transitions out of one status, exactly one returns `Some`: a pending
    /// reward is approved once however many triggers race.
    async fn transition_reward(
        &self,
        transition: RewardTransition,
    ) -> Result<Option<RewardEntry>, StorageError>;

    /// Writes a ledger entry on its own (an admin's adjustment), atomically with its effects:
    /// the beneficiary's approved or pending sum (by the entry's status), `outbox` queued and
    /// `audit` written. Returns `false`, writing nothing, when the beneficiary does not exist.
    async fn add_reward(
        &self,
        entry: RewardEntry,
        outbox: Vec<OutboxMessage>,
        audit: AuditEntry,
    ) -> Result<bool, StorageError>;

    /// Records a conversion once per (user, kind, external id), atomically with its effects:
    /// `approvals` applied as [`transition_reward`](Self::transition_reward) applies them,
    /// `grants` written as new ledger entries (counted by their status), `outbox` queued and
    /// `audit` (an admin's recording) written. Returns the entries approved and granted, or `None` (writing nothing) when
    /// that conversion was already recorded. Fails (writing nothing) when the user does not
    /// exist.
    async fn record_conversion(
        &self,
        conversion: ConversionRecord,
        approvals: Vec<RewardTransition>,
        grants: Vec<RewardEntry>,
        outbox: Vec<OutboxMessage>,
        audit: Option<AuditEntry>,
    ) -> Result<Option<Vec<RewardEntry>>, StorageError>;

    /// Counts share-link clicks, atomically for the whole batch: a click counts unless the
    /// same visitor had a click counted for the same owner in the `window` before it (at
    /// or after `at - window`; the engine's window is 24 hours). A counted click adds one to
    /// the owner's total and to the count of its UTC day, and becomes the visitor's latest
    /// counted click. Each visitor's clicks are taken in time order, so a batch may count a
    /// visitor once and then not again. Returns how many counted. Concurrent batches
    /// (several server instances) never count one visitor twice within a window.
    ///
    /// For each owner with clicks counted, `event(owner, counted)` makes a
    /// `referral.clicked` outbox message, written in the same transaction as the counts.
    async fn record_clicks(
        &self,
        clicks: &[Click],
        window: time::Duration,
        event: ClickEvent<'_>,
    ) -> Result<u64, StorageError>;

    /// The user's click counters: every click counted, and those counted on UTC days after
    /// `since`'s day. Must cost the same for 10 clicks and for 100,000.
    async fn click_counts(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ClickCounts, StorageError>;

    /// Housekeeping for clicks: forgets visitors whose latest counted click was before
    /// `visitors_before` (they can no longer hold a click back), and per-day counts of days
    /// before `days_before`'s day (totals keep them). Returns how many rows went.
    async fn prune_clicks(
        &self,
        visitors_before: OffsetDateTime,
        days_before: OffsetDateTime,
    ) -> Result<u64, StorageError>;

    /// Queues one outbox message on its own (a reset request), due at its `created_at`.
    async fn enqueue_outbox(&self, message: OutboxMessage) -> Result<(), StorageError>;

    /// Claims up to `limit` outbox messages due at `now` (not sent, not dead,
    /// `next_attempt_at <= now`, not leased or with an expired lease), oldest due first,
    /// leasing each until `lease_until` and counting an attempt. Concurrent claimers never
    /// receive the same message while its lease runs.
    ///
    /// Messages of one topic about one user are claimed in order: a message with a
    /// `user_id` is not claimed while an earlier one (by `created_at`, then `id`) of the same
    /// topic and user is still open (neither done nor dead), leased or waiting for a retry.
    /// That is what keeps one user's events in order at each destination.
    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError>;

    /// Replaces a claimed message by `copies` (an event by one delivery per destination),
    /// atomically: the message is marked done at `now` and the copies are queued, due at
    /// their `created_at`. Returns `false`, writing nothing, when the message is no longer
    /// open (done or dead already: a second dispatcher whose lease ran out fanned it out
    /// first), so an event is fanned out once.
    async fn fan_out_event(
        &self,
        id: Uuid,
        copies: Vec<OutboxMessage>,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError>;

    /// Marks a claimed message done (sent, or nothing to send); it is never claimed again.
    async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError>;

    /// Releases a claimed message after a failed attempt, to be retried at `retry_at`, and
    /// records the error text.
    async fn fail_outbox(
        &self,
        id: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StorageError>;

    /// Gives up on a claimed message: it becomes a dead letter with `reason`, is never
    /// claimed again, and is listed by [`dead_letters`](Self::dead_letters) until
    /// [`redeliver_outbox`](Self::redeliver_outbox) or pruning.
    async fn dead_letter_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StorageError>;

    /// Dead letters, newest first (by the time they died, then id), strictly after `after`
    /// in that order, at most `limit`.
    async fn dead_letters(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StorageError>;

    /// Turns a dead letter back into a message due at `now` with no attempts counted,
    /// atomically with `audit` (the entry recording who asked) when given. Returns `false`,
    /// writing nothing, when `id` is not a dead letter.
    async fn redeliver_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: Option<AuditEntry>,
    ) -> Result<bool, StorageError>;

    /// Counts the outbox messages neither done nor dead (for health and tests).
    async fn pending_outbox(&self) -> Result<u64, StorageError>;

    /// Changes a user's roles or disabled state as [`AccessChange::apply`] says, atomically
    /// with its effects: the token version is bumped (the user's earlier access tokens are
    /// refused), every refresh token of the user is revoked, and the audit entry and the
    /// change's events ([`AccessChange::events`]) are written.
    /// A change that changes nothing writes nothing ([`AccessOutcome::Unchanged`]).
    ///
    /// The last-admin rule: when the change would leave no enabled user holding `admin`, it
    /// fails with [`StorageError::LastAdmin`] and writes nothing. Concurrent changes are
    /// serialised on the enabled admins (PostgreSQL locks their rows in id order; SQLite's
    /// `BEGIN IMMEDIATE` serialises writers), so of two admins demoting each other at once,
    /// exactly one succeeds.
    async fn change_user_access(&self, change: AccessChange)
        -> Result<AccessOutcome, StorageError>;

    /// Users matching `search`, newest first (id descending), with their referral totals.
    async fn search_users(&self, search: UserSearch) -> Result<Vec<UserSummary>, StorageError>;

    /// The audit log, newest first (by `at`, then id), strictly after the entry `after` in
    /// that order, at most `limit` entries.
    async fn audit_log(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError>;

    /// Housekeeping: deletes what no rule needs any more, and says how much.
    ///
    /// - rate-limit windows that ended at or before `now`;
    /// - refresh tokens expired at `now`, and revoked ones (a used, unexpired token is kept:
    ///   presenting it again must still be detected as reuse);
    /// - reset and verification tokens expired at `now`, used or superseded;
    /// - outbox messages done before `done_before`, and dead letters that died before
    ///   `dead_before`.
    async fn prune(
        &self,
        now: OffsetDateTime,
        done_before: OffsetDateTime,
        dead_before: OffsetDateTime,
    ) -> Result<PruneReport, StorageError>;

    /// Starts telling `sink` about users whose stored row changes — a password, token
    /// version, role or counter — by whatever process changes it, for as long as `sink`
    /// lives; returns whether this storage can (`false`, the default, when it cannot: a cache
    /// then relies on its TTL for other processes' writes). Called from within a Tokio
    /// runtime, at most once per sink. When the feed breaks (a lost connection), the storage
    /// calls [`UserChangeSink::changes_lost`], since changes may have gone unreported.
    ///
    /// `PostgresStorage` reports through `LISTEN/NOTIFY` (a trigger on its users table);
    /// memory storage lives in one process and SQLite has no notification channel.
    fn watch_users(&self, sink: std::sync::Weak<dyn UserChangeSink>) -> bool {
        let _ = sink;
        false
    }
}

/// Receives a storage's reports of changed users; see [`Storage::watch_users`].
pub trait UserChangeSink: Send + Sync + 'static {
    /// The stored row of `user` changed (or the user was deleted).
    fn user_changed(&self, user: Uuid);

    /// Reports may have been lost (the feed reconnected): anything may have changed.
    fn changes_lost(&self);
}
