//! Contract suites for [`Storage`](crate::Storage) and [`Mailer`](crate::Mailer)
//! implementations (feature `testing`). Not API-stable: cases are added as rules are.

pub mod storage_contract;

pub use storage_contract::{run_storage_contract, StorageUnderTest};
