//! The [`Storage`](crate::Storage) implementation shared by `SqliteStorage` and
//! `PostgresStorage`: one set of queries, generated for each backend by
//! `sql_storage!`; the backends differ only in how a write transaction begins and in row locks.
//!
//! How to choose a database is on the public `storage` module.
//!
//! # Schema
//!
//! The migrations (`migrations/sqlite`, `migrations/postgres`) hold the same tables, with
//! the invariants in the database: unique email and referral code (named constraints, mapped
//! to [`StorageError::EmailTaken`](crate::StorageError::EmailTaken) and
//! [`ReferralCodeTaken`](crate::StorageError::ReferralCodeTaken)); `users.referred_by` a
//! foreign key; one `referrals` row per referee (its primary key); ledger entries referencing
//! their referral and beneficiary; token hashes as primary keys. Timestamps are BIGINT unix
//! microseconds, so both backends share every query.
//!
//! Statistics cost the same for 10 referrals and 100,000: the registration transaction keeps
//! counters on the user row (`referral_count`, `second_tier_count`, `reward_points`, the sum
//! of the user's ledger entries) and a per-UTC-day sign-up count in `referral_days`. "Joined
//! since" adds the day buckets after `since`'s day to an exact, indexed count of that one
//! boundary day. The cursor listing reads the index `(referrer_id, joined_at DESC,
//! referee_id DESC)`.
//!
//! # Atomicity
//!
//! Every multi-step write is one transaction; single-use tokens are taken with
//! `UPDATE … WHERE used_at IS NULL AND expires_at > now RETURNING …`, so of racing callers
//! exactly one sees the row. SQLite serialises writers with `BEGIN IMMEDIATE` (and a busy
//! timeout) so no transaction ever needs to upgrade its lock. PostgreSQL locks the affected
//! user's row first in every transaction that changes their tokens, so those transactions
//! queue in one order and never deadlock, and claims the outbox with `FOR UPDATE SKIP
//! LOCKED`.

mod errors;
mod rows;
mod timestamps;

pub(crate) use errors::{migrate_error, registration_error, storage_error};
pub(crate) use rows::{count, outbox_columns, user_columns, OutboxRow, ReferralRow, UserRow};
pub(crate) use timestamps::{day_of, duration_micros, from_micros, start_of_next_day, to_micros};

