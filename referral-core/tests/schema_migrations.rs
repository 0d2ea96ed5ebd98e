//! The library's own migrator and namespaces, on SQLite and PostgreSQL: every table in the
//! namespace, bookkeeping of its own (never sqlx's), migrations applied once however many
//! instances start at once, and a database it cannot trust refused before anything changes.

use std::sync::Arc;

use referral_core::storage::{
    PostgresStorage, SqliteStorage, DEFAULT_SCHEMA, DEFAULT_TABLE_PREFIX,
};
use referral_core::testing::{fixtures, ScratchPostgres, ScratchSqlite};
use referral_core::{Email, Storage, StorageError};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use time::OffsetDateTime;
use tokio::task::JoinSet;

fn sqlite_file() -> ScratchSqlite {
    ScratchSqlite::new().expect("a scratch directory")
}

async fn sqlite_pool(file: &ScratchSqlite) -> SqlitePool {
    file.pool().await.expect("a pool on the file")
}

async fn migrated_sqlite(url: &str) -> SqliteStorage {
    let storage = SqliteStorage::connect(url).await.expect("opening the file");
    storage.migrate().await.expect("migrating");
    storage
}

async fn registers(storage: &dyn Storage, tag: &str) -> bool {
    let email = Email::parse(&format!("{tag}@example.com")).unwrap();
    let user = fixtures::user_record(
        email.clone(),
        fixtures::unusable_hash(),
        OffsetDateTime::now_utc(),
    );
    storage
        .create_user(fixtures::registration(user))
        .await
        .expect("registering");
    storage.user_by_email(&email).await.unwrap().is_some()
}

/// Two storages in two namespaces of one database: a user of one is no user of the other,
/// so the same email registers in both.
async fn kept_apart(first: &dyn Storage, second: &dyn Storage) {
    assert!(registers(first, "ada").await);
    let ada = Email::parse("ada@example.com").unwrap();
    assert_eq!(second.user_by_email(&ada).await.unwrap(), None);
    assert!(
        registers(second, "ada").await,
        "the same email, another namespace"
    );
}

