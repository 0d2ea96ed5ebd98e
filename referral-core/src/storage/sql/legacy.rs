//! Adopting a database the previous versions created: their tables unqualified (PostgreSQL's
//! current schema, SQLite's main database), their migrations in sqlx's `_sqlx_migrations`.
//!
//! Such a database is recognised when our bookkeeping table is missing, `_sqlx_migrations`
//! holds one of our migrations under its version *and* sqlx's checksum of our file (a host
//! migration that happens to share a version never matches), and all our tables are there.
//! The migrator then moves the tables into the namespace (PostgreSQL: `SET SCHEMA`, indexes
//! and constraints follow; SQLite: renamed, which rewrites foreign keys, and indexes
//! re-created under their namespaced names), records the migrations in our bookkeeping,
//! deletes our rows from `_sqlx_migrations` and drops it when nothing else is left in it — all
//! in the transaction of the first migration, so it happens completely or not at all. The data
//! stays where it is.

use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::dialect::Dialect;
use super::error;
use super::migrate::Migration;
use super::namespace::Renderer;
use crate::storage::StorageError;

/// The tables the previous versions created, parents before children.
pub(crate) const TABLES: [&str; 8] = [
    "users",
    "referrals",
    "referral_days",
    "reward_ledger",
    "refresh_tokens",
    "reset_tokens",
    "rate_limits",
    "outbox",
];

/// sqlx's bookkeeping table, where the previous versions' migrations are recorded.
const SQLX_MIGRATIONS: &str = "_sqlx_migrations";

/// The migrations of ours a previous version recorded in `_sqlx_migrations`, when this is a
/// database it created and nothing has adopted it yet (the caller checked our bookkeeping is
/// missing); otherwise none.
pub(crate) async fn find<DB>(
    tx: &mut Transaction<'static, DB>,
) -> Result<Vec<&'static Migration>, StorageError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
{
    if !DB::table_exists(&mut **tx, None, SQLX_MIGRATIONS).await? {
        return Ok(Vec::new());
    }
    let recorded: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut **tx)
            .await
            .map_err(error::<DB>)?;
    let ours: Vec<&'static Migration> = DB::LEGACY_MIGRATIONS
        .iter()
        .filter(|legacy| {
            recorded.iter().any(|(version, checksum)| {
                *version == legacy.version && hex(checksum) == legacy.sqlx_checksum
            })
        })
        .filter_map(|legacy| DB::MIGRATIONS.iter().find(|m| m.version == legacy.version))
        .collect();
    if ours.is_empty() {
        return Ok(ours);
    }
    for table in TABLES {
        if !DB::table_exists(&mut **tx, None, table).await? {
            tracing::warn!(
                table,
                "_sqlx_migrations records referral's migrations but its table is missing; \
                 leaving that database alone and creating new tables in the namespace"
            );
            return Ok(Vec::new());
        }
    }
    Ok(ours)
}

/// Moves the tables of the `adopted` migrations into the namespace and deletes their rows
/// from `_sqlx_migrations` (dropping it when nothing else is left in it). The caller records
/// them in our bookkeeping, in the same transaction.
pub(crate) async fn adopt<DB>(
    tx: &mut Transaction<'static, DB>,
    renderer: &Renderer<'_>,
    adopted: &[&'static Migration],
) -> Result<(), StorageError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    let indexes: Vec<&'static str> = adopted
        .iter()
        .flat_map(|migration| migration.index_statements())
        .collect();
    DB::adopt_tables(&mut **tx, renderer, &TABLES, &indexes).await?;
    for migration in adopted {
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
            .bind(migration.version)
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
    }
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut **tx)
        .await
        .map_err(error::<DB>)?;
    if left == 0 {
        DB::run_script(&mut **tx, "DROP TABLE _sqlx_migrations").await?;
    }
    tracing::info!(
        versions = ?adopted.iter().map(|m| m.version).collect::<Vec<_>>(),
        "adopted the tables of a previous referral version into the namespace"
    );
    Ok(())
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }
}
