//! The outbox dispatcher over `MemoryStorage`, a recording mailer and a manual clock: mail is
//! sent, retried with backoff, never lost, never sent twice, and pruned after retention.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use referral_core::{
    ApiRequest, Argon2Params, Config, DispatchReport, Engine, MailError, Mailer, ManualClock,
    MemoryStorage, Message, OutboxPolicy, RecordingMailer, RegisterRequest, RequestBody, Storage,
};
use time::Duration;
use tokio::sync::{mpsc, Notify};

const WAIT: StdDuration = StdDuration::from_secs(10);

struct Harness {
    engine: Engine,
    storage: Arc<dyn Storage>,
    mailer: RecordingMailer,
    clock: ManualClock,
}

fn config(policy: OutboxPolicy) -> Config {
    Config::builder()
        .secret("outbox-tests-secret-outbox-tests-secret")
        .app_base_url("https://app.example.com")
        .argon2(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .outbox(policy)
        .build()
        .unwrap()
}

fn engine_on(
    storage: Arc<dyn Storage>,
    mailer: Arc<dyn Mailer>,
    clock: &ManualClock,
    policy: OutboxPolicy,
) -> Engine {
    Engine::builder(config(policy))
        .storage(storage)
        .mailer(mailer)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn harness_with(policy: OutboxPolicy) -> Harness {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let mailer = RecordingMailer::new();
    let clock = ManualClock::starting_now();
    let engine = engine_on(storage.clone(), Arc::new(mailer.clone()), &clock, policy);
    Harness {
        engine,
        storage,
        mailer,
        clock,
    }
}

fn harness() -> Harness {
    harness_with(OutboxPolicy::default())
}

async fn register(engine: &Engine, email: &str) {
    engine
        .register(RegisterRequest {
            email: email.to_owned(),
            password: "correct horse battery".to_owned(),
            referral_code: None,
        })
        .await
        .unwrap();
}

/// Registers `email` and asks for a reset, which queues one message.
async fn queue_reset(engine: &Engine, email: &str) {
    register(engine, email).await;
    engine.request_password_reset(email).await.unwrap();
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

#[tokio::test]
async fn queued_reset_mail_is_sent_by_dispatch_due_and_only_once() {
    let h = harness();
    queue_reset(&h.engine, "reader@example.com").await;
    assert!(
        h.mailer.messages().is_empty(),
        "nothing is sent from a request"
    );
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 1);

    let dispatcher = h.engine.outbox_dispatcher();
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(1));
    let messages = h.mailer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to.as_str(), "reader@example.com");
    assert!(messages[0]
        .text
        .contains("https://app.example.com/reset-password?token="));
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 0);

    h.clock.advance(Duration::hours(2));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(0));
    assert_eq!(h.mailer.attempts(), 1);
}

#[tokio::test]
async fn a_failing_mailer_changes_no_http_answer_and_the_mail_is_retried_with_growing_backoff() {
    let h = harness();
    register(&h.engine, "unlucky@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("connection refused".into())));

    let mut request = ApiRequest::new("POST", "/api/reset-password");
    request.content_type = Some("application/json".into());
    request.body = RequestBody::Complete(br#"{"email":"unlucky@example.com"}"#.to_vec());
    let response = h.engine.handle(request).await;
    assert_eq!(response.status, 202);

    let dispatcher = h.engine.outbox_dispatcher();
    let policy = OutboxPolicy::default();
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), failed(1));
    assert_eq!(
        h.storage.pending_outbox().await.unwrap(),
        1,
        "kept, not lost"
    );

    // First retry after backoff(1), not before.
    h.clock
        .advance(policy.backoff(1) - Duration::milliseconds(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(0));
    h.clock.advance(Duration::milliseconds(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), failed(1));

    // The second failure counted: the wait doubled.
    assert!(policy.backoff(2) > policy.backoff(1));
    h.clock.advance(policy.backoff(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(0));
    h.clock.advance(policy.backoff(2) - policy.backoff(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), failed(1));
    assert_eq!(h.mailer.attempts(), 3);
    assert!(h.mailer.messages().is_empty());
}

#[tokio::test]
async fn after_the_mailer_recovers_the_mail_is_delivered_exactly_once() {
    let h = harness();
    queue_reset(&h.engine, "later@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("try later".into())));
    let dispatcher = h.engine.outbox_dispatcher();
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), failed(1));

    h.mailer.fail_with(None);
    h.clock.advance(OutboxPolicy::default().backoff(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(1));
    for _ in 0..3 {
        h.clock.advance(Duration::hours(1));
        assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(0));
    }
    let messages = h.mailer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to.as_str(), "later@example.com");
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 0);
}

