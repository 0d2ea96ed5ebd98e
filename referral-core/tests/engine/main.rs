//! Engine rules over `MemoryStorage`, a recording mailer and a manual clock, one file per
//! concern. The race cases against a reset run per storage from
//! `referral_core::session_race_tests!` (see `tests/storage_memory.rs`).

#[path = "../harness/mod.rs"]
mod harness;

mod accounts;
mod cache;
mod clicks;
mod events;
mod lifecycle;
mod limits;
mod metadata;
mod referrals;
mod reset;
mod sessions;
mod templates;
mod verification;
