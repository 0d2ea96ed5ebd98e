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
//! Not API-stable: cases are added as rules are.

use std::collections::HashSet;
use std::sync::Arc;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::fixtures::{self, referred_registration, refresh_token, registration};
use crate::email::Email;
use crate::password::PasswordHash;
use crate::rate_limit::RateKey;
use crate::referral_code::ReferralCode;
use crate::rewards::RewardPolicy;
use crate::storage::{
    NewUser, OutboxMessage, ReferralCounts, ReferralCursor, ReferralRecord, RefreshTokenRecord,
    ResetTokenRecord, Rotation, Storage, StorageError,
};
use crate::tokens::{OpaqueToken, TokenHash};
use crate::user::UserRecord;

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
            a_reachable_storage_answers_ping,
            a_created_user_is_found_by_id_email_and_referral_code,
            unknown_users_are_not_found,
            registering_the_same_email_twice_fails,
            registering_with_a_taken_referral_code_fails,
            a_refused_registration_leaves_the_referrer_untouched,
            a_referral_to_an_unknown_referrer_is_refused,
            a_registration_with_a_code_records_the_referral_and_its_rewards,
            registration_stores_the_first_refresh_token,
            replacing_a_password_hash_changes_nothing_else,
            stats_count_second_tier_and_sum_rewards,
            stats_count_referrals_joined_at_or_after_since,
            stats_of_a_user_without_referrals_are_zero,
            listing_is_newest_first_and_the_cursor_continues_without_gaps,
            listing_shows_only_the_referrers_own_referrals,
            a_refresh_token_rotates_into_its_replacement_for_the_same_user,
            a_rotated_refresh_token_presented_again_revokes_the_family,
            a_refresh_token_expires_at_its_expiry_instant,
            a_revoked_refresh_token_does_not_rotate,
            an_unknown_refresh_token_does_not_rotate,
            a_token_hash_is_stored_once,
            tokens_for_unknown_users_are_refused,
            a_reset_token_names_its_user_until_it_expires,
            a_reset_token_works_once,
            consuming_a_reset_token_changes_the_password_and_ends_every_session,
            a_new_reset_token_supersedes_the_older_one,
            an_expired_reset_token_cannot_be_consumed,
            an_enqueued_message_is_claimable_as_queued,
            rate_limit_hits_count_within_one_window,
            a_rate_limit_window_closes_at_its_end,
            clearing_a_rate_limit_forgets_only_that_key,
            a_refund_takes_back_one_attempt_of_its_own_window,
            outbox_claims_are_leased,
            outbox_claims_respect_the_limit_and_the_due_time,
            a_completed_message_is_never_claimed_again,
            a_failed_message_is_retried_at_its_retry_time,
            pruning_deletes_only_messages_done_before_the_cutoff,
            concurrent_registrations_with_one_referrer_are_all_counted,
            concurrent_registrations_of_one_email_have_exactly_one_winner,
            concurrent_consumptions_of_one_reset_token_have_exactly_one_winner,
            concurrent_rotations_of_one_refresh_token_have_exactly_one_winner,
            concurrent_reset_requests_leave_one_live_token,
            concurrent_rate_limit_hits_are_all_counted,
            concurrent_outbox_claims_never_hand_out_a_message_twice,
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

// ---------------------------------------------------------------------------------------------
// Building records.

/// The instant the cases treat as "now": whole seconds, so every backend keeps it exactly.
const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

fn at(offset: Duration) -> OffsetDateTime {
    T0 + offset
}

fn email(tag: &str) -> Email {
    Email::parse(&format!("{tag}@example.com")).expect("test emails are valid")
}

fn fake_hash(tag: &str) -> PasswordHash {
    // Storage never verifies hashes, so any PHC-shaped text will do.
    PasswordHash::from_phc(format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdA${tag}"))
}

fn user(tag: &str, created_at: OffsetDateTime) -> UserRecord {
    fixtures::user_record(email(tag), fake_hash(tag), created_at)
}

/// A replacement as the engine passes it: user and family are placeholders.
fn replacement(issued_at: OffsetDateTime) -> RefreshTokenRecord {
    refresh_token(Uuid::nil(), issued_at)
}

fn points(referrer: i64, referee: i64, second_tier: i64) -> RewardPolicy {
    RewardPolicy {
        referrer,
        referee,
        second_tier,
    }
}

async fn register(storage: &dyn Storage, tag: &str, created_at: OffsetDateTime) -> NewUser {
    let new = registration(user(tag, created_at));
    storage
        .create_user(new.clone())
        .await
        .expect("registering a new user");
    new
}

async fn register_referred(
    storage: &dyn Storage,
    tag: &str,
    referrer: &UserRecord,
    created_at: OffsetDateTime,
    policy: RewardPolicy,
) -> NewUser {
    let new = referred_registration(user(tag, created_at), referrer, policy);
    storage
        .create_user(new.clone())
        .await
        .expect("registering a referred user");
    new
}

fn reset_token(user: Uuid, created_at: OffsetDateTime) -> ResetTokenRecord {
    ResetTokenRecord {
        hash: OpaqueToken::generate().hash(),
        user_id: user,
        created_at,
        expires_at: created_at + Duration::minutes(30),
    }
}

fn mail(to: &Email, created_at: OffsetDateTime) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        topic: "mail.password_reset".to_owned(),
        user_id: None,
        payload: format!("{{\"email\":\"{to}\"}}"),
        attempts: 0,
        created_at,
    }
}

/// Queues `count` messages due at their creation.
async fn queue_mail(
    storage: &dyn Storage,
    count: usize,
    created_at: OffsetDateTime,
) -> Vec<OutboxMessage> {
    let to = email(&format!("mail-owner-{}", Uuid::now_v7().simple()));
    let mut queued = Vec::new();
    for _ in 0..count {
        let message = mail(&to, created_at);
        storage
            .enqueue_outbox(message.clone())
            .await
            .expect("queueing a message");
        queued.push(message);
    }
    queued
}

