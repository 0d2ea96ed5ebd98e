//! The [`Storage`] methods of [`SqlStorage`], over the shared [`Queries`](super::queries)
//! (the design — transactions, locks, counters — is on the [`sql`](super) module).

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::query::QueryAs;
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, IntoArguments, Transaction, Type};
use time::OffsetDateTime;
use uuid::Uuid;

use super::dialect::Dialect;
use super::rows::{
    count, AuditRow, DeadLetterRow, OutboxRow, ReferralRow, RewardRow, UserRow, UserSummaryRow,
};
use super::timestamps::{
    day_of, duration_micros, from_micros, hour_of, start_of_next_day, start_of_next_hour,
    to_micros, HOUR_BUCKETS_KEPT,
};
use super::{error, registration_error, SqlStorage};
use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::{RateKey, RateWindow};
use crate::referral_code::ReferralCode;
use crate::rewards::{RewardApproval, RewardEntry, RewardFlag, RewardStatus, RewardTransition};
use crate::storage::{
    AccessChange, AccessOutcome, AuditEntry, Click, ClickCounts, ClickEvent, ConversionRecord,
    DeadLetter, Erasure, MetadataUpdate, NewUser, OutboxMessage, PasswordChange, PruneReport,
    ReferralCounts, ReferralCursor, ReferralRecord, RefreshTokenRecord, ResetTokenRecord,
    RewardCursor, Rotation, Storage, StorageError, UserSearch, UserSummary,
    VerificationTokenRecord,
};
use crate::tokens::TokenHash;
use crate::user::UserRecord;

