//! `SqliteStorage` against the storage contract and the session races, on a file and in
//! memory, and what only a file database has: creation from nothing, persistence, read-only
//! files.

use std::sync::Arc;

use referral_core::storage::{open, NewUser, SqliteStorage};
use referral_core::testing::{fixtures, ScratchSqlite, StorageUnderTest};
use referral_core::{Email, RateKey, Storage, StorageError};
use time::{Duration, OffsetDateTime};

/// A database file of its own, opened through `storage::open`; the file goes when the case
/// ends.
struct TempFileDatabase {
    storage: Arc<dyn Storage>,
    _file: ScratchSqlite,
}

impl StorageUnderTest for TempFileDatabase {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::clone(&self.storage))
    }
}

fn scratch() -> ScratchSqlite {
    ScratchSqlite::new().expect("a scratch directory")
}

async fn temp_file_database() -> TempFileDatabase {
    let file = scratch();
    let storage = open(file.url()).await.expect("opening a new SQLite file");
    TempFileDatabase {
        storage,
        _file: file,
    }
}

async fn in_memory() -> SqliteStorage {
    let storage = SqliteStorage::connect("sqlite::memory:")
        .await
        .expect("opening an in-memory SQLite database");
    storage.migrate().await.expect("migrating in memory");
    storage
}

mod file {
    referral_core::storage_contract_tests!(super::temp_file_database());

    mod session_races {
        referral_core::session_race_tests!(super::super::temp_file_database());
    }
}

mod memory {
    referral_core::storage_contract_tests!(super::in_memory());

    mod session_races {
        referral_core::session_race_tests!(super::super::in_memory());
    }
}

fn registration(address: &str) -> NewUser {
    let email = Email::parse(address).expect("a valid test address");
    let now = OffsetDateTime::now_utc();
    fixtures::registration(fixtures::user_record(email, fixtures::unusable_hash(), now))
}

#[tokio::test]
async fn open_creates_a_missing_file_and_its_data_survives_reopening() {
    let file = scratch();
    let path = file.path();
    assert!(!path.exists());
    let storage = open(file.url()).await.expect("opening a new file");
    assert!(path.exists(), "the database file is created");
    let new = registration("ada@example.com");
    storage.create_user(new.clone()).await.unwrap();
    drop(storage);

    let reopened = open(file.url()).await.expect("reopening the file");
    let found = reopened.user_by_email(&new.user.email).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(new.user.id));
}

#[tokio::test]
async fn a_read_only_database_answers_reads_and_refuses_writes_with_errors() {
    let file = scratch();
    let writable = open(file.url()).await.unwrap();
    let existing = registration("ada@example.com");
    writable.create_user(existing.clone()).await.unwrap();

    // Tests run as root, whom file permissions do not stop: open read-only instead.
    let read_only = SqliteStorage::connect(&format!("{}?mode=ro", file.url()))
        .await
        .expect("opening read-only");
    let found = read_only.user_by_email(&existing.user.email).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(existing.user.id));
    let refused = read_only
        .create_user(registration("grace@example.com"))
        .await;
    assert!(
        matches!(refused, Err(StorageError::Backend(_))),
        "a write to a read-only database is a backend error, got {refused:?}"
    );
    let now = OffsetDateTime::now_utc();
    assert!(read_only
        .hit_rate_limit(&RateKey::from_bytes([7; 32]), now, Duration::minutes(15))
        .await
        .is_err());
    assert!(read_only
        .rotate_refresh_token(
            &existing.refresh_token.hash,
            existing.refresh_token.clone(),
            now
        )
        .await
        .is_err());
    // Nothing was written through the read-only handle.
    let email = Email::parse("grace@example.com").unwrap();
    assert_eq!(writable.user_by_email(&email).await.unwrap(), None);
}

#[tokio::test]
async fn a_path_that_cannot_be_created_is_an_error_not_a_panic() {
    let file = scratch();
    let url = format!(
        "sqlite://{}",
        file.dir().join("missing-dir/referral.db").display()
    );
    assert!(open(&url).await.is_err());
}

#[tokio::test]
async fn every_pooled_connection_has_the_small_page_cache_and_wal() {
    let file = scratch();
    let storage = SqliteStorage::connect(file.url()).await.unwrap();
    // Hold several connections at once, so the pool opens more than one.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(storage.pool().acquire().await.unwrap());
    }
    for connection in &mut held {
        let cache_size: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        assert_eq!(
            cache_size,
            -i64::from(referral_core::storage::SQLITE_PAGE_CACHE_KIB)
        );
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **connection)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
    }
}
