//! Micro benchmarks: argon2id at the default cost, JWT issue/verify, and engine operations
//! over each storage, with stats and listing for referrers of 10, 1,000 and 100,000 referrals,
//! and stats for users whose share link was clicked 10 and 100,000 times.
//!
//! `cargo bench -p referral-core --all-features --bench core`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use referral_core::testing::{fixtures, ScratchPostgres, ScratchSqlite};
use referral_core::{
    Argon2Params, Click, Config, Email, Engine, NewAccount, Password, PasswordHasher, Storage,
    UserRecord, VisitorHash, CLICK_BATCH, CLICK_WINDOW, DEFAULT_PAGE_SIZE,
};
use time::Duration;
use tokio::runtime::Runtime;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";
const SIZES: [usize; 3] = [10, 1_000, 100_000];
const CLICK_SIZES: [usize; 2] = [10, 100_000];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn password_hashing(c: &mut Criterion) {
    let rt = runtime();
    let hasher = PasswordHasher::new(Argon2Params::default()).expect("default params");
    let password = Password::normalise(PASSWORD);
    let hash = rt.block_on(hasher.hash(&password)).expect("hash");
    let mut group = c.benchmark_group("argon2id_default");
    group.sample_size(20);
    group.bench_function("hash", |b| b.to_async(&rt).iter(|| hasher.hash(&password)));
    group.bench_function("verify", |b| {
        b.to_async(&rt).iter(|| hasher.verify(&password, &hash))
    });
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let issuer = referral_core::AccessTokenIssuer::new(
        &[7; 32],
        "referral",
        "referral-api",
        Duration::minutes(15),
    );
    let now = time::OffsetDateTime::now_utc();
    let user = Uuid::now_v7();
    let token = issuer.issue(user, 0, now).expect("issue");
    let mut group = c.benchmark_group("jwt_hs256");
    group.bench_function("issue", |b| b.iter(|| issuer.issue(user, 0, now)));
    group.bench_function("verify", |b| b.iter(|| issuer.verify(token.expose(), now)));
    group.finish();
}

/// A referrer with `n` referrals written straight to storage (seeding through the engine
/// would spend `n` argon2 hashes), joining over the last 60 days.
async fn seed(storage: &Arc<dyn Storage>, n: usize, postgres: Option<&str>) -> UserRecord {
    let now = time::OffsetDateTime::now_utc();
    let email = Email::parse(&format!("{}@example.com", Uuid::now_v7().simple())).expect("email");
    let referrer =
        fixtures::user_record(email, fixtures::unusable_hash(), now - Duration::days(60));
    storage
        .create_user(fixtures::registration(referrer.clone()))
        .await
        .expect("seed referrer");
    let spacing = Duration::seconds(60 * 24 * 3600 / n.max(1) as i64);
    // Seeding writes the referrer's row once per referral. On PostgreSQL, commit without
    // waiting for the WAL flush while seeding (reads are what is measured afterwards), and
    // vacuum every 10,000 rows: this machine's server runs with autovacuum off.
    let seeder = match postgres {
        Some(url) => {
            execute(
                url,
                &format!(
                    "ALTER DATABASE {} SET synchronous_commit = off",
                    database_name(url)
                ),
            )
            .await;
            referral_core::storage::open(url)
                .await
                .expect("seeding storage")
        }
        None => storage.clone(),
    };
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(10_000);
        fixtures::seed_referrals(
            seeder.clone(),
            &referrer,
            chunk,
            now - Duration::days(60) + spacing * done as u32,
            spacing,
        )
        .await
        .expect("seed referrals");
        done += chunk;
        if let Some(url) = postgres {
            execute(url, "VACUUM").await;
        }
    }
    if let Some(url) = postgres {
        execute(
            url,
            &format!(
                "ALTER DATABASE {} RESET synchronous_commit",
                database_name(url)
            ),
        )
        .await;
        execute(url, "VACUUM ANALYZE").await;
    }
    referrer
}

