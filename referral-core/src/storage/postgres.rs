//! `PostgresStorage`: for several server instances sharing one database, and for scale. What
//! is PostgreSQL's own: the pool defaults, the schema, row locks, advisory locks for the
//! migrator, its migrations, error codes and catalog.

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions, PgQueryResult};
use sqlx::{Executor, Postgres};

use super::sql::{
    is_plain_identifier, lock_key, quote_identifier, Dialect, LegacyMigration, Migration,
    Namespace, Naming, Renderer, Sealed, SqlStorage,
};
use super::{StorageError, UserChangeSink};

/// How long a call waits for a pooled connection, including opening one: past it, a dead
/// or unreachable server is reported as [`StorageError::Unavailable`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Default pool size.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The schema unless another is given.
pub const DEFAULT_SCHEMA: &str = "referral";
const _: () = assert!(is_plain_identifier(DEFAULT_SCHEMA));

/// [`Storage`](super::Storage) on PostgreSQL through a sqlx pool.
///
/// Calls fail with [`StorageError::Unavailable`] within 5 seconds while the server
/// is down; the pool replaces broken connections, so the storage recovers by itself when the
/// server returns. Clones share the pool.
///
/// Every table lives in a schema of its own, `referral` unless
/// [`with_schema`](SqlStorage::with_schema) says otherwise, created by
/// [`migrate`](SqlStorage::migrate) if missing (which then needs the `CREATE` privilege on the
/// database; create the schema beforehand otherwise): the database can be the host
/// application's own, beside its tables and its sqlx migrations.
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
///
/// On the host application's pool, in a schema of the host's choosing:
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), referral_core::StorageError> {
/// use referral_core::storage::PostgresStorage;
/// let storage = PostgresStorage::from_pool(pool).with_schema("auth")?;
/// storage.migrate().await?;
/// # Ok(()) }
/// ```
pub type PostgresStorage = SqlStorage<Postgres>;

impl SqlStorage<Postgres> {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with the default
    /// pool and schema. Run [`migrate`](Self::migrate) before use (or use
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

    /// This storage with its tables in the schema `schema` instead of `referral`. The name is
    /// lowercase ASCII letters, digits and `_`, not starting with a digit or `pg_`, at most 32
    /// characters; anything else is [`StorageError::InvalidNamespace`].
    pub fn with_schema(self, schema: &str) -> Result<Self, StorageError> {
        self.in_namespace(schema)
    }

    /// The schema holding the storage's tables.
    pub fn schema(&self) -> &str {
        self.namespace_name()
    }
}

/// `"schema".name`; indexes are named bare, since PostgreSQL creates them in their table's
/// schema.
fn in_schema(namespace: &Namespace, table: &str) -> String {
    format!("{}.{table}", quote_identifier(namespace.as_str()))
}

fn bare(_namespace: &Namespace, index: &str) -> String {
    index.to_owned()
}

/// The advisory lock migrators of one schema take: a key derived from the schema's name.
fn migration_lock_key(namespace: &Namespace) -> i64 {
    lock_key("migrations", namespace)
}

impl Sealed for Postgres {}

impl Dialect for Postgres {
    const DEFAULT_NAMESPACE: &'static str = DEFAULT_SCHEMA;
    const NAMESPACE_KIND: &'static str = "schema";
    const BEGIN: &'static str = "BEGIN";
    const NAMING: Naming = Naming {
        table: in_schema,
        index: bare,
        // Locks the user's row without blocking inserts that reference it.
        lock_row: " FOR NO KEY UPDATE",
        skip_locked: " FOR UPDATE SKIP LOCKED",
    };
    const MIGRATIONS: &'static [Migration] = &[
        Migration {
            version: 20260301000000,
            description: "schema",
            sql: include_str!("../../migrations/postgres/20260301000000_schema.sql"),
        },
        Migration {
            version: 20260302000000,
            description: "users fillfactor",
            sql: include_str!("../../migrations/postgres/20260302000000_users_fillfactor.sql"),
        },
        Migration {
            version: 20260310000000,
            description: "hardening",
            sql: include_str!("../../migrations/postgres/20260310000000_hardening.sql"),
        },
        Migration {
            version: 20261202100000,
            description: "verification and reward lifecycle",
            sql: include_str!(
                "../../migrations/postgres/20261202100000_verification_and_reward_lifecycle.sql"
            ),
        },
        Migration {
            version: 20261202200000,
            description: "vanity codes",
            sql: include_str!("../../migrations/postgres/20261202200000_vanity_codes.sql"),
        },
        Migration {
            version: 20261202210000,
            description: "clicks",
            sql: include_str!("../../migrations/postgres/20261202210000_clicks.sql"),
        },
        Migration {
            version: 20261202300000,
            description: "event deliveries",
            sql: include_str!("../../migrations/postgres/20261202300000_event_deliveries.sql"),
        },
        Migration {
            version: 20261203100000,
            description: "roles",
            sql: include_str!("../../migrations/postgres/20261203100000_roles.sql"),
        },
        Migration {
            version: 20261203200000,
            description: "referral hours",
            sql: include_str!("../../migrations/postgres/20261203200000_referral_hours.sql"),
        },
        Migration {
            version: 20261203200001,
            description: "user change notifications",
            sql: include_str!(
                "../../migrations/postgres/20261203200001_user_change_notifications.sql"
            ),
        },
    ];
    const LEGACY_MIGRATIONS: &'static [LegacyMigration] = &[
        LegacyMigration {
            version: 20260301000000,
            sqlx_checksum: "b30764137757fcb3740ac7b7f46386da5e040ca0bc95f36b436931ebacdc63da\
                            cbd6f7f6b6c8d0db715f77796af60a4b",
        },
        LegacyMigration {
            version: 20260302000000,
            sqlx_checksum: "357fb6e23dddc6e4df049759205dfe8e892704e2bafa1457a2bd9969ad383045\
                            a0f9953c15d3ca30f7d59081cfe7b47f",
        },
    ];
    // A transaction-scoped advisory lock rather than row locks on the admins: a registration
    // locks its referrer's and their referrer's rows in tree order, so any change that locked
    // several user rows in another order could deadlock with it; one lock taken before any
    // row is never part of a cycle.
    const SERIALISE_ACCESS_CHANGES: Option<&'static str> = Some("SELECT pg_advisory_xact_lock($1)");
    const CREATE_BOOKKEEPING: &'static str = "CREATE TABLE {schema_migrations} (
        version     BIGINT NOT NULL PRIMARY KEY,
        description TEXT   NOT NULL,
        checksum    BYTEA  NOT NULL CHECK (octet_length(checksum) = 32),
        applied_at  BIGINT NOT NULL
    )";

    /// SQLSTATE classes that may clear up: connection exceptions (08), transaction rollbacks
    /// such as serialization failures and deadlocks (40), insufficient resources (53), and
    /// operator intervention such as a shutdown or a cancelled statement (57).
    fn is_transient(code: &str) -> bool {
        ["08", "40", "53", "57"]
            .iter()
            .any(|class| code.starts_with(class))
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn check_namespace(namespace: &Namespace) -> Result<(), StorageError> {
        if namespace.as_str().starts_with("pg_") {
            return Err(StorageError::InvalidNamespace(format!(
                "schema {:?}: names starting with `pg_` are reserved by PostgreSQL",
                namespace.as_str()
            )));
        }
        Ok(())
    }

    async fn run_script<'c>(
        connection: &'c mut PgConnection,
        sql: &'c str,
    ) -> Result<(), StorageError> {
        connection
            .execute(sqlx::raw_sql(sql))
            .await
            .map_err(error)?;
        Ok(())
    }

    /// An advisory lock held until the transaction ends, then the schema, created only when
    /// missing (creating needs a privilege that using an existing schema does not).
    async fn lock_namespace<'c>(
        connection: &'c mut PgConnection,
        namespace: &'c Namespace,
    ) -> Result<(), StorageError> {
        connection
            .execute(
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(migration_lock_key(namespace)),
            )
            .await
            .map_err(error)?;
        let (found,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM pg_catalog.pg_namespace WHERE nspname = $1")
                .bind(namespace.as_str())
                .fetch_one(&mut *connection)
                .await
                .map_err(error)?;
        if found == 0 {
            let create = format!("CREATE SCHEMA {}", quote_identifier(namespace.as_str()));
            connection
                .execute(sqlx::raw_sql(&create))
                .await
                .map_err(error)?;
        }
        Ok(())
    }

    async fn table_exists<'c>(
        connection: &'c mut PgConnection,
        namespace: Option<&'c Namespace>,
        table: &'c str,
    ) -> Result<bool, StorageError> {
        let (found,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_catalog.pg_tables \
             WHERE schemaname = COALESCE($1, current_schema()) AND tablename = $2",
        )
        .bind(namespace.map(Namespace::as_str))
        .bind(table)
        .fetch_one(connection)
        .await
        .map_err(error)?;
        Ok(found > 0)
    }

    /// Moves each table from the current schema into the namespace; its indexes,
    /// constraints and storage settings go with it.
    async fn adopt_tables<'c>(
        connection: &'c mut PgConnection,
        renderer: &'c Renderer<'c>,
        tables: &'c [&'static str],
        _index_statements: &'c [&'static str],
    ) -> Result<(), StorageError> {
        let (source,): (String,) = sqlx::query_as("SELECT current_schema()::text")
            .fetch_one(&mut *connection)
            .await
            .map_err(error)?;
        let target = renderer.namespace.as_str();
        if source == target {
            return Ok(());
        }
        for table in tables {
            let move_table = format!(
                "ALTER TABLE {}.{} SET SCHEMA {}",
                quote_identifier(&source),
                quote_identifier(table),
                quote_identifier(target)
            );
            connection
                .execute(sqlx::raw_sql(&move_table))
                .await
                .map_err(error)?;
        }
        Ok(())
    }

    fn watch_users(
        pool: &sqlx::PgPool,
        namespace: &Namespace,
        sink: Weak<dyn UserChangeSink>,
    ) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        runtime.spawn(listen_for_user_changes(
            pool.clone(),
            user_change_channel(namespace),
            sink,
        ));
        true
    }
}

