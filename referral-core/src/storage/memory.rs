//! `MemoryStorage`: a complete in-memory `Storage`, for tests and quick starts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    NewUser, OutboxMessage, ReferralCounts, ReferralCursor, ReferralRecord, RefreshTokenRecord,
    ResetTokenRecord, Rotation, Storage, StorageError,
};
use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::RateWindow;
use crate::referral_code::ReferralCode;
use crate::rewards::RewardEntry;
use crate::tokens::TokenHash;
use crate::user::UserRecord;

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
    by_email: HashMap<Email, Uuid>,
    by_code: HashMap<ReferralCode, Uuid>,
    /// Per referrer, ascending by (joined_at, user_id).
    referrals: HashMap<Uuid, Vec<Referral>>,
    second_tier: HashMap<Uuid, u64>,
    ledger: Vec<(Uuid, RewardEntry)>,
    points: HashMap<Uuid, i64>,
    refresh: HashMap<TokenHash, RefreshState>,
    reset: HashMap<TokenHash, ResetState>,
    rate: HashMap<String, RateWindow>,
    outbox: BTreeMap<Uuid, OutboxEntry>,
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

#[derive(Debug)]
struct ResetState {
    record: ResetTokenRecord,
    dead: bool,
}

#[derive(Debug)]
struct OutboxEntry {
    message: OutboxMessage,
    next_attempt_at: OffsetDateTime,
    lease_until: Option<OffsetDateTime>,
    sent_at: Option<OffsetDateTime>,
    last_error: Option<String>,
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
                *data.points.entry(entry.beneficiary).or_default() += entry.points;
                data.ledger.push((user.id, entry.clone()));
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

    async fn update_password_hash(
        &self,
        user: Uuid,
        hash: &PasswordHash,
    ) -> Result<(), StorageError> {
        if let Some(record) = self.data()?.users.get_mut(&user) {
            record.password_hash = hash.clone();
        }
        Ok(())
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StorageError> {
        let mut data = self.data()?;
        if !data.users.contains_key(&token.user_id) {
            return Err(StorageError::backend("refresh token for an unknown user"));
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
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StorageError> {
        let mut data = self.data()?;
        let Some(state) = data.refresh.get_mut(presented) else {
            return Ok(Rotation::Invalid);
        };
        let user = state.record.user_id;
        if state.rotated {
            data.revoke_all(user);
            return Ok(Rotation::Reused(user));
        }
        if state.revoked || state.record.expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        state.rotated = true;
        let family_id = state.record.family_id;
        let record = RefreshTokenRecord {
            user_id: user,
            family_id,
            ..replacement
        };
        data.refresh.insert(
            record.hash,
            RefreshState {
                record,
                rotated: false,
                revoked: false,
            },
        );
        Ok(Rotation::Rotated(user))
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

    async fn create_reset_token(
        &self,
        token: ResetTokenRecord,
        mail: OutboxMessage,
    ) -> Result<(), StorageError> {
        let mut data = self.data()?;
        if !data.users.contains_key(&token.user_id) {
            return Err(StorageError::backend("reset token for an unknown user"));
        }
        if data.reset.contains_key(&token.hash) {
            return Err(StorageError::backend("reset token hash already stored"));
        }
        for state in data.reset.values_mut() {
            if state.record.user_id == token.user_id {
                state.dead = true;
            }
        }
        data.outbox.insert(
            mail.id,
            OutboxEntry {
                next_attempt_at: mail.created_at,
                message: mail,
                lease_until: None,
                sent_at: None,
                last_error: None,
            },
        );
        data.reset.insert(
            token.hash,
            ResetState {
                record: token,
                dead: false,
            },
        );
        Ok(())
    }

    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        let data = self.data()?;
        Ok(data
            .reset
            .get(token)
            .filter(|state| !state.dead && state.record.expires_at > now)
            .and_then(|state| data.users.get(&state.record.user_id))
            .cloned())
    }

    async fn consume_reset_token(
        &self,
        token: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<Option<Uuid>, StorageError> {
        let mut data = self.data()?;
        let Some(state) = data.reset.get_mut(token) else {
            return Ok(None);
        };
        if state.dead || state.record.expires_at <= now {
            return Ok(None);
        }
        state.dead = true;
        let user = state.record.user_id;
        if let Some(record) = data.users.get_mut(&user) {
            record.password_hash = new_hash.clone();
            record.token_version += 1;
        }
        data.revoke_all(user);
        Ok(Some(user))
    }

    async fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<RateWindow, StorageError> {
        let mut data = self.data()?;
        let entry = data.rate.entry(key.to_owned()).or_insert(RateWindow {
            count: 0,
            started_at: now,
        });
        if entry.started_at + window <= now {
            *entry = RateWindow {
                count: 0,
                started_at: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
        Ok(*entry)
    }

    async fn rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<Option<RateWindow>, StorageError> {
        let data = self.data()?;
        Ok(data
            .rate
            .get(key)
            .filter(|w| w.started_at + window > now)
            .copied())
    }

    async fn clear_rate_limit(&self, key: &str) -> Result<(), StorageError> {
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
            .filter_map(|r| {
                data.users.get(&r.user_id).map(|user| ReferralRecord {
                    user_id: r.user_id,
                    email: user.email.clone(),
                    joined_at: r.joined_at,
                    reward_points: r.points,
                })
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
        })
    }

    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError> {
        let mut data = self.data()?;
        let mut claimed = Vec::new();
        for entry in data.outbox.values_mut() {
            if claimed.len() >= limit as usize {
                break;
            }
            let due = entry.sent_at.is_none()
                && entry.next_attempt_at <= now
                && entry.lease_until.is_none_or(|lease| lease <= now);
            if due {
                entry.lease_until = Some(lease_until);
                entry.message.attempts += 1;
                claimed.push(entry.message.clone());
            }
        }
        Ok(claimed)
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

    async fn prune_outbox(&self, sent_before: OffsetDateTime) -> Result<u64, StorageError> {
        let mut data = self.data()?;
        let before = data.outbox.len();
        data.outbox
            .retain(|_, entry| entry.sent_at.is_none_or(|sent| sent >= sent_before));
        Ok((before - data.outbox.len()) as u64)
    }

    async fn pending_outbox(&self) -> Result<u64, StorageError> {
        Ok(self
            .data()?
            .outbox
            .values()
            .filter(|entry| entry.sent_at.is_none())
            .count() as u64)
    }
}
