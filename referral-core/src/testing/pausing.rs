//! `PausingStorage`: a [`Storage`] that holds one chosen call until the test lets it go, so
//! two engine operations can be interleaved at an exact step instead of by luck.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::{RateKey, RateWindow};
use crate::referral_code::ReferralCode;
use crate::rewards::{RewardApproval, RewardEntry, RewardStatus, RewardTransition};
use crate::storage::{
    AccessChange, AccessOutcome, AuditEntry, Click, ClickCounts, ClickEvent, ConversionRecord,
    DeadLetter, Erasure, MetadataUpdate, NewUser, OutboxMessage, PasswordChange, PruneReport,
    ReferralCounts, ReferralCursor, ReferralRecord, RefreshTokenRecord, ResetTokenRecord,
    RewardCursor, Rotation, Storage, StorageError, UserSearch, UserSummary,
    VerificationTokenRecord,
};
use crate::tokens::TokenHash;
use crate::user::UserRecord;

/// One method of the [`Storage`] trait, named to pause its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageCall {
    /// [`Storage::ping`].
    Ping,
    /// [`Storage::create_user`].
    CreateUser,
    /// [`Storage::user_by_id`].
    UserById,
    /// [`Storage::user_by_email`].
    UserByEmail,
    /// [`Storage::user_by_referral_code`].
    UserByReferralCode,
    /// [`Storage::replace_password_hash`].
    ReplacePasswordHash,
    /// [`Storage::insert_refresh_token`].
    InsertRefreshToken,
    /// [`Storage::rotate_refresh_token`].
    RotateRefreshToken,
    /// [`Storage::revoke_refresh_token`].
    RevokeRefreshToken,
    /// [`Storage::create_reset_token`].
    CreateResetToken,
    /// [`Storage::reset_token_user`].
    ResetTokenUser,
    /// [`Storage::consume_reset_token`].
    ConsumeResetToken,
    /// [`Storage::hit_rate_limit`].
    HitRateLimit,
    /// [`Storage::refund_rate_limit`].
    RefundRateLimit,
    /// [`Storage::clear_rate_limit`].
    ClearRateLimit,
    /// [`Storage::list_referrals`].
    ListReferrals,
    /// [`Storage::referral_stats`].
    ReferralStats,
    /// [`Storage::enqueue_outbox`].
    EnqueueOutbox,
    /// [`Storage::claim_outbox`].
    ClaimOutbox,
    /// [`Storage::fan_out_event`].
    FanOutEvent,
    /// [`Storage::complete_outbox`].
    CompleteOutbox,
    /// [`Storage::fail_outbox`].
    FailOutbox,
    /// [`Storage::dead_letter_outbox`].
    DeadLetterOutbox,
    /// [`Storage::dead_letters`].
    DeadLetters,
    /// [`Storage::redeliver_outbox`].
    RedeliverOutbox,
    /// [`Storage::pending_outbox`].
    PendingOutbox,
    /// [`Storage::prune`].
    Prune,
    /// [`Storage::claim_referral_code`].
    ClaimReferralCode,
    /// [`Storage::create_verification_token`].
    CreateVerificationToken,
    /// [`Storage::verification_token_user`].
    VerificationTokenUser,
    /// [`Storage::verify_email`].
    VerifyEmail,
    /// [`Storage::reward`].
    Reward,
    /// [`Storage::pending_rewards`].
    PendingRewards,
    /// [`Storage::list_rewards`].
    ListRewards,
    /// [`Storage::add_reward`].
    AddReward,
    /// [`Storage::rewards_with_status`].
    RewardsWithStatus,
    /// [`Storage::transition_reward`].
    TransitionReward,
    /// [`Storage::record_conversion`].
    RecordConversion,
    /// [`Storage::change_user_access`].
    ChangeUserAccess,
    /// [`Storage::search_users`].
    SearchUsers,
    /// [`Storage::audit_log`].
    AuditLog,
    /// [`Storage::record_clicks`].
    RecordClicks,
    /// [`Storage::click_counts`].
    ClickCounts,
    /// [`Storage::prune_clicks`].
    PruneClicks,
    /// [`Storage::change_password`].
    ChangePassword,
    /// [`Storage::erase_user`].
    EraseUser,
    /// [`Storage::update_metadata`].
    UpdateMetadata,
    /// [`Storage::referral_code_retired`].
    ReferralCodeRetired,
}

/// Whether a pause holds a call before it reaches the wrapped storage or after it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Before,
    After,
}

