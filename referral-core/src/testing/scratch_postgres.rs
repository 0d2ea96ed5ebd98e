//! [`ScratchPostgres`]: a PostgreSQL database created for one test (or benchmark) and
//! dropped after it, on the server `REFERRAL_TEST_POSTGRES_URL` names.

use std::str::FromStr;
use std::sync::{Arc, Once};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::StorageUnderTest;
use crate::storage::{PostgresStorage, Storage, StorageError};

/// The variable naming the PostgreSQL server tests use, for example
/// `postgres://postgres@127.0.0.1:5432/test` (its database is where scratch databases are
/// created from).
pub const POSTGRES_URL_VARIABLE: &str = "REFERRAL_TEST_POSTGRES_URL";

/// A database of its own for one test, created on the server [`POSTGRES_URL_VARIABLE`]
/// names and dropped (`WITH (FORCE)`, closing any connection left) when this is dropped.
///
/// [`create`](Self::create) answers `None` when the variable is unset (saying so once on
/// stdout), so a test can skip: `let Some(db) = ScratchPostgres::create().await else { return };`.
/// It implements [`StorageUnderTest`] with its (migrated, for
/// [`create_migrated`](Self::create_migrated)) storage, for the storage contract:
///
/// ```ignore
/// use referral_core::testing::ScratchPostgres;
/// referral_core::storage_contract_tests!(ScratchPostgres::create_migrated());
/// ```
#[derive(Debug)]
pub struct ScratchPostgres {
    // Boxed: connect options are large, and guards like this one sit in enums beside small
    // variants (clippy's `large_enum_variant`).
    server: Box<PgConnectOptions>,
    name: String,
    url: String,
    storage: PostgresStorage,
}

impl ScratchPostgres {
    /// A new, empty database, or `None` when [`POSTGRES_URL_VARIABLE`] is unset.
    ///
    /// # Panics
    ///
    /// When the variable is set but the server cannot be used: a test should fail then,
    /// not pass quietly.
    pub async fn create() -> Option<Self> {
        let server_url = server_url()?;
        let server = PgConnectOptions::from_str(&server_url)
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VARIABLE} is not a PostgreSQL URL: {e}"));
        let name = format!("referral_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .unwrap_or_else(|e| panic!("connecting to {POSTGRES_URL_VARIABLE}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating scratch database {name}: {e}"));
        admin.close().await.ok();
        let options = server.clone().database(&name);
        let storage =
            PostgresStorage::from_pool(PostgresStorage::pool_options().connect_lazy_with(options));
        Some(ScratchPostgres {
            url: with_database(&server_url, &name),
            server: Box::new(server),
            name,
            storage,
        })
    }

    /// A new database with the library's tables migrated in (default schema), or `None`
    /// when [`POSTGRES_URL_VARIABLE`] is unset.
    ///
    /// # Panics
    ///
    /// As [`create`](Self::create), and when migrating fails.
    pub async fn create_migrated() -> Option<Self> {
        let scratch = Self::create().await?;
        if let Err(e) = scratch.storage.migrate().await {
            panic!("migrating scratch database {}: {e}", scratch.name);
        }
        Some(scratch)
    }

    /// The database's URL (the server's, with the database name replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection options for the database.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::clone(&self.server).database(&self.name)
    }

    /// A storage on the database (default pool and schema; clones share one pool).
    pub fn storage(&self) -> PostgresStorage {
        self.storage.clone()
    }
}

impl StorageUnderTest for ScratchPostgres {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::new(self.storage.clone()))
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        let (server, name) = (PgConnectOptions::clone(&self.server), self.name.clone());
        // Drop cannot await: drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(StorageError::backend)?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect_with(&server)
                    .await
                    .map_err(StorageError::backend)?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(StorageError::backend)?;
                admin.close().await.map_err(StorageError::backend)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop scratch database {}", self.name);
        }
    }
}

/// The server's URL, or `None` (said once) when the variable is unset or blank.
fn server_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                println!("{POSTGRES_URL_VARIABLE} not set; skipping PostgreSQL tests")
            });
            None
        }
    }
}

/// `server_url` with its database name replaced by `name` (query parameters kept).
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut url = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://u:p@host:5432/test", "x"),
            "postgres://u:p@host:5432/x"
        );
        assert_eq!(
            with_database("postgresql://host/test?sslmode=disable", "x"),
            "postgresql://host/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://host", "x"), "postgres://host/x");
    }
}
