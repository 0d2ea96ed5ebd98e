//! `CachingStorage`: users and referral counters served from process memory, with exact
//! invalidation on this process's writes and bounded staleness for everyone else's.
//!
//! Every authenticated request loads its user (existence and token version) and a stats
//! request its counters; both are read far more often than they change. The cache keeps them
//! for at most [`CachePolicy::ttl`] (1 second by default, never more), drops an entry the
//! moment a write through this storage touches it, and, where the storage reports changes
//! made by other processes ([`Storage::watch_users`]: PostgreSQL through `LISTEN/NOTIFY`),
//! drops those too. A password reset, role change or disable made by another server instance
//! is therefore seen within milliseconds on PostgreSQL and within the TTL anywhere.
//!
//! A read that raced a write never stores what it read: every invalidation bumps a
//! generation, and a value read from storage is cached only when no invalidation happened
//! while it was being read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once, Weak};

use async_trait::async_trait;
use moka::sync::Cache;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    AccessChange, AccessOutcome, AuditEntry, Click, ClickCounts, ClickEvent, ConversionRecord,
    DeadLetter, Erasure, MetadataUpdate, NewUser, OutboxMessage, PasswordChange, PruneReport,
    ReferralCounts, ReferralCursor, ReferralRecord, RefreshTokenRecord, ResetTokenRecord,
    RewardCursor, Rotation, Storage, StorageError, UserChangeSink, UserSearch, UserSummary,
    VerificationTokenRecord,
};
use crate::email::Email;
use crate::error::Error;
use crate::password::PasswordHash;
use crate::rate_limit::{RateKey, RateWindow};
use crate::referral_code::ReferralCode;
use crate::rewards::{RewardApproval, RewardEntry, RewardStatus, RewardTransition};
use crate::tokens::TokenHash;
use crate::user::UserRecord;

/// The longest a cached entry may live: the staleness bound the library documents.
pub const MAX_CACHE_TTL: Duration = Duration::seconds(1);

/// Whether and how the engine caches users and referral counters.
///
/// On by default: entries live at most `ttl` (≤ 1 second), at most `capacity` users are kept
/// (least recently used go first). Turning it off gives the same answers, from storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Cache at all.
    pub enabled: bool,
    /// How long an entry lives: the bound on how stale an answer can be after a write made by
    /// another process on a storage that does not report changes (SQLite shared by processes).
    pub ttl: Duration,
    /// Most users (and, separately, most users' counters) kept.
    pub capacity: u64,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            enabled: true,
            ttl: MAX_CACHE_TTL,
            capacity: 10_000,
        }
    }
}

impl CachePolicy {
    /// No cache: every read goes to storage.
    pub fn disabled() -> Self {
        CachePolicy {
            enabled: false,
            ..CachePolicy::default()
        }
    }

    /// Checks the bounds: `ttl` in (0, 1 s], `capacity` ≥ 1.
    pub(crate) fn validate(self) -> Result<Self, Error> {
        if !self.enabled {
            return Ok(self);
        }
        if self.ttl <= Duration::ZERO || self.ttl > MAX_CACHE_TTL {
            return Err(Error::Config(format!(
                "the cache TTL must be more than 0 and at most {MAX_CACHE_TTL} (got {}): it bounds \
                 how long a revoked token can still be accepted; disable the cache instead",
                self.ttl
            )));
        }
        if self.capacity == 0 {
            return Err(Error::Config(
                "the cache capacity must be at least 1; disable the cache instead".into(),
            ));
        }
        Ok(self)
    }
}

/// Hit and miss counts of the cache since the engine started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// User lookups by id answered from memory.
    pub user_hits: u64,
    /// User lookups by id that went to storage.
    pub user_misses: u64,
    /// Referral counters answered from memory.
    pub stats_hits: u64,
    /// Referral counters read from storage.
    pub stats_misses: u64,
    /// Click counters answered from memory.
    pub click_hits: u64,
    /// Click counters read from storage.
    pub click_misses: u64,
    /// First pages of referrals answered from memory.
    pub page_hits: u64,
    /// First pages of referrals read from storage.
    pub page_misses: u64,
    /// Entries dropped because something changed (one user, or everything at once).
    pub invalidations: u64,
}

/// A user's first page of referrals as read with `limit`.
#[derive(Clone)]
struct FirstPage {
    limit: u32,
    rows: Arc<Vec<ReferralRecord>>,
}

