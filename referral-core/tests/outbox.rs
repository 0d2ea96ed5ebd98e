//! The outbox dispatcher over `MemoryStorage`, a recording mailer and a manual clock: mail is
//! rendered at delivery, sent once, retried with backoff, given up on as a dead letter (at
//! once for a permanent failure, after `give_up_after` otherwise), and storage is tidied.

mod harness;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use referral_core::storage::PruneReport;
use referral_core::{
    ApiRequest, Config, DispatchReport, Engine, Error, MailError, Mailer, ManualClock,
    MemoryStorage, Message, NewAccount, OutboxPolicy, RecordingMailer, RequestBody, Storage,
};
use time::Duration;
use tokio::sync::{mpsc, Notify};

use harness::{config, engine_on, Harness, PASSWORD};

const WAIT: StdDuration = StdDuration::from_secs(10);

fn with_policy(policy: OutboxPolicy) -> Config {
    config().outbox(policy).build().unwrap()
}

/// Registers `email` and asks for a reset, which queues one message.
/// Registers `email` (delivering the registration's events, and anything else due) and asks
/// for a reset, which queues one message.
async fn queue_reset(engine: &Engine, email: &str) {
    queue_resets(engine, [email]).await;
}

/// Registers every one of `emails`, delivers what that queued (their events) in one round,
/// then asks for a reset for each: the outbox then holds exactly one message per email.
async fn queue_resets<'a>(engine: &Engine, emails: impl IntoIterator<Item = &'a str> + Clone) {
    for email in emails.clone() {
        engine
            .register(NewAccount::new(email, PASSWORD))
            .await
            .unwrap();
    }
    while !engine
        .outbox_dispatcher()
        .dispatch_due()
        .await
        .unwrap()
        .is_idle()
    {}
    for email in emails {
        engine.request_password_reset(email, None).await.unwrap();
    }
}

/// One dispatcher round, its housekeeping aside (the housekeeping tests read that).
async fn round(engine: &Engine) -> DispatchReport {
    let report = engine.outbox_dispatcher().dispatch_due().await.unwrap();
    DispatchReport {
        pruned: PruneReport::default(),
        ..report
    }
}

fn sent(sent: u32) -> DispatchReport {
    DispatchReport {
        sent,
        ..DispatchReport::default()
    }
}

fn failed(failed: u32) -> DispatchReport {
    DispatchReport {
        failed,
        ..DispatchReport::default()
    }
}

fn dead(dead: u32) -> DispatchReport {
    DispatchReport {
        dead,
        ..DispatchReport::default()
    }
}

#[tokio::test]
async fn queued_reset_mail_is_sent_by_dispatch_due_and_only_once() {
    let h = Harness::new();
    queue_reset(&h.engine, "reader@example.com").await;
    assert!(
        h.mailer.messages().is_empty(),
        "nothing is sent from a request"
    );
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 1);

    assert_eq!(round(&h.engine).await, sent(1));
    let messages = h.mailer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to.as_str(), "reader@example.com");
    assert!(messages[0]
        .text
        .contains("https://app.example.com/reset-password?token="));
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 0);

    h.clock.advance(Duration::hours(2));
    assert_eq!(round(&h.engine).await, sent(0));
    assert_eq!(h.mailer.attempts(), 1);
}