/// Implements [`Storage`](crate::Storage) for a sqlx-backed storage type.
///
/// The type has a `pool` field and a `begin()` method opening a write transaction; the
/// arguments name the sqlx types, the embedded migrations, the backend's "try again later"
/// error codes, and the row-lock clauses (empty where the backend serialises writers
/// instead). Besides the trait, it generates `connect_with`, `from_pool`, `pool`, `migrate`,
/// and the module's `error` mapping.
macro_rules! sql_storage {
    (
        storage: $storage:ty,
        database: $db:ty,
        pool: $pool:ty,
        connect_options: $connect_options:ty,
        pool_options: $pool_options:ty,
        migrator: $migrator:ident,
        transient: $transient:path,
        lock_user: $lock_user:literal,
        skip_locked: $skip_locked:literal $(,)?
    ) => {
        fn error(error: sqlx::Error) -> $crate::storage::StorageError {
            $crate::storage::sql::storage_error(error, $transient)
        }

        impl $storage {
            /// Opens a pool with explicit connection and pool options (start from
            /// `pool_options()` to keep the defaults).
            pub async fn connect_with(
                options: $connect_options,
                pool: $pool_options,
            ) -> Result<Self, $crate::storage::StorageError> {
                let pool = pool.connect_with(options).await.map_err(error)?;
                Ok(Self::from_pool(pool))
            }

            /// Wraps an existing pool (a lazy one, say, to start while the database is down).
            /// Configure its connections as `connect` does.
            pub fn from_pool(pool: $pool) -> Self {
                Self { pool }
            }

            /// The underlying pool.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// Creates or updates the schema from the migrations embedded for this backend.
            /// Safe to run at every start, and from several instances at once.
            pub async fn migrate(&self) -> Result<(), $crate::storage::StorageError> {
                $migrator
                    .run(&self.pool)
                    .await
                    .map_err(|e| $crate::storage::sql::migrate_error(e, $transient))
            }
        }

        const _: () = {
            use async_trait::async_trait;
            use sqlx::Transaction;
            use time::OffsetDateTime;
            use uuid::Uuid;

            use $crate::email::Email;
            use $crate::password::PasswordHash;
            use $crate::rate_limit::RateWindow;
            use $crate::referral_code::ReferralCode;
            use $crate::storage::sql::{
                count, day_of, duration_micros, from_micros, outbox_columns, registration_error,
                start_of_next_day, to_micros, user_columns, OutboxRow,
                ReferralRow, UserRow,
            };
            use $crate::storage::{
                NewUser, OutboxMessage, ReferralCounts, ReferralCursor, ReferralRecord,
                RefreshTokenRecord, ResetTokenRecord, Rotation, Storage, StorageError,
            };
            use $crate::tokens::TokenHash;
            use $crate::user::UserRecord;

            impl $storage {
                /// Locks the user's row until the transaction ends (where the backend has
                /// row locks); `false` when there is no such user.
                async fn lock_user(
                    tx: &mut Transaction<'static, $db>,
                    user: Uuid,
                ) -> Result<bool, StorageError> {
                    let found: Option<Uuid> = sqlx::query_scalar(concat!(
                        "SELECT id FROM users WHERE id = $1",
                        $lock_user
                    ))
                    .bind(user)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(error)?;
                    Ok(found.is_some())
                }

                /// The owner of the token `owner_query` finds under `hash`, with their row
                /// locked (see [`lock_user`](Self::lock_user)).
                async fn lock_token_owner(
                    tx: &mut Transaction<'static, $db>,
                    owner_query: &'static str,
                    hash: &[u8],
                ) -> Result<Option<Uuid>, StorageError> {
                    let owner: Option<Uuid> = sqlx::query_scalar(owner_query)
                        .bind(hash)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(error)?;
                    if let Some(owner) = owner {
                        Self::lock_user(tx, owner).await?;
                    }
                    Ok(owner)
                }

                /// Revokes every refresh token of `user` (whose row the caller has locked).
                async fn revoke_sessions(
                    tx: &mut Transaction<'static, $db>,
                    user: Uuid,
                    now: i64,
                ) -> Result<(), StorageError> {
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 \
                         WHERE user_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(user)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(error)?;
                    Ok(())
                }

                async fn insert_refresh<'e, E>(
                    executor: E,
                    token: &RefreshTokenRecord,
                ) -> Result<(), StorageError>
                where
                    E: sqlx::Executor<'e, Database = $db>,
                {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (hash, user_id, family_id, issued_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(token.hash.as_bytes().as_slice())
                    .bind(token.user_id)
                    .bind(token.family_id)
                    .bind(to_micros(token.issued_at))
                    .bind(to_micros(token.expires_at))
                    .execute(executor)
                    .await
                    .map_err(error)?;
                    Ok(())
                }

                /// Adds to a user's counters; `false` when there is no such user.
                async fn add_to_counters(
                    tx: &mut Transaction<'static, $db>,
                    user: Uuid,
                    referrals: i64,
                    second_tier: i64,
                    points: i64,
                ) -> Result<bool, StorageError> {
                    let done = sqlx::query(
                        "UPDATE users SET referral_count = referral_count + $2, \
                         second_tier_count = second_tier_count + $3, \
                         reward_points = reward_points + $4 WHERE id = $1",
                    )
                    .bind(user)
                    .bind(referrals)
                    .bind(second_tier)
                    .bind(points)
                    .execute(&mut **tx)
                    .await
                    .map_err(error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn fetch_user<'q>(
                    &self,
                    query: sqlx::query::QueryAs<'q, $db, UserRow, <$db as sqlx::Database>::Arguments<'q>>,
                ) -> Result<Option<UserRecord>, StorageError> {
                    query
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(error)?
                        .map(UserRow::into_record)
                        .transpose()
                }
            }

            #[async_trait]
            impl Storage for $storage {
                async fn ping(&self) -> Result<(), StorageError> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err(error)?;
                    Ok(())
                }

                async fn create_user(&self, new: NewUser) -> Result<(), StorageError> {
                    let NewUser { user, referral, refresh_token } = new;
                    let rewards = referral.as_ref().map(|r| r.rewards.as_slice()).unwrap_or_default();
                    let points_of = |beneficiary: Uuid| -> i64 {
                        rewards
                            .iter()
                            .filter(|entry| entry.beneficiary == beneficiary)
                            .map(|entry| entry.points)
                            .sum()
                    };
                    let joined = to_micros(user.created_at);
                    let mut tx = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO users (id, email, password_hash, referral_code, referred_by, \
                         token_version, created_at, reward_points) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(user.id)
                    .bind(user.email.as_str())
                    .bind(user.password_hash.as_str())
                    .bind(user.referral_code.as_str())
                    .bind(user.referred_by)
                    .bind(user.token_version)
                    .bind(joined)
                    .bind(points_of(user.id))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| registration_error(e, $transient))?;
                    if let Some(referral) = &referral {
                        sqlx::query(
                            "INSERT INTO referrals (referee_id, referrer_id, joined_at, reward_points) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(user.id)
                        .bind(referral.referrer)
                        .bind(joined)
                        .bind(referral.referrer_points())
                        .execute(&mut *tx)
                        .await
                        .map_err(error)?;
                        // Counters in tree order (referrer, then theirs), as every
                        // registration does, so concurrent ones queue instead of deadlocking.
                        if !Self::add_to_counters(&mut tx, referral.referrer, 1, 0, points_of(referral.referrer)).await? {
                            return Err(StorageError::backend("the referrer does not exist"));
                        }
                        sqlx::query(
                            "INSERT INTO referral_days (referrer_id, day, joined) VALUES ($1, $2, 1) \
                             ON CONFLICT (referrer_id, day) DO UPDATE SET joined = referral_days.joined + 1",
                        )
                        .bind(referral.referrer)
                        .bind(day_of(joined))
                        .execute(&mut *tx)
                        .await
                        .map_err(error)?;
                        if let Some(grand) = referral.second_tier_referrer {
                            if !Self::add_to_counters(&mut tx, grand, 0, 1, points_of(grand)).await? {
                                return Err(StorageError::backend("the second-tier referrer does not exist"));
                            }
                        }
                        let counted = [Some(user.id), Some(referral.referrer), referral.second_tier_referrer];
                        let mut others: Vec<Uuid> = rewards
                            .iter()
                            .map(|entry| entry.beneficiary)
                            .filter(|beneficiary| !counted.contains(&Some(*beneficiary)))
                            .collect();
                        others.sort_unstable();
                        others.dedup();
                        for beneficiary in others {
                            Self::add_to_counters(&mut tx, beneficiary, 0, 0, points_of(beneficiary)).await?;
                        }
                        for entry in rewards {
                            sqlx::query(
                                "INSERT INTO reward_ledger (id, referral_id, beneficiary_id, kind, points) \
                                 VALUES ($1, $2, $3, $4, $5)",
                            )
                            .bind(entry.id)
                            .bind(user.id)
                            .bind(entry.beneficiary)
                            .bind(entry.kind.as_str())
                            .bind(entry.points)
                            .execute(&mut *tx)
                            .await
                            .map_err(error)?;
                        }
                    }
                    Self::insert_refresh(&mut *tx, &refresh_token).await?;
                    tx.commit().await.map_err(error)
                }

                async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StorageError> {
                    self.fetch_user(sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1")).bind(id))
                    .await
                }

                async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StorageError> {
                    self.fetch_user(sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1")).bind(email.as_str()))
                    .await
                }

                async fn user_by_referral_code(
                    &self,
                    code: &ReferralCode,
                ) -> Result<Option<UserRecord>, StorageError> {
                    self.fetch_user(sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE referral_code = $1")).bind(code.as_str()))
                    .await
                }

                async fn update_password_hash(
                    &self,
                    user: Uuid,
                    hash: &PasswordHash,
                ) -> Result<(), StorageError> {
                    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                        .bind(user)
                        .bind(hash.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err(error)?;
                    Ok(())
                }

                async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<(), StorageError> {
                    Self::insert_refresh(&self.pool, &token).await
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
                    // The owner's lock orders this after any password reset in flight, so a
                    // reset's revocation never misses the replacement.
                    let owner = Self::lock_token_owner(
                        &mut tx,
                        "SELECT user_id FROM refresh_tokens WHERE hash = $1",
                        hash,
                    )
                    .await?;
                    let Some(owner) = owner else {
                        return Ok(Rotation::Invalid);
                    };
                    let rotated: Option<(Uuid, Uuid)> = sqlx::query_as(
                        "UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 \
                         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                         RETURNING user_id, family_id",
                    )
                    .bind(hash)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(error)?;
                    if let Some((user_id, family_id)) = rotated {
                        let replacement = RefreshTokenRecord { user_id, family_id, ..replacement };
                        Self::insert_refresh(&mut *tx, &replacement).await?;
                        tx.commit().await.map_err(error)?;
                        return Ok(Rotation::Rotated(user_id));
                    }
                    let used: Option<Option<i64>> =
                        sqlx::query_scalar("SELECT used_at FROM refresh_tokens WHERE hash = $1")
                            .bind(hash)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(error)?;
                    if used.flatten().is_none() {
                        return Ok(Rotation::Invalid);
                    }
                    Self::revoke_sessions(&mut tx, owner, now).await?;
                    tx.commit().await.map_err(error)?;
                    Ok(Rotation::Reused(owner))
                }

                async fn revoke_refresh_token(
                    &self,
                    token: &TokenHash,
                    now: OffsetDateTime,
                ) -> Result<(), StorageError> {
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL",
                    )
                    .bind(token.as_bytes().as_slice())
                    .bind(to_micros(now))
                    .execute(&self.pool)
                    .await
                    .map_err(error)?;
                    Ok(())
                }

                async fn create_reset_token(
                    &self,
                    token: ResetTokenRecord,
                    mail: OutboxMessage,
                ) -> Result<(), StorageError> {
                    let created = to_micros(token.created_at);
                    let mut tx = self.begin().await?;
                    // The lock makes concurrent requests for one user supersede in turn.
                    if !Self::lock_user(&mut tx, token.user_id).await? {
                        return Err(StorageError::backend("reset token for an unknown user"));
                    }
                    sqlx::query(
                        "UPDATE reset_tokens SET superseded_at = $2 \
                         WHERE user_id = $1 AND used_at IS NULL AND superseded_at IS NULL",
                    )
                    .bind(token.user_id)
                    .bind(created)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
                    sqlx::query(
                        "INSERT INTO reset_tokens (hash, user_id, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(token.hash.as_bytes().as_slice())
                    .bind(token.user_id)
                    .bind(created)
                    .bind(to_micros(token.expires_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
                    sqlx::query(
                        "INSERT INTO outbox (id, recipient, subject, body_text, body_html, attempts, \
                         created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    )
                    .bind(mail.id)
                    .bind(mail.message.to.as_str())
                    .bind(mail.message.subject.as_str())
                    .bind(mail.message.text.as_str())
                    .bind(mail.message.html.as_str())
                    .bind(i64::from(mail.attempts))
                    .bind(to_micros(mail.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
                    tx.commit().await.map_err(error)
                }

                async fn reset_token_user(
                    &self,
                    token: &TokenHash,
                    now: OffsetDateTime,
                ) -> Result<Option<UserRecord>, StorageError> {
                    self.fetch_user(sqlx::query_as(concat!(
                            "SELECT ", user_columns!(), " FROM users WHERE id = (",
                            "SELECT user_id FROM reset_tokens WHERE hash = $1 AND used_at IS NULL ",
                            "AND superseded_at IS NULL AND expires_at > $2)"
                        )).bind(token.as_bytes().as_slice()).bind(to_micros(now)))
                    .await
                }

                async fn consume_reset_token(
                    &self,
                    token: &TokenHash,
                    new_hash: &PasswordHash,
                    now: OffsetDateTime,
                ) -> Result<Option<Uuid>, StorageError> {
                    let hash = token.as_bytes().as_slice();
                    let now = to_micros(now);
                    let mut tx = self.begin().await?;
                    let owner = Self::lock_token_owner(
                        &mut tx,
                        "SELECT user_id FROM reset_tokens WHERE hash = $1",
                        hash,
                    )
                    .await?;
                    let Some(owner) = owner else {
                        return Ok(None);
                    };
                    let consumed: Option<Uuid> = sqlx::query_scalar(
                        "UPDATE reset_tokens SET used_at = $2 WHERE hash = $1 \
                         AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2 \
                         RETURNING user_id",
                    )
                    .bind(hash)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(error)?;
                    if consumed.is_none() {
                        return Ok(None);
                    }
                    sqlx::query(
                        "UPDATE users SET password_hash = $2, token_version = token_version + 1 \
                         WHERE id = $1",
                    )
                    .bind(owner)
                    .bind(new_hash.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
                    Self::revoke_sessions(&mut tx, owner, now).await?;
                    tx.commit().await.map_err(error)?;
                    Ok(Some(owner))
                }

                async fn hit_rate_limit(
                    &self,
                    key: &str,
                    now: OffsetDateTime,
                    window: time::Duration,
                ) -> Result<RateWindow, StorageError> {
                    // One statement: the upsert is atomic on both backends.
                    let (hits, started_at): (i64, i64) = sqlx::query_as(
                        "INSERT INTO rate_limits (rate_key, hits, started_at) VALUES ($1, 1, $2) \
                         ON CONFLICT (rate_key) DO UPDATE SET \
                         hits = CASE WHEN rate_limits.started_at + $3 <= $2 THEN 1 \
                                ELSE rate_limits.hits + 1 END, \
                         started_at = CASE WHEN rate_limits.started_at + $3 <= $2 THEN $2 \
                                      ELSE rate_limits.started_at END \
                         RETURNING hits, started_at",
                    )
                    .bind(key)
                    .bind(to_micros(now))
                    .bind(duration_micros(window))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(error)?;
                    Ok(RateWindow {
                        count: u32::try_from(hits).unwrap_or(u32::MAX),
                        started_at: from_micros(started_at)?,
                    })
                }

                async fn rate_limit(
                    &self,
                    key: &str,
                    now: OffsetDateTime,
                    window: time::Duration,
                ) -> Result<Option<RateWindow>, StorageError> {
                    let row: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT hits, started_at FROM rate_limits \
                         WHERE rate_key = $1 AND started_at + $3 > $2",
                    )
                    .bind(key)
                    .bind(to_micros(now))
                    .bind(duration_micros(window))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(error)?;
                    row.map(|(hits, started_at)| {
                        Ok(RateWindow {
                            count: u32::try_from(hits).unwrap_or(u32::MAX),
                            started_at: from_micros(started_at)?,
                        })
                    })
                    .transpose()
                }

                async fn clear_rate_limit(&self, key: &str) -> Result<(), StorageError> {
                    sqlx::query("DELETE FROM rate_limits WHERE rate_key = $1")
                        .bind(key)
                        .execute(&self.pool)
                        .await
                        .map_err(error)?;
                    Ok(())
                }

                async fn list_referrals(
                    &self,
                    referrer: Uuid,
                    after: Option<ReferralCursor>,
                    limit: u32,
                ) -> Result<Vec<ReferralRecord>, StorageError> {
                    let rows: Vec<ReferralRow> = match after {
                        None => sqlx::query_as(
                            "SELECT r.referee_id, u.email, r.joined_at, r.reward_points \
                             FROM referrals r JOIN users u ON u.id = r.referee_id \
                             WHERE r.referrer_id = $1 \
                             ORDER BY r.joined_at DESC, r.referee_id DESC LIMIT $2",
                        )
                        .bind(referrer)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await,
                        Some(cursor) => sqlx::query_as(
                            "SELECT r.referee_id, u.email, r.joined_at, r.reward_points \
                             FROM referrals r JOIN users u ON u.id = r.referee_id \
                             WHERE r.referrer_id = $1 AND (r.joined_at, r.referee_id) < ($2, $3) \
                             ORDER BY r.joined_at DESC, r.referee_id DESC LIMIT $4",
                        )
                        .bind(referrer)
                        .bind(to_micros(cursor.joined_at))
                        .bind(cursor.user_id)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await,
                    }
                    .map_err(error)?;
                    rows.into_iter().map(ReferralRow::into_record).collect()
                }

                async fn referral_stats(
                    &self,
                    user: Uuid,
                    since: OffsetDateTime,
                ) -> Result<ReferralCounts, StorageError> {
                    let since = to_micros(since);
                    let boundary_day = day_of(since);
                    let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
                        "SELECT referral_count, second_tier_count, reward_points, \
                         (SELECT CAST(COALESCE(SUM(joined), 0) AS BIGINT) FROM referral_days \
                          WHERE referrer_id = $1 AND day > $2), \
                         (SELECT COUNT(*) FROM referrals \
                          WHERE referrer_id = $1 AND joined_at >= $3 AND joined_at < $4) \
                         FROM users WHERE id = $1",
                    )
                    .bind(user)
                    .bind(boundary_day)
                    .bind(since)
                    .bind(start_of_next_day(boundary_day))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(error)?;
                    let Some((total, second_tier, reward_points, later_days, boundary)) = row else {
                        return Ok(ReferralCounts::default());
                    };
                    Ok(ReferralCounts {
                        total: count(total)?,
                        since: count(later_days)? + count(boundary)?,
                        second_tier: count(second_tier)?,
                        reward_points,
                    })
                }

                async fn claim_outbox(
                    &self,
                    now: OffsetDateTime,
                    lease_until: OffsetDateTime,
                    limit: u32,
                ) -> Result<Vec<OutboxMessage>, StorageError> {
                    let rows: Vec<OutboxRow> = sqlx::query_as(concat!(
                        "UPDATE outbox SET lease_until = $2, attempts = attempts + 1 ",
                        "WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL ",
                        "AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) ",
                        "ORDER BY next_attempt_at, id LIMIT $3",
                        $skip_locked,
                        ") RETURNING ",
                        outbox_columns!()
                    ))
                    .bind(to_micros(now))
                    .bind(to_micros(lease_until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(error)?;
                    rows.into_iter().map(OutboxRow::into_message).collect()
                }

                async fn complete_outbox(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StorageError> {
                    sqlx::query("UPDATE outbox SET sent_at = $2, lease_until = NULL WHERE id = $1")
                        .bind(id)
                        .bind(to_micros(now))
                        .execute(&self.pool)
                        .await
                        .map_err(error)?;
                    Ok(())
                }

                async fn fail_outbox(
                    &self,
                    id: Uuid,
                    retry_at: OffsetDateTime,
                    error_text: &str,
                ) -> Result<(), StorageError> {
                    sqlx::query(
                        "UPDATE outbox SET next_attempt_at = $2, lease_until = NULL, last_error = $3 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(to_micros(retry_at))
                    .bind(error_text)
                    .execute(&self.pool)
                    .await
                    .map_err(error)?;
                    Ok(())
                }

                async fn prune_outbox(&self, sent_before: OffsetDateTime) -> Result<u64, StorageError> {
                    let done = sqlx::query("DELETE FROM outbox WHERE sent_at < $1")
                        .bind(to_micros(sent_before))
                        .execute(&self.pool)
                        .await
                        .map_err(error)?;
                    Ok(done.rows_affected())
                }

                async fn pending_outbox(&self) -> Result<u64, StorageError> {
                    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(error)?;
                    count(pending)
                }
            }
        };
    };
}
pub(crate) use sql_storage;
