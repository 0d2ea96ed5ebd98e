//! `Dialect`: what differs between the SQL backends, and nothing else. Each backend's file
//! (`storage/sqlite.rs`, `storage/postgres.rs`) implements it for its sqlx database type;
//! everything else in `storage/sql` is written once for both.

use std::future::Future;

use sqlx::Database;

use super::migrate::{LegacyMigration, Migration};
use super::namespace::{Namespace, Naming, Renderer};
use crate::storage::StorageError;

/// A sqlx database the SQL storage runs on. Sealed: implemented for `Sqlite` and `Postgres`.
///
/// The async hooks run inside the migration transaction, on its connection.
pub trait Dialect: Database + sealed::Sealed {
    /// The namespace used when none is given.
    const DEFAULT_NAMESPACE: &'static str;
    /// What the namespace is called in messages ("schema", "table prefix").
    const NAMESPACE_KIND: &'static str;
    /// The statement opening a write transaction.
    const BEGIN: &'static str;
    /// How names are qualified, and the clauses that differ in shared query text.
    const NAMING: Naming;
    /// The migrations embedded for this backend, oldest first.
    const MIGRATIONS: &'static [Migration];
    /// The migrations the previous versions applied through sqlx, as they recorded them.
    const LEGACY_MIGRATIONS: &'static [LegacyMigration];
    /// The bookkeeping table's definition (a template, like a migration).
    const CREATE_BOOKKEEPING: &'static str;
    /// A statement taking `$1`, a per-namespace key, that makes changes of access (roles,
    /// disabling) wait for each other until the transaction ends; `None` where write
    /// transactions are serialised already (SQLite's `BEGIN IMMEDIATE`).
    const SERIALISE_ACCESS_CHANGES: Option<&'static str>;

    /// Whether a database error code means "try again later" (busy, shutting down…).
    fn is_transient(code: &str) -> bool;

    /// Rows a statement changed (sqlx has no generic accessor).
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Refuses namespaces the backend reserves, beyond the rules every namespace follows.
    fn check_namespace(namespace: &Namespace) -> Result<(), StorageError> {
        let _ = namespace;
        Ok(())
    }

    /// Runs SQL of one or more statements (a migration, DDL) on the connection. Per backend
    /// rather than generic: `sqlx::raw_sql(…).execute(&mut *tx)` in generic code makes rustc
    /// lose the executor's lifetimes and refuse the migrator's future as not `Send`.
    fn run_script<'c>(
        connection: &'c mut Self::Connection,
        sql: &'c str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'c;

    /// Waits until no other migrator of this namespace runs (until the transaction ends),
    /// then makes sure the namespace exists.
    fn lock_namespace<'c>(
        connection: &'c mut Self::Connection,
        namespace: &'c Namespace,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'c;

    /// Whether a table exists: `table` in the namespace when one is given, otherwise the
    /// unqualified name where unqualified names resolve (PostgreSQL's current schema,
    /// SQLite's main database).
    fn table_exists<'c>(
        connection: &'c mut Self::Connection,
        namespace: Option<&'c Namespace>,
        table: &'c str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send + 'c;

    /// Moves the previous version's tables (named as `tables`, unqualified) and their indexes
    /// into the namespace; `index_statements` are the `CREATE INDEX` templates of the
    /// migrations that made them.
    fn adopt_tables<'c>(
        connection: &'c mut Self::Connection,
        renderer: &'c Renderer<'c>,
        tables: &'c [&'static str],
        index_statements: &'c [&'static str],
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'c;

    /// Starts reporting changed users to `sink` (see
    /// [`Storage::watch_users`](crate::storage::Storage::watch_users)); `false` where the
    /// backend has no way to hear about other processes' writes.
    fn watch_users(
        pool: &sqlx::Pool<Self>,
        namespace: &Namespace,
        sink: std::sync::Weak<dyn crate::storage::UserChangeSink>,
    ) -> bool {
        let _ = (pool, namespace, sink);
        false
    }
}

pub(crate) mod sealed {
    /// Keeps [`Dialect`](super::Dialect) to the backends this crate implements.
    pub trait Sealed {}
}
