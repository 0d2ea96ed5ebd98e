//! `PostgresStorage` against the storage contract and the session races, each case in a
//! scratch database of its own (`testing::ScratchPostgres`), and its behaviour while the
//! server is unreachable.
//!
//! The server comes from `REFERRAL_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); unset, the tests that need it print one line
//! and pass.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use referral_core::storage::PostgresStorage;
use referral_core::testing::ScratchPostgres;
use referral_core::{Storage, StorageError};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use uuid::Uuid;

mod contract {
    use referral_core::testing::ScratchPostgres;
    referral_core::storage_contract_tests!(ScratchPostgres::create_migrated());
}

mod session_races {
    use referral_core::testing::ScratchPostgres;
    referral_core::session_race_tests!(ScratchPostgres::create_migrated());
}

/// A loopback port where nothing listens.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StorageError>, started: Instant) {
    assert!(
        matches!(result, Err(StorageError::Unavailable(_))),
        "expected Unavailable, got {result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_seconds() {
    let url = format!("postgres://postgres@127.0.0.1:{}/test", closed_port().await);
    let started = Instant::now();
    assert_unavailable(PostgresStorage::connect(&url).await, started);

    let lazy = PostgresStorage::from_pool(
        PostgresStorage::pool_options()
            .connect_lazy(&url)
            .expect("a lazy pool"),
    );
    let started = Instant::now();
    assert_unavailable(lazy.ping().await, started);
    let started = Instant::now();
    assert_unavailable(lazy.user_by_id(Uuid::now_v7()).await, started);
    let started = Instant::now();
    assert_unavailable(
        referral_core::storage::open(&url).await.map(|_| ()),
        started,
    );
}

/// A TCP relay to the real server that can be cut and restored, standing in for a database
/// that goes down and comes back.
struct Relay {
    address: SocketAddr,
    target: SocketAddr,
    tasks: JoinSet<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut relay = Relay {
            address,
            target,
            tasks: JoinSet::new(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target;
        self.tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
    }

    /// Closes the listener and every relayed connection.
    async fn cut(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("rebinding the relay's port");
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_recovers_by_itself_when_the_database_returns() {
    let Some(scratch) = ScratchPostgres::create_migrated().await else {
        return;
    };
    let options = scratch.connect_options();
    let host = options.get_host().to_owned();
    let port = options.get_port();
    let target = tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .expect("the server's address");
    let mut relay = Relay::start(target).await;
    let through_relay = options.host("127.0.0.1").port(relay.address.port());
    let storage = PostgresStorage::connect_with(through_relay, PostgresStorage::pool_options())
        .await
        .expect("connecting through the relay");
    storage.ping().await.expect("ping through the relay");

    relay.cut().await;
    let started = Instant::now();
    assert_unavailable(storage.ping().await, started);

    relay.restore().await;
    storage
        .ping()
        .await
        .expect("the pool reconnects once the database is back");
    assert_eq!(storage.pending_outbox().await.unwrap(), 0);
}

/// Two engines on one database (two pools, as two server instances): a reset through one is
/// heard by the other's cache through `LISTEN/NOTIFY`, well before the cache's TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_reset_reaches_this_cache_through_notify() {
    use referral_core::{
        Argon2Params, CachePolicy, Config, Engine, Error, NewAccount, RecordingMailer,
    };
    use std::sync::Arc;

    let Some(scratch) = ScratchPostgres::create_migrated().await else {
        return;
    };
    let engine = |mailer: RecordingMailer| {
        let config = Config::builder()
            .secret("notify-test-secret-notify-test-secret")
            .argon2(Argon2Params {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            })
            // A TTL far longer than the wait below would allow: only a notification can
            // explain a refusal within it. (One second is the most a policy may set.)
            .cache(CachePolicy {
                ttl: time::Duration::seconds(1),
                ..CachePolicy::default()
            })
            .build()
            .unwrap();
        Engine::builder(config)
            .storage(Arc::new(scratch.storage()))
            .mailer(Arc::new(mailer))
            .build()
            .unwrap()
    };
    let mailer = RecordingMailer::new();
    let first = engine(mailer.clone());
    let second = engine(RecordingMailer::new());
    let alice = first
        .register(NewAccount::new(
            "alice@example.com",
            "correct horse battery",
        ))
        .await
        .unwrap();
    let access = alice.tokens.access_token;
    second.authenticate(&access).await.unwrap();
    // The feed starts with the first cached read; give its connection time to listen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Cached afresh now: its TTL runs a full second from here.
    second.cache().unwrap().invalidate_all();
    second.authenticate(&access).await.unwrap();
    second.authenticate(&access).await.unwrap();
    let before = second.cache_stats().unwrap();
    assert!(before.user_hits >= 1, "{before:?}");

    first
        .request_password_reset("alice@example.com", None)
        .await
        .unwrap();
    first.outbox_dispatcher().dispatch_due().await.unwrap();
    let mail = mailer.messages().pop().expect("the reset mail");
    let token = referral_core::testing::reset_token_in(&mail.text, first.config().app_base_url())
        .expect("a reset link");
    first
        .confirm_password_reset(&token, "a brand new password")
        .await
        .unwrap();
    let reset_at = Instant::now();
    loop {
        match second.authenticate(&access).await {
            Err(Error::Unauthorized) => break,
            Ok(_) => {
                assert!(
                    reset_at.elapsed() < Duration::from_millis(300),
                    "no notification reached the other engine within 300 ms"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(second.cache_stats().unwrap().invalidations > before.invalidations);
}
