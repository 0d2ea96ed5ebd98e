//! [`SqlStorage`]: the [`Storage`](crate::Storage) implementation shared by `SqliteStorage`
//! and `PostgresStorage`, written once, generic over the sqlx database. What differs between
//! the backends (how a write transaction begins, row locks, error codes, naming, catalog
//! queries) is the [`Dialect`](dialect::Dialect) each backend's file implements.
//!
//! How to choose a database is on the public `storage` module.
//!
//! - `dialect.rs`: the trait each backend implements.
//! - `queries.rs`: the query text, shared, with table names as placeholders.
//! - `namespace.rs`: the namespace (schema or table prefix) and how placeholders render.
//! - `operations.rs`: the trait's methods over those queries.
//! - `migrate.rs`, `legacy.rs`: our own migrator, and adopting a previous version's tables.
//! - `rows.rs`, `timestamps.rs`, `errors.rs`: decoding rows, instants, and mapping errors.
//!
//! # Namespace
//!
//! The library shares a database with its host application and must never collide with it:
//! every table and index lives in a namespace, on PostgreSQL a schema (`referral` unless
//! configured), on SQLite a table-name prefix (`referral_`). The migrations are ours too,
//! kept in the namespace's `schema_migrations`, never in the host's `_sqlx_migrations`.
//! Queries are rendered for the namespace once, when the storage is built.
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
//!
//! Token versions close the gap between a login's password check and its session: a refresh
//! token is stored by one `INSERT … SELECT … FROM users WHERE token_version = $v`, holding
//! the user's row, so a reset either commits first (the version no longer matches and nothing
//! is stored) or waits and then revokes the new token; a rotation, under the same lock,
//! rotates only a token of the user's current version. A rehash is one `UPDATE … WHERE
//! password_hash = $expected`, so it never overwrites a password a reset set meanwhile.
//!
//! Single statements where a count decides: a rate-limit hit is one upsert returning the new
//! count (of concurrent hits on a fresh key, each gets its own count, 1 to n), and a refund
//! takes one back only from the window it was counted in, never below zero. `prune` deletes in
//! one transaction, each statement served by an index.

mod dialect;
mod errors;
mod legacy;
mod migrate;
mod namespace;
mod operations;
mod queries;
mod rows;
mod timestamps;

use std::fmt;
use std::sync::Arc;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Pool, Transaction};

pub(crate) use dialect::sealed::Sealed;
pub use dialect::Dialect;
pub(crate) use errors::{registration_error, storage_error};
pub(crate) use migrate::{LegacyMigration, Migration};
pub(crate) use namespace::{is_plain_identifier, quote_identifier, Namespace, Naming, Renderer};
use queries::Queries;
pub(crate) use timestamps::to_micros;

use crate::storage::StorageError;

/// [`Storage`](crate::Storage) on a SQL database through a sqlx pool: the type behind
/// [`SqliteStorage`](crate::storage::SqliteStorage) and
/// [`PostgresStorage`](crate::storage::PostgresStorage), which document each backend.
///
/// The library's tables live in a namespace of their own (a PostgreSQL schema, an SQLite
/// table prefix), chosen when the storage is built; [`migrate`](Self::migrate) creates and
/// updates them with bookkeeping of their own, so a host application's tables and sqlx
/// migrations can share the database. Clones share the pool.
pub struct SqlStorage<DB: sqlx::Database> {
    pool: Pool<DB>,
    namespace: Namespace,
    queries: Arc<Queries>,
    /// The key of the lock serialising changes of access in this namespace (see
    /// [`Dialect::SERIALISE_ACCESS_CHANGES`]).
    access_lock_key: i64,
}