fn error(error: sqlx::Error) -> StorageError {
    super::sql::storage_error(error, <Postgres as Dialect>::is_transient)
}

/// The channel the users trigger notifies (migration `20261203200001`): the schema's name
/// then `.users_changed`, so storages in different schemas of one database hear only their own.
fn user_change_channel(namespace: &Namespace) -> String {
    format!("{}.users_changed", namespace.as_str())
}

/// How long the listener waits between checks that anyone still listens, and before
/// reconnecting after a failure.
const LISTEN_POLL: Duration = Duration::from_secs(1);

/// Forwards the users trigger's notifications to `sink` until it is dropped. Every
/// (re)connection reports [`UserChangeSink::changes_lost`]: notifications sent while no
/// connection listened are gone.
async fn listen_for_user_changes(
    pool: sqlx::PgPool,
    channel: String,
    sink: Weak<dyn UserChangeSink>,
) {
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(live) = sink.upgrade() else {
            return;
        };
        let current = match listener.as_mut() {
            Some(current) => current,
            None => {
                let connected = async {
                    let mut connected = PgListener::connect_with(&pool).await?;
                    connected.listen(&channel).await?;
                    Ok::<_, sqlx::Error>(connected)
                }
                .await;
                live.changes_lost();
                match connected {
                    Ok(connected) => listener.insert(connected),
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for user changes; cached users expire by their TTL meanwhile");
                        drop(live);
                        tokio::time::sleep(LISTEN_POLL).await;
                        continue;
                    }
                }
            }
        };
        drop(live);
        let received = tokio::time::timeout(LISTEN_POLL, current.try_recv()).await;
        let Some(live) = sink.upgrade() else {
            return;
        };
        match received {
            // Nothing within the poll: check the sink still lives, and wait again.
            Err(_) => {}
            Ok(Ok(Some(notification))) => match uuid::Uuid::parse_str(notification.payload()) {
                Ok(user) => live.user_changed(user),
                Err(_) => live.changes_lost(),
            },
            // The connection was lost; the next call reconnects.
            Ok(Ok(None)) => live.changes_lost(),
            Ok(Err(error)) => {
                tracing::warn!(%error, "listening for user changes failed; reconnecting");
                live.changes_lost();
                listener = None;
                drop(live);
                tokio::time::sleep(LISTEN_POLL).await;
            }
        }
    }
}
