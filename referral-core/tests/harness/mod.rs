//! The engine under test: cheap hashing, an explicit mailer, a manual clock, and reset links
//! read from the mail the outbox dispatcher delivered, as their recipient would read them.

// Each test binary uses part of this.
#![allow(dead_code)]

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;
use uuid::Uuid;

use referral_core::testing::{reset_token_in, verification_token_in};
use referral_core::{
    Argon2Params, Config, ConfigBuilder, DispatchReport, Engine, Error, Mailer, ManualClock,
    MemoryStorage, NewAccount, RecordingMailer, ReferralStats, Registered, Storage, UserRecord,
};

pub const PASSWORD: &str = "correct horse battery";
pub const APP_BASE_URL: &str = "https://app.example.com";

/// The cheapest argon2 cost: tests are about rules, not hashing.
pub const CHEAP: Argon2Params = Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// A configuration with a fixed secret, [`APP_BASE_URL`] and [`CHEAP`] hashing, and no
/// verification mail at sign-up, so cases counting reset mail count only those (the cases
/// about verification turn it back on).
pub fn config() -> ConfigBuilder {
    Config::builder()
        .secret("engine-tests-secret-engine-tests-secret")
        .app_base_url(format!("{APP_BASE_URL}/"))
        .argon2(CHEAP)
        .verification_mail_on_sign_up(false)
}

/// An engine on `storage`, mailing through `mailer`, reading time from `clock`.
pub fn engine_on(
    storage: Arc<dyn Storage>,
    mailer: Arc<dyn Mailer>,
    clock: &ManualClock,
    config: Config,
) -> Engine {
    Engine::builder(config)
        .storage(storage)
        .mailer(mailer)
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("a valid test engine")
}

/// An engine over `MemoryStorage`, with a recording mailer and a manual clock.
pub struct Harness {
    pub engine: Engine,
    pub storage: MemoryStorage,
    pub mailer: RecordingMailer,
    pub clock: ManualClock,
    /// Recorded messages already read by [`mailed_reset_tokens`](Self::mailed_reset_tokens).
    read: AtomicUsize,
}

impl Harness {
    /// With the default configuration of [`config`].
    pub fn new() -> Self {
        Self::with(|config| config)
    }

    /// With [`config`] changed by `configure`.
    pub fn with(configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        let storage = MemoryStorage::new();
        let mailer = RecordingMailer::new();
        let clock = ManualClock::starting_now();
        let config = configure(config()).build().expect("a valid test config");
        let engine = engine_on(
            Arc::new(storage.clone()),
            Arc::new(mailer.clone()),
            &clock,
            config,
        );
        Harness {
            engine,
            storage,
            mailer,
            clock,
            read: AtomicUsize::new(0),
        }
    }

    /// Registers `email` with [`PASSWORD`], no code, from no address.
    /// Registers `email`, and delivers the events the registration queued (so the outbox
    /// holds only what the test itself queues next).
    pub async fn register(&self, email: &str) -> Registered {
        let registered = self
            .engine
            .register(NewAccount::new(email, PASSWORD))
            .await
            .expect("registration");
        self.engine
            .outbox_dispatcher()
            .dispatch_due()
            .await
            .expect("the registration's events are delivered");
        registered
    }

    /// Registers `email` (as [`register`](Self::register) does) and authenticates with its
    /// first access token: the registration and the user the token stands for.
    pub async fn signed_in(&self, email: &str) -> (Registered, UserRecord) {
        let registered = self.register(email).await;
        let user = self
            .engine
            .authenticate(&registered.tokens.access_token)
            .await
            .expect("a fresh access token authenticates");
        (registered, user)
    }

    /// Registers `email` with `code`.
    pub async fn register_referred(&self, email: &str, code: &str) -> Registered {
        self.engine
            .register(NewAccount::new(email, PASSWORD).referral_code(code))
            .await
            .expect("registration with a code")
    }

    /// The user stored under `email`, if any.
    pub async fn stored_user(&self, email: &str) -> Option<UserRecord> {
        let email = email.parse().expect("a test email");
        self.storage.user_by_email(&email).await.expect("a lookup")
    }

    /// The stored user with `id`.
    pub async fn storage_user(&self, id: Uuid) -> UserRecord {
        self.storage.user_by_id(id).await.unwrap().expect("a user")
    }

    /// The referral statistics of the user with `id`, as they would see them now.
    pub async fn stats_of(&self, id: Uuid) -> ReferralStats {
        let user = self.storage.user_by_id(id).await.unwrap().expect("a user");
        self.engine.referral_stats(&user).await.expect("statistics")
    }

    /// One round of the outbox dispatcher.
    pub async fn deliver(&self) -> DispatchReport {
        self.engine
            .outbox_dispatcher()
            .dispatch_due()
            .await
            .expect("an outbox round")
    }

