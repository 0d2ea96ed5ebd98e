//! `SqliteStorage` against the storage contract, on a file and in memory, and what only a
//! file database has: creation from nothing, persistence, read-only files.

use std::sync::Arc;

use referral_core::storage::{open, NewUser, SqliteStorage};
use referral_core::testing::{fixtures, StorageUnderTest};
use referral_core::{Email, RateKey, Storage, StorageError};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// A database file in a temporary directory, opened through `storage::open`; the directory
/// goes when the case ends.
struct TempFileDatabase {
    storage: Arc<dyn Storage>,
    _dir: TempDir,
}

impl StorageUnderTest for TempFileDatabase {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::clone(&self.storage))
    }
}

fn file_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.path().join("referral.db").display())
}

async fn temp_file_database() -> TempFileDatabase {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let storage = open(&file_url(&dir))
        .await
        .expect("opening a new SQLite file");
    TempFileDatabase { storage, _dir: dir }
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
}

mod memory {
    referral_core::storage_contract_tests!(super::in_memory());
}

fn registration(address: &str) -> NewUser {
    let email = Email::parse(address).expect("a valid test address");
    let now = OffsetDateTime::now_utc();
    fixtures::registration(fixtures::user_record(email, fixtures::unusable_hash(), now))
}

#[tokio::test]
async fn open_creates_a_missing_file_and_its_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("referral.db");
    assert!(!path.exists());
    let storage = open(&file_url(&dir)).await.expect("opening a new file");
    assert!(path.exists(), "the database file is created");
    let new = registration("ada@example.com");
    storage.create_user(new.clone()).await.unwrap();
    drop(storage);

    let reopened = open(&file_url(&dir)).await.expect("reopening the file");
    let found = reopened.user_by_email(&new.user.email).await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(new.user.id));
}

#[tokio::test]
async fn a_read_only_database_answers_reads_and_refuses_writes_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let writable = open(&file_url(&dir)).await.unwrap();
    let existing = registration("ada@example.com");
    writable.create_user(existing.clone()).await.unwrap();

    // Tests run as root, whom file permissions do not stop: open read-only instead.
    let read_only = SqliteStorage::connect(&format!("{}?mode=ro", file_url(&dir)))
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
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("missing-dir/referral.db").display()
    );
    assert!(open(&url).await.is_err());
}