async fn stats(storage: &dyn Storage, user: Uuid, since: OffsetDateTime) -> ReferralCounts {
    storage
        .referral_stats(user, since)
        .await
        .expect("reading referral stats")
}

async fn rotate(storage: &dyn Storage, token: &TokenHash, now: OffsetDateTime) -> Rotation {
    storage
        .rotate_refresh_token(token, replacement(now), now)
        .await
        .expect("rotating a refresh token")
}

async fn pending(storage: &dyn Storage) -> u64 {
    storage
        .pending_outbox()
        .await
        .expect("counting pending mail")
}

async fn claim(
    storage: &dyn Storage,
    now: OffsetDateTime,
    lease: Duration,
    limit: u32,
) -> Vec<OutboxMessage> {
    storage
        .claim_outbox(now, now + lease, limit)
        .await
        .expect("claiming outbox messages")
}

fn ids(messages: &[OutboxMessage]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    ids.sort();
    ids
}

async fn join_all<T: Send + 'static>(mut set: JoinSet<T>) -> Vec<T> {
    let mut results = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        results.push(joined.expect("a concurrent call panicked"));
    }
    results
}

// ---------------------------------------------------------------------------------------------
// Users.

/// `ping` succeeds on a working storage.
pub async fn a_reachable_storage_answers_ping(storage: &dyn Storage) {
    storage.ping().await.expect("ping on a fresh storage");
}

/// A created user reads back identically by id, by email and by referral code.
pub async fn a_created_user_is_found_by_id_email_and_referral_code(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let expected = Some(new.user.clone());
    assert_eq!(storage.user_by_id(new.user.id).await.unwrap(), expected);
    assert_eq!(
        storage.user_by_email(&new.user.email).await.unwrap(),
        expected
    );
    assert_eq!(
        storage
            .user_by_referral_code(&new.user.referral_code)
            .await
            .unwrap(),
        expected
    );
}

