//! How sqlx errors become [`StorageError`]s: unique violations on the users table name what
//! was taken, connection trouble is `Unavailable` (answered 503, may succeed later), the rest
//! is `Backend`.

use sqlx::error::{DatabaseError, ErrorKind};

use crate::storage::StorageError;

/// Whether a backend's error code means "try again later" (busy, locked, shut down…).
pub(crate) type TransientCode = fn(&str) -> bool;

/// Maps any sqlx error.
pub(crate) fn storage_error(error: sqlx::Error, transient: TransientCode) -> StorageError {
    let unavailable = match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| transient(&code)),
        _ => false,
    };
    if unavailable {
        StorageError::unavailable(error)
    } else {
        StorageError::backend(error)
    }
}

/// Maps an error from inserting a user: a taken email or referral code is named.
pub(crate) fn registration_error(error: sqlx::Error, transient: TransientCode) -> StorageError {
    if let sqlx::Error::Database(database) = &error {
        if database.kind() == ErrorKind::UniqueViolation {
            match taken_column(database.as_ref()) {
                Some(TakenColumn::Email) => return StorageError::EmailTaken,
                Some(TakenColumn::ReferralCode) => return StorageError::ReferralCodeTaken,
                None => {}
            }
        }
    }
    storage_error(error, transient)
}

enum TakenColumn {
    Email,
    ReferralCode,
}

/// PostgreSQL names the constraint (named in the migrations); SQLite only says
/// "UNIQUE constraint failed: users.email".
fn taken_column(error: &dyn DatabaseError) -> Option<TakenColumn> {
    let constraint = error.constraint();
    let message = error.message();
    let is = |name: &str, column: &str| constraint == Some(name) || message.ends_with(column);
    if is("users_email_key", "users.email") {
        Some(TakenColumn::Email)
    } else if is("users_referral_code_key", "users.referral_code")
        || is("referral_codes_pkey", "referral_codes.code_key")
    {
        Some(TakenColumn::ReferralCode)
    } else {
        None
    }
}