/// The caches and their counters, shared with the change feed.
struct Entries {
    users: Cache<Uuid, UserRecord>,
    stats: Cache<Uuid, ReferralCounts>,
    /// With the UTC day of the `since` they were read for (they depend on nothing finer).
    clicks: Cache<Uuid, (time::Date, ClickCounts)>,
    /// Each user's first page of referrals, with the limit it was read with.
    pages: Cache<Uuid, FirstPage>,
    /// Bumped by every invalidation; a read caches only when it did not move meanwhile.
    generation: AtomicU64,
    user_hits: AtomicU64,
    user_misses: AtomicU64,
    stats_hits: AtomicU64,
    stats_misses: AtomicU64,
    click_hits: AtomicU64,
    click_misses: AtomicU64,
    page_hits: AtomicU64,
    page_misses: AtomicU64,
    invalidations: AtomicU64,
    /// Whether the storage reports other processes' changes (for diagnostics).
    watched: AtomicBool,
}

impl Entries {
    fn invalidate(&self, user: Uuid) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.users.invalidate(&user);
        self.stats.invalidate(&user);
        self.clicks.invalidate(&user);
        self.pages.invalidate(&user);
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// After a write about `user`: that user's entries go when it succeeded, every entry
    /// when it failed (unknown whether it committed).
    fn after_write_about<T>(&self, user: Uuid, result: &Result<T, StorageError>) {
        match result {
            Ok(_) => self.invalidate(user),
            Err(_) => self.invalidate_all(),
        }
    }

    fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.users.invalidate_all();
        self.stats.invalidate_all();
        self.clicks.invalidate_all();
        self.pages.invalidate_all();
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }
}

impl UserChangeSink for Entries {
    fn user_changed(&self, user: Uuid) {
        self.invalidate(user);
    }

    fn changes_lost(&self) {
        self.invalidate_all();
    }
}

/// A [`Storage`] that serves [`user_by_id`](Storage::user_by_id),
/// [`referral_stats`](Storage::referral_stats), [`click_counts`](Storage::click_counts) and
/// first pages of [`list_referrals`](Storage::list_referrals) from memory in front of
/// another storage.
///
/// The engine puts one in front of its storage unless [`CachePolicy::enabled`] is off; see
/// the module documentation for the invalidation rules. Every other method goes straight
/// through, and each write drops the entries it can change.
pub struct CachingStorage {
    inner: Arc<dyn Storage>,
    entries: Arc<Entries>,
    watch: Once,
}

impl std::fmt::Debug for CachingStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingStorage")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl CachingStorage {
    /// A cache in front of `inner` with `policy`'s TTL and capacity (`policy.enabled` is the
    /// caller's business: this always caches).
    pub fn new(inner: Arc<dyn Storage>, policy: CachePolicy) -> Self {
        let ttl = std::time::Duration::try_from(policy.ttl.clamp(Duration::ZERO, MAX_CACHE_TTL))
            .unwrap_or(std::time::Duration::from_secs(1));
        let capacity = policy.capacity.max(1);
        CachingStorage {
            inner,
            entries: Arc::new(Entries {
                users: Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
                stats: Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
                clicks: Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
                // Weighed in rows: `capacity` rows of first pages in all.
                pages: Cache::builder()
                    .max_capacity(capacity)
                    .weigher(|_, page: &FirstPage| {
                        u32::try_from(page.rows.len())
                            .unwrap_or(u32::MAX)
                            .saturating_add(1)
                    })
                    .time_to_live(ttl)
                    .build(),
                generation: AtomicU64::new(0),
                user_hits: AtomicU64::new(0),
                user_misses: AtomicU64::new(0),
                stats_hits: AtomicU64::new(0),
                stats_misses: AtomicU64::new(0),
                click_hits: AtomicU64::new(0),
                click_misses: AtomicU64::new(0),
                page_hits: AtomicU64::new(0),
                page_misses: AtomicU64::new(0),
                invalidations: AtomicU64::new(0),
                watched: AtomicBool::new(false),
            }),
            watch: Once::new(),
        }
    }

    /// The storage behind the cache.
    pub fn inner(&self) -> &Arc<dyn Storage> {
        &self.inner
    }

    /// Hits, misses and invalidations so far.
    pub fn stats(&self) -> CacheStats {
        let e = &self.entries;
        CacheStats {
            user_hits: e.user_hits.load(Ordering::Relaxed),
            user_misses: e.user_misses.load(Ordering::Relaxed),
            stats_hits: e.stats_hits.load(Ordering::Relaxed),
            stats_misses: e.stats_misses.load(Ordering::Relaxed),
            click_hits: e.click_hits.load(Ordering::Relaxed),
            click_misses: e.click_misses.load(Ordering::Relaxed),
            page_hits: e.page_hits.load(Ordering::Relaxed),
            page_misses: e.page_misses.load(Ordering::Relaxed),
            invalidations: e.invalidations.load(Ordering::Relaxed),
        }
    }

    /// Whether the storage behind reports other processes' changes (known after the first
    /// cached read, which starts the feed).
    pub fn watches_other_processes(&self) -> bool {
        self.entries.watched.load(Ordering::Relaxed)
    }

    /// Drops every entry (after a write made around the cache, straight to the database).
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }

    /// Drops one user's entries.
    pub fn invalidate(&self, user: Uuid) {
        self.entries.invalidate(user);
    }

    /// Starts the storage's change feed once, from the first read (inside the runtime).
    fn start_watching(&self) {
        self.watch.call_once(|| {
            let sink: Arc<dyn UserChangeSink> = self.entries.clone();
            let weak: Weak<dyn UserChangeSink> = Arc::downgrade(&sink);
            let watched = self.inner.watch_users(weak);
            self.entries.watched.store(watched, Ordering::Relaxed);
        });
    }
}