/// Lookups of ids, emails and codes nobody has answer `None`.
pub async fn unknown_users_are_not_found(storage: &dyn Storage) {
    register(storage, "ada", T0).await;
    assert_eq!(storage.user_by_id(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(storage.user_by_email(&email("nobody")).await.unwrap(), None);
    let code = loop {
        let code = ReferralCode::generate();
        if storage
            .user_by_referral_code(&code)
            .await
            .unwrap()
            .is_none()
        {
            break code;
        }
    };
    assert_eq!(storage.user_by_referral_code(&code).await.unwrap(), None);
}

/// A second registration of an email fails with `EmailTaken` and writes nothing.
pub async fn registering_the_same_email_twice_fails(storage: &dyn Storage) {
    let first = register(storage, "ada", T0).await;
    let second = registration(user("ada", at(Duration::seconds(1))));
    let result = storage.create_user(second.clone()).await;
    assert!(
        matches!(result, Err(StorageError::EmailTaken)),
        "expected EmailTaken, got {result:?}"
    );
    assert_eq!(storage.user_by_id(second.user.id).await.unwrap(), None);
    assert_eq!(
        storage
            .user_by_referral_code(&second.user.referral_code)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.user_by_email(&first.user.email).await.unwrap(),
        Some(first.user)
    );
    let now = at(Duration::seconds(2));
    assert_eq!(
        rotate(storage, &second.refresh_token.hash, now).await,
        Rotation::Invalid
    );
}

/// A registration whose referral code belongs to someone fails with `ReferralCodeTaken` and
/// writes nothing (the engine then draws another code).
pub async fn registering_with_a_taken_referral_code_fails(storage: &dyn Storage) {
    let first = register(storage, "ada", T0).await;
    let mut clash = user("grace", at(Duration::seconds(1)));
    clash.referral_code = first.user.referral_code.clone();
    let clash = registration(clash);
    let result = storage.create_user(clash.clone()).await;
    assert!(
        matches!(result, Err(StorageError::ReferralCodeTaken)),
        "expected ReferralCodeTaken, got {result:?}"
    );
    assert_eq!(storage.user_by_id(clash.user.id).await.unwrap(), None);
    assert_eq!(
        storage.user_by_email(&clash.user.email).await.unwrap(),
        None
    );
    let now = at(Duration::seconds(2));
    assert_eq!(
        rotate(storage, &clash.refresh_token.hash, now).await,
        Rotation::Invalid
    );
}

/// A referred registration that fails (email taken) leaves no referral, reward or counter.
pub async fn a_refused_registration_leaves_the_referrer_untouched(storage: &dyn Storage) {
    let grand = register(storage, "grand", T0).await.user;
    let referrer = register_referred(storage, "referrer", &grand, T0, points(100, 10, 5))
        .await
        .user;
    let before_referrer = stats(storage, referrer.id, T0 - Duration::days(1)).await;
    let before_grand = stats(storage, grand.id, T0 - Duration::days(1)).await;
    let duplicate = referred_registration(
        user("grand", at(Duration::seconds(1))),
        &referrer,
        points(100, 10, 5),
    );
    let result = storage.create_user(duplicate).await;
    assert!(
        matches!(result, Err(StorageError::EmailTaken)),
        "got {result:?}"
    );
    assert_eq!(
        stats(storage, referrer.id, T0 - Duration::days(1)).await,
        before_referrer
    );
    assert_eq!(
        stats(storage, grand.id, T0 - Duration::days(1)).await,
        before_grand
    );
    assert!(storage
        .list_referrals(referrer.id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A referral naming a referrer that does not exist is an error, and nothing is written.
pub async fn a_referral_to_an_unknown_referrer_is_refused(storage: &dyn Storage) {
    let ghost = user("ghost", T0);
    let new = referred_registration(user("ada", T0), &ghost, points(100, 0, 0));
    assert!(storage.create_user(new.clone()).await.is_err());
    assert_eq!(storage.user_by_id(new.user.id).await.unwrap(), None);
    assert_eq!(storage.user_by_email(&new.user.email).await.unwrap(), None);
}

/// A registration with a code writes the referee's referrer, the referral, every ledger
/// entry and the counters of both tiers, in the one call.
pub async fn a_registration_with_a_code_records_the_referral_and_its_rewards(
    storage: &dyn Storage,
) {
    let grand = register(storage, "grand", T0).await.user;
    let policy = points(100, 10, 5);
    let referrer = register_referred(
        storage,
        "referrer",
        &grand,
        at(Duration::seconds(1)),
        policy,
    )
    .await
    .user;
    let joined = at(Duration::seconds(2));
    let referee = register_referred(storage, "referee", &referrer, joined, policy)
        .await
        .user;

    let stored = storage
        .user_by_id(referee.id)
        .await
        .unwrap()
        .expect("referee stored");
    assert_eq!(stored.referred_by, Some(referrer.id));
    assert_eq!(
        storage.list_referrals(referrer.id, None, 10).await.unwrap(),
        vec![ReferralRecord {
            user_id: referee.id,
            email: referee.email.clone(),
            joined_at: joined,
            reward_points: 100,
        }]
    );
    let since = T0 - Duration::days(30);
    assert_eq!(
        stats(storage, referrer.id, since).await,
        ReferralCounts {
            total: 1,
            since: 1,
            second_tier: 0,
            reward_points: 100 + 10
        },
        "the referrer earned 100 as referrer and 10 as the grand referrer's referee"
    );
    assert_eq!(
        stats(storage, grand.id, since).await,
        ReferralCounts {
            total: 1,
            since: 1,
            second_tier: 1,
            reward_points: 100 + 5
        }
    );
    assert_eq!(
        stats(storage, referee.id, since).await,
        ReferralCounts {
            total: 0,
            since: 0,
            second_tier: 0,
            reward_points: 10
        }
    );
}

/// The refresh token passed with a registration is stored for the new user.
pub async fn registration_stores_the_first_refresh_token(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    assert_eq!(
        rotate(storage, &new.refresh_token.hash, now).await,
        Rotation::Rotated(new.user.clone())
    );
}

/// `replace_password_hash` replaces the hash it is told is there, and leaves the token
/// version and sessions alone.
pub async fn replacing_a_password_hash_changes_nothing_else(storage: &dyn Storage) {
    let new = register(storage, "ada", T0).await;
    let other = register(storage, "grace", T0).await;
    let hash = fake_hash("rehashed");
    assert!(storage
        .replace_password_hash(new.user.id, &new.user.password_hash, &hash)
        .await
        .unwrap());
    let expected = UserRecord {
        password_hash: hash,
        ..new.user.clone()
    };
    assert_eq!(
        storage.user_by_id(new.user.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        storage.user_by_id(other.user.id).await.unwrap(),
        Some(other.user)
    );
    let now = at(Duration::minutes(1));
    assert_eq!(
        rotate(storage, &new.refresh_token.hash, now).await,
        Rotation::Rotated(expected)
    );
}

// ---------------------------------------------------------------------------------------------
// Referral statistics and listing.

/// Stats count direct referrals, referrals of referrals, and sum every ledger entry.
pub async fn stats_count_second_tier_and_sum_rewards(storage: &dyn Storage) {
    let policy = points(100, 7, 3);
    let root = register(storage, "root", T0).await.user;
    let mut children = Vec::new();
    for i in 0..3 {
        let child = register_referred(
            storage,
            &format!("child{i}"),
            &root,
            at(Duration::seconds(i)),
            policy,
        )
        .await
        .user;
        children.push(child);
    }
    for (i, child) in children.iter().enumerate().take(2) {
        for j in 0..2 {
            register_referred(
                storage,
                &format!("grandchild{i}{j}"),
                child,
                at(Duration::minutes(1)),
                policy,
            )
            .await;
        }
    }
    let since = T0 - Duration::days(30);
    assert_eq!(
        stats(storage, root.id, since).await,
        ReferralCounts {
            total: 3,
            since: 3,
            second_tier: 4,
            reward_points: 3 * 100 + 4 * 3
        }
    );
    assert_eq!(
        stats(storage, children[0].id, since).await,
        ReferralCounts {
            total: 2,
            since: 2,
            second_tier: 0,
            reward_points: 7 + 2 * 100
        }
    );
    assert_eq!(
        stats(storage, children[2].id, since).await,
        ReferralCounts {
            total: 0,
            since: 0,
            second_tier: 0,
            reward_points: 7
        }
    );
}

/// `since` counts referrals joined at or after the instant, whatever the time of day.
pub async fn stats_count_referrals_joined_at_or_after_since(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0 - Duration::days(60))
        .await
        .user;
    let window = Duration::days(30);
    let micro = Duration::microseconds(1);
    // T0 is noon: T0 - 30 days falls in the middle of a day; these straddle it and midnight.
    let offsets = [
        -Duration::days(45),
        -window - Duration::hours(12), // the boundary day's midnight
        -window - micro,
        -window,
        -window + micro,
        -window + Duration::hours(12) - micro, // the boundary day's last microsecond
        -window + Duration::hours(12),         // the next midnight
        -Duration::days(29),
        -Duration::days(1),
        Duration::ZERO,
        Duration::hours(1),
    ];
    let mut joined = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let when = at(*offset);
        register_referred(
            storage,
            &format!("referee{i}"),
            &referrer,
            when,
            points(1, 0, 0),
        )
        .await;
        joined.push(when);
    }
    let sinces = [
        T0 - window,
        T0 - window - Duration::hours(12),
        T0 - window + Duration::hours(12),
        T0 - window + micro,
        T0 - window - micro,
        T0 - Duration::days(100),
        T0 - Duration::hours(1),
        T0 + Duration::days(1),
    ];
    for since in sinces {
        let expected = joined.iter().filter(|when| **when >= since).count() as u64;
        let counts = stats(storage, referrer.id, since).await;
        assert_eq!(
            counts.since, expected,
            "referrals joined at or after {since}"
        );
        assert_eq!(counts.total, offsets.len() as u64);
    }
}

/// A user nobody signed up with, and an unknown id, have all-zero stats.
pub async fn stats_of_a_user_without_referrals_are_zero(storage: &dyn Storage) {
    let lonely = register(storage, "lonely", T0).await.user;
    assert_eq!(
        stats(storage, lonely.id, T0 - Duration::days(30)).await,
        ReferralCounts::default()
    );
    assert_eq!(
        stats(storage, Uuid::now_v7(), T0).await,
        ReferralCounts::default()
    );
}

/// Pages come newest first (ties by user id, descending), and following each page's last
/// row as the cursor visits every referral exactly once.
pub async fn listing_is_newest_first_and_the_cursor_continues_without_gaps(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    let seconds = [5, 1, 3, 3, 2, 5, 4, 3];
    let mut expected = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        let joined = at(Duration::seconds(*s));
        let policy = points(10 * (i as i64 + 1), 0, 0);
        let referee = register_referred(storage, &format!("referee{i}"), &referrer, joined, policy)
            .await
            .user;
        expected.push(ReferralRecord {
            user_id: referee.id,
            email: referee.email,
            joined_at: joined,
            reward_points: policy.referrer,
        });
    }
    expected.sort_by_key(|r| std::cmp::Reverse((r.joined_at, r.user_id)));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = storage
            .list_referrals(referrer.id, cursor, 3)
            .await
            .unwrap();
        assert!(page.len() <= 3, "a page holds at most `limit` rows");
        let Some(last) = page.last() else { break };
        cursor = Some(ReferralCursor {
            joined_at: last.joined_at,
            user_id: last.user_id,
        });
        let full = page.len() == 3;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(seen, expected);
    let after_last = ReferralCursor {
        joined_at: expected[expected.len() - 1].joined_at,
        user_id: expected[expected.len() - 1].user_id,
    };
    assert!(storage
        .list_referrals(referrer.id, Some(after_last), 3)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        storage
            .list_referrals(referrer.id, None, 100)
            .await
            .unwrap(),
        expected
    );
}

/// A referrer's list holds their direct referrals only: neither second-tier referrals nor
/// anyone else's.
pub async fn listing_shows_only_the_referrers_own_referrals(storage: &dyn Storage) {
    let referrer = register(storage, "referrer", T0).await.user;
    let other = register(storage, "other", T0).await.user;
    let direct = register_referred(
        storage,
        "direct",
        &referrer,
        at(Duration::seconds(1)),
        points(100, 0, 0),
    )
    .await
    .user;
    register_referred(
        storage,
        "second",
        &direct,
        at(Duration::seconds(2)),
        points(100, 0, 0),
    )
    .await;
    register_referred(
        storage,
        "theirs",
        &other,
        at(Duration::seconds(3)),
        points(100, 0, 0),
    )
    .await;
    let list = storage.list_referrals(referrer.id, None, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|r| r.user_id).collect::<Vec<_>>(),
        vec![direct.id]
    );
    assert!(storage
        .list_referrals(Uuid::now_v7(), None, 10)
        .await
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens.

/// A live refresh token rotates once; its replacement belongs to the same user (the
/// placeholder owner passed in is ignored) and rotates in turn.
pub async fn a_refresh_token_rotates_into_its_replacement_for_the_same_user(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let login = refresh_token(owner.id, T0);
    storage.insert_refresh_token(login.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    let next = replacement(now);
    assert_eq!(
        storage
            .rotate_refresh_token(&login.hash, next.clone(), now)
            .await
            .unwrap(),
        Rotation::Rotated(owner.clone())
    );
    let later = at(Duration::minutes(2));
    assert_eq!(
        rotate(storage, &next.hash, later).await,
        Rotation::Rotated(owner.clone())
    );
}

/// Presenting an already-rotated token again is reuse: every refresh token of its user
/// (this family's replacement and other logins alike) is revoked; other users keep theirs.
pub async fn a_rotated_refresh_token_presented_again_revokes_the_family(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let bystander = register(storage, "grace", T0).await;
    let other_login = refresh_token(owner.user.id, T0);
    storage
        .insert_refresh_token(other_login.clone())
        .await
        .unwrap();
    let now = at(Duration::minutes(1));
    let next = replacement(now);
    assert_eq!(
        storage
            .rotate_refresh_token(&owner.refresh_token.hash, next.clone(), now)
            .await
            .unwrap(),
        Rotation::Rotated(owner.user.clone())
    );
    let later = at(Duration::minutes(2));
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, later).await,
        Rotation::Reused(owner.user.id)
    );
    assert_eq!(rotate(storage, &next.hash, later).await, Rotation::Invalid);
    assert_eq!(
        rotate(storage, &other_login.hash, later).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &bystander.refresh_token.hash, later).await,
        Rotation::Rotated(bystander.user.clone())
    );
}

/// A refresh token is live strictly before its expiry instant and dead from it on.
pub async fn a_refresh_token_expires_at_its_expiry_instant(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let expiring = refresh_token(owner.id, T0);
    let live = refresh_token(owner.id, T0);
    storage
        .insert_refresh_token(expiring.clone())
        .await
        .unwrap();
    storage.insert_refresh_token(live.clone()).await.unwrap();
    assert_eq!(
        rotate(storage, &expiring.hash, expiring.expires_at).await,
        Rotation::Invalid
    );
    let just_before = live.expires_at - Duration::microseconds(1);
    assert_eq!(
        rotate(storage, &live.hash, just_before).await,
        Rotation::Rotated(owner.clone())
    );
}

/// A revoked (logged-out) token does not rotate; revoking twice, or an unknown token, is
/// not an error; other tokens of the user live on.
pub async fn a_revoked_refresh_token_does_not_rotate(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    storage
        .revoke_refresh_token(&owner.refresh_token.hash, now)
        .await
        .unwrap();
    storage
        .revoke_refresh_token(&owner.refresh_token.hash, now)
        .await
        .unwrap();
    storage
        .revoke_refresh_token(&OpaqueToken::generate().hash(), now)
        .await
        .unwrap();
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Invalid
    );
    let other = refresh_token(owner.user.id, now);
    storage.insert_refresh_token(other.clone()).await.unwrap();
    assert_eq!(
        rotate(storage, &other.hash, now).await,
        Rotation::Rotated(owner.user.clone())
    );
}

/// A hash nobody stored does not rotate.
pub async fn an_unknown_refresh_token_does_not_rotate(storage: &dyn Storage) {
    register(storage, "ada", T0).await;
    let now = at(Duration::minutes(1));
    assert_eq!(
        rotate(storage, &OpaqueToken::generate().hash(), now).await,
        Rotation::Invalid
    );
}

/// Token hashes are unique: storing a refresh or reset token under a hash already stored
/// fails and leaves the first token working.
pub async fn a_token_hash_is_stored_once(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let other = register(storage, "grace", T0).await;
    let clash = RefreshTokenRecord {
        hash: owner.refresh_token.hash,
        ..refresh_token(other.user.id, T0)
    };
    assert!(storage.insert_refresh_token(clash).await.is_err());
    let reset = reset_token(owner.user.id, T0);
    storage.create_reset_token(reset.clone()).await.unwrap();
    let reset_clash = ResetTokenRecord {
        user_id: other.user.id,
        ..reset.clone()
    };
    assert!(storage.create_reset_token(reset_clash).await.is_err());
    let now = at(Duration::minutes(1));
    assert_eq!(
        storage
            .reset_token_user(&reset.hash, now)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(owner.user.id)
    );
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Rotated(owner.user.clone())
    );
}