#[tokio::test]
async fn a_failing_mailer_changes_no_http_answer_and_the_mail_is_retried_with_growing_backoff() {
    let h = Harness::new();
    h.register("unlucky@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("connection refused".into())));

    let mut request = ApiRequest::new("POST", "/api/reset-password");
    request.content_type = Some("application/json".into());
    request.body = RequestBody::Complete(br#"{"email":"unlucky@example.com"}"#.to_vec());
    let response = h.engine.handle(request).await;
    assert_eq!(response.status, 202);

    let policy = OutboxPolicy::default();
    assert_eq!(round(&h.engine).await, failed(1));
    assert_eq!(
        h.storage.pending_outbox().await.unwrap(),
        1,
        "kept, not lost"
    );

    // First retry after backoff(1), not before.
    h.clock
        .advance(policy.backoff(1) - Duration::milliseconds(1));
    assert_eq!(round(&h.engine).await, sent(0));
    h.clock.advance(Duration::milliseconds(1));
    assert_eq!(round(&h.engine).await, failed(1));

    // The second failure counted: the wait doubled.
    assert!(policy.backoff(2) > policy.backoff(1));
    h.clock.advance(policy.backoff(1));
    assert_eq!(round(&h.engine).await, sent(0));
    h.clock.advance(policy.backoff(2) - policy.backoff(1));
    assert_eq!(round(&h.engine).await, failed(1));
    assert_eq!(h.mailer.attempts(), 3);
    assert!(h.mailer.messages().is_empty());
}

#[tokio::test]
async fn after_the_mailer_recovers_the_mail_is_delivered_exactly_once() {
    let h = Harness::new();
    queue_reset(&h.engine, "later@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("try later".into())));
    assert_eq!(round(&h.engine).await, failed(1));

    h.mailer.fail_with(None);
    h.clock.advance(OutboxPolicy::default().backoff(1));
    assert_eq!(round(&h.engine).await, sent(1));
    for _ in 0..3 {
        h.clock.advance(Duration::hours(1));
        assert_eq!(round(&h.engine).await, sent(0));
    }
    let messages = h.mailer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to.as_str(), "later@example.com");
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 0);
}

#[tokio::test]
async fn a_transient_failure_is_retried_at_a_backoff_capped_at_its_maximum() {
    let policy = OutboxPolicy {
        backoff_base: Duration::seconds(1),
        backoff_max: Duration::seconds(4),
        ..OutboxPolicy::default()
    };
    let h = Harness::with(|c| c.outbox(policy));
    queue_reset(&h.engine, "flaky@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("421 try again later".into())));
    for attempt in 1..=6 {
        assert_eq!(round(&h.engine).await, failed(1));
        let wait = policy.backoff(attempt);
        assert!(wait <= policy.backoff_max);
        h.clock.advance(wait - Duration::milliseconds(1));
        assert_eq!(round(&h.engine).await, sent(0), "not before the backoff");
        h.clock.advance(Duration::milliseconds(1));
    }
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 1, "never lost");
    h.mailer.fail_with(None);
    assert_eq!(round(&h.engine).await, sent(1));
}

#[tokio::test]
async fn a_rejected_message_becomes_a_dead_letter_at_once_with_the_reason_and_can_be_redelivered() {
    let h = Harness::new();
    queue_reset(&h.engine, "bounced@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Rejected("550 no such user".into())));
    assert_eq!(round(&h.engine).await, dead(1));
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 0);

    let letters = h.storage.dead_letters(None, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("550 no such user"),
        "{}",
        letters[0].reason
    );
    h.clock.advance(Duration::minutes(10));
    assert_eq!(round(&h.engine).await, sent(0));
    assert_eq!(h.mailer.attempts(), 1, "a permanent failure is not retried");

    // Once the cause is fixed, an operator redelivers it (a reset request still within the
    // token lifetime: an older one would die again, as expired).
    h.mailer.fail_with(None);
    let id = letters[0].message.id;
    assert!(h
        .storage
        .redeliver_outbox(id, h.engine.now(), None)
        .await
        .unwrap());
    assert_eq!(round(&h.engine).await, sent(1));
    assert_eq!(h.mailer.messages()[0].to.as_str(), "bounced@example.com");
    assert!(h.storage.dead_letters(None, 10).await.unwrap().is_empty());
    assert!(
        !h.storage
            .redeliver_outbox(id, h.engine.now(), None)
            .await
            .unwrap(),
        "only a dead letter is redelivered"
    );
}

#[tokio::test]
async fn a_transient_failure_becomes_a_dead_letter_once_give_up_after_has_passed() {
    // Shorter than the reset-token lifetime, so giving up comes before expiry.
    let policy = OutboxPolicy {
        backoff_base: Duration::seconds(30),
        backoff_max: Duration::minutes(2),
        give_up_after: Duration::minutes(10),
        ..OutboxPolicy::default()
    };
    let h = Harness::with(|c| c.outbox(policy));
    queue_reset(&h.engine, "patient@example.com").await;
    let queued_at = h.engine.now();
    h.mailer
        .fail_with(Some(MailError::Unavailable("connection refused".into())));
    let mut attempts = 0;
    while h.engine.now() - queued_at < policy.give_up_after {
        assert_eq!(round(&h.engine).await, failed(1), "retried meanwhile");
        assert_eq!(h.storage.pending_outbox().await.unwrap(), 1);
        attempts += 1;
        h.clock.advance(policy.backoff(attempts));
    }
    assert_eq!(round(&h.engine).await, dead(1));
    let letters = h.storage.dead_letters(None, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("gave up") && letters[0].reason.contains("connection refused"),
        "{}",
        letters[0].reason
    );
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 0);
}