impl<DB: Dialect> SqlStorage<DB> {
    /// Opens a pool with explicit connection and pool options (start from `pool_options()`
    /// to keep the defaults), for the default namespace.
    pub async fn connect_with(
        options: <DB::Connection as Connection>::Options,
        pool: PoolOptions<DB>,
    ) -> Result<Self, StorageError> {
        let pool = pool.connect_with(options).await.map_err(error::<DB>)?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (the host application's, say, or a lazy one to start while the
    /// database is down), for the default namespace. Configure its connections as the
    /// backend's `connect` does.
    pub fn from_pool(pool: Pool<DB>) -> Self {
        Self::build(pool, Namespace::default_of(DB::DEFAULT_NAMESPACE))
    }

    /// The underlying pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// This storage in the namespace `name` instead, checked and rendered into its queries.
    pub(crate) fn in_namespace(self, name: &str) -> Result<Self, StorageError> {
        let namespace = Namespace::parse(name, DB::NAMESPACE_KIND)?;
        DB::check_namespace(&namespace)?;
        Ok(Self::build(self.pool, namespace))
    }

    /// The namespace's name.
    pub(crate) fn namespace_name(&self) -> &str {
        self.namespace.as_str()
    }

    fn build(pool: Pool<DB>, namespace: Namespace) -> Self {
        let queries = Arc::new(Queries::render(&Renderer {
            namespace: &namespace,
            naming: DB::NAMING,
        }));
        let access_lock_key = lock_key("access changes", &namespace);
        SqlStorage {
            pool,
            namespace,
            queries,
            access_lock_key,
        }
    }

    fn renderer(&self) -> Renderer<'_> {
        Renderer {
            namespace: &self.namespace,
            naming: DB::NAMING,
        }
    }

    /// A write transaction: on SQLite it holds the write lock from its first statement, so
    /// it never has to upgrade a read lock (which SQLite refuses with `SQLITE_BUSY`).
    async fn begin(&self) -> Result<Transaction<'static, DB>, StorageError> {
        self.pool.begin_with(DB::BEGIN).await.map_err(error::<DB>)
    }
}

impl<DB: sqlx::Database> Clone for SqlStorage<DB> {
    fn clone(&self) -> Self {
        SqlStorage {
            pool: self.pool.clone(),
            namespace: self.namespace.clone(),
            queries: Arc::clone(&self.queries),
            access_lock_key: self.access_lock_key,
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlStorage<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStorage")
            .field("pool", &self.pool)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// A lock key for `purpose` in `namespace`: the first 8 bytes of a SHA-256, so namespaces
/// sharing a database never share a key.
pub(crate) fn lock_key(purpose: &str, namespace: &Namespace) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("referral-core {purpose} {}", namespace.as_str()));
    let mut key = [0; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// Maps a sqlx error for the backend `DB`.
fn error<DB: Dialect>(error: sqlx::Error) -> StorageError {
    storage_error(error, DB::is_transient)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` holds no placeholder left unrendered (`{` then a name).
    fn assert_rendered(text: &str) {
        let unrendered = text
            .match_indices('{')
            .any(|(at, _)| text[at + 1..].starts_with(|c: char| c.is_ascii_lowercase()));
        assert!(!unrendered, "a placeholder is left in {text}");
    }

    fn every_template_renders_completely<DB: Dialect>() {
        let namespace = Namespace::parse("auth", DB::NAMESPACE_KIND).unwrap();
        let renderer = Renderer {
            namespace: &namespace,
            naming: DB::NAMING,
        };
        assert_rendered(&format!("{:?}", Queries::render(&renderer)));
        assert_rendered(&renderer.render(DB::CREATE_BOOKKEEPING));
        for migration in DB::MIGRATIONS {
            assert_rendered(&renderer.render(migration.sql));
        }
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn every_sqlite_template_renders_completely() {
        every_template_renders_completely::<sqlx::Sqlite>();
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn every_postgres_template_renders_completely() {
        every_template_renders_completely::<sqlx::Postgres>();
    }

    #[test]
    fn a_forgotten_placeholder_is_noticed() {
        assert!(std::panic::catch_unwind(|| assert_rendered("SELECT 1 FROM {users}")).is_err());
        assert_rendered("Queries { lock_user: \"SELECT 1\" }");
    }

    /// Apps spawn these futures, and Rocket's `main` needs them `Send`: checked at compile time.
    #[cfg(all(feature = "sqlite", feature = "postgres"))]
    #[allow(dead_code)]
    fn futures_are_send(
        sqlite: &crate::storage::SqliteStorage,
        postgres: &crate::storage::PostgresStorage,
    ) {
        fn send<T: Send>(_: T) {}
        send(sqlite.migrate());
        send(postgres.migrate());
        send(crate::storage::open("sqlite::memory:"));
    }
}
