//! The migrator: brings the library's tables up to date inside its own namespace, with its
//! own bookkeeping, so it never meets a host application's migrations.
//!
//! sqlx's migrator keeps one `_sqlx_migrations` table per database and refuses to run when
//! that table lists a version it does not know: a host app with its own sqlx migrations and
//! this library could not share a database. Ours keeps `schema_migrations` in the namespace
//! (`referral.schema_migrations`, `referral_schema_migrations`): version, description,
//! SHA-256 of the migration as embedded (before the namespace is rendered into it), and when
//! it was applied.
//!
//! Each migration runs in one transaction together with its bookkeeping row. Every such
//! transaction first takes the namespace's migration lock (PostgreSQL: an advisory lock keyed
//! by the namespace; SQLite: `BEGIN IMMEDIATE`, the database's write lock) and then reads
//! what is applied, so instances starting at once apply each migration exactly once. A
//! migration applied with other text than this build embeds, or a version this build does not
//! know (a newer version of the library migrated the database), is
//! [`StorageError::IncompatibleSchema`] and nothing is changed.
//!
//! The host's `_sqlx_migrations` is read and written only once, to adopt a database the
//! previous versions created (see [`legacy`](super::legacy)).

use sha2::{Digest, Sha256};
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, IntoArguments, Type};
use time::OffsetDateTime;

use super::dialect::Dialect;
use super::legacy;
use super::{error, to_micros, SqlStorage};
use crate::storage::StorageError;

/// The bookkeeping table's name within the namespace.
pub(crate) const BOOKKEEPING_TABLE: &str = "schema_migrations";

/// A migration embedded in the library: a template rendered for the namespace.
#[derive(Debug)]
pub struct Migration {
    /// Orders migrations; the timestamp the file is named after.
    pub(crate) version: i64,
    /// What it does, as in the file name.
    pub(crate) description: &'static str,
    /// The template.
    pub(crate) sql: &'static str,
}

impl Migration {
    /// SHA-256 of the template, as embedded.
    pub(crate) fn checksum(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }

    /// The `CREATE INDEX` statements of the template (for re-creating indexes under their
    /// namespaced names). Statements end with `;`, and comments hold none.
    pub(crate) fn index_statements(&self) -> impl Iterator<Item = &'static str> {
        self.sql.split(';').filter_map(|statement| {
            let code = statement.lines().find(|line| {
                let line = line.trim();
                !(line.is_empty() || line.starts_with("--"))
            })?;
            if code.trim_start().starts_with("CREATE INDEX") {
                Some(statement.trim())
            } else {
                None
            }
        })
    }
}

/// A migration a previous version applied through sqlx, as sqlx recorded it.
#[derive(Debug)]
pub struct LegacyMigration {
    /// The version, which is also the version of the [`Migration`] holding the same schema.
    pub(crate) version: i64,
    /// sqlx's checksum of the file as it was then: SHA-384, in lowercase hex.
    pub(crate) sqlx_checksum: &'static str,
}

/// What to do next, given the versions applied (oldest first) with their checksums: the next
/// migration to apply, or `None` when the schema is current.
pub(crate) fn next_migration<'m>(
    known: &'m [Migration],
    applied: &[(i64, Vec<u8>)],
) -> Result<Option<&'m Migration>, StorageError> {
    for (version, checksum) in applied {
        let Some(migration) = known.iter().find(|m| m.version == *version) else {
            return Err(StorageError::IncompatibleSchema(format!(
                "the database has migration {version}, which this build does not know: a \
                 newer version of the library migrated it; upgrade this one"
            )));
        };
        if *checksum != migration.checksum() {
            return Err(StorageError::IncompatibleSchema(format!(
                "migration {version} ({}) was applied with other text than this build \
                 embeds; the schema cannot be trusted to match",
                migration.description
            )));
        }
    }
    Ok(known
        .iter()
        .find(|m| !applied.iter().any(|(version, _)| *version == m.version)))
}

