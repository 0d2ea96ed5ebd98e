//! `SqliteStorage`: the embedded default, one file (or memory), SQLite bundled. What is
//! SQLite's own: connection settings, `BEGIN IMMEDIATE`, the table-name prefix, its
//! migrations, error codes and catalog.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
};
use sqlx::{Executor, Sqlite};

use super::sql::{
    is_plain_identifier, quote_identifier, Dialect, LegacyMigration, Migration, Namespace, Naming,
    Renderer, Sealed, SqlStorage,
};
use super::StorageError;

/// How long a connection waits for another's write lock before giving up (`SQLITE_BUSY`,
/// reported as [`StorageError::Unavailable`]).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Each connection's page cache, in KiB (SQLite's default is 2,000). The engine's cache
/// answers most reads, so a larger page cache per pooled connection mostly adds memory: 8
/// connections at SQLite's default held 12 MiB more at the load bench's peak, for no change
/// in its throughput (BENCHMARKS.md). The operating system's page cache still keeps the file.
pub const SQLITE_PAGE_CACHE_KIB: u32 = 512;

/// The table prefix unless another is given.
pub const DEFAULT_TABLE_PREFIX: &str = "referral_";
const _: () = assert!(is_plain_identifier(DEFAULT_TABLE_PREFIX));

/// [`Storage`](super::Storage) on SQLite through a sqlx pool.
///
/// Files are opened in WAL mode (readers never wait for the writer) with foreign keys on and
/// a 5-second busy timeout; write transactions begin with `BEGIN IMMEDIATE`, so concurrent
/// writers queue for the lock instead of failing. `sqlite::memory:` works on a single
/// connection that lives as long as the storage. Clones share the pool.
///
/// Every table and index name starts with a prefix, `referral_` unless
/// [`with_table_prefix`](SqlStorage::with_table_prefix) says otherwise
/// (`referral_users`, `referral_schema_migrations`, …), so the file can be the host
/// application's own database, beside its tables and its sqlx migrations.
///
/// ```no_run
/// # async fn demo() -> Result<(), referral_core::StorageError> {
/// use referral_core::storage::SqliteStorage;
/// let storage = SqliteStorage::connect("sqlite://referral.db").await?;
/// storage.migrate().await?;
/// # Ok(()) }
/// ```
///
/// On the host application's pool, built with the same connection settings:
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use referral_core::storage::SqliteStorage;
/// let options = SqliteStorage::connect_options("sqlite://app.db")?;
/// let pool = SqliteStorage::pool_options().connect_with(options).await?;
/// // sqlx::migrate!().run(&pool).await?;  // the app's own migrations, in any order
/// let storage = SqliteStorage::from_pool(pool.clone()).with_table_prefix("auth_")?;
/// storage.migrate().await?;
/// # Ok(()) }
/// ```
pub type SqliteStorage = SqlStorage<Sqlite>;

