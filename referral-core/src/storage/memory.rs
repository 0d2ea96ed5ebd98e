//! `MemoryStorage`: a complete in-memory `Storage`, for tests and quick starts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    AccessChange, AccessOutcome, AuditEntry, Click, ClickCounts, ClickEvent, ConversionRecord,
    DeadLetter, Erasure, MetadataUpdate, NewUser, OutboxMessage, PasswordChange, PruneReport,
    ReferralCounts, ReferralCursor, ReferralRecord, RefreshTokenRecord, ResetTokenRecord,
    RewardCursor, Rotation, Storage, StorageError, UserSearch, UserSummary,
    VerificationTokenRecord,
};
use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::{RateKey, RateWindow};
use crate::referral_code::ReferralCode;
use crate::rewards::{RewardApproval, RewardEntry, RewardStatus, RewardTransition};
use crate::tokens::TokenHash;
use crate::user::UserRecord;
use crate::visitor::VisitorHash;

/// Everything in one mutex-guarded map set: each trait call takes the lock once, so every
/// call is atomic and concurrent calls serialise. Clones share the same data.
///
/// Data lives as long as the process. [`set_unavailable`](Self::set_unavailable) makes every
/// call fail with [`StorageError::Unavailable`], to test how callers handle a database outage.
///
/// ```
/// use std::sync::Arc;
/// use referral_core::{MemoryStorage, Storage};
/// let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
/// # let _ = storage;
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    data: Arc<Mutex<Data>>,
    unavailable: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Data {
    users: HashMap<Uuid, UserRecord>,
    /// Erased users: gone from `users` (so no lookup finds them), their ids and codes kept.
    erased: HashSet<Uuid>,
    by_email: HashMap<Email, Uuid>,
    /// Every code ever held, current or earlier (codes hash and compare without case).
    by_code: HashMap<ReferralCode, Uuid>,
    /// Per referrer, ascending by (joined_at, user_id).
    referrals: HashMap<Uuid, Vec<Referral>>,
    second_tier: HashMap<Uuid, u64>,
    ledger: HashMap<Uuid, RewardEntry>,
    /// Approved points per beneficiary.
    points: HashMap<Uuid, i64>,
    /// Pending points per beneficiary.
    pending_points: HashMap<Uuid, i64>,
    refresh: HashMap<TokenHash, RefreshState>,
    reset: HashMap<TokenHash, TokenState>,
    verification: HashMap<TokenHash, TokenState>,
    /// (user, kind, external id) of every conversion recorded.
    conversions: HashSet<(Uuid, String, String)>,
    rate: HashMap<RateKey, RateState>,
    outbox: BTreeMap<Uuid, OutboxEntry>,
    audit: Vec<AuditEntry>,
    /// The latest counted click of each visitor, per owner.
    click_visitors: HashMap<(Uuid, VisitorHash), OffsetDateTime>,
    click_totals: HashMap<Uuid, u64>,
    /// Clicks per owner per UTC day (days since the epoch).
    click_days: HashMap<Uuid, BTreeMap<i64, u64>>,
}

/// Of `entries`, those strictly after `after`, newest first (`created_at`, then `id`,
/// descending), at most `limit`.
fn newest_first<'a>(
    entries: impl Iterator<Item = &'a RewardEntry>,
    after: Option<RewardCursor>,
    limit: u32,
) -> Vec<RewardEntry> {
    let mut entries: Vec<&RewardEntry> = entries
        .filter(|entry| {
            after.is_none_or(|cursor| (entry.created_at, entry.id) < (cursor.created_at, cursor.id))
        })
        .collect();
    entries.sort_by_key(|entry| std::cmp::Reverse((entry.created_at, entry.id)));
    entries.into_iter().take(limit as usize).cloned().collect()
}

/// The UTC day of `at`, in days since the epoch.
fn day_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(86_400)
}

#[derive(Debug, Clone, Copy)]
struct Referral {
    joined_at: OffsetDateTime,
    user_id: Uuid,
    points: i64,
}

impl Referral {
    fn key(&self) -> (OffsetDateTime, Uuid) {
        (self.joined_at, self.user_id)
    }
}

#[derive(Debug)]
struct RefreshState {
    record: RefreshTokenRecord,
    rotated: bool,
    revoked: bool,
}

/// A reset or verification token as kept here (its hash is the key): single use, dead once
/// used or superseded.
#[derive(Debug)]
struct TokenState {
    user_id: Uuid,
    expires_at: OffsetDateTime,
    dead: bool,
}

impl TokenState {
    fn live_at(&self, now: OffsetDateTime) -> bool {
        !self.dead && self.expires_at > now
    }
}