/// A user (no referrals) whose share link was clicked `n` times, each by a visitor of its
/// own, over the last 60 days, counted in the writer's batch size as the engine counts them.
async fn seed_clicks(storage: &Arc<dyn Storage>, n: usize) -> UserRecord {
    let now = time::OffsetDateTime::now_utc();
    let email = Email::parse(&format!("{}@example.com", Uuid::now_v7().simple())).expect("email");
    let owner = fixtures::user_record(email, fixtures::unusable_hash(), now - Duration::days(60));
    storage
        .create_user(fixtures::registration(owner.clone()))
        .await
        .expect("seed click owner");
    let spacing = Duration::seconds(60 * 24 * 3600 / n.max(1) as i64);
    let first = now - Duration::days(60);
    let clicks: Vec<Click> = (0..n)
        .map(|i| {
            let mut visitor = [0_u8; 32];
            visitor[..16].copy_from_slice(owner.id.as_bytes());
            visitor[16..24].copy_from_slice(&(i as u64).to_be_bytes());
            Click {
                owner: owner.id,
                visitor: VisitorHash::from_bytes(visitor),
                at: first + spacing * i as u32,
            }
        })
        .collect();
    for batch in clicks.chunks(CLICK_BATCH) {
        storage
            .record_clicks(batch, CLICK_WINDOW, &|owner, clicks| {
                referral_core::storage::OutboxMessage {
                    id: Uuid::now_v7(),
                    topic: "event".to_owned(),
                    user_id: Some(owner),
                    payload: format!(
                        r#"{{"type":"referral.clicked","data":{{"clicks":{clicks}}}}}"#
                    ),
                    attempts: 0,
                    created_at: now,
                }
            })
            .await
            .expect("seed clicks");
    }
    owner
}

/// An engine reading straight from `storage`: the cache off, so the figures are the
/// storage's (with it on, repeated reads of one user are memory lookups).
fn engine_over(storage: Arc<dyn Storage>) -> Engine {
    let config = Config::builder()
        .random_secret()
        .cache(referral_core::CachePolicy::disabled())
        .build()
        .expect("config");
    Engine::builder(config)
        .storage(storage)
        .build()
        .expect("engine")
}

/// A storage to measure, by name.
type Measured = (&'static str, Arc<dyn Storage>);

/// The scratch databases of a run, removed when it ends.
struct Scratch {
    _sqlite: ScratchSqlite,
    postgres: Option<ScratchPostgres>,
}

/// The storages to measure: memory, a SQLite file, and PostgreSQL when
/// `REFERRAL_TEST_POSTGRES_URL` is set.
fn storages(rt: &Runtime) -> (Vec<Measured>, Scratch) {
    let mut storages: Vec<Measured> =
        vec![("memory", Arc::new(referral_core::MemoryStorage::new()))];
    let sqlite = ScratchSqlite::new().expect("a scratch directory");
    let opened = rt
        .block_on(referral_core::storage::open(sqlite.url()))
        .expect("sqlite storage");
    storages.push(("sqlite", opened));
    let postgres = rt.block_on(ScratchPostgres::create_migrated());
    if let Some(scratch) = &postgres {
        storages.push(("postgres", Arc::new(scratch.storage())));
    }
    let scratch = Scratch {
        _sqlite: sqlite,
        postgres,
    };
    (storages, scratch)
}

fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}

/// Runs one statement on its own connection (VACUUM cannot run in a transaction).
async fn execute(url: &str, statement: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query(statement)
        .execute(&mut connection)
        .await
        .expect("statement");
}

fn engine_operations(c: &mut Criterion) {
    let rt = runtime();
    let (storages, scratch) = storages(&rt);
    for (name, storage) in storages {
        let engine = engine_over(storage.clone());
        let mut group = c.benchmark_group(format!("engine_{name}"));
        group.sample_size(20);
        let referrer = rt
            .block_on(engine.register(NewAccount::new(
                format!("bench-{}@example.com", Uuid::now_v7().simple()),
                PASSWORD,
            )))
            .expect("register referrer");
        group.bench_function("register_with_code", |b| {
            b.to_async(&rt).iter(|| {
                engine.register(
                    NewAccount::new(format!("{}@example.com", Uuid::now_v7().simple()), PASSWORD)
                        .referral_code(referrer.user.referral_code.clone()),
                )
            })
        });
        group.bench_function("login", |b| {
            b.to_async(&rt)
                .iter(|| engine.login(&referrer.user.email, PASSWORD))
        });
        for n in SIZES {
            let seeded = rt.block_on(seed(
                &storage,
                n,
                scratch
                    .postgres
                    .as_ref()
                    .map(ScratchPostgres::url)
                    .filter(|_| name == "postgres"),
            ));

            group.bench_with_input(BenchmarkId::new("stats", n), &seeded, |b, user| {
                b.to_async(&rt).iter(|| engine.referral_stats(user))
            });
            group.bench_with_input(
                BenchmarkId::new("list_first_page", n),
                &seeded,
                |b, user| {
                    b.to_async(&rt)
                        .iter(|| engine.referrals(user, DEFAULT_PAGE_SIZE, None))
                },
            );
        }
        for n in CLICK_SIZES {
            let owner = rt.block_on(seed_clicks(&storage, n));
            group.bench_with_input(BenchmarkId::new("stats_clicks", n), &owner, |b, user| {
                b.to_async(&rt).iter(|| engine.referral_stats(user))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, password_hashing, jwt, engine_operations);
criterion_main!(benches);
