//! `PostgresStorage` against the storage contract, each case in a scratch database of its
//! own, and its behaviour while the server is unreachable.
//!
//! The server comes from `REFERRAL_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); unset, the tests that need it print one line
//! and pass.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use referral_core::storage::PostgresStorage;
use referral_core::testing::StorageUnderTest;
use referral_core::{Storage, StorageError};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use uuid::Uuid;

const URL_VARIABLE: &str = "REFERRAL_TEST_POSTGRES_URL";

fn server_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                println!("REFERRAL_TEST_POSTGRES_URL not set; skipping PostgreSQL tests")
            });
            None
        }
    }
}

fn server() -> Option<PgConnectOptions> {
    let url = server_url()?;
    Some(PgConnectOptions::from_str(&url).expect("REFERRAL_TEST_POSTGRES_URL is a PostgreSQL URL"))
}

/// A migrated database created for one test and dropped (`WITH (FORCE)`) after it.
struct ScratchDatabase {
    storage: PostgresStorage,
    server: PgConnectOptions,
    name: String,
}

impl ScratchDatabase {
    async fn create() -> Option<Self> {
        let server = server()?;
        let name = format!("referral_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("connecting to REFERRAL_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("creating a scratch database");
        admin.close().await.ok();
        let storage = PostgresStorage::connect_with(
            server.clone().database(&name),
            PostgresStorage::pool_options(),
        )
        .await
        .expect("connecting to the scratch database");
        storage
            .migrate()
            .await
            .expect("migrating the scratch database");
        Some(ScratchDatabase {
            storage,
            server,
            name,
        })
    }
}

impl StorageUnderTest for ScratchDatabase {
    fn storage(&self) -> Option<Arc<dyn Storage>> {
        Some(Arc::new(self.storage.clone()))
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop cannot await: drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect_with(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop scratch database {}", self.name);
        }
    }
}

mod contract {
    referral_core::storage_contract_tests!(super::ScratchDatabase::create());
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
    let Some(scratch) = ScratchDatabase::create().await else {
        return;
    };
    let host = scratch.server.get_host().to_owned();
    let port = scratch.server.get_port();
    let target = tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .expect("the server's address");
    let mut relay = Relay::start(target).await;
    let through_relay = scratch
        .server
        .clone()
        .host("127.0.0.1")
        .port(relay.address.port())
        .database(&scratch.name);
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
