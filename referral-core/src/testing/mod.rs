//! Contract suites for [`Storage`](crate::Storage) and [`Mailer`](crate::Mailer)
//! implementations (feature `testing`), record builders, and scratch databases to run them
//! on (`ScratchSqlite`, `ScratchPostgres`). Not API-stable: cases are added as rules are.

pub mod fixtures;
pub mod mailer_contract;
#[cfg(feature = "postgres")]
mod scratch_postgres;
#[cfg(feature = "sqlite")]
mod scratch_sqlite;
mod smtp_catcher;
pub mod storage_contract;

pub use mailer_contract::{run_mailer_contract, Delivered, Inbox};
#[cfg(feature = "postgres")]
pub use scratch_postgres::{ScratchPostgres, POSTGRES_URL_VARIABLE};
#[cfg(feature = "sqlite")]
pub use scratch_sqlite::ScratchSqlite;
pub use smtp_catcher::{CaughtMail, SmtpCatcher};
pub use storage_contract::{run_storage_contract, StorageUnderTest};
