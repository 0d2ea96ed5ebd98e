//! Contract suites for [`Storage`](crate::Storage) and [`Mailer`](crate::Mailer)
//! implementations, the engine-level race cases every storage runs, the test doubles they
//! use, record builders, and scratch databases to run them on (`ScratchSqlite`,
//! `ScratchPostgres`) (feature `testing`). Not API-stable: cases are added as rules are.

pub mod fixtures;
pub mod mailer_contract;
mod pausing;
mod reset_link;
#[cfg(feature = "postgres")]
mod scratch_postgres;
#[cfg(feature = "sqlite")]
mod scratch_sqlite;
pub mod session_races;
mod smtp_catcher;
pub mod storage_contract;

pub use mailer_contract::{run_mailer_contract, Delivered, Inbox};
pub use pausing::{Pause, PausingStorage, StorageCall};
pub use reset_link::{reset_token_in, verification_token_in};
#[cfg(feature = "postgres")]
pub use scratch_postgres::{ScratchPostgres, POSTGRES_URL_VARIABLE};
#[cfg(feature = "sqlite")]
pub use scratch_sqlite::ScratchSqlite;
pub use smtp_catcher::{CaughtMail, SmtpCatcher};
pub use storage_contract::{run_storage_contract, StorageUnderTest};
