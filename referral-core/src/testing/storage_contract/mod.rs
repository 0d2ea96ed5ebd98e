//! The storage contract: one `pub async fn` per rule of the [`Storage`] trait.
//!
//! Every implementation — ours or yours — runs these cases against a fresh, empty storage
//! and is done when they pass. Write one line in a test file:
//!
//! ```ignore
//! referral_core::storage_contract_tests!(async { MyStorage::connect_to_a_fresh_database().await });
//! ```
//!
//! and get one `#[tokio::test]` per rule (your crate needs `tokio` with the `macros` and
//! `rt-multi-thread` features as a dev-dependency), or call
//! [`run_storage_contract`] from a single test. The
//! constructor is run once per case and must yield a fresh, empty storage each time: anything
//! implementing [`StorageUnderTest`]: any `Storage + Clone`, an `Arc<dyn Storage>`, a guard
//! of your own that drops a scratch database when the case ends, or an `Option` of one
//! (`None` skips the case, for a database that is not configured).
//!
//! Cases take `&dyn Storage`, or `Arc<dyn Storage>` where they race concurrent calls on
//! spawned tasks (run them on a multi-threaded runtime). The records they write use
//! timestamps in whole microseconds, because SQL backends keep no finer precision.
//!
//! The cases live in files by concern: `accounts`, `access` (roles, disabling, the
//! last-admin rule, user search, the audit log), `sessions` (refresh tokens), `resets`,
//! `verification`, `rewards` (the lifecycle), `rate_limits`, `referrals`, `codes` (vanity
//! codes and aliases), `clicks`, `outbox`, `events` (fan-out, order per user), `pruning`,
//! `concurrency` (races every backend must settle the same way), `self_service` (password
//! changes, erasure, metadata); `setup` builds the records
//! they write.
//!
//! Not API-stable: cases are added as rules are.

use std::sync::Arc;

use crate::storage::Storage;

mod access;
mod accounts;
mod clicks;
mod codes;
mod concurrency;
mod events;
mod outbox;
mod pruning;
mod rate_limits;
mod referrals;
mod resets;
mod rewards;
mod self_service;
mod sessions;
mod setup;
mod verification;

pub use access::*;
pub use accounts::*;
pub use clicks::*;
pub use codes::*;
pub use concurrency::*;
pub use events::*;
pub use outbox::*;
pub use pruning::*;
pub use rate_limits::*;
pub use referrals::*;
pub use resets::*;
pub use rewards::*;
pub use self_service::*;
pub use sessions::*;
pub use verification::*;

/// What a contract constructor yields: a fresh, empty storage, possibly inside a guard that
/// cleans up (drops a scratch database, say) when the case ends.
///
/// `None` skips the case: a constructor returns `Option<…>` to pass quietly where its
/// database is not configured (an unset URL variable, say).
pub trait StorageUnderTest: Send + Sync {
    /// The storage the case runs against, or `None` to skip it.
    fn storage(&self) -> Option<Arc<dyn Storage>>;
}

impl<S: Storage + Clone> StorageUnderTest for S {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::new(self.clone()))
    }
}

impl<S: Storage> StorageUnderTest for Arc<S> {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::clone(self) as Arc<dyn Storage>)
    }
}

impl StorageUnderTest for Arc<dyn Storage> {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::clone(self))
    }
}

impl<T: StorageUnderTest> StorageUnderTest for Option<T> {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        self.as_ref().and_then(StorageUnderTest::storage)
    }
}

/// Hands a case the argument it takes (`&dyn Storage` or `Arc<dyn Storage>`), so the macros
/// can call every case alike.
#[doc(hidden)]
pub trait CaseArgument<'a> {
    fn from_storage(storage: &'a Arc<dyn Storage>) -> Self;
}

impl<'a> CaseArgument<'a> for &'a dyn Storage {
    fn from_storage(storage: &'a Arc<dyn Storage>) -> Self {
        &**storage
    }
}

impl<'a> CaseArgument<'a> for Arc<dyn Storage> {
    fn from_storage(storage: &'a Arc<dyn Storage>) -> Self {
        Arc::clone(storage)
    }
}