/// Wraps any storage, delegating every method to it, and holds the next call to a chosen
/// method until the test releases it.
///
/// A test arms a pause with [`pause_before`](Self::pause_before) (the call waits before the
/// wrapped storage sees it) or [`pause_after`](Self::pause_after) (the call has done its
/// work in the wrapped storage and waits before answering), starts an engine operation on a
/// spawned task, waits with [`Pause::reached`] until the operation is held there, runs
/// whatever should land at that moment (a password reset, say), and lets the operation go
/// on with [`Pause::release`]. Each pause holds one call, the first to that method after it
/// was armed; every other call goes straight through. Nothing is held while a call waits (no
/// lock, no connection), so the test's own operations run freely meanwhile.
///
/// Clones share their pauses: give the engine one clone and keep another to arm pauses.
///
/// ```
/// use std::sync::Arc;
/// use referral_core::testing::{PausingStorage, StorageCall};
/// use referral_core::{Email, MemoryStorage, Storage};
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let storage = PausingStorage::new(Arc::new(MemoryStorage::new()));
/// let mut pause = storage.pause_after(StorageCall::UserByEmail);
/// let engine_side = storage.clone();
/// let lookup = tokio::spawn(async move {
///     engine_side.user_by_email(&Email::parse("jane@example.com").unwrap()).await
/// });
/// pause.reached().await; // the lookup has read, and waits
/// // … change storage here, between the read and what its caller does next …
/// pause.release();
/// assert!(lookup.await.unwrap().unwrap().is_none());
/// # });
/// ```
#[derive(Clone)]
pub struct PausingStorage {
    inner: Arc<dyn Storage>,
    armed: Arc<Mutex<Vec<Armed>>>,
}

/// A pause waiting for its call.
struct Armed {
    call: StorageCall,
    moment: Moment,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A call held (or to be held) by [`PausingStorage`]. Dropping it releases the call.
#[derive(Debug)]
pub struct Pause {
    call: StorageCall,
    reached: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl Pause {
    /// Waits until the paused call has arrived and is held.
    ///
    /// Waits for ever if the call never comes: wrap it in a timeout of your own.
    ///
    /// # Panics
    ///
    /// When every clone of the storage was dropped before the call came.
    pub async fn reached(&mut self) {
        if (&mut self.reached).await.is_err() {
            panic!(
                "the storage was dropped before a {:?} call reached its pause",
                self.call
            );
        }
    }

    /// Lets the held call go on (or, if it has not come yet, lets it through when it does).
    pub fn release(self) {
        // The call may have given up waiting (its task was dropped): nothing to release then.
        let _ = self.release.send(());
    }
}

impl PausingStorage {
    /// Wraps `inner`; nothing is paused until a pause is armed.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        PausingStorage {
            inner,
            armed: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Holds the next call to `call` before it reaches the wrapped storage.
    pub fn pause_before(&self, call: StorageCall) -> Pause {
        self.arm(call, Moment::Before)
    }

    /// Holds the next call to `call` after the wrapped storage answered it, before the
    /// answer goes back to the caller.
    pub fn pause_after(&self, call: StorageCall) -> Pause {
        self.arm(call, Moment::After)
    }

