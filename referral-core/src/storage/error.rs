//! `StorageError`: what a storage backend can report.

/// A boxed source error from a backend driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a [`Storage`](super::Storage) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The normalised email is already registered.
    #[error("email is already registered")]
    EmailTaken,
    /// The new user's referral code belongs to someone else (the engine draws another).
    #[error("referral code is already taken")]
    ReferralCodeTaken,
    /// The change would leave no enabled user holding the `admin` role; nothing was
    /// written.
    #[error("the last admin cannot be removed or disabled")]
    LastAdmin,
    /// The backend cannot be reached (connection refused, timed out, pool exhausted); the
    /// call may succeed later. Answered as `503 unavailable`.
    #[error("storage is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The backend refused the operation for another reason (a bug, a schema mismatch, a
    /// read-only database).
    #[error("storage operation failed: {0}")]
    Backend(#[source] BoxError),
    /// A stored value could not be read back (corrupt or foreign data).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A database URL names no backend this build supports (another scheme, or a backend
    /// whose cargo feature is off).
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// A namespace given for the library's tables (a PostgreSQL schema, an SQLite table
    /// prefix) is not a plain lowercase identifier.
    #[error("invalid storage namespace: {0}")]
    InvalidNamespace(String),
    /// The database holds a schema this build cannot use: a migration applied to it differs
    /// from the one embedded here, or a newer version of the library migrated it.
    #[error("incompatible database schema: {0}")]
    IncompatibleSchema(String),
}

impl StorageError {
    /// An `Unavailable` error from any error value.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        StorageError::Unavailable(source.into())
    }

    /// A `Backend` error from any error value.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        StorageError::Backend(source.into())
    }
}