impl<DB> SqlStorage<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> UserRow: FromRow<'r, DB::Row>,
    for<'r> RewardRow: FromRow<'r, DB::Row>,
{
    /// The user, with their row locked until the transaction ends (where the backend has row
    /// locks: every transaction that changes a user's tokens takes this lock first, so they
    /// queue in one order and never deadlock).
    async fn lock_user(
        &self,
        tx: &mut Transaction<'static, DB>,
        user: Uuid,
    ) -> Result<Option<UserRecord>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(&self.queries.lock_user)
            .bind(user)
            .fetch_optional(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        row.map(UserRow::into_record).transpose()
    }

    /// Uses a live single-use token (a reset or verification token: `[owner, use]` are its
    /// kind's queries) within `tx`: its owner, with their row locked, or `None` when the token
    /// is unknown, used, superseded or expired at `now` (micros). Of concurrent claims of one
    /// token, exactly one gets its owner.
    async fn claim_single_use_token(
        &self,
        tx: &mut Transaction<'static, DB>,
        [owner_query, use_query]: [&str; 2],
        token: &TokenHash,
        now: i64,
    ) -> Result<Option<UserRecord>, StorageError> {
        let hash = token.as_bytes().as_slice();
        let Some(owner) = self.lock_token_owner(tx, owner_query, hash).await? else {
            return Ok(None);
        };
        let used: Option<Uuid> = sqlx::query_scalar(use_query)
            .bind(hash)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(used.map(|_| owner))
    }

    /// Stores a single-use token (a reset or verification token: `[supersede, insert]` are
    /// its kind's queries) and supersedes the user's earlier unconsumed ones, in one
    /// transaction. `false`, storing nothing, when the user does not exist.
    async fn store_single_use_token(
        &self,
        [supersede, insert]: [&str; 2],
        user: Uuid,
        hash: &TokenHash,
        created_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let created = to_micros(created_at);
        let mut tx = self.begin().await?;
        // The lock makes concurrent requests for one user supersede in turn.
        if self.lock_user(&mut tx, user).await?.is_none() {
            return Ok(false);
        }
        sqlx::query(supersede)
            .bind(user)
            .bind(created)
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        sqlx::query(insert)
            .bind(hash.as_bytes().as_slice())
            .bind(user)
            .bind(created)
            .bind(to_micros(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        tx.commit().await.map_err(error::<DB>)?;
        Ok(true)
    }

    /// The owner of the token `owner_query` finds under `hash`, with their row locked (see
    /// [`lock_user`](Self::lock_user)).
    async fn lock_token_owner(
        &self,
        tx: &mut Transaction<'static, DB>,
        owner_query: &str,
        hash: &[u8],
    ) -> Result<Option<UserRecord>, StorageError> {
        let owner: Option<Uuid> = sqlx::query_scalar(owner_query)
            .bind(hash)
            .fetch_optional(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        match owner {
            Some(owner) => self.lock_user(tx, owner).await,
            None => Ok(None),
        }
    }

    /// Makes this transaction's changes of access wait for every other one's (see
    /// [`Dialect::SERIALISE_ACCESS_CHANGES`]), so the last-admin count holds until it ends.
    async fn serialise_access_changes(
        &self,
        tx: &mut Transaction<'static, DB>,
    ) -> Result<(), StorageError> {
        if let Some(serialise) = DB::SERIALISE_ACCESS_CHANGES {
            sqlx::query(serialise)
                .bind(self.access_lock_key)
                .execute(&mut **tx)
                .await
                .map_err(error::<DB>)?;
        }
        Ok(())
    }

    /// [`StorageError::LastAdmin`] when `user` is an enabled admin and no other is (in a
    /// transaction serialised by [`serialise_access_changes`](Self::serialise_access_changes)).
    async fn keep_an_admin(
        &self,
        tx: &mut Transaction<'static, DB>,
        user: &UserRecord,
    ) -> Result<(), StorageError>
    where
        for<'q> i64: Decode<'q, DB>,
    {
        if !user.is_active_admin() {
            return Ok(());
        }
        let others: i64 = sqlx::query_scalar(&self.queries.other_active_admins)
            .bind(user.id)
            .fetch_one(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        if others == 0 {
            return Err(StorageError::LastAdmin);
        }
        Ok(())
    }

    /// Revokes every refresh token of `user` (whose row the caller has locked).
    async fn revoke_sessions(
        &self,
        tx: &mut Transaction<'static, DB>,
        user: Uuid,
        now: i64,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.revoke_sessions)
            .bind(user)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    /// Stores a refresh token while its token version is its user's; whether it did.
    async fn insert_refresh<'e, E>(
        &self,
        executor: E,
        token: &RefreshTokenRecord,
    ) -> Result<bool, StorageError>
    where
        E: Executor<'e, Database = DB>,
    {
        let done = sqlx::query(&self.queries.insert_refresh_token)
            .bind(token.hash.as_bytes().as_slice())
            .bind(token.user_id)
            .bind(token.family_id)
            .bind(to_micros(token.issued_at))
            .bind(to_micros(token.expires_at))
            .bind(token.token_version)
            .execute(executor)
            .await
            .map_err(error::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn insert_outbox<'e, E>(
        &self,
        executor: E,
        message: &OutboxMessage,
    ) -> Result<(), StorageError>
    where
        E: Executor<'e, Database = DB>,
    {
        sqlx::query(&self.queries.insert_outbox)
            .bind(message.id)
            .bind(message.topic.as_str())
            .bind(message.user_id)
            .bind(message.payload.as_str())
            .bind(i64::from(message.attempts))
            .bind(to_micros(message.created_at))
            .execute(executor)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    /// Adds to a user's counters; `false` when there is no such user.
    async fn add_to_counters(
        &self,
        tx: &mut Transaction<'static, DB>,
        user: Uuid,
        referrals: i64,
        second_tier: i64,
        points: Points,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(&self.queries.add_to_counters)
            .bind(user)
            .bind(referrals)
            .bind(second_tier)
            .bind(points.approved)
            .bind(points.pending)
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    /// Writes a new ledger entry (its counters are the caller's).
    async fn insert_reward(
        &self,
        tx: &mut Transaction<'static, DB>,
        entry: &RewardEntry,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.insert_reward)
            .bind(entry.id)
            .bind(entry.referral_user)
            .bind(entry.beneficiary)
            .bind(entry.kind.as_str())
            .bind(entry.points)
            .bind(entry.status.as_str())
            .bind(entry.approval.as_str())
            .bind(RewardFlag::join(&entry.flags).as_str())
            .bind(entry.reason.as_deref())
            .bind(to_micros(entry.created_at))
            .bind(to_micros(entry.updated_at))
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    /// Writes an audit entry in `tx`, the transaction of the change it records.
    async fn insert_audit(
        &self,
        tx: &mut Transaction<'static, DB>,
        entry: &AuditEntry,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.insert_audit)
            .bind(entry.id)
            .bind(entry.actor_id)
            .bind(entry.action.as_str())
            .bind(entry.target_id)
            .bind(entry.details.to_string())
            .bind(to_micros(entry.at))
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    /// Adds `points` (approved) to the referral row behind `entry` when its beneficiary is
    /// that referral's referrer.
    async fn add_to_referral(
        &self,
        tx: &mut Transaction<'static, DB>,
        entry: &RewardEntry,
        points: i64,
    ) -> Result<(), StorageError> {
        let Some(referee) = entry.referral_user else {
            return Ok(());
        };
        if points == 0 {
            return Ok(());
        }
        sqlx::query(&self.queries.add_to_referral_points)
            .bind(referee)
            .bind(entry.beneficiary)
            .bind(points)
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    /// Applies `transition` in `tx` when its reward is still `from`: the entry as changed,
    /// with the beneficiary's sums, the referral's points and the event following.
    async fn apply_transition(
        &self,
        tx: &mut Transaction<'static, DB>,
        transition: RewardTransition,
    ) -> Result<Option<RewardEntry>, StorageError> {
        if !transition.from.can_become(transition.to) {
            return Ok(None);
        }
        // One conditional statement: of racing transitions out of one status, one matches.
        let row: Option<RewardRow> = sqlx::query_as(&self.queries.transition_reward)
            .bind(transition.reward)
            .bind(transition.from.as_str())
            .bind(transition.to.as_str())
            .bind(transition.reason.as_deref())
            .bind(to_micros(transition.at))
            .fetch_optional(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let entry = row.into_entry()?;
        let delta =
            Points::of(entry.points, transition.to) - Points::of(entry.points, transition.from);
        self.add_to_counters(tx, entry.beneficiary, 0, 0, delta)
            .await?;
        self.add_to_referral(tx, &entry, delta.approved).await?;
        if let Some(event) = &transition.event {
            self.insert_outbox(&mut **tx, event).await?;
        }
        if let Some(audit) = &transition.audit {
            self.insert_audit(tx, audit).await?;
        }
        Ok(Some(entry))
    }

    async fn fetch_rewards<'q>(
        &self,
        query: QueryAs<'q, DB, RewardRow, DB::Arguments<'q>>,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        query
            .fetch_all(&self.pool)
            .await
            .map_err(error::<DB>)?
            .into_iter()
            .map(RewardRow::into_entry)
            .collect()
    }

    async fn fetch_user<'q>(
        &self,
        query: QueryAs<'q, DB, UserRow, DB::Arguments<'q>>,
    ) -> Result<Option<UserRecord>, StorageError> {
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(error::<DB>)?
            .map(UserRow::into_record)
            .transpose()
    }

    /// Runs a statement that deletes in `tx`, binding `at` as `$1` when given; how many
    /// rows went.
    async fn delete(
        &self,
        tx: &mut Transaction<'static, DB>,
        statement: &str,
        at: Option<i64>,
    ) -> Result<u64, StorageError> {
        let mut query = sqlx::query(statement);
        if let Some(at) = at {
            query = query.bind(at);
        }
        let done = query.execute(&mut **tx).await.map_err(error::<DB>)?;
        Ok(DB::rows_affected(&done))
    }
}

#[async_trait]
impl<DB> Storage for SqlStorage<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Uuid: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> UserRow: FromRow<'r, DB::Row>,
    for<'r> RewardRow: FromRow<'r, DB::Row>,
    for<'r> UserSummaryRow: FromRow<'r, DB::Row>,
    for<'r> AuditRow: FromRow<'r, DB::Row>,
    for<'r> ReferralRow: FromRow<'r, DB::Row>,
    for<'r> OutboxRow: FromRow<'r, DB::Row>,
    for<'r> DeadLetterRow: FromRow<'r, DB::Row>,
{
    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn create_user(&self, new: NewUser) -> Result<(), StorageError> {
        let NewUser {
            user,
            referral,
            refresh_token,
            outbox,
        } = new;
        let rewards = referral
            .as_ref()
            .map(|r| r.rewards.as_slice())
            .unwrap_or_default();
        let points_of = |beneficiary: Uuid| -> Points {
            rewards
                .iter()
                .filter(|entry| entry.beneficiary == beneficiary)
                .map(|entry| Points::of(entry.points, entry.status))
                .fold(Points::default(), |sum, points| sum + points)
        };
        let joined = to_micros(user.created_at);
        let mut tx = self.begin().await?;
        sqlx::query(&self.queries.insert_user)
            .bind(user.id)
            .bind(user.email.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.referral_code.as_str())
            .bind(user.referred_by)
            .bind(user.token_version)
            .bind(joined)
            .bind(points_of(user.id).approved)
            .bind(points_of(user.id).pending)
            .bind(user.email_verified)
            .bind(metadata_text(&user.metadata)?.as_str())
            .bind(roles_json(&user.roles)?)
            .bind(user.disabled_at.map(to_micros))
            .execute(&mut *tx)
            .await
            .map_err(|e| registration_error(e, DB::is_transient))?;
        sqlx::query(&self.queries.insert_referral_code)
            .bind(user.referral_code.key().as_str())
            .bind(user.referral_code.as_str())
            .bind(user.id)
            .bind(joined)
            .execute(&mut *tx)
            .await
            .map_err(|e| registration_error(e, DB::is_transient))?;
        if let Some(referral) = &referral {
            sqlx::query(&self.queries.insert_referral)
                .bind(user.id)
                .bind(referral.referrer)
                .bind(joined)
                .bind(referral.referrer_points())
                .execute(&mut *tx)
                .await
                .map_err(error::<DB>)?;
            // Counters in tree order (referrer, then theirs), as every registration does, so
            // concurrent ones queue instead of deadlocking.
            let referrer_points = points_of(referral.referrer);
            if !self
                .add_to_counters(&mut tx, referral.referrer, 1, 0, referrer_points)
                .await?
            {
                return Err(StorageError::backend("the referrer does not exist"));
            }
            for (query, bucket) in [
                (&self.queries.count_referral_day, day_of(joined)),
                (&self.queries.count_referral_hour, hour_of(joined)),
            ] {
                sqlx::query(query)
                    .bind(referral.referrer)
                    .bind(bucket)
                    .execute(&mut *tx)
                    .await
                    .map_err(error::<DB>)?;
            }
            if let Some(grand) = referral.second_tier_referrer {
                if !self
                    .add_to_counters(&mut tx, grand, 0, 1, points_of(grand))
                    .await?
                {
                    return Err(StorageError::backend(
                        "the second-tier referrer does not exist",
                    ));
                }
            }
            let counted = [
                Some(user.id),
                Some(referral.referrer),
                referral.second_tier_referrer,
            ];
            let mut others: Vec<Uuid> = rewards
                .iter()
                .map(|entry| entry.beneficiary)
                .filter(|beneficiary| !counted.contains(&Some(*beneficiary)))
                .collect();
            others.sort_unstable();
            others.dedup();
            for beneficiary in others {
                self.add_to_counters(&mut tx, beneficiary, 0, 0, points_of(beneficiary))
                    .await?;
            }
            for entry in rewards {
                let entry = RewardEntry {
                    referral_user: Some(user.id),
                    ..entry.clone()
                };
                self.insert_reward(&mut tx, &entry).await?;
            }
        }
        if !self.insert_refresh(&mut *tx, &refresh_token).await? {
            return Err(StorageError::backend(
                "the first refresh token is not of the new user at their token version",
            ));
        }
        for message in &outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        tx.commit().await.map_err(error::<DB>)
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError> {
        self.fetch_user(sqlx::query_as(&self.queries.user_by_id).bind(id))
            .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError> {
        self.fetch_user(sqlx::query_as(&self.queries.user_by_email).bind(email.as_str()))
            .await
    }

    async fn user_by_referral_code(
        &self,
        code: &ReferralCode,
    ) -> Result<Option<UserRecord>, StorageError> {
        let key = code.key();
        self.fetch_user(sqlx::query_as(&self.queries.user_by_referral_code).bind(key.as_str()))
            .await
    }

    async fn claim_referral_code(
        &self,
        user: Uuid,
        code: &ReferralCode,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let key = code.key();
        let mut tx = self.begin().await?;
        if self.lock_user(&mut tx, user).await?.is_none() {
            return Ok(false);
        }
        let held: Option<Uuid> = sqlx::query_scalar(&self.queries.claim_referral_code)
            .bind(key.as_str())
            .bind(code.as_str())
            .bind(user)
            .bind(to_micros(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        if held != Some(user) {
            return Err(StorageError::ReferralCodeTaken);
        }
        sqlx::query(&self.queries.set_current_referral_code)
            .bind(user)
            .bind(code.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        tx.commit().await.map_err(error::<DB>)?;
        Ok(true)
    }

    async fn replace_password_hash(
        &self,
        user: Uuid,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StorageError> {
        // One conditional statement: a reset that changed the hash meanwhile wins.
        let done = sqlx::query(&self.queries.replace_password_hash)
            .bind(user)
            .bind(expected.as_str())
            .bind(new.as_str())
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<bool, StorageError> {
        // One statement, holding the user's row: a reset in flight either commits first (and
        // the version no longer matches) or waits and then revokes this token.
        self.insert_refresh(&self.pool, &token).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> Result<Rotation, StorageError> {
        let hash = presented.as_bytes().as_slice();
        let now = to_micros(now);
        let mut tx = self.begin().await?;
        // The owner's lock orders this after any password reset in flight, so a reset's
        // revocation never misses the replacement, and the version read is the one current
        // until this transaction ends.
        let owner = self
            .lock_token_owner(&mut tx, &self.queries.refresh_token_owner, hash)
            .await?;
        let Some(owner) = owner else {
            return Ok(Rotation::Invalid);
        };
        let rotated: Option<Uuid> = sqlx::query_scalar(&self.queries.use_refresh_token)
            .bind(hash)
            .bind(now)
            .bind(owner.token_version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        if let Some(family_id) = rotated {
            let replacement = RefreshTokenRecord {
                user_id: owner.id,
                family_id,
                token_version: owner.token_version,
                ..replacement
            };
            if !self.insert_refresh(&mut *tx, &replacement).await? {
                return Err(StorageError::backend(
                    "the replacement refresh token was not stored",
                ));
            }
            tx.commit().await.map_err(error::<DB>)?;
            return Ok(Rotation::Rotated(owner));
        }
        let used: Option<Option<i64>> = sqlx::query_scalar(&self.queries.refresh_token_used_at)
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        if used.flatten().is_none() {
            return Ok(Rotation::Invalid);
        }
        self.revoke_sessions(&mut tx, owner.id, now).await?;
        tx.commit().await.map_err(error::<DB>)?;
        Ok(Rotation::Reused(owner.id))
    }

    async fn revoke_refresh_token(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.revoke_refresh_token)
            .bind(token.as_bytes().as_slice())
            .bind(to_micros(now))
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn create_reset_token(&self, token: ResetTokenRecord) -> Result<bool, StorageError> {
        self.store_single_use_token(
            [
                self.queries.supersede_reset_tokens.as_str(),
                self.queries.insert_reset_token.as_str(),
            ],
            token.user_id,
            &token.hash,
            token.created_at,
            token.expires_at,
        )
        .await
    }

    async fn reset_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.fetch_user(
            sqlx::query_as(&self.queries.reset_token_user)
                .bind(token.as_bytes().as_slice())
                .bind(to_micros(now)),
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
        let now = to_micros(now);
        let mut tx = self.begin().await?;
        let claimed = self
            .claim_single_use_token(
                &mut tx,
                [
                    self.queries.reset_token_owner.as_str(),
                    self.queries.use_reset_token.as_str(),
                ],
                token,
                now,
            )
            .await?;
        let Some(owner) = claimed else {
            return Ok(None);
        };
        sqlx::query(&self.queries.reset_password)
            .bind(owner.id)
            .bind(new_hash.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        self.revoke_sessions(&mut tx, owner.id, now).await?;
        for event in &events {
            self.insert_outbox(&mut *tx, event).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(Some(owner.id))
    }

    async fn change_password(
        &self,
        change: PasswordChange,
    ) -> Result<Option<UserRecord>, StorageError> {
        let now = to_micros(change.now);
        let mut tx = self.begin().await?;
        // The user's row first, as every change of their tokens takes it.
        let Some(before) = self.lock_user(&mut tx, change.user).await? else {
            return Ok(None);
        };
        if before.password_hash != change.expected {
            return Ok(None);
        }
        sqlx::query(&self.queries.reset_password)
            .bind(before.id)
            .bind(change.new_hash.as_str())
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        self.revoke_sessions(&mut tx, before.id, now).await?;
        let after = UserRecord {
            password_hash: change.new_hash,
            token_version: before.token_version + 1,
            ..before
        };
        let session = RefreshTokenRecord {
            user_id: after.id,
            token_version: after.token_version,
            ..change.session
        };
        if !self.insert_refresh(&mut *tx, &session).await? {
            return Err(StorageError::backend(
                "the new session of a password change was not stored",
            ));
        }
        for message in &change.outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(Some(after))
    }

    async fn hit_rate_limit(
        &self,
        key: &RateKey,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<RateWindow, StorageError> {
        let now = to_micros(now);
        let (hits, started_at): (i64, i64) = sqlx::query_as(&self.queries.hit_rate_limit)
            .bind(key.as_bytes().as_slice())
            .bind(now)
            .bind(now.saturating_add(duration_micros(window)))
            .fetch_one(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(RateWindow {
            count: u32::try_from(hits).unwrap_or(u32::MAX),
            started_at: from_micros(started_at)?,
        })
    }

    async fn refund_rate_limit(
        &self,
        key: &RateKey,
        started_at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.refund_rate_limit)
            .bind(key.as_bytes().as_slice())
            .bind(to_micros(started_at))
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn clear_rate_limit(&self, key: &RateKey) -> Result<(), StorageError> {
        sqlx::query(&self.queries.clear_rate_limit)
            .bind(key.as_bytes().as_slice())
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn list_referrals(
        &self,
        referrer: Uuid,
        after: Option<ReferralCursor>,
        limit: u32,
    ) -> Result<Vec<ReferralRecord>, StorageError> {
        let rows: Vec<ReferralRow> = match after {
            None => {
                sqlx::query_as(&self.queries.list_referrals)
                    .bind(referrer)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(cursor) => {
                sqlx::query_as(&self.queries.list_referrals_after)
                    .bind(referrer)
                    .bind(to_micros(cursor.joined_at))
                    .bind(cursor.user_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(error::<DB>)?;
        rows.into_iter().map(ReferralRow::into_record).collect()
    }

    async fn referral_stats(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ReferralCounts, StorageError> {
        let since = to_micros(since);
        let boundary_day = day_of(since);
        let boundary_hour = hour_of(since);
        let row: Option<(i64, i64, i64, i64, i64, i64)> =
            sqlx::query_as(&self.queries.referral_stats)
                .bind(user)
                .bind(boundary_day)
                .bind(boundary_hour)
                .bind(hour_of(start_of_next_day(boundary_day)))
                .bind(since)
                .bind(start_of_next_hour(boundary_hour))
                .fetch_optional(&self.pool)
                .await
                .map_err(error::<DB>)?;
        let Some((total, second_tier, reward_points, pending_reward_points, later_days, boundary)) =
            row
        else {
            return Ok(ReferralCounts::default());
        };
        Ok(ReferralCounts {
            total: count(total)?,
            since: count(later_days)? + count(boundary)?,
            second_tier: count(second_tier)?,
            reward_points,
            pending_reward_points,
        })
    }

    async fn create_verification_token(
        &self,
        token: VerificationTokenRecord,
    ) -> Result<bool, StorageError> {
        self.store_single_use_token(
            [
                self.queries.supersede_verification_tokens.as_str(),
                self.queries.insert_verification_token.as_str(),
            ],
            token.user_id,
            &token.hash,
            token.created_at,
            token.expires_at,
        )
        .await
    }

    async fn verification_token_user(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserRecord>, StorageError> {
        self.fetch_user(
            sqlx::query_as(&self.queries.verification_token_user)
                .bind(token.as_bytes().as_slice())
                .bind(to_micros(now)),
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
        let mut tx = self.begin().await?;
        let claimed = self
            .claim_single_use_token(
                &mut tx,
                [
                    self.queries.verification_token_owner.as_str(),
                    self.queries.use_verification_token.as_str(),
                ],
                token,
                to_micros(now),
            )
            .await?;
        let Some(owner) = claimed else {
            return Ok(None);
        };
        sqlx::query(&self.queries.mark_email_verified)
            .bind(owner.id)
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        for approval in approvals {
            self.apply_transition(&mut tx, approval).await?;
        }
        for message in &outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(Some(UserRecord {
            email_verified: true,
            ..owner
        }))
    }

    async fn reward(&self, id: Uuid) -> Result<Option<RewardEntry>, StorageError> {
        let row: Option<RewardRow> = sqlx::query_as(&self.queries.reward_by_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(error::<DB>)?;
        row.map(RewardRow::into_entry).transpose()
    }

    async fn pending_rewards(
        &self,
        referral_user: Uuid,
        approval: RewardApproval,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        self.fetch_rewards(
            sqlx::query_as(&self.queries.pending_rewards)
                .bind(referral_user)
                .bind(approval.as_str()),
        )
        .await
    }

    async fn list_rewards(
        &self,
        beneficiary: Uuid,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        match after {
            None => {
                self.fetch_rewards(
                    sqlx::query_as(&self.queries.list_rewards)
                        .bind(beneficiary)
                        .bind(i64::from(limit)),
                )
                .await
            }
            Some(cursor) => {
                self.fetch_rewards(
                    sqlx::query_as(&self.queries.list_rewards_after)
                        .bind(beneficiary)
                        .bind(to_micros(cursor.created_at))
                        .bind(cursor.id)
                        .bind(i64::from(limit)),
                )
                .await
            }
        }
    }

    async fn rewards_with_status(
        &self,
        status: RewardStatus,
        after: Option<RewardCursor>,
        limit: u32,
    ) -> Result<Vec<RewardEntry>, StorageError> {
        match after {
            None => {
                self.fetch_rewards(
                    sqlx::query_as(&self.queries.rewards_with_status)
                        .bind(status.as_str())
                        .bind(i64::from(limit)),
                )
                .await
            }
            Some(cursor) => {
                self.fetch_rewards(
                    sqlx::query_as(&self.queries.rewards_with_status_after)
                        .bind(status.as_str())
                        .bind(to_micros(cursor.created_at))
                        .bind(cursor.id)
                        .bind(i64::from(limit)),
                )
                .await
            }
        }
    }

    async fn transition_reward(
        &self,
        transition: RewardTransition,
    ) -> Result<Option<RewardEntry>, StorageError> {
        let mut tx = self.begin().await?;
        let applied = self.apply_transition(&mut tx, transition).await?;
        if applied.is_some() {
            tx.commit().await.map_err(error::<DB>)?;
        }
        Ok(applied)
    }

    async fn add_reward(
        &self,
        entry: RewardEntry,
        outbox: Vec<OutboxMessage>,
        audit: AuditEntry,
    ) -> Result<bool, StorageError> {
        let mut tx = self.begin().await?;
        let points = Points::of(entry.points, entry.status);
        if !self
            .add_to_counters(&mut tx, entry.beneficiary, 0, 0, points)
            .await?
        {
            return Ok(false);
        }
        self.insert_reward(&mut tx, &entry).await?;
        if entry.status == RewardStatus::Approved {
            self.add_to_referral(&mut tx, &entry, entry.points).await?;
        }
        for message in &outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        self.insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(error::<DB>)?;
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
        let mut tx = self.begin().await?;
        // First: a second recording of the same conversion waits here for the first one and
        // then inserts nothing.
        let inserted = sqlx::query(&self.queries.insert_conversion)
            .bind(conversion.id)
            .bind(conversion.user_id)
            .bind(conversion.kind.as_str())
            .bind(conversion.external_id.as_str())
            .bind(conversion.value)
            .bind(to_micros(conversion.recorded_at))
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        if DB::rows_affected(&inserted) == 0 {
            return Ok(None);
        }
        let mut changed = Vec::new();
        for approval in approvals {
            if let Some(entry) = self.apply_transition(&mut tx, approval).await? {
                changed.push(entry);
            }
        }
        for entry in grants {
            if !self
                .add_to_counters(
                    &mut tx,
                    entry.beneficiary,
                    0,
                    0,
                    Points::of(entry.points, entry.status),
                )
                .await?
            {
                return Err(StorageError::backend(
                    "a reward's beneficiary does not exist",
                ));
            }
            self.insert_reward(&mut tx, &entry).await?;
            if entry.status == RewardStatus::Approved {
                self.add_to_referral(&mut tx, &entry, entry.points).await?;
            }
            changed.push(entry);
        }
        for message in &outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        if let Some(audit) = &audit {
            self.insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(Some(changed))
    }

    async fn record_clicks(
        &self,
        clicks: &[Click],
        window: time::Duration,
        event: ClickEvent<'_>,
    ) -> Result<u64, StorageError> {
        if clicks.is_empty() {
            return Ok(0);
        }
        let window = duration_micros(window);
        // Counted clicks per owner and per (owner, day), written after the visitors, owners
        // in id order: concurrent batches take their row locks in one order.
        let mut per_owner: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut per_day: BTreeMap<(Uuid, i64), i64> = BTreeMap::new();
        // Visitor rows in key order (each visitor's clicks still in time order, all the
        // window needs): concurrent batches lock rows in one order and never deadlock.
        let mut ordered: Vec<&Click> = clicks.iter().collect();
        ordered.sort_by_key(|click| (click.owner, *click.visitor.as_bytes(), click.at));
        let mut tx = self.begin().await?;
        for click in ordered {
            let at = to_micros(click.at);
            let done = sqlx::query(&self.queries.count_click_visitor)
                .bind(click.owner)
                .bind(click.visitor.as_bytes().as_slice())
                .bind(at)
                .bind(at.saturating_sub(window))
                .execute(&mut *tx)
                .await
                .map_err(error::<DB>)?;
            if DB::rows_affected(&done) == 1 {
                *per_owner.entry(click.owner).or_default() += 1;
                *per_day.entry((click.owner, day_of(at))).or_default() += 1;
            }
        }
        for (owner, count) in &per_owner {
            sqlx::query(&self.queries.add_click_total)
                .bind(*owner)
                .bind(*count)
                .execute(&mut *tx)
                .await
                .map_err(error::<DB>)?;
        }
        for ((owner, day), count) in &per_day {
            sqlx::query(&self.queries.add_click_day)
                .bind(*owner)
                .bind(*day)
                .bind(*count)
                .execute(&mut *tx)
                .await
                .map_err(error::<DB>)?;
        }
        for (owner, counted) in &per_owner {
            let counted = u64::try_from(*counted).unwrap_or_default();
            self.insert_outbox(&mut *tx, &event(*owner, counted))
                .await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        count(per_owner.values().sum())
    }

    async fn click_counts(
        &self,
        user: Uuid,
        since: OffsetDateTime,
    ) -> Result<ClickCounts, StorageError> {
        let (total, recent): (i64, i64) = sqlx::query_as(&self.queries.click_counts)
            .bind(user)
            .bind(day_of(to_micros(since)))
            .fetch_one(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(ClickCounts {
            total: count(total)?,
            since: count(recent)?,
        })
    }

    async fn prune_clicks(
        &self,
        visitors_before: OffsetDateTime,
        days_before: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        let q = &self.queries;
        let mut tx = self.begin().await?;
        let visitors = self
            .delete(
                &mut tx,
                &q.prune_click_visitors,
                Some(to_micros(visitors_before)),
            )
            .await?;
        let days = self
            .delete(
                &mut tx,
                &q.prune_click_days,
                Some(day_of(to_micros(days_before))),
            )
            .await?;
        tx.commit().await.map_err(error::<DB>)?;
        Ok(visitors + days)
    }

    async fn enqueue_outbox(&self, message: OutboxMessage) -> Result<(), StorageError> {
        self.insert_outbox(&self.pool, &message).await
    }

    async fn claim_outbox(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StorageError> {
        let mut rows: Vec<OutboxRow> = sqlx::query_as(&self.queries.claim_outbox)
            .bind(to_micros(now))
            .bind(to_micros(lease_until))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(error::<DB>)?;
        // RETURNING keeps no order: hand them out oldest due first, as they were chosen.
        rows.sort_by_key(OutboxRow::due);
        rows.into_iter().map(OutboxRow::into_message).collect()
    }

    async fn fan_out_event(
        &self,
        id: Uuid,
        copies: Vec<OutboxMessage>,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(&self.queries.fan_out_done)
            .bind(id)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        if DB::rows_affected(&done) != 1 {
            return Ok(false);
        }
        for copy in &copies {
            self.insert_outbox(&mut *tx, copy).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(true)
    }

    async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError> {
        sqlx::query(&self.queries.complete_outbox)
            .bind(id)
            .bind(to_micros(now))
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn fail_outbox(
        &self,
        id: Uuid,
        retry_at: OffsetDateTime,
        error_text: &str,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.fail_outbox)
            .bind(id)
            .bind(to_micros(retry_at))
            .bind(error_text)
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn dead_letter_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        reason: &str,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.dead_letter_outbox)
            .bind(id)
            .bind(to_micros(now))
            .bind(reason)
            .execute(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>, StorageError> {
        let rows: Vec<DeadLetterRow> = match after {
            None => {
                sqlx::query_as(&self.queries.dead_letters)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(after) => {
                sqlx::query_as(&self.queries.dead_letters_after)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(error::<DB>)?;
        rows.into_iter()
            .map(DeadLetterRow::into_dead_letter)
            .collect()
    }

    async fn redeliver_outbox(
        &self,
        id: Uuid,
        now: OffsetDateTime,
        audit: Option<AuditEntry>,
    ) -> Result<bool, StorageError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(&self.queries.redeliver_outbox)
            .bind(id)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        if DB::rows_affected(&done) != 1 {
            return Ok(false);
        }
        if let Some(audit) = &audit {
            self.insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(true)
    }

    async fn pending_outbox(&self) -> Result<u64, StorageError> {
        let pending: i64 = sqlx::query_scalar(&self.queries.pending_outbox)
            .fetch_one(&self.pool)
            .await
            .map_err(error::<DB>)?;
        count(pending)
    }

    async fn change_user_access(
        &self,
        change: AccessChange,
    ) -> Result<AccessOutcome, StorageError> {
        let mut tx = self.begin().await?;
        self.serialise_access_changes(&mut tx).await?;
        let Some(before) = self.lock_user(&mut tx, change.user).await? else {
            return Ok(AccessOutcome::UnknownUser);
        };
        let Some((after, entry)) = change.apply(&before) else {
            return Ok(AccessOutcome::Unchanged(before));
        };
        if !after.is_active_admin() {
            // Every other change of access waits for this transaction, so the count cannot
            // change before it commits.
            self.keep_an_admin(&mut tx, &before).await?;
        }
        sqlx::query(&self.queries.update_access)
            .bind(after.id)
            .bind(roles_json(&after.roles)?)
            .bind(after.disabled_at.map(to_micros))
            .bind(after.token_version)
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        self.revoke_sessions(&mut tx, after.id, to_micros(change.now))
            .await?;
        self.insert_audit(&mut tx, &entry).await?;
        for event in change.events(&before, &after) {
            self.insert_outbox(&mut *tx, &event).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(AccessOutcome::Changed(after, entry))
    }

    async fn update_metadata(
        &self,
        update: MetadataUpdate,
    ) -> Result<Option<UserRecord>, StorageError> {
        let mut tx = self.begin().await?;
        let row: Option<UserRow> = sqlx::query_as(&self.queries.update_metadata)
            .bind(update.user)
            .bind(metadata_text(&update.metadata)?.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        let Some(after) = row.map(UserRow::into_record).transpose()? else {
            return Ok(None);
        };
        for message in &update.outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(Some(after))
    }

    async fn erase_user(&self, erasure: Erasure) -> Result<bool, StorageError> {
        let mut tx = self.begin().await?;
        self.serialise_access_changes(&mut tx).await?;
        let Some(before) = self.lock_user(&mut tx, erasure.user).await? else {
            return Ok(false);
        };
        self.keep_an_admin(&mut tx, &before).await?;
        sqlx::query(&self.queries.erase_user)
            .bind(before.id)
            .bind(tombstone_email(before.id))
            .bind(to_micros(erasure.now))
            .execute(&mut *tx)
            .await
            .map_err(error::<DB>)?;
        for statement in [
            &self.queries.delete_user_refresh_tokens,
            &self.queries.delete_user_reset_tokens,
            &self.queries.delete_user_verification_tokens,
        ] {
            sqlx::query(statement)
                .bind(before.id)
                .execute(&mut *tx)
                .await
                .map_err(error::<DB>)?;
        }
        self.insert_audit(&mut tx, &erasure.audit).await?;
        for message in &erasure.outbox {
            self.insert_outbox(&mut *tx, message).await?;
        }
        tx.commit().await.map_err(error::<DB>)?;
        Ok(true)
    }

    async fn referral_code_retired(&self, code: &ReferralCode) -> Result<bool, StorageError> {
        let key = code.key();
        let held: i64 = sqlx::query_scalar(&self.queries.referral_code_retired)
            .bind(key.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(error::<DB>)?;
        Ok(held > 0)
    }

    async fn search_users(&self, search: UserSearch) -> Result<Vec<UserSummary>, StorageError> {
        let email = search
            .email_contains
            .as_deref()
            .map(|part| format!("%{}%", escape_like(part)));
        let role = search
            .role
            .as_ref()
            .map(|role| format!("%\"{}\"%", escape_like(role.as_str())));
        let rows: Vec<UserSummaryRow> = sqlx::query_as(&self.queries.search_users)
            .bind(email)
            .bind(role)
            .bind(search.after)
            .bind(i64::from(search.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(error::<DB>)?;
        rows.into_iter().map(UserSummaryRow::into_summary).collect()
    }

    async fn audit_log(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let rows: Vec<AuditRow> = match after {
            None => {
                sqlx::query_as(&self.queries.audit_log)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(after) => {
                sqlx::query_as(&self.queries.audit_log_after)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(error::<DB>)?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn prune(
        &self,
        now: OffsetDateTime,
        done_before: OffsetDateTime,
        dead_before: OffsetDateTime,
    ) -> Result<PruneReport, StorageError> {
        let q = &self.queries;
        let now = to_micros(now);
        let mut tx = self.begin().await?;
        let rate_limits = self
            .delete(&mut tx, &q.prune_rate_limits, Some(now))
            .await?;
        // Two statements, each served by its own index; a used, unexpired token stays, so
        // presenting it again is still caught as reuse.
        let expired = self
            .delete(&mut tx, &q.prune_expired_refresh_tokens, Some(now))
            .await?;
        let revoked = self
            .delete(&mut tx, &q.prune_revoked_refresh_tokens, None)
            .await?;
        let reset_tokens = self
            .delete(&mut tx, &q.prune_reset_tokens, Some(now))
            .await?
            + self
                .delete(&mut tx, &q.prune_verification_tokens, Some(now))
                .await?;
        let done = self
            .delete(&mut tx, &q.prune_done_outbox, Some(to_micros(done_before)))
            .await?;
        let dead = self
            .delete(&mut tx, &q.prune_dead_outbox, Some(to_micros(dead_before)))
            .await?;
        let referral_hours = self
            .delete(
                &mut tx,
                &q.prune_referral_hours,
                Some(hour_of(now).saturating_sub(HOUR_BUCKETS_KEPT)),
            )
            .await?;
        tx.commit().await.map_err(error::<DB>)?;
        Ok(PruneReport {
            referral_hours,
            rate_limits,
            refresh_tokens: expired + revoked,
            reset_tokens,
            outbox: done + dead,
        })
    }

    fn watch_users(&self, sink: std::sync::Weak<dyn crate::storage::UserChangeSink>) -> bool {
        DB::watch_users(&self.pool, &self.namespace, sink)
    }
}

/// Points as a user's two sums see them: approved and pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Points {
    approved: i64,
    pending: i64,
}

impl Points {
    /// `points` of an entry in `status`.
    fn of(points: i64, status: RewardStatus) -> Self {
        match status {
            RewardStatus::Approved => Points {
                approved: points,
                pending: 0,
            },
            RewardStatus::Pending => Points {
                approved: 0,
                pending: points,
            },
            RewardStatus::Revoked => Points::default(),
        }
    }
}

impl std::ops::Add for Points {
    type Output = Points;
    fn add(self, other: Points) -> Points {
        Points {
            approved: self.approved + other.approved,
            pending: self.pending + other.pending,
        }
    }
}

impl std::ops::Sub for Points {
    type Output = Points;
    fn sub(self, other: Points) -> Points {
        Points {
            approved: self.approved - other.approved,
            pending: self.pending - other.pending,
        }
    }
}

/// Metadata as stored: JSON text of an object.
/// What an erased user's email column holds: unique (the id), and never an address (no
/// `@`), so it can neither collide with nor be mistaken for anyone's email.
fn tombstone_email(user: Uuid) -> String {
    format!("erased:{user}")
}

fn metadata_text(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, StorageError> {
    serde_json::to_string(metadata)
        .map_err(|e| StorageError::backend(format!("metadata does not serialise: {e}")))
}

/// Roles as the `roles` column keeps them: a JSON array of names.
fn roles_json(roles: &[crate::permissions::Role]) -> Result<String, StorageError> {
    serde_json::to_string(roles).map_err(StorageError::backend)
}

/// `text` with LIKE's wildcards (and the escape character, `\`) escaped.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