/// Refresh and reset tokens belong to existing users; for an unknown user nothing is stored.
pub async fn tokens_for_unknown_users_are_refused(storage: &dyn Storage) {
    let ghost = user("ghost", T0);
    let login = refresh_token(ghost.id, T0);
    assert!(!storage.insert_refresh_token(login.clone()).await.unwrap());
    assert_eq!(
        rotate(storage, &login.hash, at(Duration::minutes(1))).await,
        Rotation::Invalid
    );
    let reset = reset_token(ghost.id, T0);
    assert!(!storage.create_reset_token(reset.clone()).await.unwrap());
    assert_eq!(
        storage
            .reset_token_user(&reset.hash, at(Duration::minutes(1)))
            .await
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Password-reset tokens.

/// A reset token names its user while live, and nobody from its expiry instant on.
pub async fn a_reset_token_names_its_user_until_it_expires(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let token = reset_token(owner.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let just_before = token.expires_at - Duration::microseconds(1);
    assert_eq!(
        storage
            .reset_token_user(&token.hash, just_before)
            .await
            .unwrap(),
        Some(owner)
    );
    assert_eq!(
        storage
            .reset_token_user(&token.hash, token.expires_at)
            .await
            .unwrap(),
        None
    );
    let unknown = OpaqueToken::generate().hash();
    assert_eq!(storage.reset_token_user(&unknown, T0).await.unwrap(), None);
}

/// A reset token is consumed once; afterwards it neither consumes nor names its user.
pub async fn a_reset_token_works_once(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let token = reset_token(owner.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("new"), now)
            .await
            .unwrap(),
        Some(owner.id)
    );
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("newer"), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.reset_token_user(&token.hash, now).await.unwrap(),
        None
    );
    let stored = storage
        .user_by_id(owner.id)
        .await
        .unwrap()
        .expect("owner stored");
    assert_eq!(stored.password_hash, fake_hash("new"));
    let unknown = OpaqueToken::generate().hash();
    assert_eq!(
        storage
            .consume_reset_token(&unknown, &fake_hash("x"), now)
            .await
            .unwrap(),
        None
    );
}

/// Consuming a reset token sets the new hash, bumps the token version, and revokes every
/// refresh token of the user, and of the user only.
pub async fn consuming_a_reset_token_changes_the_password_and_ends_every_session(
    storage: &dyn Storage,
) {
    let owner = register(storage, "ada", T0).await;
    let bystander = register(storage, "grace", T0).await;
    let second_login = refresh_token(owner.user.id, T0);
    storage
        .insert_refresh_token(second_login.clone())
        .await
        .unwrap();
    let token = reset_token(owner.user.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    storage
        .consume_reset_token(&token.hash, &fake_hash("new"), now)
        .await
        .unwrap();
    let expected = UserRecord {
        password_hash: fake_hash("new"),
        token_version: owner.user.token_version + 1,
        ..owner.user.clone()
    };
    assert_eq!(
        storage.user_by_id(owner.user.id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &second_login.hash, now).await,
        Rotation::Invalid
    );
    assert_eq!(
        rotate(storage, &bystander.refresh_token.hash, now).await,
        Rotation::Rotated(bystander.user.clone())
    );
    assert_eq!(
        storage.user_by_id(bystander.user.id).await.unwrap(),
        Some(bystander.user)
    );
}

/// A new reset token for a user supersedes their older unconsumed ones; other users'
/// tokens are untouched.
pub async fn a_new_reset_token_supersedes_the_older_one(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await.user;
    let other = register(storage, "grace", T0).await.user;
    let older = reset_token(owner.id, T0);
    let theirs = reset_token(other.id, T0);
    storage.create_reset_token(older.clone()).await.unwrap();
    storage.create_reset_token(theirs.clone()).await.unwrap();
    let newer = reset_token(owner.id, at(Duration::minutes(1)));
    storage.create_reset_token(newer.clone()).await.unwrap();
    let now = at(Duration::minutes(2));
    assert_eq!(
        storage.reset_token_user(&older.hash, now).await.unwrap(),
        None
    );
    assert_eq!(
        storage
            .consume_reset_token(&older.hash, &fake_hash("old"), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .reset_token_user(&theirs.hash, now)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(other.id)
    );
    assert_eq!(
        storage
            .consume_reset_token(&newer.hash, &fake_hash("new"), now)
            .await
            .unwrap(),
        Some(owner.id)
    );
}

/// Consuming a token at or after its expiry does nothing: no password or version change.
pub async fn an_expired_reset_token_cannot_be_consumed(storage: &dyn Storage) {
    let owner = register(storage, "ada", T0).await;
    let token = reset_token(owner.user.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    assert_eq!(
        storage
            .consume_reset_token(&token.hash, &fake_hash("late"), token.expires_at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage.user_by_id(owner.user.id).await.unwrap(),
        Some(owner.user.clone())
    );
    let now = token.expires_at;
    assert_eq!(
        rotate(storage, &owner.refresh_token.hash, now).await,
        Rotation::Rotated(owner.user.clone())
    );
}

/// A queued message is pending and claimable at once, exactly as it was queued.
pub async fn an_enqueued_message_is_claimable_as_queued(storage: &dyn Storage) {
    assert_eq!(pending(storage).await, 0);
    let message = mail(&email("ada"), T0);
    storage.enqueue_outbox(message.clone()).await.unwrap();
    assert_eq!(pending(storage).await, 1);
    let claimed = claim(storage, T0, Duration::minutes(5), 10).await;
    assert_eq!(
        claimed,
        vec![OutboxMessage {
            attempts: 1,
            ..message
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Rate limits.

fn key(tag: &str) -> RateKey {
    let mut bytes = [0u8; 32];
    for (slot, byte) in bytes.iter_mut().zip(tag.bytes()) {
        *slot = byte;
    }
    RateKey::from_bytes(bytes)
}

/// Hits within a window count up from 1, keeping the window's start.
pub async fn rate_limit_hits_count_within_one_window(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    for (i, offset) in [0, 1, 60, 899].into_iter().enumerate() {
        let hit = storage
            .hit_rate_limit(&key("login:ada"), at(Duration::seconds(offset)), window)
            .await
            .unwrap();
        assert_eq!((hit.count, hit.started_at), (i as u32 + 1, T0));
    }
}

/// A window closes at `started_at + window`: the next hit opens a new one at that instant
/// with count 1.
pub async fn a_rate_limit_window_closes_at_its_end(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    storage.hit_rate_limit(&key("k"), T0, window).await.unwrap();
    let end = T0 + window;
    let last = end - Duration::microseconds(1);
    let hit = storage
        .hit_rate_limit(&key("k"), last, window)
        .await
        .unwrap();
    assert_eq!((hit.count, hit.started_at), (2, T0));
    let hit = storage
        .hit_rate_limit(&key("k"), end, window)
        .await
        .unwrap();
    assert_eq!((hit.count, hit.started_at), (1, end));
}

/// Clearing a key forgets its window; other keys keep counting.
pub async fn clearing_a_rate_limit_forgets_only_that_key(storage: &dyn Storage) {
    let window = Duration::hours(1);
    storage.hit_rate_limit(&key("a"), T0, window).await.unwrap();
    storage.hit_rate_limit(&key("b"), T0, window).await.unwrap();
    storage.clear_rate_limit(&key("a")).await.unwrap();
    storage.clear_rate_limit(&key("never-hit")).await.unwrap();
    assert_eq!(
        storage
            .hit_rate_limit(&key("a"), T0, window)
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        storage
            .hit_rate_limit(&key("b"), T0, window)
            .await
            .unwrap()
            .count,
        2
    );
}

/// A refund takes back one attempt of the window it was counted in, and none of a later one.
pub async fn a_refund_takes_back_one_attempt_of_its_own_window(storage: &dyn Storage) {
    let window = Duration::minutes(15);
    storage.hit_rate_limit(&key("r"), T0, window).await.unwrap();
    let second = storage.hit_rate_limit(&key("r"), T0, window).await.unwrap();
    storage
        .refund_rate_limit(&key("r"), second.started_at)
        .await
        .unwrap();
    let third = storage.hit_rate_limit(&key("r"), T0, window).await.unwrap();
    assert_eq!(
        third.count, 2,
        "one of the two earlier attempts was refunded"
    );
    let later = T0 + window;
    storage
        .hit_rate_limit(&key("r"), later, window)
        .await
        .unwrap();
    storage.refund_rate_limit(&key("r"), T0).await.unwrap();
    let next = storage
        .hit_rate_limit(&key("r"), later, window)
        .await
        .unwrap();
    assert_eq!(
        (next.count, next.started_at),
        (2, later),
        "a refund for an ended window changes nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// The outbox.

/// A claim leases messages: nobody claims them again until the lease ends, then they are
/// claimable again with one more attempt counted.
pub async fn outbox_claims_are_leased(storage: &dyn Storage) {
    let queued = queue_mail(storage, 2, T0).await;
    let lease = Duration::minutes(5);
    let first = claim(storage, T0, lease, 10).await;
    assert_eq!(ids(&first), ids(&queued));
    assert!(first.iter().all(|m| m.attempts == 1));
    assert!(
        claim(storage, T0 + lease - Duration::microseconds(1), lease, 10)
            .await
            .is_empty()
    );
    assert_eq!(
        pending(storage).await,
        2,
        "leased messages are still pending"
    );
    let again = claim(storage, T0 + lease, lease, 10).await;
    assert_eq!(ids(&again), ids(&queued));
    assert!(again.iter().all(|m| m.attempts == 2));
}

/// A claim takes at most `limit` messages, and only those due at `now`.
pub async fn outbox_claims_respect_the_limit_and_the_due_time(storage: &dyn Storage) {
    let queued = queue_mail(storage, 5, T0).await;
    let future = queue_mail(storage, 1, at(Duration::hours(1))).await;
    // Longer than the hour below, so the first five are still leased then.
    let lease = Duration::hours(2);
    let mut claimed = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = claim(storage, T0, lease, 2).await;
        assert_eq!(batch.len(), expected);
        claimed.extend(batch);
    }
    assert_eq!(ids(&claimed), ids(&queued));
    assert_eq!(
        ids(&claim(storage, at(Duration::hours(1)), lease, 10).await),
        ids(&future)
    );
}

/// A message marked sent is no longer pending and is never claimed again.
pub async fn a_completed_message_is_never_claimed_again(storage: &dyn Storage) {
    let queued = queue_mail(storage, 2, T0).await;
    let lease = Duration::minutes(5);
    let claimed = claim(storage, T0, lease, 1).await;
    assert_eq!(claimed.len(), 1);
    storage
        .complete_outbox(claimed[0].id, at(Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(pending(storage).await, 1);
    let later = claim(storage, at(Duration::days(1)), lease, 10).await;
    let remaining: Vec<Uuid> = ids(&queued)
        .into_iter()
        .filter(|id| *id != claimed[0].id)
        .collect();
    assert_eq!(ids(&later), remaining);
}

/// A failed attempt releases the message until `retry_at`; then it is claimed again.
pub async fn a_failed_message_is_retried_at_its_retry_time(storage: &dyn Storage) {
    let queued = queue_mail(storage, 1, T0).await;
    let lease = Duration::minutes(5);
    let claimed = claim(storage, T0, lease, 10).await;
    assert_eq!(ids(&claimed), ids(&queued));
    let retry_at = at(Duration::seconds(30));
    storage
        .fail_outbox(queued[0].id, retry_at, "connection refused")
        .await
        .unwrap();
    assert_eq!(pending(storage).await, 1);
    assert!(
        claim(storage, retry_at - Duration::microseconds(1), lease, 10)
            .await
            .is_empty()
    );
    let retried = claim(storage, retry_at, lease, 10).await;
    assert_eq!(ids(&retried), ids(&queued));
    assert_eq!(retried[0].attempts, 2);
}

/// Pruning deletes messages done before the cutoff and never a pending one.
pub async fn pruning_deletes_only_messages_done_before_the_cutoff(storage: &dyn Storage) {
    queue_mail(storage, 3, T0).await;
    let claimed = claim(storage, T0, Duration::minutes(5), 2).await;
    let (early, late) = (at(Duration::seconds(10)), at(Duration::seconds(20)));
    storage.complete_outbox(claimed[0].id, early).await.unwrap();
    storage.complete_outbox(claimed[1].id, late).await.unwrap();
    let prune = |done_before| async move {
        storage
            .prune(T0, done_before, T0)
            .await
            .expect("pruning")
            .outbox
    };
    assert_eq!(prune(early).await, 0, "done at the cutoff is kept");
    assert_eq!(prune(late).await, 1);
    assert_eq!(prune(at(Duration::days(365))).await, 1);
    assert_eq!(prune(at(Duration::days(365))).await, 0);
    assert_eq!(pending(storage).await, 1);
    assert_eq!(
        claim(storage, at(Duration::days(1)), Duration::minutes(5), 10)
            .await
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency.

/// 50 parallel sign-ups with one referrer: 50 referrals, counters and ledger sums to match.
pub async fn concurrent_registrations_with_one_referrer_are_all_counted(storage: Arc<dyn Storage>) {
    const SIGN_UPS: i64 = 50;
    let policy = points(100, 7, 3);
    let grand = register(&*storage, "grand", T0 - Duration::days(3))
        .await
        .user;
    let referrer = register_referred(
        &*storage,
        "referrer",
        &grand,
        T0 - Duration::days(3),
        policy,
    )
    .await
    .user;
    let mut set = JoinSet::new();
    for i in 0..SIGN_UPS {
        let storage = Arc::clone(&storage);
        // Two calendar days, so per-day counters are raced on as well.
        let joined = at(Duration::microseconds(i) - Duration::days(i % 2));
        let new = referred_registration(user(&format!("racer{i}"), joined), &referrer, policy);
        set.spawn(async move {
            let id = new.user.id;
            storage.create_user(new).await.map(|()| id)
        });
    }
    let registered: HashSet<Uuid> = join_all(set)
        .await
        .into_iter()
        .map(|result| result.expect("every parallel registration succeeds"))
        .collect();
    let since = T0 - Duration::days(2);
    assert_eq!(
        stats(&*storage, referrer.id, since).await,
        ReferralCounts {
            total: SIGN_UPS as u64,
            since: SIGN_UPS as u64,
            second_tier: 0,
            reward_points: SIGN_UPS * 100 + 7,
        }
    );
    assert_eq!(
        stats(&*storage, grand.id, since).await,
        ReferralCounts {
            total: 1,
            since: 0,
            second_tier: SIGN_UPS as u64,
            reward_points: 100 + SIGN_UPS * 3
        }
    );
    let listed = storage
        .list_referrals(referrer.id, None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), SIGN_UPS as usize);
    assert_eq!(
        listed.iter().map(|r| r.user_id).collect::<HashSet<_>>(),
        registered
    );
    assert!(listed.iter().all(|r| r.reward_points == 100));
    for id in registered {
        assert_eq!(stats(&*storage, id, since).await.reward_points, 7);
    }
}

/// 20 parallel sign-ups with one email: exactly one succeeds, 19 get `EmailTaken`.
pub async fn concurrent_registrations_of_one_email_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let mut set = JoinSet::new();
    for i in 0..20 {
        let storage = Arc::clone(&storage);
        let new = registration(user("contested", at(Duration::microseconds(i))));
        set.spawn(async move {
            let id = new.user.id;
            (id, storage.create_user(new).await)
        });
    }
    let results = join_all(set).await;
    let winners: Vec<Uuid> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one registration wins");
    for (_, result) in &results {
        assert!(
            matches!(result, Ok(()) | Err(StorageError::EmailTaken)),
            "losers get EmailTaken, got {result:?}"
        );
    }
    let stored = storage.user_by_email(&email("contested")).await.unwrap();
    assert_eq!(stored.map(|u| u.id), Some(winners[0]));
}

/// 8 parallel consumptions of one reset token: exactly one succeeds, and the token version
/// goes up exactly once.
pub async fn concurrent_consumptions_of_one_reset_token_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let owner = register(&*storage, "ada", T0).await.user;
    let token = reset_token(owner.id, T0);
    storage.create_reset_token(token.clone()).await.unwrap();
    let now = at(Duration::minutes(1));
    let mut set = JoinSet::new();
    for i in 0..8 {
        let storage = Arc::clone(&storage);
        let hash = token.hash;
        set.spawn(async move {
            let new_hash = fake_hash(&format!("racer{i}"));
            let result = storage.consume_reset_token(&hash, &new_hash, now).await;
            (new_hash, result.expect("consuming a reset token"))
        });
    }
    let results = join_all(set).await;
    let winners: Vec<&PasswordHash> = results
        .iter()
        .filter(|(_, r)| r.is_some())
        .map(|(h, _)| h)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one consumption wins");
    assert!(results
        .iter()
        .all(|(_, r)| r.is_none() || *r == Some(owner.id)));
    let stored = storage
        .user_by_id(owner.id)
        .await
        .unwrap()
        .expect("owner stored");
    assert_eq!(stored.token_version, 1);
    assert_eq!(&stored.password_hash, winners[0]);
}

/// Two parallel rotations of one refresh token: exactly one `Rotated`; the other sees the
/// token already rotated (`Reused`). Repeated to give races a chance.
pub async fn concurrent_rotations_of_one_refresh_token_have_exactly_one_winner(
    storage: Arc<dyn Storage>,
) {
    let owner = register(&*storage, "ada", T0).await.user;
    for round in 0..10 {
        let now = at(Duration::minutes(round));
        let login = refresh_token(owner.id, now);
        storage.insert_refresh_token(login.clone()).await.unwrap();
        let mut set = JoinSet::new();
        for _ in 0..2 {
            let storage = Arc::clone(&storage);
            let hash = login.hash;
            set.spawn(async move {
                storage
                    .rotate_refresh_token(&hash, replacement(now), now)
                    .await
                    .expect("rotating a refresh token")
            });
        }
        let mut outcomes = join_all(set).await;
        outcomes.sort_by_key(|o| matches!(o, Rotation::Reused(_)));
        assert_eq!(
            outcomes,
            vec![Rotation::Rotated(owner.clone()), Rotation::Reused(owner.id)],
            "round {round}"
        );
    }
}

/// Parallel reset tokens for one user leave exactly one live.
pub async fn concurrent_reset_requests_leave_one_live_token(storage: Arc<dyn Storage>) {
    let owner = register(&*storage, "ada", T0).await.user;
    let mut set = JoinSet::new();
    for i in 0..8 {
        let storage = Arc::clone(&storage);
        let token = reset_token(owner.id, at(Duration::microseconds(i)));
        set.spawn(async move {
            assert!(storage
                .create_reset_token(token.clone())
                .await
                .expect("creating a reset token"));
            token.hash
        });
    }
    let hashes = join_all(set).await;
    let now = at(Duration::minutes(1));
    let mut live = 0;
    for hash in &hashes {
        if storage.reset_token_user(hash, now).await.unwrap().is_some() {
            live += 1;
        }
    }
    assert_eq!(live, 1, "exactly one reset token stays live");
}

/// Parallel hits on one key are each counted once: the counts returned are 1..=20.
pub async fn concurrent_rate_limit_hits_are_all_counted(storage: Arc<dyn Storage>) {
    let window = Duration::minutes(15);
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let storage = Arc::clone(&storage);
        set.spawn(async move {
            storage
                .hit_rate_limit(&key("login:contested"), T0, window)
                .await
                .expect("hitting a rate limit")
                .count
        });
    }
    let mut counts = join_all(set).await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
    let next = storage
        .hit_rate_limit(&key("login:contested"), T0, window)
        .await
        .unwrap();
    assert_eq!(next.count, 21);
}

/// Parallel claimers never receive the same message, and together they claim every due one.
pub async fn concurrent_outbox_claims_never_hand_out_a_message_twice(storage: Arc<dyn Storage>) {
    let queued = queue_mail(&*storage, 12, T0).await;
    let lease = Duration::minutes(5);
    let mut set = JoinSet::new();
    for _ in 0..6 {
        let storage = Arc::clone(&storage);
        set.spawn(async move { claim(&*storage, T0, lease, 4).await });
    }
    let claimed: Vec<OutboxMessage> = join_all(set).await.into_iter().flatten().collect();
    assert_eq!(
        ids(&claimed),
        ids(&queued),
        "each message claimed exactly once"
    );
    assert!(claim(&*storage, T0, lease, 100).await.is_empty());
}