#[tokio::test]
async fn a_reset_request_older_than_the_token_lifetime_is_not_sent_and_dies_as_expired() {
    let h = Harness::new();
    queue_reset(&h.engine, "slow@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("connection refused".into())));
    assert_eq!(round(&h.engine).await, failed(1));

    h.mailer.fail_with(None);
    h.clock.advance(h.engine.config().reset_ttl());
    assert_eq!(round(&h.engine).await, dead(1));
    assert!(
        h.mailer.messages().is_empty(),
        "an expired link is not sent"
    );
    let letters = h.storage.dead_letters(None, 10).await.unwrap();
    assert!(
        letters[0].reason.contains("expired"),
        "{}",
        letters[0].reason
    );
}

#[tokio::test]
async fn an_engine_built_without_a_mailer_sends_nothing_and_keeps_the_message_as_a_dead_letter() {
    let storage = MemoryStorage::new();
    let clock = ManualClock::starting_now();
    let unmailed = Engine::builder(config().build().unwrap())
        .storage(Arc::new(storage.clone()))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    queue_reset(&unmailed, "unmailed@example.com").await;
    assert_eq!(round(&unmailed).await, dead(1));
    let letters = storage.dead_letters(None, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].reason.contains("no mailer"),
        "{}",
        letters[0].reason
    );

    // Configured with a mailer, the server delivers it once redelivered.
    let mailer = RecordingMailer::new();
    let mailed = engine_on(
        Arc::new(storage.clone()),
        Arc::new(mailer.clone()),
        &clock,
        config().build().unwrap(),
    );
    assert!(storage
        .redeliver_outbox(letters[0].message.id, mailed.now(), None)
        .await
        .unwrap());
    assert_eq!(round(&mailed).await, sent(1));
    assert_eq!(mailer.messages()[0].to.as_str(), "unmailed@example.com");
}

#[tokio::test]
async fn housekeeping_deletes_ended_windows_and_dead_tokens_and_keeps_live_ones() {
    let h = Harness::with(|c| c.refresh_ttl(Duration::hours(1)));
    let dispatcher = h.engine.outbox_dispatcher();
    let alice = h.register("alice@example.com").await.tokens;
    let bob = h.register("bob@example.com").await.tokens;
    h.register("carol@example.com").await;
    h.register("dave@example.com").await;
    let reset_requests = [
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "dave@example.com",
    ];
    for email in reset_requests {
        h.engine.request_password_reset(email, None).await.unwrap();
    }
    let report = h.deliver().await;
    assert_eq!(
        (report.sent, report.pruned),
        (
            4,
            PruneReport {
                reset_tokens: 1, // Dave's first, superseded by his second in the same round
                ..PruneReport::default()
            }
        )
    );
    let mailed = h.mailed_reset_tokens().await;
    let first_to = |email: &str| &mailed.iter().find(|(to, _)| to == email).unwrap().1;
    let bob_reset = first_to("bob@example.com");
    assert!(matches!(
        h.engine
            .confirm_password_reset(first_to("dave@example.com"), "dave's new password")
            .await,
        Err(Error::InvalidResetToken)
    ));

    // Alice ends one session and starts another; Bob resets his password.
    h.engine.logout(&alice.refresh_token).await.unwrap();
    let alice = h.engine.login("alice@example.com", PASSWORD).await.unwrap();
    h.engine
        .confirm_password_reset(bob_reset, "bob's new password")
        .await
        .unwrap();
    assert_eq!(
        dispatcher.housekeeping().await.unwrap(),
        PruneReport {
            refresh_tokens: 2, // Alice's logged-out one, Bob's revoked by the reset
            reset_tokens: 1,   // Bob's, used
            ..PruneReport::default()
        }
    );
    assert!(matches!(
        h.engine.refresh(&bob.refresh_token).await,
        Err(Error::InvalidRefreshToken)
    ));

    h.clock.advance(Duration::minutes(30));
    assert_eq!(
        dispatcher.housekeeping().await.unwrap(),
        PruneReport {
            rate_limits: 1,  // Alice's login window (15 minutes)
            reset_tokens: 2, // Carol's and Dave's second, expired unused
            ..PruneReport::default()
        }
    );
    // What is live survived and works.
    let alice = h.engine.refresh(&alice.refresh_token).await.unwrap();
    assert!(h.engine.authenticate(&alice.access_token).await.is_ok());
    assert!(h
        .engine
        .login("bob@example.com", "bob's new password")
        .await
        .is_ok());
    assert!(h.engine.login("carol@example.com", PASSWORD).await.is_ok());
    assert_eq!(
        dispatcher.housekeeping().await.unwrap(),
        PruneReport::default(),
        "a rotated token is kept until it expires, to detect its reuse"
    );

    h.clock.advance(Duration::minutes(30));
    assert_eq!(
        dispatcher.housekeeping().await.unwrap(),
        PruneReport {
            // Bob's, Carol's and Dave's reset-mail windows (an hour), Bob's and Carol's
            // login windows.
            rate_limits: 5,
            // Carol's and Dave's first tokens and Alice's rotated one, issued an hour ago.
            refresh_tokens: 3,
            ..PruneReport::default()
        }
    );
    assert!(h.engine.refresh(&alice.refresh_token).await.is_ok());
}

