//! `open`: a storage chosen by a database URL, as apps configured by `DATABASE_URL` need.

use std::sync::Arc;

use super::{Storage, StorageError};

/// Opens the storage a database URL names and brings its schema up to date.
///
/// - `sqlite:…` (feature `sqlite`): `sqlite://referral.db` (created if missing),
///   `sqlite::memory:`.
/// - `postgres:…` or `postgresql:…` (feature `postgres`):
///   `postgres://user:password@host:5432/database`.
///
/// The tables go in the default namespace (PostgreSQL schema `referral`, SQLite prefix
/// `referral_`), beside whatever else the database holds; for another, build the storage
/// (`PostgresStorage::connect(url)?.with_schema("auth")?`, or `with_table_prefix` on SQLite)
/// and call its `migrate`. A database a previous version created, with our tables unqualified
/// and sqlx's bookkeeping, is adopted into the namespace with its data.
///
/// Fails with [`StorageError::UnsupportedUrl`] for another scheme or a backend whose feature
/// is off, [`StorageError::Unavailable`] when the database cannot be reached,
/// [`StorageError::IncompatibleSchema`] when a newer version of the library migrated it.
///
/// ```no_run
/// # async fn demo() -> Result<(), referral_core::StorageError> {
/// let storage = referral_core::storage::open("sqlite://referral.db").await?;
/// # let _ = storage; Ok(()) }
/// ```
pub async fn open(database_url: &str) -> Result<Arc<dyn Storage>, StorageError> {
    // Only the scheme is ever echoed back: the rest may hold a password.
    let scheme = database_url
        .split_once(':')
        .map(|(scheme, _)| scheme.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let storage = super::SqliteStorage::connect(database_url).await?;
            storage.migrate().await?;
            Ok(Arc::new(storage))
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let storage = super::PostgresStorage::connect(database_url).await?;
            storage.migrate().await?;
            Ok(Arc::new(storage))
        }
        "" => Err(StorageError::UnsupportedUrl(
            "a database URL starts with `sqlite:` or `postgres:`".into(),
        )),
        other => Err(StorageError::UnsupportedUrl(
            match FEATURES.iter().find(|(scheme, _)| *scheme == other) {
                Some((_, feature)) => {
                    format!("`{other}:` URLs need the `{feature}` feature of referral-core")
                }
                None => format!("scheme `{other}:` is not supported; use `sqlite:` or `postgres:`"),
            },
        )),
    }
}

/// The schemes `open` knows, and the cargo feature each needs.
const FEATURES: [(&str, &str); 3] = [
    ("sqlite", "sqlite"),
    ("postgres", "postgres"),
    ("postgresql", "postgres"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_without_echoing_the_url() {
        let Err(error) = open("mysql://root:hunter2@localhost/app").await else {
            panic!("a mysql URL was accepted");
        };
        assert!(matches!(error, StorageError::UnsupportedUrl(_)));
        assert!(error.to_string().contains("mysql"));
        assert!(!error.to_string().contains("hunter2"));
        assert!(matches!(
            open("referral.db").await,
            Err(StorageError::UnsupportedUrl(_))
        ));
    }
}