#[tokio::test]
async fn a_rejected_message_is_kept_and_retried_at_the_capped_backoff() {
    let policy = OutboxPolicy {
        backoff_base: Duration::seconds(1),
        backoff_max: Duration::seconds(4),
        ..OutboxPolicy::default()
    };
    let h = harness_with(policy);
    queue_reset(&h.engine, "bounced@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Rejected("550 no such user".into())));
    let dispatcher = h.engine.outbox_dispatcher();
    for attempt in 1..=6 {
        assert_eq!(dispatcher.dispatch_due().await.unwrap(), failed(1));
        let wait = policy.backoff(attempt);
        assert!(wait <= policy.backoff_max);
        h.clock.advance(wait);
    }
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 1, "never lost");
    h.mailer.fail_with(None);
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(1));
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
    let first = engine_on(storage.clone(), Arc::new(mailer.clone()), &clock, policy);
    let second = engine_on(other, Arc::new(mailer.clone()), &clock, policy);
    let count = 40;
    for n in 0..count {
        queue_reset(&first, &format!("user{n}@example.com")).await;
    }

    let drain = |engine: Engine| async move {
        let dispatcher = engine.outbox_dispatcher();
        let mut total = 0;
        loop {
            let report = dispatcher.dispatch_due().await.unwrap();
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
    assert_eq!(
        first.outbox_dispatcher().dispatch_due().await.unwrap().sent,
        0
    );
    assert_eq!(mailer.messages().len(), count as usize);
}

#[tokio::test]
async fn a_claimed_message_is_not_sent_by_another_dispatcher_until_its_lease_runs_out() {
    let h = harness();
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

    let dispatcher = h.engine.outbox_dispatcher();
    h.clock.advance(policy.lease - Duration::seconds(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(0));
    h.clock.advance(Duration::seconds(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(1));
    assert_eq!(h.mailer.messages().len(), 1);
}

#[tokio::test]
async fn sent_messages_are_pruned_after_the_retention_period_and_not_before() {
    let h = harness();
    queue_reset(&h.engine, "old@example.com").await;
    let dispatcher = h.engine.outbox_dispatcher();
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), sent(1));

    let retention = OutboxPolicy::default().retention;
    h.clock.advance(retention - Duration::seconds(1));
    assert_eq!(dispatcher.dispatch_due().await.unwrap().pruned, 0);
    h.clock.advance(Duration::seconds(2));
    assert_eq!(
        dispatcher.dispatch_due().await.unwrap(),
        DispatchReport {
            pruned: 1,
            ..DispatchReport::default()
        }
    );
    assert_eq!(dispatcher.dispatch_due().await.unwrap().pruned, 0);
}

#[tokio::test]
async fn unsent_messages_are_never_pruned() {
    let h = harness();
    queue_reset(&h.engine, "stuck@example.com").await;
    h.mailer
        .fail_with(Some(MailError::Unavailable("down".into())));
    let dispatcher = h.engine.outbox_dispatcher();
    assert_eq!(dispatcher.dispatch_due().await.unwrap(), failed(1));
    h.clock.advance(Duration::days(30));
    let report = dispatcher.dispatch_due().await.unwrap();
    assert_eq!(report.pruned, 0);
    assert_eq!(h.storage.pending_outbox().await.unwrap(), 1);
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
        policy,
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
        OutboxPolicy::default(),
    );
    for n in 0..3 {
        register(&engine, &format!("queued{n}@example.com")).await;
    }
    for n in 0..3 {
        engine
            .request_password_reset(&format!("queued{n}@example.com"))
            .await
            .unwrap();
    }
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
        OutboxPolicy::default(),
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
        OutboxPolicy::default(),
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
        policy,
    );
    queue_reset(&engine, "hang@example.com").await;
    let report = tokio::time::timeout(WAIT, engine.outbox_dispatcher().dispatch_due())
        .await
        .expect("the send is bounded")
        .unwrap();
    assert_eq!(report, failed(1));
    assert_eq!(storage.pending_outbox().await.unwrap(), 1);
}
