//! `MemoryStorage` against the storage contract and the session race cases: one test per
//! rule.

use referral_core::MemoryStorage;

referral_core::storage_contract_tests!(async { MemoryStorage::new() });
referral_core::session_race_tests!(async { MemoryStorage::new() });

/// The single-test runner covers the same cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_contract_passes_as_one_test() {
    referral_core::testing::run_storage_contract(|| async { MemoryStorage::new() }).await;
}
