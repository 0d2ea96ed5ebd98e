//! `SqliteStorage`: the embedded default, one file (or memory), SQLite bundled.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::sql::sql_storage;
use super::StorageError;

/// How long a connection waits for another's write lock before giving up (`SQLITE_BUSY`,
/// reported as [`StorageError::Unavailable`]).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// [`Storage`](super::Storage) on SQLite through a sqlx pool.
///
/// Files are opened in WAL mode (readers never wait for the writer) with foreign keys on and
/// a 5-second busy timeout; write transactions begin with `BEGIN IMMEDIATE`, so concurrent writers
/// queue for the lock instead of failing. `sqlite::memory:` works on a single connection
/// that lives as long as the storage. Clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), referral_core::StorageError> {
/// use referral_core::storage::SqliteStorage;
/// let storage = SqliteStorage::connect("sqlite://referral.db").await?;
/// storage.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: SqlitePool,
}

impl SqliteStorage {
    /// Opens the database at `url` (`sqlite://path/to/file.db`, `sqlite::memory:`), creating
    /// the file if missing, with the defaults described on the type. Run [`migrate`](Self::migrate) before
    /// use (or use [`storage::open`](super::open), which does both).
    ///
    /// `?mode=ro` opens read-only: reads work, writes fail with
    /// [`StorageError::Backend`].
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let read_only = url.contains("mode=ro");
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(error)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // Switching to WAL writes the file header, which a read-only or in-memory database
        // cannot (or need not) do.
        if !in_memory && !read_only {
            // In WAL mode, NORMAL syncs at checkpoints instead of at every commit: the database
            // cannot be corrupted, and only a power loss can undo the last commits. It makes a
            // write cost microseconds instead of an fsync.
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        let pool = if in_memory {
            // Each connection to `:memory:` is its own database: keep exactly one, forever.
            Self::pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            Self::pool_options()
        };
        Self::connect_with(options, pool).await
    }

    /// The default pool settings (8 connections, a 5-second acquire timeout), to adjust and pass to
    /// [`connect_with`](Self::connect_with).
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
    }

    /// A write transaction holding the database's write lock from its first statement, so it
    /// never has to upgrade a read lock (which SQLite refuses with `SQLITE_BUSY`).
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StorageError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(error)
    }
}

/// SQLite's primary result codes (the low byte of the extended code) that may clear up:
/// BUSY, LOCKED, IOERR, FULL, CANTOPEN.
fn is_transient(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 13 | 14))
}

sql_storage! {
    storage: SqliteStorage,
    database: Sqlite,
    pool: SqlitePool,
    connect_options: SqliteConnectOptions,
    pool_options: SqlitePoolOptions,
    migrator: MIGRATOR,
    transient: is_transient,
    lock_user: "",
    skip_locked: "",
}