impl SqlStorage<Sqlite> {
    /// Opens the database at `url` (`sqlite://path/to/file.db`, `sqlite::memory:`), creating
    /// the file if missing, with the defaults described on the type and the default table
    /// prefix. Run [`migrate`](Self::migrate) before use (or use
    /// [`storage::open`](super::open), which does both).
    ///
    /// `?mode=ro` opens read-only: reads work, writes fail with
    /// [`StorageError::Backend`].
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = Self::connect_options(url)?;
        let pool = if in_memory(url) {
            // Each connection to `:memory:` is its own database: keep exactly one, forever.
            Self::pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            Self::pool_options()
        };
        // A new file's first connections switch it to WAL, which needs the database to
        // itself: several processes starting at once on one new file can see SQLITE_BUSY there
        // without SQLite's busy handler being consulted. Try again for as long as a busy
        // timeout would have waited.
        let started = std::time::Instant::now();
        loop {
            match Self::connect_with(options.clone(), pool.clone()).await {
                Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// The connection settings [`connect`](Self::connect) uses for `url`: the file created if
    /// missing, foreign keys on, a 5-second busy timeout, a page cache of
    /// [`SQLITE_PAGE_CACHE_KIB`] per connection, and for a writable file WAL mode
    /// with `synchronous = NORMAL`. A host application that shares its pool with the storage
    /// ([`from_pool`](Self::from_pool)) builds the pool with these, so the storage's
    /// transactions wait for each other instead of failing with `SQLITE_BUSY`.
    pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, StorageError> {
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(error)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Negative: a size in KiB, not in pages.
            .pragma("cache_size", format!("-{SQLITE_PAGE_CACHE_KIB}"));
        // Switching to WAL writes the file header, which a read-only or in-memory database
        // cannot (or need not) do.
        if !in_memory(url) && !url.contains("mode=ro") {
            // In WAL mode, NORMAL syncs at checkpoints instead of at every commit: the database
            // cannot be corrupted, and only a power loss can undo the last commits. It makes a
            // write cost microseconds instead of an fsync.
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        Ok(options)
    }

    /// The default pool settings (8 connections, a 5-second acquire timeout), to adjust and
    /// pass to [`connect_with`](Self::connect_with).
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
    }

    /// This storage with its tables and indexes named `{prefix}users`, … instead of
    /// `referral_users`, …. The prefix is lowercase ASCII letters, digits and `_`, not
    /// starting with a digit, at most 32 characters; anything else is
    /// [`StorageError::InvalidNamespace`].
    pub fn with_table_prefix(self, prefix: &str) -> Result<Self, StorageError> {
        self.in_namespace(prefix)
    }

    /// The prefix of the storage's table and index names.
    pub fn table_prefix(&self) -> &str {
        self.namespace_name()
    }
}

/// Whether `error` is SQLite's "database is locked" (`SQLITE_BUSY`).
fn is_busy(error: &StorageError) -> bool {
    let StorageError::Unavailable(source) = error else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(|error| error.as_database_error())
        .and_then(|database| database.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// `"{prefix}{name}"`: SQLite has one namespace per database file, for tables and indexes.
fn prefixed(namespace: &Namespace, name: &str) -> String {
    format!("\"{}{name}\"", namespace.as_str())
}

impl Sealed for Sqlite {}

impl Dialect for Sqlite {
    const DEFAULT_NAMESPACE: &'static str = DEFAULT_TABLE_PREFIX;
    const NAMESPACE_KIND: &'static str = "table prefix";
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    // Writers are serialised by `BEGIN IMMEDIATE`: no row locks to take.
    const NAMING: Naming = Naming {
        table: prefixed,
        index: prefixed,
        lock_row: "",
        skip_locked: "",
    };
    const MIGRATIONS: &'static [Migration] = &[
        Migration {
            version: 20260301000000,
            description: "schema",
            sql: include_str!("../../migrations/sqlite/20260301000000_schema.sql"),
        },
        Migration {
            version: 20260310000000,
            description: "hardening",
            sql: include_str!("../../migrations/sqlite/20260310000000_hardening.sql"),
        },
        Migration {
            version: 20261202100000,
            description: "verification and reward lifecycle",
            sql: include_str!(
                "../../migrations/sqlite/20261202100000_verification_and_reward_lifecycle.sql"
            ),
        },
        Migration {
            version: 20261202200000,
            description: "vanity codes",
            sql: include_str!("../../migrations/sqlite/20261202200000_vanity_codes.sql"),
        },
        Migration {
            version: 20261202210000,
            description: "clicks",
            sql: include_str!("../../migrations/sqlite/20261202210000_clicks.sql"),
        },
        Migration {
            version: 20261202300000,
            description: "event deliveries",
            sql: include_str!("../../migrations/sqlite/20261202300000_event_deliveries.sql"),
        },
        Migration {
            version: 20261203100000,
            description: "roles",
            sql: include_str!("../../migrations/sqlite/20261203100000_roles.sql"),
        },
        Migration {
            version: 20261203200000,
            description: "referral hours",
            sql: include_str!("../../migrations/sqlite/20261203200000_referral_hours.sql"),
        },
    ];
    const LEGACY_MIGRATIONS: &'static [LegacyMigration] = &[LegacyMigration {
        version: 20260301000000,
        sqlx_checksum: "786c559fb2811a1adbe0af65d3d378ca95b877719df9205bbaa90a7ee26f940f\
                        8b5cd2a08a36c95d96905320294de538",
    }];
    // `BEGIN IMMEDIATE` holds the database's write lock: writers are serialised already.
    const SERIALISE_ACCESS_CHANGES: Option<&'static str> = None;
    const CREATE_BOOKKEEPING: &'static str = "CREATE TABLE {schema_migrations} (
        version     INTEGER NOT NULL PRIMARY KEY,
        description TEXT    NOT NULL,
        checksum    BLOB    NOT NULL CHECK (length(checksum) = 32),
        applied_at  INTEGER NOT NULL
    ) STRICT";

    /// SQLite's primary result codes (the low byte of the extended code) that may clear up:
    /// BUSY, LOCKED, IOERR, FULL, CANTOPEN.
    fn is_transient(code: &str) -> bool {
        code.parse::<i32>()
            .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 10 | 13 | 14))
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    async fn run_script<'c>(
        connection: &'c mut SqliteConnection,
        sql: &'c str,
    ) -> Result<(), StorageError> {
        connection
            .execute(sqlx::raw_sql(sql))
            .await
            .map_err(error)?;
        Ok(())
    }

    /// `BEGIN IMMEDIATE` already holds the database's write lock; a prefix needs no creating.
    async fn lock_namespace<'c>(
        _connection: &'c mut SqliteConnection,
        _namespace: &'c Namespace,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    async fn table_exists<'c>(
        connection: &'c mut SqliteConnection,
        namespace: Option<&'c Namespace>,
        table: &'c str,
    ) -> Result<bool, StorageError> {
        let name = match namespace {
            Some(namespace) => format!("{}{table}", namespace.as_str()),
            None => table.to_owned(),
        };
        let (found,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(name)
                .fetch_one(connection)
                .await
                .map_err(error)?;
        Ok(found > 0)
    }

    /// Renames each table (SQLite rewrites the foreign keys that name it) and, since SQLite
    /// cannot rename an index, drops the tables' indexes and creates them again under their
    /// prefixed names.
    async fn adopt_tables<'c>(
        connection: &'c mut SqliteConnection,
        renderer: &'c Renderer<'c>,
        tables: &'c [&'static str],
        index_statements: &'c [&'static str],
    ) -> Result<(), StorageError> {
        for table in tables {
            let indexes: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM sqlite_master \
                 WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
            )
            .bind(*table)
            .fetch_all(&mut *connection)
            .await
            .map_err(error)?;
            for (index,) in indexes {
                let drop = format!("DROP INDEX {}", quote_identifier(&index));
                connection
                    .execute(sqlx::raw_sql(&drop))
                    .await
                    .map_err(error)?;
            }
            let rename = format!(
                "ALTER TABLE {} RENAME TO {}",
                quote_identifier(table),
                renderer.table(table)
            );
            connection
                .execute(sqlx::raw_sql(&rename))
                .await
                .map_err(error)?;
        }
        for statement in index_statements {
            let create = renderer.render(statement);
            connection
                .execute(sqlx::raw_sql(&create))
                .await
                .map_err(error)?;
        }
        Ok(())
    }
}

fn error(error: sqlx::Error) -> StorageError {
    super::sql::storage_error(error, <Sqlite as Dialect>::is_transient)
}