/// Lists the cases once, for [`storage_contract_tests!`](crate::storage_contract_tests) and
/// [`run_storage_contract`](super::run_storage_contract).
#[doc(hidden)]
#[macro_export]
macro_rules! __storage_contract_cases {
    (@expand tests ($make:expr) [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture = $make.await;
                let Some(storage) = $crate::testing::StorageUnderTest::storage(&fixture) else {
                    return;
                };
                $crate::testing::storage_contract::$case(
                    $crate::testing::storage_contract::CaseArgument::from_storage(&storage),
                )
                .await;
                drop(storage);
                drop(fixture);
            }
        )*
    };
    (@expand run ($make:ident) [$($case:ident),* $(,)?]) => {
        $(
            {
                let fixture = $make().await;
                if let Some(storage) = $crate::testing::StorageUnderTest::storage(&fixture) {
                    eprintln!("storage contract: {}", stringify!($case));
                    $crate::testing::storage_contract::$case(
                        $crate::testing::storage_contract::CaseArgument::from_storage(&storage),
                    )
                    .await;
                }
                drop(fixture);
            }
        )*
    };
    ($mode:ident $args:tt) => {
        $crate::__storage_contract_cases!(@expand $mode $args [
            // accounts
            a_reachable_storage_answers_ping,
            a_created_user_is_found_by_id_email_and_referral_code,
            unknown_users_are_not_found,
            registering_the_same_email_twice_fails,
            registering_with_a_taken_referral_code_fails,
            a_refused_registration_leaves_the_referrer_untouched,
            a_referral_to_an_unknown_referrer_is_refused,
            a_registration_with_a_code_records_the_referral_and_its_rewards,
            registration_stores_the_first_refresh_token,
            registration_queues_its_messages_with_the_account,
            replacing_a_password_hash_changes_nothing_else,
            a_rehash_never_overwrites_a_newer_password,
            // referral codes
            a_claimed_code_becomes_current_and_the_earlier_one_stays_an_alias,
            a_code_someone_holds_cannot_be_claimed_by_another_in_any_case,
            claiming_an_earlier_code_again_makes_it_current,
            a_claim_for_an_unknown_user_changes_nothing,
            registering_with_a_code_someone_holds_fails,
            concurrent_claims_of_one_code_have_exactly_one_winner,
            // clicks
            a_visitors_clicks_count_once_per_window,
            clicks_count_per_visitor_and_per_owner,
            click_counts_since_cover_the_days_after_sinces_day,
            click_counts_of_a_user_without_clicks_are_zero,
            pruning_clicks_forgets_old_visitors_and_days_and_keeps_totals,
            concurrent_click_batches_count_each_visitor_once,
            counted_clicks_are_announced_once_per_owner_per_batch,
            // referrals
            stats_count_second_tier_and_sum_rewards,
            stats_count_referrals_joined_at_or_after_since,
            stats_of_a_user_without_referrals_are_zero,
            listing_is_newest_first_and_the_cursor_continues_without_gaps,
            listing_shows_only_the_referrers_own_referrals,
            // sessions
            a_refresh_token_rotates_into_its_replacement_for_the_same_user,
            a_rotated_refresh_token_presented_again_revokes_the_family,
            a_refresh_token_expires_at_its_expiry_instant,
            a_revoked_refresh_token_does_not_rotate,
            an_unknown_refresh_token_does_not_rotate,
            a_token_hash_is_stored_once,
            tokens_for_unknown_users_are_refused,
            a_login_that_straddles_a_reset_stores_no_session,
            a_rotation_answers_the_user_as_stored_and_keeps_the_version,
            // resets
            a_reset_token_names_its_user_until_it_expires,
            a_reset_token_works_once,
            consuming_a_reset_token_changes_the_password_and_ends_every_session,
            a_new_reset_token_supersedes_the_older_one,
            an_expired_reset_token_cannot_be_consumed,
            consuming_a_reset_token_queues_its_events_with_the_change,
            // email verification
            a_verification_token_works_once_and_marks_the_email_verified,
            a_new_verification_token_supersedes_the_older_one_and_tokens_expire,
            verification_tokens_for_unknown_users_are_refused,
            verifying_an_email_applies_its_approvals_with_it,
            // reward lifecycle
            pending_rewards_count_apart_from_approved_ones,
            approving_and_revoking_move_the_points,
            a_reward_leaves_a_status_only_once,
            rewards_are_listed_newest_first_and_the_cursor_continues,
            rewards_of_one_status_are_listed_across_users_newest_first,
            a_decided_transition_writes_its_audit_entry_with_it,
            an_added_reward_counts_with_its_message_and_audit_entry,
            a_conversion_is_recorded_once_per_external_id,
            a_conversion_for_an_unknown_user_writes_nothing,
            // rate limits
            rate_limit_hits_count_within_one_window,
            a_rate_limit_window_closes_at_its_end,
            clearing_a_rate_limit_forgets_only_that_key,
            a_refund_takes_back_one_attempt_of_its_own_window,
            a_refund_never_takes_a_count_below_zero,
            // outbox
            an_enqueued_message_is_claimable_as_queued,
            outbox_claims_are_leased,
            outbox_claims_respect_the_limit_and_the_due_time,
            a_completed_message_is_never_claimed_again,
            a_failed_message_is_retried_at_its_retry_time,
            a_dead_letter_is_never_claimed_until_redelivered,
            a_redelivery_writes_its_audit_entry_with_it,
            dead_letters_are_listed_newest_first_in_pages,
            a_sent_message_never_becomes_a_dead_letter,
            // events
            a_users_messages_of_one_topic_are_claimed_in_order,
            a_failing_message_holds_back_only_its_users_later_messages,
            an_event_is_fanned_out_once_into_its_deliveries,
            concurrent_fan_outs_of_one_event_have_exactly_one_winner,
            // pruning
            pruning_deletes_ended_windows_and_dead_tokens_only,
            pruning_deletes_only_messages_done_before_the_cutoff,
            // concurrency
            concurrent_registrations_with_one_referrer_are_all_counted,
            concurrent_registrations_of_one_email_have_exactly_one_winner,
            concurrent_consumptions_of_one_reset_token_have_exactly_one_winner,
            concurrent_rotations_of_one_refresh_token_have_exactly_one_winner,
            concurrent_reset_requests_leave_one_live_token,
            concurrent_rate_limit_hits_get_distinct_counts,
            concurrent_outbox_claims_never_hand_out_a_message_twice,
            a_login_racing_a_reset_never_outlives_it,
            a_rotation_racing_a_reset_either_precedes_it_or_fails,
            a_rehash_racing_a_reset_keeps_the_reset_password,
            concurrent_approvals_of_one_pending_reward_have_exactly_one_winner,
            concurrent_recordings_of_one_conversion_have_exactly_one_winner,
            a_conversion_racing_an_admin_revocation_applies_one_of_them,
            // access
            a_new_user_keeps_the_roles_it_was_created_with_and_is_enabled,
            a_role_change_bumps_the_token_version_revokes_sessions_and_is_audited,
            disabling_records_when_and_enabling_clears_it,
            a_change_that_changes_nothing_writes_nothing,
            a_change_writes_its_events_with_it,
            changing_an_unknown_user_writes_nothing,
            the_last_admin_can_be_neither_demoted_nor_disabled,
            two_admins_demoting_each_other_at_once_leave_exactly_one,
            admins_disabling_themselves_at_once_leave_exactly_one,
            searching_users_filters_by_email_and_role_and_pages_newest_first,
            search_wildcards_match_only_themselves,
            the_audit_log_is_listed_newest_first_in_pages,
            // self-service
            changing_a_password_revokes_every_refresh_token_and_keeps_the_new_session,
            a_password_change_from_a_stale_hash_writes_nothing,
            erasing_a_user_keeps_referrer_totals_and_history_and_frees_the_email,
            an_erased_users_codes_stay_unclaimable_and_sign_up_nobody,
            erasing_removes_every_token_and_writes_its_audit_entry_and_event,
            erasing_the_last_admin_fails_and_writes_nothing,
            metadata_given_at_registration_is_stored_as_given,
            updating_metadata_replaces_it_and_queues_its_event,
            updating_an_unknown_or_erased_users_metadata_writes_nothing,
        ]);
    };
}