    fn arm(&self, call: StorageCall, moment: Moment) -> Pause {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.lock().push(Armed {
            call,
            moment,
            reached: reached_tx,
            release: release_rx,
        });
        Pause {
            call,
            reached: reached_rx,
            release: release_tx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.armed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits at `moment` of `call` if a pause is armed for it, consuming the pause.
    async fn hold(&self, call: StorageCall, moment: Moment) {
        let armed = {
            let mut armed = self.lock();
            let found = armed
                .iter()
                .position(|pause| pause.call == call && pause.moment == moment);
            found.map(|at| armed.remove(at))
        };
        if let Some(pause) = armed {
            // The test may have dropped its `Pause`: then the call simply goes on.
            let _ = pause.reached.send(());
            let _ = pause.release.await;
        }
    }

    /// Runs one delegated call with the pauses armed around it.
    async fn step<T>(&self, call: StorageCall, work: impl Future<Output = T>) -> T {
        self.hold(call, Moment::Before).await;
        let answer = work.await;
        self.hold(call, Moment::After).await;
        answer
    }
}

impl fmt::Debug for PausingStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PausingStorage")
            .field("armed", &self.lock().len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Storage for PausingStorage {
    async fn create_verification_token(
        &self,
        token: VerificationTokenRecord,
    ) -> Result<bool, StorageError> {
        self.step(
            StorageCall::CreateVerificationToken,
            self.inner.create_verification_token(token),
        )
        .await
    }

    async fn verification_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.step(
            StorageCall::VerificationTokenUser,
            self.inner.verification_token_user(token, now),
        )
        .await
    }

    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
        approvals: Vec<RewardTransition>,
        outbox: Vec<OutboxMessage>,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.step(
            StorageCall::VerifyEmail,
            self.inner.verify_email(token, now, approvals, outbox),
        )
        .await
    }

    async fn reward(&self, id: Uuid) -> Result<Option<RewardEntry>, StorageError> {
        self.step(StorageCall::Reward, self.inner.reward(id)).await
    }

    async fn pending_rewards(
        &self,
        referral_user: Uuid,
        approval: RewardApproval,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.step(
            StorageCall::PendingRewards,
            self.inner.pending_rewards(referral_user, approval),
        )
        .await
    }

    async fn list_rewards(
        &self,
        beneficiary: Uuid,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.step(
            StorageCall::ListRewards,
            self.inner.list_rewards(beneficiary, after, limit),
        )
        .await
    }

    async fn add_reward(
        &self,
        entry: RewardEntry,
        outbox: Vec<OutboxMessage>,
        audit: AuditEntry,
    ) -> Result<bool, StorageError> {
        self.step(
            StorageCall::AddReward,
            self.inner.add_reward(entry, outbox, audit),
        )
        .await
    }

    async fn rewards_with_status(
        &self,
        status: RewardStatus,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.step(
            StorageCall::RewardsWithStatus,
            self.inner.rewards_with_status(status, after, limit),
        )
        .await
    }

    async fn transition_reward(
        &self,
        transition: RewardTransition,
    ) -> Result<Option<RewardEntry>, StorageError> {
        self.step(
            StorageCall::TransitionReward,
            self.inner.transition_reward(transition),
        )
        .await
    }

    async fn record_conversion(
        &self,
        conversion: ConversionRecord,
        approvals: Vec<RewardTransition>,
        grants: Vec<RewardEntry>,
        outbox: Vec<OutboxMessage>,
        audit: Option<AuditEntry>,
    ) -> Result<Option<Vec<RewardEntry>>, StorageError> {
        self.step(
            StorageCall::RecordConversion,
            self.inner
                .record_conversion(conversion, approvals, grants, outbox, audit),
        )
        .await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.step(StorageCall::Ping, self.inner.ping()).await
    }

    async fn create_user(&self, new: NewUser) -> Result<(), StorageError> {
        self.step(StorageCall::CreateUser, self.inner.create_user(new))
            .await
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError> {
        self.step(StorageCall::UserById, self.inner.user_by_id(id))
            .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError> {
        self.step(StorageCall::UserByEmail, self.inner.user_by_email(email))
            .await
    }

    async fn user_by_referral_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.step(
            StorageCall::UserByReferralCode,
            self.inner.user_by_referral_code(code),
        )
        .await
    }

    async fn claim_referral_code(
        &self,
        user: Uuid,
        code: &ReferralCode,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        self.step(
            StorageCall::ClaimReferralCode,
            self.inner.claim_referral_code(user, code, now),
        )
        .await
    }

    async fn record_clicks(
        &self,
        clicks: &[Click],
        window: time::Duration,
        event: ClickEvent<'_>,
    ) -> Result<u64, StorageError> {
        self.step(
            StorageCall::RecordClicks,
            self.inner.record_clicks(clicks, window, event),
        )
        .await
    }

    async fn click_counts(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ClickCounts, StorageError> {
        self.step(
            StorageCall::ClickCounts,
            self.inner.click_counts(user, since),
        )
        .await
    }

    async fn prune_clicks(
        &self,
        visitors_before: OffsetDateTime,
        days_before: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        self.step(
            StorageCall::PruneClicks,
            self.inner.prune_clicks(visitors_before, days_before),
        )
        .await
    }

    async fn replace_password_hash(
        &self,
        user: Uuid,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StorageError> {
        self.step(
            StorageCall::ReplacePasswordHash,
            self.inner.replace_password_hash(user, expected, new),
        )
        .await
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<bool, StorageError> {
        self.step(
            StorageCall::InsertRefreshToken,
            self.inner.insert_refresh_token(token),
        )
        .await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StorageError> {
        self.step(
            StorageCall::RotateRefreshToken,
            self.inner.rotate_refresh_token(presented, replacement, now),
        )
        .await
    }

    async fn revoke_refresh_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<(), StorageError> {
        self.step(
            StorageCall::RevokeRefreshToken,
            self.inner.revoke_refresh_token(token, now),
        )
        .await
    }

    async fn create_reset_token(&self, token: ResetTokenRecord) -> Result<bool, StorageError> {
        self.step(
            StorageCall::CreateResetToken,
            self.inner.create_reset_token(token),
        )
        .await
    }

    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.step(
            StorageCall::ResetTokenUser,
            self.inner.reset_token_user(token, now),
        )
        .await
    }

    async fn consume_reset_token(
        &self,
        token: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        events: Vec<OutboxMessage>,
    ) -> Result<Option<Uuid>, StorageError> {
        self.step(
            StorageCall::ConsumeResetToken,
            self.inner.consume_reset_token(token, new_hash, now, events),
        )
        .await
    }

    async fn erase_user(&self, erasure: Erasure) -> Result<bool, StorageError> {
        self.step(StorageCall::EraseUser, self.inner.erase_user(erasure))
            .await
    }

    async fn update_metadata(
        &self,
        update: MetadataUpdate,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.step(
            StorageCall::UpdateMetadata,
            self.inner.update_metadata(update),
        )
        .await
    }

    async fn referral_code_retired(&self, code: &ReferralCode) -> Result<bool, StorageError> {
        self.step(
            StorageCall::ReferralCodeRetired,
            self.inner.referral_code_retired(code),
        )
        .await
    }

    async fn change_password(
        &self,
        change: PasswordChange,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.step(
            StorageCall::ChangePassword,
            self.inner.change_password(change),
        )
        .await
    }

    async fn hit_rate_limit(
        &self,
        key: &RateKey,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<RateWindow, StorageError> {
        self.step(
            StorageCall::HitRateLimit,
            self.inner.hit_rate_limit(key, now, window),
        )
        .await
    }

    async fn refund_rate_limit(
        &self,
        key: &RateKey,
        started_at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        self.step(
            StorageCall::RefundRateLimit,
            self.inner.refund_rate_limit(key, started_at),
        )
        .await
    }

    async fn clear_rate_limit(&self, key: &RateKey) -> Result<(), StorageError> {
        self.step(
            StorageCall::ClearRateLimit,
            self.inner.clear_rate_limit(key),
        )
        .await
    }

    async fn list_referrals(
        &self,
        referrer: Uuid,
        after: Option<ReferralCursor>,
        limit: u32,
    ) -> Result<Vec<ReferralRecord>, StorageError> {
        self.step(
            StorageCall::ListReferrals,
            self.inner.list_referrals(referrer, after, limit),
        )
        .await
    }

    async fn referral_stats(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ReferralCounts, StorageError> {
        self.step(
            StorageCall::ReferralStats,
            self.inner.referral_stats(user, since),
        )
        .await
    }

    async fn enqueue_outbox(&self, message: OutboxMessage) -> Result<(), StorageError> {
        self.step(
            StorageCall::EnqueueOutbox,
            self.inner.enqueue_outbox(message),
        )
        .await
    }

    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError> {
        self.step(
            StorageCall::ClaimOutbox,
            self.inner.claim_outbox(now, lease_until, limit),
        )
        .await
    }

    async fn fan_out_event(
        &self,
        id: Uuid,
        copies: Vec<OutboxMessage>,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        self.step(
            StorageCall::FanOutEvent,
            self.inner.fan_out_event(id, copies, now),
        )
        .await
    }

    async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError> {
        self.step(
            StorageCall::CompleteOutbox,
            self.inner.complete_outbox(id, now),
        )
        .await
    }

    async fn fail_outbox(
        &self,
        id: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StorageError> {
        self.step(
            StorageCall::FailOutbox,
            self.inner.fail_outbox(id, retry_at, error),
        )
        .await
    }

    async fn dead_letter_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StorageError> {
        self.step(
            StorageCall::DeadLetterOutbox,
            self.inner.dead_letter_outbox(id, now, reason),
        )
        .await
    }

    async fn dead_letters(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StorageError> {
        self.step(
            StorageCall::DeadLetters,
            self.inner.dead_letters(after, limit),
        )
        .await
    }

    async fn redeliver_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: Option<AuditEntry>,
    ) -> Result<bool, StorageError> {
        self.step(
            StorageCall::RedeliverOutbox,
            self.inner.redeliver_outbox(id, now, audit),
        )
        .await
    }

    async fn pending_outbox(&self) -> Result<u64, StorageError> {
        self.step(StorageCall::PendingOutbox, self.inner.pending_outbox())
            .await
    }

    async fn prune(
        &self,
        now: OffsetDateTime,
        done_before: OffsetDateTime,
        dead_before: OffsetDateTime,
    ) -> Result<PruneReport, StorageError> {
        self.step(
            StorageCall::Prune,
            self.inner.prune(now, done_before, dead_before),
        )
        .await
    }

    async fn change_user_access(
        &self,
        change: AccessChange,
    ) -> Result<AccessOutcome, StorageError> {
        self.step(
            StorageCall::ChangeUserAccess,
            self.inner.change_user_access(change),
        )
        .await
    }

    async fn search_users(&self, search: UserSearch) -> Result<Vec<UserSummary>, StorageError> {
        self.step(StorageCall::SearchUsers, self.inner.search_users(search))
            .await
    }

    async fn audit_log(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        self.step(StorageCall::AuditLog, self.inner.audit_log(after, limit))
            .await
    }
}