/// Stores a token of `kind` for `user_id` in `tokens` and supersedes the user's earlier ones;
/// `false` (storing nothing) for an unknown user.
fn store_token(
    users: &HashMap<Uuid, UserRecord>,
    tokens: &mut HashMap<TokenHash, TokenState>,
    kind: &str,
    (hash, user_id, expires_at): (TokenHash, Uuid, OffsetDateTime),
) -> Result<bool, StorageError> {
    if !users.contains_key(&user_id) {
        return Ok(false);
    }
    if tokens.contains_key(&hash) {
        return Err(StorageError::backend(format!(
            "{kind} token hash already stored"
        )));
    }
    for state in tokens.values_mut() {
        if state.user_id == user_id {
            state.dead = true;
        }
    }
    tokens.insert(
        hash,
        TokenState {
            user_id,
            expires_at,
            dead: false,
        },
    );
    Ok(true)
}

/// The owner of `token` in `tokens` while it is live at `now`.
fn live_token_owner(
    users: &HashMap<Uuid, UserRecord>,
    tokens: &HashMap<TokenHash, TokenState>,
    token: &TokenHash,
    now: OffsetDateTime,
) -> Option<UserRecord> {
    tokens
        .get(token)
        .filter(|state| state.live_at(now))
        .and_then(|state| users.get(&state.user_id))
        .cloned()
}

#[derive(Debug, Clone, Copy)]
struct RateState {
    window: RateWindow,
    ends_at: OffsetDateTime,
}

#[derive(Debug)]
struct OutboxEntry {
    message: OutboxMessage,
    next_attempt_at: OffsetDateTime,
    lease_until: Option<OffsetDateTime>,
    sent_at: Option<OffsetDateTime>,
    died_at: Option<OffsetDateTime>,
    last_error: Option<String>,
}

impl OutboxEntry {
    fn new(message: OutboxMessage) -> Self {
        OutboxEntry {
            next_attempt_at: message.created_at,
            message,
            lease_until: None,
            sent_at: None,
            died_at: None,
            last_error: None,
        }
    }

    fn is_open(&self) -> bool {
        self.sent_at.is_none() && self.died_at.is_none()
    }
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every call fails with [`StorageError::Unavailable`].
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The last error recorded for an outbox message, if any (for tests).
    pub fn outbox_error(&self, id: Uuid) -> Option<String> {
        self.data
            .lock()
            .ok()?
            .outbox
            .get(&id)
            .and_then(|entry| entry.last_error.clone())
    }

