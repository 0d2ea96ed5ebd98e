//! Contract suites for [`Storage`](crate::Storage) and [`Mailer`](crate::Mailer)
//! implementations, the engine-level race cases every storage runs, and the test doubles
//! they use (feature `testing`). Not API-stable: cases are added as rules are.

pub mod fixtures;
pub mod mailer_contract;
mod pausing;
mod reset_link;
pub mod session_races;
mod smtp_catcher;
pub mod storage_contract;

pub use mailer_contract::{run_mailer_contract, Delivered, Inbox};
pub use pausing::{Pause, PausingStorage, StorageCall};
pub use reset_link::reset_token_in;
pub use smtp_catcher::{CaughtMail, SmtpCatcher};
pub use storage_contract::{run_storage_contract, StorageUnderTest};