impl<DB> SqlStorage<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
{
    /// Creates or updates the library's tables in the storage's namespace (creating a
    /// PostgreSQL schema if missing) from the migrations embedded for this backend, and
    /// adopts the tables of a database the previous versions created. Safe to run at every
    /// start, from several instances at once, and in either order with the host's own
    /// migrations.
    ///
    /// Fails with [`StorageError::IncompatibleSchema`] when the database was migrated by a
    /// newer version of the library, or a migration applied to it differs from this build's.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        let renderer = self.renderer();
        loop {
            let mut tx = self.begin().await?;
            DB::lock_namespace(&mut *tx, &self.namespace).await?;
            let bookkept =
                DB::table_exists(&mut *tx, Some(&self.namespace), BOOKKEEPING_TABLE).await?;
            if !bookkept {
                let adopted = legacy::find::<DB>(&mut tx).await?;
                DB::run_script(&mut *tx, &renderer.render(DB::CREATE_BOOKKEEPING)).await?;
                if !adopted.is_empty() {
                    legacy::adopt::<DB>(&mut tx, &renderer, &adopted).await?;
                    for migration in &adopted {
                        self.record(&mut tx, migration).await?;
                    }
                }
            }
            let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(&self.queries.applied_migrations)
                .fetch_all(&mut *tx)
                .await
                .map_err(error::<DB>)?;
            let Some(migration) = next_migration(DB::MIGRATIONS, &applied)? else {
                return tx.commit().await.map_err(error::<DB>);
            };
            DB::run_script(&mut *tx, &renderer.render(migration.sql)).await?;
            self.record(&mut tx, migration).await?;
            tx.commit().await.map_err(error::<DB>)?;
            tracing::info!(
                version = migration.version,
                description = migration.description,
                namespace = self.namespace.as_str(),
                "applied a referral storage migration"
            );
        }
    }

    async fn record(
        &self,
        tx: &mut sqlx::Transaction<'static, DB>,
        migration: &Migration,
    ) -> Result<(), StorageError> {
        sqlx::query(&self.queries.record_migration)
            .bind(migration.version)
            .bind(migration.description)
            .bind(migration.checksum().as_slice())
            .bind(to_micros(OffsetDateTime::now_utc()))
            .execute(&mut **tx)
            .await
            .map_err(error::<DB>)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [Migration; 2] = [
        Migration {
            version: 1,
            description: "one",
            sql: "CREATE TABLE {a} (x INTEGER);",
        },
        Migration {
            version: 2,
            description: "two",
            sql:
                "-- the index\nCREATE INDEX {index:a_x} ON {a} (x);\nCREATE TABLE {b} (y INTEGER);",
        },
    ];

    #[test]
    fn migrations_apply_in_order_until_the_schema_is_current() {
        assert_eq!(next_migration(&KNOWN, &[]).unwrap().unwrap().version, 1);
        let one = (1, KNOWN[0].checksum());
        assert_eq!(
            next_migration(&KNOWN, std::slice::from_ref(&one))
                .unwrap()
                .unwrap()
                .version,
            2
        );
        let two = (2, KNOWN[1].checksum());
        assert!(next_migration(&KNOWN, &[one, two]).unwrap().is_none());
    }

    #[test]
    fn a_changed_migration_is_an_incompatible_schema() {
        let changed = (1, Sha256::digest(b"something else").to_vec());
        let Err(StorageError::IncompatibleSchema(message)) = next_migration(&KNOWN, &[changed])
        else {
            panic!("a changed migration was accepted");
        };
        assert!(message.contains("migration 1 (one)"), "{message}");
    }

    #[test]
    fn a_version_this_build_does_not_know_is_an_incompatible_schema() {
        let newer = (3, Vec::new());
        let Err(StorageError::IncompatibleSchema(message)) =
            next_migration(&KNOWN, &[(1, KNOWN[0].checksum()), newer])
        else {
            panic!("an unknown version was accepted");
        };
        assert!(message.contains("newer version"), "{message}");
    }

    #[test]
    fn index_statements_are_found_after_their_comments() {
        assert_eq!(
            KNOWN[1].index_statements().collect::<Vec<_>>(),
            ["-- the index\nCREATE INDEX {index:a_x} ON {a} (x)"]
        );
        assert_eq!(KNOWN[0].index_statements().count(), 0);
    }
}