    fn data(&self) -> Result<MutexGuard<'_, Data>, StorageError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StorageError::unavailable(
                "memory storage switched off for a test",
            ));
        }
        Ok(self
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

impl Data {
    fn revoke_all(&mut self, user: Uuid) {
        for state in self.refresh.values_mut() {
            if state.record.user_id == user {
                state.revoked = true;
            }
        }
    }

    /// How many enabled admins there are besides `user`.
    fn other_active_admins(&self, user: Uuid) -> usize {
        self.users
            .values()
            .filter(|other| other.id != user && other.is_active_admin())
            .count()
    }

    fn token_version(&self, user: Uuid) -> Option<i64> {
        self.users.get(&user).map(|record| record.token_version)
    }

    /// Counts `entry`'s points as its status says: approved in the beneficiary's total and
    /// their referral's points, pending in their pending sum, revoked nowhere.
    fn count(&mut self, entry: &RewardEntry, sign: i64) {
        let points = entry.points * sign;
        match entry.status {
            RewardStatus::Approved => {
                *self.points.entry(entry.beneficiary).or_default() += points;
                self.add_to_referral(entry, points);
            }
            RewardStatus::Pending => {
                *self.pending_points.entry(entry.beneficiary).or_default() += points;
            }
            RewardStatus::Revoked => {}
        }
    }

    /// Adds `points` to the referral row behind `entry`, when its beneficiary is the referrer.
    fn add_to_referral(&mut self, entry: &RewardEntry, points: i64) {
        let Some(referee) = entry.referral_user else {
            return;
        };
        if let Some(list) = self.referrals.get_mut(&entry.beneficiary) {
            if let Some(row) = list.iter_mut().find(|row| row.user_id == referee) {
                row.points += points;
            }
        }
    }

    /// Applies `transition` when its reward is still `from`: the entry as changed.
    fn transition(&mut self, transition: RewardTransition) -> Option<RewardEntry> {
        if !transition.from.can_become(transition.to) {
            return None;
        }
        let before = self
            .ledger
            .get(&transition.reward)
            .filter(|entry| entry.status == transition.from)?
            .clone();
        let mut after = before.clone();
        after.status = transition.to;
        after.updated_at = transition.at;
        if transition.reason.is_some() {
            after.reason = transition.reason;
        }
        self.count(&before, -1);
        self.count(&after, 1);
        self.ledger.insert(after.id, after.clone());
        if let Some(event) = transition.event {
            self.outbox.insert(event.id, OutboxEntry::new(event));
        }
        if let Some(entry) = transition.audit {
            self.audit.push(entry);
        }
        Some(after)
    }

    /// Refuses outbox messages or ledger entries whose ids are stored already.
    fn check_new(
        &self,
        outbox: &[OutboxMessage],
        entries: &[RewardEntry],
    ) -> Result<(), StorageError> {
        if outbox
            .iter()
            .any(|message| self.outbox.contains_key(&message.id))
        {
            return Err(StorageError::backend("outbox message id already stored"));
        }
        if entries
            .iter()
            .any(|entry| self.ledger.contains_key(&entry.id))
        {
            return Err(StorageError::backend("reward id already stored"));
        }
        Ok(())
    }

    fn queue(&mut self, outbox: Vec<OutboxMessage>) {
        for message in outbox {
            self.outbox.insert(message.id, OutboxEntry::new(message));
        }
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn ping(&self) -> Result<(), StorageError> {
        self.data().map(|_| ())
    }

    async fn create_user(&self, new: NewUser) -> Result<(), StorageError> {
        let mut data = self.data()?;
        let user = new.user;
        if data.by_email.contains_key(&user.email) {
            return Err(StorageError::EmailTaken);
        }
        if data.by_code.contains_key(&user.referral_code) {
            return Err(StorageError::ReferralCodeTaken);
        }
        if data.refresh.contains_key(&new.refresh_token.hash) {
            return Err(StorageError::backend("refresh token hash already stored"));
        }
        let entries = new
            .referral
            .as_ref()
            .map(|referral| referral.rewards.as_slice())
            .unwrap_or_default();
        data.check_new(&new.outbox, entries)?;
        if let Some(referral) = &new.referral {
            if !data.users.contains_key(&referral.referrer) {
                return Err(StorageError::backend("referrer does not exist"));
            }
            let row = Referral {
                joined_at: user.created_at,
                user_id: user.id,
                points: referral.referrer_points(),
            };
            let list = data.referrals.entry(referral.referrer).or_default();
            let at = list.partition_point(|r| r.key() < row.key());
            list.insert(at, row);
            if let Some(grand) = referral.second_tier_referrer {
                *data.second_tier.entry(grand).or_default() += 1;
            }
            for entry in &referral.rewards {
                let mut entry = entry.clone();
                entry.referral_user = Some(user.id);
                // The referral row was written with its approved points already.
                if entry.status == RewardStatus::Pending {
                    data.count(&entry, 1);
                } else if entry.status == RewardStatus::Approved {
                    *data.points.entry(entry.beneficiary).or_default() += entry.points;
                }
                data.ledger.insert(entry.id, entry);
            }
        }
        data.by_email.insert(user.email.clone(), user.id);
        data.by_code.insert(user.referral_code.clone(), user.id);
        data.refresh.insert(
            new.refresh_token.hash,
            RefreshState {
                record: new.refresh_token,
                rotated: false,
                revoked: false,
            },
        );
        data.queue(new.outbox);
        data.users.insert(user.id, user);
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError> {
        Ok(self.data()?.users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError> {
        let data = self.data()?;
        Ok(data
            .by_email
            .get(email)
            .and_then(|id| data.users.get(id))
            .cloned())
    }

    async fn user_by_referral_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<UserRecord>, StorageError> {
        let data = self.data()?;
        Ok(data
            .by_code
            .get(code)
            .and_then(|id| data.users.get(id))
            .cloned())
    }

    async fn claim_referral_code(
        &self,
        user: Uuid,
        code: &ReferralCode,
        _now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut data = self.data()?;
        if !data.users.contains_key(&user) {
            return Ok(false);
        }
        match data.by_code.get(code) {
            Some(owner) if *owner != user => return Err(StorageError::ReferralCodeTaken),
            // The key keeps its first writing; the current code is written as claimed now.
            Some(_) => {}
            None => {
                data.by_code.insert(code.clone(), user);
            }
        }
        if let Some(record) = data.users.get_mut(&user) {
            record.referral_code = code.clone();
        }
        Ok(true)
    }

    async fn replace_password_hash(
        &self,
        user: Uuid,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StorageError> {
        let mut data = self.data()?;
        match data.users.get_mut(&user) {
            Some(record) if record.password_hash == *expected => {
                record.password_hash = new.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<bool, StorageError> {
        let mut data = self.data()?;
        if data.token_version(token.user_id) != Some(token.token_version) {
            return Ok(false);
        }
        if data.refresh.contains_key(&token.hash) {
            return Err(StorageError::backend("refresh token hash already stored"));
        }
        data.refresh.insert(
            token.hash,
            RefreshState {
                record: token,
                rotated: false,
                revoked: false,
            },
        );
        Ok(true)
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StorageError> {
        let mut data = self.data()?;
        if data.refresh.contains_key(&replacement.hash) {
            return Err(StorageError::backend("refresh token hash already stored"));
        }
        let Some(state) = data.refresh.get(presented) else {
            return Ok(Rotation::Invalid);
        };
        let (user, family_id, version) = (
            state.record.user_id,
            state.record.family_id,
            state.record.token_version,
        );
        if state.rotated {
            data.revoke_all(user);
            return Ok(Rotation::Reused(user));
        }
        let live = !state.revoked && state.record.expires_at > now;
        let Some(record) = data.users.get(&user).cloned() else {
            return Ok(Rotation::Invalid);
        };
        if !live || record.token_version != version {
            return Ok(Rotation::Invalid);
        }
        if let Some(state) = data.refresh.get_mut(presented) {
            state.rotated = true;
        }
        let replacement = RefreshTokenRecord {
            user_id: user,
            family_id,
            token_version: version,
            ..replacement
        };
        data.refresh.insert(
            replacement.hash,
            RefreshState {
                record: replacement,
                rotated: false,
                revoked: false,
            },
        );
        Ok(Rotation::Rotated(record))
    }

    async fn revoke_refresh_token(
        &self,
        token: &TokenHash,
        _now: OffsetDateTime,
    ) -> Result<(), StorageError> {
        if let Some(state) = self.data()?.refresh.get_mut(token) {
            state.revoked = true;
        }
        Ok(())
    }

    async fn create_reset_token(&self, token: ResetTokenRecord) -> Result<bool, StorageError> {
        let data = &mut *self.data()?;
        store_token(
            &data.users,
            &mut data.reset,
            "reset",
            (token.hash, token.user_id, token.expires_at),
        )
    }

    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        let data = self.data()?;
        Ok(live_token_owner(&data.users, &data.reset, token, now))
    }

    async fn consume_reset_token(
        &self,
        token: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        events: Vec<OutboxMessage>,
    ) -> Result<Option<Uuid>, StorageError> {
        let mut data = self.data()?;
        let Some(state) = data.reset.get_mut(token).filter(|state| state.live_at(now)) else {
            return Ok(None);
        };
        state.dead = true;
        let user = state.user_id;
        if let Some(record) = data.users.get_mut(&user) {
            record.password_hash = new_hash.clone();
            record.token_version += 1;
        }
        data.revoke_all(user);
        for event in events {
            data.outbox.insert(event.id, OutboxEntry::new(event));
        }
        Ok(Some(user))
    }

    async fn change_password(
        &self,
        change: PasswordChange,
    ) -> Result<Option<UserRecord>, StorageError> {
        let mut data = self.data()?;
        let Some(before) = data.users.get(&change.user) else {
            return Ok(None);
        };
        if before.password_hash != change.expected {
            return Ok(None);
        }
        if data.refresh.contains_key(&change.session.hash) {
            return Err(StorageError::backend("refresh token hash already stored"));
        }
        data.check_new(&change.outbox, &[])?;
        let after = UserRecord {
            password_hash: change.new_hash,
            token_version: before.token_version + 1,
            ..before.clone()
        };
        data.revoke_all(after.id);
        let session = RefreshTokenRecord {
            user_id: after.id,
            token_version: after.token_version,
            ..change.session
        };
        data.refresh.insert(
            session.hash,
            RefreshState {
                record: session,
                rotated: false,
                revoked: false,
            },
        );
        data.queue(change.outbox);
        data.users.insert(after.id, after.clone());
        Ok(Some(after))
    }

    async fn hit_rate_limit(
        &self,
        key: &RateKey,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<RateWindow, StorageError> {
        let mut data = self.data()?;
        let fresh = RateState {
            window: RateWindow {
                count: 0,
                started_at: now,
            },
            ends_at: now + window,
        };
        let entry = data.rate.entry(*key).or_insert(fresh);
        if entry.ends_at <= now {
            *entry = fresh;
        }
        entry.window.count = entry.window.count.saturating_add(1);
        Ok(entry.window)
    }

    async fn refund_rate_limit(
        &self,
        key: &RateKey,
        started_at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        if let Some(entry) = self.data()?.rate.get_mut(key) {
            if entry.window.started_at == started_at {
                entry.window.count = entry.window.count.saturating_sub(1);
            }
        }
        Ok(())
    }

    async fn clear_rate_limit(&self, key: &RateKey) -> Result<(), StorageError> {
        self.data()?.rate.remove(key);
        Ok(())
    }

    async fn list_referrals(
        &self,
        referrer: Uuid,
        after: Option<ReferralCursor>,
        limit: u32,
    ) -> Result<Vec<ReferralRecord>, StorageError> {
        let data = self.data()?;
        let Some(list) = data.referrals.get(&referrer) else {
            return Ok(Vec::new());
        };
        let end = match after {
            Some(cursor) => list.partition_point(|r| r.key() < (cursor.joined_at, cursor.user_id)),
            None => list.len(),
        };
        Ok(list[..end]
            .iter()
            .rev()
            .take(limit as usize)
            .map(|r| ReferralRecord {
                user_id: r.user_id,
                // An erased referee is listed without an email.
                email: data.users.get(&r.user_id).map(|user| user.email.clone()),
                joined_at: r.joined_at,
                reward_points: r.points,
            })
            .collect())
    }

    async fn referral_stats(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ReferralCounts, StorageError> {
        let data = self.data()?;
        let list = data
            .referrals
            .get(&user)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let recent = list.len() - list.partition_point(|r| r.joined_at < since);
        Ok(ReferralCounts {
            total: list.len() as u64,
            since: recent as u64,
            second_tier: data.second_tier.get(&user).copied().unwrap_or(0),
            reward_points: data.points.get(&user).copied().unwrap_or(0),
            pending_reward_points: data.pending_points.get(&user).copied().unwrap_or(0),
        })
    }

    async fn create_verification_token(
        &self,
        token: VerificationTokenRecord,
    ) -> Result<bool, StorageError> {
        let data = &mut *self.data()?;
        store_token(
            &data.users,
            &mut data.verification,
            "verification",
            (token.hash, token.user_id, token.expires_at),
        )
    }

    async fn verification_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        let data = self.data()?;
        Ok(live_token_owner(
            &data.users,
            &data.verification,
            token,
            now,
        ))
    }

    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
        approvals: Vec<RewardTransition>,
        outbox: Vec<OutboxMessage>,
    ) -> Result<Option<UserRecord>, StorageError> {
        let mut data = self.data()?;
        let Some(state) = data
            .verification
            .get(token)
            .filter(|state| state.live_at(now))
        else {
            return Ok(None);
        };
        let owner = state.user_id;
        if !data.users.contains_key(&owner) {
            return Ok(None);
        }
        data.check_new(&outbox, &[])?;
        if let Some(state) = data.verification.get_mut(token) {
            state.dead = true;
        }
        for approval in approvals {
            data.transition(approval);
        }
        data.queue(outbox);
        let user = data.users.get_mut(&owner).map(|user| {
            user.email_verified = true;
            user.clone()
        });
        Ok(user)
    }

    async fn reward(&self, id: Uuid) -> Result<Option<RewardEntry>, StorageError> {
        Ok(self.data()?.ledger.get(&id).cloned())
    }

    async fn pending_rewards(
        &self,
        referral_user: Uuid,
        approval: RewardApproval,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        let data = self.data()?;
        let mut entries: Vec<RewardEntry> = data
            .ledger
            .values()
            .filter(|entry| {
                entry.referral_user == Some(referral_user)
                    && entry.status == RewardStatus::Pending
                    && entry.approval == approval
            })
            .cloned()
            .collect();
        entries.sort_by_key(|entry| (entry.created_at, entry.id));
        Ok(entries)
    }

    async fn list_rewards(
        &self,
        beneficiary: Uuid,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        let data = self.data()?;
        Ok(newest_first(
            data.ledger
                .values()
                .filter(|entry| entry.beneficiary == beneficiary),
            after,
            limit,
        ))
    }

    async fn rewards_with_status(
        &self,
        status: RewardStatus,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        let data = self.data()?;
        Ok(newest_first(
            data.ledger.values().filter(|entry| entry.status == status),
            after,
            limit,
        ))
    }

    async fn transition_reward(
        &self,
        transition: RewardTransition,
    ) -> Result<Option<RewardEntry>, StorageError> {
        let mut data = self.data()?;
        if let Some(event) = &transition.event {
            data.check_new(std::slice::from_ref(event), &[])?;
        }
        Ok(data.transition(transition))
    }

    async fn add_reward(
        &self,
        entry: RewardEntry,
        outbox: Vec<OutboxMessage>,
        audit: AuditEntry,
    ) -> Result<bool, StorageError> {
        let mut data = self.data()?;
        if !data.users.contains_key(&entry.beneficiary) {
            return Ok(false);
        }
        data.check_new(&outbox, std::slice::from_ref(&entry))?;
        data.count(&entry, 1);
        data.ledger.insert(entry.id, entry);
        data.queue(outbox);
        data.audit.push(audit);
        Ok(true)
    }

    async fn record_conversion(
        &self,
        conversion: ConversionRecord,
        approvals: Vec<RewardTransition>,
        grants: Vec<RewardEntry>,
        outbox: Vec<OutboxMessage>,
        audit: Option<AuditEntry>,
    ) -> Result<Option<Vec<RewardEntry>>, StorageError> {
        let mut data = self.data()?;
        if !data.users.contains_key(&conversion.user_id) {
            return Err(StorageError::backend("the converting user does not exist"));
        }
        let key = (
            conversion.user_id,
            conversion.kind.clone(),
            conversion.external_id.clone(),
        );
        if data.conversions.contains(&key) {
            return Ok(None);
        }
        data.check_new(&outbox, &grants)?;
        if grants
            .iter()
            .any(|entry| !data.users.contains_key(&entry.beneficiary))
        {
            return Err(StorageError::backend(
                "a reward's beneficiary does not exist",
            ));
        }
        data.conversions.insert(key);
        let mut changed: Vec<RewardEntry> = approvals
            .into_iter()
            .filter_map(|approval| data.transition(approval))
            .collect();
        for entry in grants {
            data.count(&entry, 1);
            data.ledger.insert(entry.id, entry.clone());
            changed.push(entry);
        }
        data.queue(outbox);
        data.audit.extend(audit);
        Ok(Some(changed))
    }

    async fn record_clicks(
        &self,
        clicks: &[Click],
        window: Duration,
        event: ClickEvent<'_>,
    ) -> Result<u64, StorageError> {
        let mut data = self.data()?;
        let mut per_owner: BTreeMap<Uuid, u64> = BTreeMap::new();
        let mut ordered: Vec<&Click> = clicks.iter().collect();
        ordered.sort_by_key(|click| click.at);
        for click in ordered {
            let latest = data.click_visitors.get(&(click.owner, click.visitor));
            if latest.is_some_and(|latest| *latest >= click.at - window) {
                continue;
            }
            data.click_visitors
                .insert((click.owner, click.visitor), click.at);
            *data.click_totals.entry(click.owner).or_default() += 1;
            *data
                .click_days
                .entry(click.owner)
                .or_default()
                .entry(day_of(click.at))
                .or_default() += 1;
            *per_owner.entry(click.owner).or_default() += 1;
        }
        for (owner, counted) in &per_owner {
            let message = event(*owner, *counted);
            data.outbox.insert(message.id, OutboxEntry::new(message));
        }
        Ok(per_owner.values().sum())
    }

    async fn click_counts(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ClickCounts, StorageError> {
        let data = self.data()?;
        let recent = data.click_days.get(&user).map_or(0, |days| {
            days.range(day_of(since) + 1..)
                .map(|(_, clicks)| clicks)
                .sum()
        });
        Ok(ClickCounts {
            total: data.click_totals.get(&user).copied().unwrap_or(0),
            since: recent,
        })
    }

    async fn prune_clicks(
        &self,
        visitors_before: OffsetDateTime,
        days_before: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        let mut data = self.data()?;
        let visitors = data.click_visitors.len();
        data.click_visitors
            .retain(|_, latest| *latest >= visitors_before);
        let mut pruned = (visitors - data.click_visitors.len()) as u64;
        let first_kept = day_of(days_before);
        for days in data.click_days.values_mut() {
            let before = days.len();
            days.retain(|day, _| *day >= first_kept);
            pruned += (before - days.len()) as u64;
        }
        data.click_days.retain(|_, days| !days.is_empty());
        Ok(pruned)
    }

    async fn enqueue_outbox(&self, message: OutboxMessage) -> Result<(), StorageError> {
        let mut data = self.data()?;
        if data.outbox.contains_key(&message.id) {
            return Err(StorageError::backend("outbox message id already stored"));
        }
        data.outbox.insert(message.id, OutboxEntry::new(message));
        Ok(())
    }

    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError> {
        let mut data = self.data()?;
        // The earliest open message of each (topic, user): only it may be claimed.
        let mut first_open: HashMap<(&str, Uuid), (OffsetDateTime, Uuid)> = HashMap::new();
        for entry in data.outbox.values().filter(|entry| entry.is_open()) {
            if let Some(user) = entry.message.user_id {
                let order = (entry.message.created_at, entry.message.id);
                first_open
                    .entry((entry.message.topic.as_str(), user))
                    .and_modify(|first| *first = (*first).min(order))
                    .or_insert(order);
            }
        }
        let in_turn: HashSet<Uuid> = first_open.into_values().map(|(_, id)| id).collect();
        let mut due: Vec<&mut OutboxEntry> = data
            .outbox
            .values_mut()
            .filter(|entry| {
                entry.is_open()
                    && entry.next_attempt_at <= now
                    && entry.lease_until.is_none_or(|lease| lease <= now)
                    && (entry.message.user_id.is_none() || in_turn.contains(&entry.message.id))
            })
            .collect();
        due.sort_by_key(|entry| (entry.next_attempt_at, entry.message.id));
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|entry| {
                entry.lease_until = Some(lease_until);
                entry.message.attempts = entry.message.attempts.saturating_add(1);
                entry.message.clone()
            })
            .collect())
    }

    async fn fan_out_event(
        &self,
        id: Uuid,
        copies: Vec<OutboxMessage>,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut data = self.data()?;
        if !data.outbox.get(&id).is_some_and(OutboxEntry::is_open) {
            return Ok(false);
        }
        if copies
            .iter()
            .any(|copy| copy.id == id || data.outbox.contains_key(&copy.id))
        {
            return Err(StorageError::backend("outbox message id already stored"));
        }
        if let Some(entry) = data.outbox.get_mut(&id) {
            entry.sent_at = Some(now);
            entry.lease_until = None;
        }
        for copy in copies {
            data.outbox.insert(copy.id, OutboxEntry::new(copy));
        }
        Ok(true)
    }

    async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError> {
        if let Some(entry) = self.data()?.outbox.get_mut(&id) {
            entry.sent_at = Some(now);
            entry.lease_until = None;
        }
        Ok(())
    }

    async fn fail_outbox(
        &self,
        id: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StorageError> {
        if let Some(entry) = self.data()?.outbox.get_mut(&id) {
            entry.next_attempt_at = retry_at;
            entry.lease_until = None;
            entry.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn dead_letter_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StorageError> {
        if let Some(entry) = self.data()?.outbox.get_mut(&id) {
            if entry.sent_at.is_none() {
                entry.died_at = Some(now);
                entry.lease_until = None;
                entry.last_error = Some(reason.to_owned());
            }
        }
        Ok(())
    }

    async fn dead_letters(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StorageError> {
        let data = self.data()?;
        let mut dead: Vec<DeadLetter> = data
            .outbox
            .values()
            .filter_map(|entry| {
                Some(DeadLetter {
                    message: entry.message.clone(),
                    died_at: entry.died_at?,
                    reason: entry.last_error.clone().unwrap_or_default(),
                })
            })
            .collect();
        dead.sort_by_key(|letter| std::cmp::Reverse((letter.died_at, letter.message.id)));
        let start = match after {
            Some(after) => match dead.iter().position(|letter| letter.message.id == after) {
                Some(at) => at + 1,
                None => return Ok(Vec::new()),
            },
            None => 0,
        };
        Ok(dead.into_iter().skip(start).take(limit as usize).collect())
    }

    async fn redeliver_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: Option<AuditEntry>,
    ) -> Result<bool, StorageError> {
        let mut data = self.data()?;
        match data.outbox.get_mut(&id) {
            Some(entry) if entry.died_at.is_some() => {
                entry.died_at = None;
                entry.next_attempt_at = now;
                entry.message.attempts = 0;
                data.audit.extend(audit);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn pending_outbox(&self) -> Result<u64, StorageError> {
        Ok(self
            .data()?
            .outbox
            .values()
            .filter(|entry| entry.is_open())
            .count() as u64)
    }

    async fn change_user_access(
        &self,
        change: AccessChange,
    ) -> Result<AccessOutcome, StorageError> {
        // One lock for the whole change: the last-admin count and the write are one step.
        let mut data = self.data()?;
        let Some(before) = data.users.get(&change.user).cloned() else {
            return Ok(AccessOutcome::UnknownUser);
        };
        let Some((after, entry)) = change.apply(&before) else {
            return Ok(AccessOutcome::Unchanged(before));
        };
        if before.is_active_admin()
            && !after.is_active_admin()
            && data.other_active_admins(before.id) == 0
        {
            return Err(StorageError::LastAdmin);
        }
        let events = change.events(&before, &after);
        data.check_new(&events, &[])?;
        data.revoke_all(after.id);
        data.users.insert(after.id, after.clone());
        data.audit.push(entry.clone());
        data.queue(events);
        Ok(AccessOutcome::Changed(after, entry))
    }

    async fn update_metadata(
        &self,
        update: MetadataUpdate,
    ) -> Result<Option<UserRecord>, StorageError> {
        let mut data = self.data()?;
        if !data.users.contains_key(&update.user) {
            return Ok(None);
        }
        data.check_new(&update.outbox, &[])?;
        let Some(user) = data.users.get_mut(&update.user) else {
            return Ok(None);
        };
        user.metadata = update.metadata;
        let after = user.clone();
        data.queue(update.outbox);
        Ok(Some(after))
    }

    async fn erase_user(&self, erasure: Erasure) -> Result<bool, StorageError> {
        // One lock for the whole erasure: the last-admin count and the write are one step.
        let mut data = self.data()?;
        let Some(before) = data.users.get(&erasure.user).cloned() else {
            return Ok(false);
        };
        if before.is_active_admin() && data.other_active_admins(before.id) == 0 {
            return Err(StorageError::LastAdmin);
        }
        data.check_new(&erasure.outbox, &[])?;
        data.users.remove(&before.id);
        data.by_email.remove(&before.email);
        data.erased.insert(before.id);
        data.refresh
            .retain(|_, state| state.record.user_id != before.id);
        data.reset.retain(|_, state| state.user_id != before.id);
        data.verification
            .retain(|_, state| state.user_id != before.id);
        data.audit.push(erasure.audit);
        data.queue(erasure.outbox);
        Ok(true)
    }

    async fn referral_code_retired(&self, code: &ReferralCode) -> Result<bool, StorageError> {
        let data = self.data()?;
        Ok(data
            .by_code
            .get(code)
            .is_some_and(|owner| data.erased.contains(owner)))
    }

    async fn search_users(&self, search: UserSearch) -> Result<Vec<UserSummary>, StorageError> {
        let data = self.data()?;
        let mut found: Vec<&UserRecord> = data
            .users
            .values()
            .filter(|user| {
                search
                    .email_contains
                    .as_deref()
                    .is_none_or(|part| user.email.as_str().contains(part))
                    && search
                        .role
                        .as_ref()
                        .is_none_or(|role| user.roles.contains(role))
                    && search.after.is_none_or(|after| user.id < after)
            })
            .collect();
        found.sort_by_key(|user| std::cmp::Reverse(user.id));
        Ok(found
            .into_iter()
            .take(search.limit as usize)
            .map(|user| UserSummary {
                user: user.clone(),
                referrals: data
                    .referrals
                    .get(&user.id)
                    .map_or(0, |list| list.len() as u64),
                reward_points: data.points.get(&user.id).copied().unwrap_or(0),
            })
            .collect())
    }

    async fn audit_log(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let data = self.data()?;
        let mut entries: Vec<&AuditEntry> = data.audit.iter().collect();
        entries.sort_by_key(|entry| std::cmp::Reverse((entry.at, entry.id)));
        let start = match after {
            Some(after) => match entries.iter().position(|entry| entry.id == after) {
                Some(at) => at + 1,
                None => return Ok(Vec::new()),
            },
            None => 0,
        };
        Ok(entries
            .into_iter()
            .skip(start)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn prune(
        &self,
        now: OffsetDateTime,
        done_before: OffsetDateTime,
        dead_before: OffsetDateTime,
    ) -> Result<PruneReport, StorageError> {
        let mut data = self.data()?;
        fn retain<K, V>(map: &mut HashMap<K, V>, keep: impl FnMut(&K, &mut V) -> bool) -> u64 {
            let before = map.len();
            map.retain(keep);
            (before - map.len()) as u64
        }
        let rate_limits = retain(&mut data.rate, |_, state| state.ends_at > now);
        let refresh_tokens = retain(&mut data.refresh, |_, state| {
            !state.revoked && state.record.expires_at > now
        });
        let reset_tokens = retain(&mut data.reset, |_, state| state.live_at(now))
            + retain(&mut data.verification, |_, state| state.live_at(now));
        let before = data.outbox.len();
        data.outbox.retain(|_, entry| {
            entry.sent_at.is_none_or(|done| done >= done_before)
                && entry.died_at.is_none_or(|died| died >= dead_before)
        });
        Ok(PruneReport {
            rate_limits,
            refresh_tokens,
            reset_tokens,
            outbox: (before - data.outbox.len()) as u64,
            // Memory storage counts "last 30 days" without buckets.
            referral_hours: 0,
        })
    }
}