    /// Delivers what is due, then reads the reset mail that arrived since the last call,
    /// oldest first: each recipient and the token of its link (the same in the text and the
    /// HTML body).
    pub async fn mailed_reset_tokens(&self) -> Vec<(String, String)> {
        self.deliver().await;
        let messages = self.mailer.messages();
        let start = self.read.swap(messages.len(), Ordering::SeqCst);
        messages[start..]
            .iter()
            .map(|message| {
                let token = reset_token_in(&message.text, APP_BASE_URL)
                    .expect("the text body carries the reset link");
                assert_eq!(
                    reset_token_in(&message.html, APP_BASE_URL).as_deref(),
                    Some(token.as_str()),
                    "the HTML body carries the same link"
                );
                (message.to.to_string(), token)
            })
            .collect()
    }

    /// Delivers what is due (round after round: one user's messages of a topic go out in
    /// turn), then reads the verification mail that arrived since the last call (passing
    /// over any other): each recipient and the token of its link.
    pub async fn mailed_verification_tokens(&self) -> Vec<(String, String)> {
        while !self.deliver().await.is_idle() {}
        let messages = self.mailer.messages();
        let start = self.read.swap(messages.len(), Ordering::SeqCst);
        messages[start..]
            .iter()
            .filter_map(|message| {
                let token = verification_token_in(&message.text, APP_BASE_URL)?;
                assert_eq!(
                    verification_token_in(&message.html, APP_BASE_URL).as_deref(),
                    Some(token.as_str()),
                    "the HTML body carries the same link"
                );
                Some((message.to.to_string(), token))
            })
            .collect()
    }

    /// Asks for a reset of `email` (from no address) and reads the token it mailed.
    pub async fn reset_token(&self, email: &str) -> String {
        self.engine
            .request_password_reset(email, None)
            .await
            .expect("a reset request is accepted");
        let mut mailed = self.mailed_reset_tokens().await;
        assert_eq!(mailed.len(), 1, "one reset mail for {email}");
        mailed.remove(0).1
    }

    /// Registers `email` and reads the token of the reset it asked for.
    pub async fn registered_with_reset_token(&self, email: &str) -> String {
        self.register(email).await;
        self.reset_token(email).await
    }
}

/// Runs `operation(0..n)` all at once, each on a task of its own released by one barrier, and
/// returns their outcomes in order.
pub async fn at_once<T, Fut>(n: usize, operation: impl Fn(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let start = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (start, work) = (start.clone(), operation(i));
            tokio::spawn(async move {
                start.wait().await;
                work.await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(n);
    for task in tasks {
        outcomes.push(task.await.expect("a concurrent task"));
    }
    outcomes
}

/// How a batch of outcomes came out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub invalid_credentials: usize,
    pub rate_limited: usize,
    pub other: usize,
}

pub fn tally<T>(outcomes: &[Result<T, Error>]) -> Tally {
    let mut tally = Tally::default();
    for outcome in outcomes {
        match outcome {
            Ok(_) => tally.ok += 1,
            Err(Error::InvalidCredentials) => tally.invalid_credentials += 1,
            Err(Error::RateLimited { .. }) => tally.rate_limited += 1,
            Err(_) => tally.other += 1,
        }
    }
    tally
}

/// An IP address from its text.
pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("a test IP address")
}

/// Runs `a(round)` and `b(round)` for `rounds` rounds, interleaved and alternating which goes
/// first, so a burst of load from neighbours lands on both alike, and times each run: the
/// median wall time of `a`'s runs and of `b`'s (medians ignore the bursts that land on one).
pub async fn median_times<FutA, FutB>(
    rounds: usize,
    a: impl Fn(usize) -> FutA,
    b: impl Fn(usize) -> FutB,
) -> (Duration, Duration)
where
    FutA: Future<Output = ()>,
    FutB: Future<Output = ()>,
{
    async fn timed(run: impl Future<Output = ()>) -> Duration {
        let started = Instant::now();
        run.await;
        started.elapsed()
    }
    fn median(mut times: Vec<Duration>) -> Duration {
        times.sort_unstable();
        times[times.len() / 2]
    }
    let (mut a_times, mut b_times) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        if round % 2 == 0 {
            a_times.push(timed(a(round)).await);
            b_times.push(timed(b(round)).await);
        } else {
            b_times.push(timed(b(round)).await);
            a_times.push(timed(a(round)).await);
        }
    }
    (median(a_times), median(b_times))
}

/// Asserts that two median times agree within a factor of `tolerance` either way.
pub fn assert_same_time(
    (what_a, a): (&str, Duration),
    (what_b, b): (&str, Duration),
    tolerance: f64,
) {
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    assert!(
        (1.0 / tolerance..=tolerance).contains(&ratio),
        "median time {what_a}: {a:?}, {what_b}: {b:?} (ratio {ratio:.3}, tolerance {tolerance})"
    );
}
