//! [`ScratchSqlite`]: a SQLite database file of its own for one test, removed after it.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use crate::storage::{SqliteStorage, StorageError};

/// A directory of its own under the system's temporary directory, holding one database
/// file (not created until something opens it), removed with everything in it (the WAL and
/// shared-memory files too) when this is dropped.
#[derive(Debug)]
pub struct ScratchSqlite {
    dir: PathBuf,
    url: String,
}

impl ScratchSqlite {
    /// A new directory; the database file in it does not exist yet.
    pub fn new() -> Result<Self, StorageError> {
        let dir = std::env::temp_dir().join(format!("referral-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(StorageError::backend)?;
        let url = format!("sqlite://{}", dir.join("app.db").display());
        Ok(ScratchSqlite { dir, url })
    }

    /// The database's URL (`sqlite://…/app.db`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("app.db")
    }

    /// The directory holding the file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A pool on the file with the settings [`SqliteStorage::connect`] uses, as a host
    /// application sharing its database would build it.
    pub async fn pool(&self) -> Result<SqlitePool, StorageError> {
        SqliteStorage::pool_options()
            .connect_with(SqliteStorage::connect_options(&self.url)?)
            .await
            .map_err(StorageError::unavailable)
    }
}

impl Drop for ScratchSqlite {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {e}", self.dir.display());
        }
    }
}