#[async_trait]
impl Storage for CachingStorage {
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }

    async fn create_user(&self, new: NewUser) -> Result<(), StorageError> {
        let touched = new
            .referral
            .as_ref()
            .map(|referral| (referral.referrer, referral.second_tier_referrer));
        let result = self.inner.create_user(new).await;
        // Also on failure: a lost answer may still have committed.
        if let Some((referrer, second_tier)) = touched {
            self.entries.invalidate(referrer);
            if let Some(second_tier) = second_tier {
                self.entries.invalidate(second_tier);
            }
        }
        result
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError> {
        self.start_watching();
        let entries = &self.entries;
        if let Some(user) = entries.users.get(&id) {
            entries.user_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(user));
        }
        entries.user_misses.fetch_add(1, Ordering::Relaxed);
        let generation = entries.generation.load(Ordering::Acquire);
        let user = self.inner.user_by_id(id).await?;
        if let Some(user) = &user {
            if entries.generation.load(Ordering::Acquire) == generation {
                entries.users.insert(id, user.clone());
            }
        }
        Ok(user)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError> {
        self.inner.user_by_email(email).await
    }

    async fn user_by_referral_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.inner.user_by_referral_code(code).await
    }

    async fn claim_referral_code(
        &self,
        user: Uuid,
        code: &ReferralCode,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let result = self.inner.claim_referral_code(user, code, now).await;
        self.entries.invalidate(user);
        result
    }

    async fn record_clicks(
        &self,
        clicks: &[Click],
        window: time::Duration,
        event: ClickEvent<'_>,
    ) -> Result<u64, StorageError> {
        let result = self.inner.record_clicks(clicks, window, event).await;
        // Also on failure: a lost answer may still have committed.
        let owners: std::collections::BTreeSet<Uuid> =
            clicks.iter().map(|click| click.owner).collect();
        for owner in owners {
            self.entries.invalidate(owner);
        }
        result
    }

    async fn click_counts(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ClickCounts, StorageError> {
        self.start_watching();
        let entries = &self.entries;
        let day = since.to_offset(time::UtcOffset::UTC).date();
        if let Some((cached_day, counts)) = entries.clicks.get(&user) {
            if cached_day == day {
                entries.click_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(counts);
            }
        }
        entries.click_misses.fetch_add(1, Ordering::Relaxed);
        let generation = entries.generation.load(Ordering::Acquire);
        let counts = self.inner.click_counts(user, since).await?;
        if entries.generation.load(Ordering::Acquire) == generation {
            entries.clicks.insert(user, (day, counts));
        }
        Ok(counts)
    }

    async fn prune_clicks(
        &self,
        visitors_before: OffsetDateTime,
        days_before: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        let result = self.inner.prune_clicks(visitors_before, days_before).await;
        self.entries.invalidate_all();
        result
    }

    async fn replace_password_hash(
        &self,
        user: Uuid,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StorageError> {
        let result = self.inner.replace_password_hash(user, expected, new).await;
        self.entries.invalidate(user);
        result
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<bool, StorageError> {
        self.inner.insert_refresh_token(token).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StorageError> {
        self.inner
            .rotate_refresh_token(presented, replacement, now)
            .await
    }

    async fn revoke_refresh_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<(), StorageError> {
        self.inner.revoke_refresh_token(token, now).await
    }

    async fn create_reset_token(&self, token: ResetTokenRecord) -> Result<bool, StorageError> {
        self.inner.create_reset_token(token).await
    }

    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.inner.reset_token_user(token, now).await
    }

    async fn change_user_access(
        &self,
        change: AccessChange,
    ) -> Result<AccessOutcome, StorageError> {
        let user = change.user;
        let result = self.inner.change_user_access(change).await;
        self.entries.after_write_about(user, &result);
        result
    }

    async fn update_metadata(
        &self,
        update: MetadataUpdate,
    ) -> Result<Option<UserRecord>, StorageError> {
        let user = update.user;
        let result = self.inner.update_metadata(update).await;
        self.entries.after_write_about(user, &result);
        result
    }

    async fn erase_user(&self, erasure: Erasure) -> Result<bool, StorageError> {
        let result = self.inner.erase_user(erasure).await;
        // Everything: the erased user's referrer lists them (their email goes) in a cached
        // first page, and erasure is rare. Also on failure: a lost answer may have committed.
        self.entries.invalidate_all();
        result
    }

    async fn referral_code_retired(&self, code: &ReferralCode) -> Result<bool, StorageError> {
        self.inner.referral_code_retired(code).await
    }

    async fn search_users(&self, search: UserSearch) -> Result<Vec<UserSummary>, StorageError> {
        self.inner.search_users(search).await
    }

    async fn audit_log(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        self.inner.audit_log(after, limit).await
    }

    async fn consume_reset_token(
        &self,
        token: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        events: Vec<OutboxMessage>,
    ) -> Result<Option<Uuid>, StorageError> {
        let result = self
            .inner
            .consume_reset_token(token, new_hash, now, events)
            .await;
        match &result {
            Ok(Some(user)) => self.entries.invalidate(*user),
            Ok(None) => {}
            // Unknown whether it committed, nor for whom.
            Err(_) => self.entries.invalidate_all(),
        }
        result
    }

    async fn change_password(
        &self,
        change: PasswordChange,
    ) -> Result<Option<UserRecord>, StorageError> {
        let user = change.user;
        let result = self.inner.change_password(change).await;
        self.entries.after_write_about(user, &result);
        result
    }

    async fn hit_rate_limit(
        &self,
        key: &RateKey,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<RateWindow, StorageError> {
        self.inner.hit_rate_limit(key, now, window).await
    }

    async fn refund_rate_limit(
        &self,
        key: &RateKey,
        started_at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        self.inner.refund_rate_limit(key, started_at).await
    }

    async fn clear_rate_limit(&self, key: &RateKey) -> Result<(), StorageError> {
        self.inner.clear_rate_limit(key).await
    }

    /// First pages cached per user (with the limit asked for); later pages go to storage.
    async fn list_referrals(
        &self,
        referrer: Uuid,
        after: Option<ReferralCursor>,
        limit: u32,
    ) -> Result<Vec<ReferralRecord>, StorageError> {
        if after.is_some() {
            return self.inner.list_referrals(referrer, after, limit).await;
        }
        self.start_watching();
        let entries = &self.entries;
        if let Some(page) = entries.pages.get(&referrer) {
            if page.limit == limit {
                entries.page_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(page.rows.as_ref().clone());
            }
        }
        entries.page_misses.fetch_add(1, Ordering::Relaxed);
        let generation = entries.generation.load(Ordering::Acquire);
        let rows = self.inner.list_referrals(referrer, None, limit).await?;
        if entries.generation.load(Ordering::Acquire) == generation {
            let page = FirstPage {
                limit,
                rows: Arc::new(rows.clone()),
            };
            entries.pages.insert(referrer, page);
        }
        Ok(rows)
    }

    /// Cached per user: `since` moves with the clock, so a cached answer counts from a
    /// boundary at most the TTL old.
    async fn referral_stats(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ReferralCounts, StorageError> {
        self.start_watching();
        let entries = &self.entries;
        if let Some(counts) = entries.stats.get(&user) {
            entries.stats_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(counts);
        }
        entries.stats_misses.fetch_add(1, Ordering::Relaxed);
        let generation = entries.generation.load(Ordering::Acquire);
        let counts = self.inner.referral_stats(user, since).await?;
        if entries.generation.load(Ordering::Acquire) == generation {
            entries.stats.insert(user, counts);
        }
        Ok(counts)
    }

    async fn create_verification_token(
        &self,
        token: VerificationTokenRecord,
    ) -> Result<bool, StorageError> {
        self.inner.create_verification_token(token).await
    }

    async fn verification_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.inner.verification_token_user(token, now).await
    }

    /// Changes the user's row and, through the approvals, other users' points: drops all.
    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
        approvals: Vec<RewardTransition>,
        outbox: Vec<OutboxMessage>,
    ) -> Result<Option<UserRecord>, StorageError> {
        let result = self.inner.verify_email(token, now, approvals, outbox).await;
        if !matches!(result, Ok(None)) {
            self.entries.invalidate_all();
        }
        result
    }

    async fn reward(&self, id: Uuid) -> Result<Option<RewardEntry>, StorageError> {
        self.inner.reward(id).await
    }

    async fn pending_rewards(
        &self,
        referral_user: Uuid,
        approval: RewardApproval,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.inner.pending_rewards(referral_user, approval).await
    }

    async fn list_rewards(
        &self,
        beneficiary: Uuid,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.inner.list_rewards(beneficiary, after, limit).await
    }

    async fn rewards_with_status(
        &self,
        status: RewardStatus,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.inner.rewards_with_status(status, after, limit).await
    }

    async fn transition_reward(
        &self,
        transition: RewardTransition,
    ) -> Result<Option<RewardEntry>, StorageError> {
        let result = self.inner.transition_reward(transition).await;
        match &result {
            Ok(Some(entry)) => self.entries.invalidate(entry.beneficiary),
            Ok(None) => {}
            Err(_) => self.entries.invalidate_all(),
        }
        result
    }

    async fn add_reward(
        &self,
        entry: RewardEntry,
        outbox: Vec<OutboxMessage>,
        audit: AuditEntry,
    ) -> Result<bool, StorageError> {
        let user = entry.beneficiary;
        let result = self.inner.add_reward(entry, outbox, audit).await;
        self.entries.after_write_about(user, &result);
        result
    }

    /// Approvals and grants change several users' points: drops all.
    async fn record_conversion(
        &self,
        conversion: ConversionRecord,
        approvals: Vec<RewardTransition>,
        grants: Vec<RewardEntry>,
        outbox: Vec<OutboxMessage>,
        audit: Option<AuditEntry>,
    ) -> Result<Option<Vec<RewardEntry>>, StorageError> {
        let result = self
            .inner
            .record_conversion(conversion, approvals, grants, outbox, audit)
            .await;
        if !matches!(result, Ok(None)) {
            self.entries.invalidate_all();
        }
        result
    }

    async fn enqueue_outbox(&self, message: OutboxMessage) -> Result<(), StorageError> {
        self.inner.enqueue_outbox(message).await
    }

    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError> {
        self.inner.claim_outbox(now, lease_until, limit).await
    }

    async fn fan_out_event(
        &self,
        id: Uuid,
        copies: Vec<OutboxMessage>,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        self.inner.fan_out_event(id, copies, now).await
    }

    async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError> {
        self.inner.complete_outbox(id, now).await
    }

    async fn fail_outbox(
        &self,
        id: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StorageError> {
        self.inner.fail_outbox(id, retry_at, error).await
    }

    async fn dead_letter_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StorageError> {
        self.inner.dead_letter_outbox(id, now, reason).await
    }

    async fn dead_letters(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StorageError> {
        self.inner.dead_letters(after, limit).await
    }

    async fn redeliver_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: Option<AuditEntry>,
    ) -> Result<bool, StorageError> {
        self.inner.redeliver_outbox(id, now, audit).await
    }

    async fn pending_outbox(&self) -> Result<u64, StorageError> {
        self.inner.pending_outbox().await
    }

    async fn prune(
        &self,
        now: OffsetDateTime,
        done_before: OffsetDateTime,
        dead_before: OffsetDateTime,
    ) -> Result<PruneReport, StorageError> {
        self.inner.prune(now, done_before, dead_before).await
    }

    fn watch_users(&self, sink: Weak<dyn UserChangeSink>) -> bool {
        self.inner.watch_users(sink)
    }
}