fn assert_incompatible(result: Result<(), StorageError>, says: &str) {
    match result {
        Err(StorageError::IncompatibleSchema(message)) => {
            assert!(message.contains(says), "{message:?} does not say {says:?}")
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces.

#[test]
fn a_namespace_that_is_not_a_plain_identifier_is_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let sqlite = || SqliteStorage::from_pool(SqlitePool::connect_lazy("sqlite::memory:").unwrap());
    let postgres = || {
        PostgresStorage::from_pool(
            PostgresStorage::pool_options()
                .connect_lazy("postgres://nobody@127.0.0.1:1/none")
                .unwrap(),
        )
    };
    for bad in [
        "",
        "Auth",
        "2fa",
        "auth-x",
        "auth.users",
        "a\"b",
        "ünï",
        &"a".repeat(33),
    ] {
        assert!(
            matches!(
                sqlite().with_table_prefix(bad),
                Err(StorageError::InvalidNamespace(_))
            ),
            "prefix {bad:?}"
        );
        assert!(
            matches!(
                postgres().with_schema(bad),
                Err(StorageError::InvalidNamespace(_))
            ),
            "schema {bad:?}"
        );
    }
    let Err(StorageError::InvalidNamespace(reserved)) = postgres().with_schema("pg_auth") else {
        panic!("pg_auth was accepted");
    };
    assert!(reserved.contains("reserved"), "{reserved}");
    assert_eq!(sqlite().table_prefix(), DEFAULT_TABLE_PREFIX);
    assert_eq!(postgres().schema(), DEFAULT_SCHEMA);
    assert_eq!(
        sqlite()
            .with_table_prefix("app_auth_2")
            .unwrap()
            .table_prefix(),
        "app_auth_2"
    );
}

#[tokio::test]
async fn every_sqlite_table_and_index_carries_the_prefix() {
    let file = sqlite_file();
    migrated_sqlite(file.url()).await;
    let pool = sqlite_pool(&file).await;
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(names.len() > 8, "{names:?}");
    for (name,) in names {
        assert!(name.starts_with("referral_"), "{name}");
    }
}

#[tokio::test]
async fn postgres_tables_live_in_the_schema_and_nothing_in_public() {
    let Some(scratch) = ScratchPostgres::create_migrated().await else {
        return;
    };
    let pool = PgPool::connect(scratch.url()).await.unwrap();
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT schemaname::text, COUNT(*) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') GROUP BY schemaname",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(counts.len(), 1, "one schema holds every table: {counts:?}");
    assert_eq!(counts[0].0, "referral");
}

#[tokio::test]
async fn two_namespaces_in_one_sqlite_file_are_two_storages() {
    let file = sqlite_file();
    let pool = sqlite_pool(&file).await;
    let first = SqliteStorage::from_pool(pool.clone());
    let second = SqliteStorage::from_pool(pool.clone())
        .with_table_prefix("tenant_b_")
        .unwrap();
    first.migrate().await.unwrap();
    second.migrate().await.unwrap();
    kept_apart(&first, &second).await;
}

#[tokio::test]
async fn two_schemas_in_one_postgres_database_are_two_storages() {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    let first = scratch.storage();
    let second = scratch.storage().with_schema("tenant_b").unwrap();
    first.migrate().await.unwrap();
    second.migrate().await.unwrap();
    kept_apart(&first, &second).await;
}

#[tokio::test]
async fn a_hosts_pool_built_from_connect_options_has_the_storage_settings() {
    let file = sqlite_file();
    let pool = sqlite_pool(&file).await;
    let (journal,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (foreign_keys,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (busy_timeout,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (journal.as_str(), foreign_keys, busy_timeout, synchronous),
        ("wal", 1, 5_000, 1)
    );
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping.

/// The versions of the migrations shipped for `backend`, oldest first, read from the file
/// names in `migrations/<backend>` (so a new migration needs no edit here).
fn shipped_versions(backend: &str) -> Vec<i64> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut versions: Vec<i64> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let (version, _) = name.split_once('_').unwrap();
            version.parse().unwrap()
        })
        .collect();
    versions.sort_unstable();
    assert!(
        versions.len() >= 2,
        "migrations found in {}",
        folder.display()
    );
    versions
}

#[tokio::test]
async fn sqlite_migrations_are_ours_alone_and_applied_once() {
    let file = sqlite_file();
    let storage = migrated_sqlite(file.url()).await;
    let pool = sqlite_pool(&file).await;
    let before: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, applied_at FROM referral_schema_migrations ORDER BY version",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        before.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        shipped_versions("sqlite")
    );
    storage.migrate().await.unwrap();
    migrated_sqlite(file.url()).await;
    let after: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, applied_at FROM referral_schema_migrations ORDER BY version",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(before, after, "migrating again changes nothing");
    let (sqlx_tables,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sqlx_tables, 0, "sqlx's bookkeeping is never created");
}

/// Six instances start at once, each connecting and migrating.
async fn six_instances_start_at_once<F, Fut>(start: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError>> + Send + 'static,
{
    let mut starting = JoinSet::new();
    for _ in 0..6 {
        starting.spawn(start());
    }
    while let Some(started) = starting.join_next().await {
        started.unwrap().expect("every instance starts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_instances_starting_at_once_apply_each_migration_once() {
    let file = sqlite_file();
    six_instances_start_at_once(|| {
        let url = file.url().to_owned();
        async move { SqliteStorage::connect(&url).await?.migrate().await }
    })
    .await;
    let pool = sqlite_pool(&file).await;
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM referral_schema_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, shipped_versions("sqlite").len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_instances_starting_at_once_apply_each_migration_once() {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    six_instances_start_at_once(|| {
        let url = scratch.url().to_owned();
        async move { PostgresStorage::connect(&url).await?.migrate().await }
    })
    .await;
    let pool = PgPool::connect(scratch.url()).await.unwrap();
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM referral.schema_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        versions.into_iter().map(|(v,)| v).collect::<Vec<_>>(),
        shipped_versions("postgres")
    );
    let (sqlx_tables,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pg_tables WHERE tablename = '_sqlx_migrations'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sqlx_tables, 0, "sqlx's bookkeeping is never created");
}

#[tokio::test]
async fn a_migration_changed_since_it_was_applied_is_refused() {
    let file = sqlite_file();
    let storage = migrated_sqlite(file.url()).await;
    let pool = sqlite_pool(&file).await;
    sqlx::query(
        "UPDATE referral_schema_migrations SET checksum = zeroblob(32) \
         WHERE version = 20260301000000",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_incompatible(storage.migrate().await, "migration 20260301000000 (schema)");
    assert_incompatible(
        referral_core::storage::open(file.url()).await.map(|_| ()),
        "other text",
    );
}

#[tokio::test]
async fn a_database_a_newer_version_migrated_is_refused_and_left_alone() {
    let Some(scratch) = ScratchPostgres::create_migrated().await else {
        return;
    };
    let pool = PgPool::connect(scratch.url()).await.unwrap();
    sqlx::query(
        "INSERT INTO referral.schema_migrations (version, description, checksum, applied_at) \
         VALUES (29990101000000, 'from the future', decode(repeat('00', 32), 'hex'), 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_incompatible(scratch.storage().migrate().await, "newer version");
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM referral.schema_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        shipped_versions("postgres").len() as i64 + 1,
        "nothing was changed"
    );
    let storage: Arc<dyn Storage> = Arc::new(scratch.storage());
    assert!(storage.ping().await.is_ok());
}
