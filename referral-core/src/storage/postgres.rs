//! `PostgresStorage`: for several server instances sharing one database, and for scale.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::sql::sql_storage;
use super::StorageError;

/// How long a call waits for a pooled connection, including opening one: past it, a dead
/// or unreachable server is reported as [`StorageError::Unavailable`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Default pool size.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// [`Storage`](super::Storage) on PostgreSQL through a sqlx pool.
///
/// Calls fail with [`StorageError::Unavailable`] within 5 seconds while the server
/// is down; the pool replaces broken connections, so the storage recovers by itself when the
/// server returns. Clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), referral_core::StorageError> {
/// use referral_core::storage::PostgresStorage;
/// let storage = PostgresStorage::connect_with(
///     "postgres://app@localhost/app".parse().map_err(referral_core::StorageError::backend)?,
///     PostgresStorage::pool_options().max_connections(32),
/// )
/// .await?;
/// storage.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStorage {
    pool: PgPool,
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with the default
    /// pool. Run [`migrate`](Self::migrate) before use (or use
    /// [`storage::open`](super::open), which does both).
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url).map_err(error)?;
        Self::connect_with(options, Self::pool_options()).await
    }

    /// The default pool settings (10 connections, a 5-second acquire timeout), to
    /// adjust (`.max_connections(n)`) and pass to [`connect_with`](Self::connect_with).
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StorageError> {
        self.pool.begin().await.map_err(error)
    }
}

/// SQLSTATE classes that may clear up: connection exceptions (08), transaction rollbacks
/// such as serialization failures and deadlocks (40), insufficient resources (53), and
/// operator intervention such as a shutdown or a cancelled statement (57).
fn is_transient(code: &str) -> bool {
    ["08", "40", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
}

sql_storage! {
    storage: PostgresStorage,
    database: Postgres,
    pool: PgPool,
    connect_options: PgConnectOptions,
    pool_options: PgPoolOptions,
    migrator: MIGRATOR,
    transient: is_transient,
    lock_user: " FOR NO KEY UPDATE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
}