/// Generates one `#[tokio::test]` per storage contract case, each against a fresh storage
/// from the given constructor.
///
/// The argument is an expression evaluated once per case, yielding a future whose output
/// implements [`StorageUnderTest`](crate::testing::StorageUnderTest): an `async` block, or a
/// call of an `async fn`. The calling crate needs `tokio` (features `macros`,
/// `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// use referral_core::MemoryStorage;
/// referral_core::storage_contract_tests!(async { MemoryStorage::new() });
/// ```
///
/// A test file can put the line inside a module to prefix the test names, and use it several
/// times with different constructors (a file database and an in-memory one, say).
#[macro_export]
macro_rules! storage_contract_tests {
    ($make:expr) => {
        $crate::__storage_contract_cases!(tests($make));
    };
}

/// Runs every storage contract case, each against a fresh storage from `make`, in one test.
///
/// Prefer [`storage_contract_tests!`](crate::storage_contract_tests), which names a test per
/// rule; this is for callers that want a single test. Needs a multi-threaded runtime.
///
/// ```no_run
/// # async fn demo() {
/// use referral_core::{testing::run_storage_contract, MemoryStorage};
/// run_storage_contract(|| async { MemoryStorage::new() }).await;
/// # }
/// ```
pub async fn run_storage_contract<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
    Fut::Output: StorageUnderTest,
{
    crate::__storage_contract_cases!(run(make));
}