#[tokio::test]
async fn delivered_messages_go_after_the_retention_period_and_dead_letters_after_theirs() {
    let policy = OutboxPolicy::default();
    let h = Harness::new();
    queue_reset(&h.engine, "kept@example.com").await;
    assert_eq!(round(&h.engine).await, sent(1));
    queue_reset(&h.engine, "bounced@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Rejected("550 no such user".into())));
    assert_eq!(round(&h.engine).await, dead(1));
    let dispatcher = h.engine.outbox_dispatcher();
    let outbox_pruned = || async { dispatcher.housekeeping().await.unwrap().outbox };

    h.clock.advance(policy.retention - Duration::seconds(1));
    assert_eq!(outbox_pruned().await, 0);
    h.clock.advance(Duration::seconds(2));
    assert_eq!(
        outbox_pruned().await,
        3,
        "the delivered message and the two registrations' events"
    );
    assert_eq!(h.storage.dead_letters(None, 10).await.unwrap().len(), 1);

    h.clock
        .advance(policy.dead_retention - policy.retention - Duration::seconds(2));
    assert_eq!(outbox_pruned().await, 0);
    h.clock.advance(Duration::seconds(2));
    assert_eq!(outbox_pruned().await, 1, "the dead letter");
    assert!(h.storage.dead_letters(None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_sharing_one_storage_deliver_each_message_exactly_once() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    race_two_dispatchers(storage.clone(), storage).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_on_one_sqlite_database_deliver_each_message_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
    // Two pools on one file: two server instances sharing a database.
    let first = referral_core::storage::open(&url).await.unwrap();
    let second = referral_core::storage::open(&url).await.unwrap();
    race_two_dispatchers(first, second).await;
}

/// Two engines (two server instances), each on its own handle to one database and sharing
/// one mail server, dispatching at the same time until the outbox is empty.
async fn race_two_dispatchers(storage: Arc<dyn Storage>, other: Arc<dyn Storage>) {
    let mailer = RecordingMailer::new();
    let clock = ManualClock::starting_now();
    let policy = OutboxPolicy {
        batch: 7,
        ..OutboxPolicy::default()
    };
    let first = engine_on(
        storage.clone(),
        Arc::new(mailer.clone()),
        &clock,
        with_policy(policy),
    );
    let second = engine_on(other, Arc::new(mailer.clone()), &clock, with_policy(policy));
    let count = 40;
    let emails: Vec<String> = (0..count).map(|n| format!("user{n}@example.com")).collect();
    queue_resets(&first, emails.iter().map(String::as_str)).await;

    let drain = |engine: Engine| async move {
        let mut total = 0;
        loop {
            let report = round(&engine).await;
            if report.sent == 0 {
                return total;
            }
            total += report.sent;
            tokio::task::yield_now().await;
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(drain(first.clone())),
        tokio::spawn(drain(second.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, count, "first sent {a}, second sent {b}");

    let mut recipients: Vec<String> = mailer.messages().iter().map(|m| m.to.to_string()).collect();
    assert_eq!(recipients.len(), count as usize);
    recipients.sort();
    recipients.dedup();
    assert_eq!(
        recipients.len(),
        count as usize,
        "no message went out twice"
    );
    assert_eq!(storage.pending_outbox().await.unwrap(), 0);

    // Long after every lease has run out, nothing is sent again.
    clock.advance(Duration::days(1));
    assert_eq!(round(&first).await.sent, 0);
    assert_eq!(mailer.messages().len(), count as usize);
}

#[tokio::test]
async fn a_claimed_message_is_not_sent_by_another_dispatcher_until_its_lease_runs_out() {
    let h = Harness::new();
    queue_reset(&h.engine, "leased@example.com").await;
    let policy = OutboxPolicy::default();
    // A dispatcher that died after claiming: the message is leased, unsent.
    let now = h.engine.now();
    let claimed = h
        .storage
        .claim_outbox(now, now + policy.lease, policy.batch)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    h.clock.advance(policy.lease - Duration::seconds(1));
    assert_eq!(round(&h.engine).await, sent(0));
    h.clock.advance(Duration::seconds(1));
    assert_eq!(round(&h.engine).await, sent(1));
    assert_eq!(h.mailer.messages().len(), 1);
}

/// Reports each message it accepts on a channel, so a test can wait for delivery.
struct Signalling {
    delivered: mpsc::UnboundedSender<Message>,
}

#[async_trait]
impl Mailer for Signalling {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let _ = self.delivered.send(message.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_spawned_dispatcher_sends_as_soon_as_mail_is_queued() {
    // Polling alone would take an hour: only the engine's wake-up can deliver in time.
    let policy = OutboxPolicy {
        poll_interval: Duration::hours(1),
        ..OutboxPolicy::default()
    };
    let (delivered, mut arrivals) = mpsc::unbounded_channel();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let engine = engine_on(
        storage.clone(),
        Arc::new(Signalling { delivered }),
        &ManualClock::starting_now(),
        with_policy(policy),
    );
    let outbox = engine.outbox_dispatcher().spawn();
    for email in ["first@example.com", "second@example.com"] {
        queue_reset(&engine, email).await;
        let message = tokio::time::timeout(WAIT, arrivals.recv())
            .await
            .expect("delivered promptly")
            .unwrap();
        assert_eq!(message.to.as_str(), email);
    }
    outbox.shutdown().await.unwrap();
    assert_eq!(storage.pending_outbox().await.unwrap(), 0);
}

/// Blocks in `send` until released, to hold a send in flight.
struct Gate {
    entered: mpsc::UnboundedSender<()>,
    release: Arc<Notify>,
    inner: RecordingMailer,
}

#[async_trait]
impl Mailer for Gate {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let _ = self.entered.send(());
        self.release.notified().await;
        self.inner.send(message).await
    }
}

#[tokio::test]
async fn shutdown_finishes_the_send_in_flight_and_releases_the_rest() {
    let (entered, mut entries) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let recorded = RecordingMailer::new();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let clock = ManualClock::starting_now();
    let engine = engine_on(
        storage.clone(),
        Arc::new(Gate {
            entered,
            release: release.clone(),
            inner: recorded.clone(),
        }),
        &clock,
        config().build().unwrap(),
    );
    let emails: Vec<String> = (0..3).map(|n| format!("queued{n}@example.com")).collect();
    queue_resets(&engine, emails.iter().map(String::as_str)).await;
    let outbox = engine.outbox_dispatcher().spawn();
    tokio::time::timeout(WAIT, entries.recv())
        .await
        .expect("a send started")
        .unwrap();

    let stopping = tokio::spawn(outbox.shutdown());
    // On this single-threaded runtime, yielding lets the shutdown reach the dispatcher
    // before the send in flight is released.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("shutdown completes")
        .unwrap()
        .unwrap();

    assert_eq!(recorded.messages().len(), 1, "the send in flight finished");
    assert_eq!(storage.pending_outbox().await.unwrap(), 2);
    // The other two were released, not left leased: another dispatcher takes them now.
    let other = engine_on(
        storage.clone(),
        Arc::new(recorded.clone()),
        &clock,
        config().build().unwrap(),
    );
    assert_eq!(
        other.outbox_dispatcher().dispatch_due().await.unwrap(),
        sent(2)
    );
    assert_eq!(recorded.messages().len(), 3);
}

struct Panicking;

#[async_trait]
impl Mailer for Panicking {
    async fn send(&self, _message: &Message) -> Result<(), MailError> {
        panic!("a broken mailer");
    }
}

#[tokio::test]
async fn a_mailer_that_panics_fails_the_attempt_not_the_dispatcher() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let engine = engine_on(
        storage.clone(),
        Arc::new(Panicking),
        &ManualClock::starting_now(),
        config().build().unwrap(),
    );
    queue_reset(&engine, "panic@example.com").await;
    let report = engine.outbox_dispatcher().dispatch_due().await.unwrap();
    assert_eq!(report, failed(1));
    assert_eq!(storage.pending_outbox().await.unwrap(), 1);
}

struct Hanging;

#[async_trait]
impl Mailer for Hanging {
    async fn send(&self, _message: &Message) -> Result<(), MailError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_mailer_that_never_answers_fails_the_attempt_within_half_the_lease() {
    let policy = OutboxPolicy {
        lease: Duration::milliseconds(200),
        ..OutboxPolicy::default()
    };
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let engine = engine_on(
        storage.clone(),
        Arc::new(Hanging),
        &ManualClock::starting_now(),
        with_policy(policy),
    );
    queue_reset(&engine, "hang@example.com").await;
    let report = tokio::time::timeout(WAIT, engine.outbox_dispatcher().dispatch_due())
        .await
        .expect("the send is bounded")
        .unwrap();
    assert_eq!(report, failed(1));
    assert_eq!(storage.pending_outbox().await.unwrap(), 1);
}
