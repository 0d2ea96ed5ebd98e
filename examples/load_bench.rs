//! Load benchmark: starts each example server in release mode, seeds a referrer with N
//! referrals, drives the server over loopback and prints requests/s, p50 and p99 per
//! endpoint and the server's peak RSS, with the ratios BENCHMARKS.md states as targets.
//!
//! ```sh
//! cargo build --release --examples && cargo run --release --example load_bench
//! cargo run --release --example load_bench -- --seconds 5 --referrals 100000 --frameworks axum --databases sqlite
//! ```
//!
//! PostgreSQL runs use `REFERRAL_BENCH_POSTGRES_URL` (or `REFERRAL_TEST_POSTGRES_URL`); each run
//! works in a fresh database that is dropped afterwards. Without a URL, PostgreSQL is skipped.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use referral::testing::fixtures;
use referral::{AccessTokenIssuer, Argon2Params, Email, Password, PasswordHasher, UserRecord};
use serde_json::{json, Value};
use uuid::Uuid;

const SECRET: &str = "load-bench-secret-load-bench-secret-load-bench";
const PASSWORD: &str = "load bench password";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    seconds: u64,
    referrals: usize,
    connections: usize,
    frameworks: Vec<String>,
    databases: Vec<String>,
}

impl Options {
    fn parse() -> Result<Self, BoxError> {
        let mut options = Options {
            seconds: 10,
            referrals: 10_000,
            connections: 64,
            frameworks: vec!["axum".into(), "rocket".into()],
            databases: vec!["sqlite".into(), "postgres".into()],
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--seconds" => options.seconds = value.parse()?,
                "--referrals" => options.referrals = value.parse()?,
                "--connections" => options.connections = value.parse()?,
                "--frameworks" => {
                    options.frameworks = value.split(',').map(str::to_owned).collect()
                }
                "--databases" => options.databases = value.split(',').map(str::to_owned).collect(),
                other => return Err(format!("unknown flag {other}").into()),
            }
        }
        Ok(options)
    }
}

/// One server's figures per endpoint, and its peak RSS in KiB.
type ServerResult = (BTreeMap<&'static str, Figures>, u64);

/// One endpoint's figures.
#[derive(Debug, Clone)]
struct Figures {
    requests: usize,
    errors: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, port] = args.as_slice() {
        if flag == "--serve-bare" {
            return serve_bare(port.parse()?).await;
        }
        if flag == "--serve-bare-rocket" {
            return serve_bare_rocket(port.parse()?).await;
        }
    }
    let options = Options::parse()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "# load bench: {cores} cores, {}s per endpoint, {} connections for reads, {} referrals",
        options.seconds, options.connections, options.referrals
    );

    let (hash_ms, verify_ms) = argon2_reference().await?;
    println!(
        "argon2id (m=19456,t=2,p=1): hash median {hash_ms:.1} ms, verify median {verify_ms:.1} ms"
    );

    let bare = bare_baseline(&options, "--serve-bare").await?;
    println!(
        "bare axum route with the same JWT check: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        bare.per_second, bare.p50_ms, bare.p99_ms
    );
    let bare_rocket = bare_baseline(&options, "--serve-bare-rocket").await?;
    println!(
        "bare Rocket route with the same JWT check: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({:.2} of the bare axum route)",
        bare_rocket.per_second,
        bare_rocket.p50_ms,
        bare_rocket.p99_ms,
        bare_rocket.per_second / bare.per_second
    );

    let mut results: BTreeMap<(String, String), ServerResult> = BTreeMap::new();
    for database in &options.databases {
        for framework in &options.frameworks {
            match run_one(&options, framework, database).await {
                Ok(Some(result)) => {
                    results.insert((framework.clone(), database.clone()), result);
                }
                Ok(None) => println!("skipping {framework} on {database}: no PostgreSQL URL (set REFERRAL_BENCH_POSTGRES_URL)"),
                Err(e) => println!("{framework} on {database} failed: {e}"),
            }
        }
    }

    println!("\n| server | endpoint | conns | req/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for ((framework, database), (figures, _)) in &results {
        for (endpoint, f) in figures {
            let conns = connections_for(endpoint, options.connections);
            println!(
                "| {framework}/{database} | {endpoint} | {conns} | {:.0} | {:.2} | {:.2} | {} |",
                f.per_second, f.p50_ms, f.p99_ms, f.errors
            );
        }
    }
    println!("\n| server | peak RSS MiB |\n| --- | --- |");
    for ((framework, database), (_, rss_kib)) in &results {
        println!(
            "| {framework}/{database} | {:.1} |",
            *rss_kib as f64 / 1024.0
        );
    }

    println!("\n## Targets (ratios from this run)");
    for ((framework, database), (figures, rss_kib)) in &results {
        let name = format!("{framework}/{database}");
        let database = database.as_str();
        if let Some(login) = figures.get("login (1 conn)") {
            println!(
                "- {name}: login p50 / argon2 verify = {:.2} (target <= 1.10)",
                login.p50_ms / verify_ms
            );
        }
        if let Some(register) = figures.get("register") {
            let ceiling = cores as f64 * 1000.0 / hash_ms;
            println!(
                "- {name}: registrations/s / (cores / hash time) = {:.2} (target >= 0.90)",
                register.per_second / ceiling
            );
        }
        for (read, target) in read_targets(database) {
            if let Some(f) = figures.get(read.endpoint) {
                println!(
                    "- {name}: {} req/s / bare JWT route = {:.2} (target >= {:.2}); p99 {:.2} ms (target < {})",
                    read.endpoint,
                    f.per_second / bare.per_second,
                    target,
                    f.p99_ms,
                    read.p99_ms
                );
            }
        }
        if let Some(f) = figures.get("share-link") {
            let target = if database == "sqlite" {
                " (target >= 5000)"
            } else {
                ""
            };
            println!(
                "- {name}: share-link redirects/s = {:.0}{target}",
                f.per_second
            );
        }
        println!(
            "- {name}: peak RSS {:.1} MiB (target <= 48)",
            *rss_kib as f64 / 1024.0
        );
    }
    for database in &options.databases {
        let axum = results.get(&("axum".to_owned(), database.clone()));
        let rocket = results.get(&("rocket".to_owned(), database.clone()));
        if let (Some((axum, _)), Some((rocket, _))) = (axum, rocket) {
            for read in ["referral-stats", "referrals", "share-link"] {
                if let (Some(a), Some(r)) = (axum.get(read), rocket.get(read)) {
                    println!(
                        "- {database}: rocket / axum {read} req/s = {:.2} (target >= 0.85); rocket {read} / bare Rocket route = {:.2}",
                        r.per_second / a.per_second,
                        r.per_second / bare_rocket.per_second
                    );
                }
            }
        }
    }
    Ok(())
}

/// An authenticated read measured against the bare JWT route.
struct Read {
    endpoint: &'static str,
    p99_ms: f64,
}

/// The reads' targets on `database`: the share of the bare route's rate each must reach.
fn read_targets(database: &str) -> [(Read, f64); 2] {
    let (stats, list) = if database == "postgres" {
        (0.35, 0.20)
    } else {
        (0.50, 0.25)
    };
    [
        (
            Read {
                endpoint: "referral-stats",
                p99_ms: 5.0,
            },
            stats,
        ),
        (
            Read {
                endpoint: "referrals",
                p99_ms: 10.0,
            },
            list,
        ),
    ]
}

fn connections_for(endpoint: &str, reads: usize) -> usize {
    match endpoint {
        "login (1 conn)" => 1,
        "login" | "register" => 8,
        _ => reads,
    }
}

async fn argon2_reference() -> Result<(f64, f64), BoxError> {
    let hasher = PasswordHasher::new(Argon2Params::default())?;
    let password = Password::normalise(PASSWORD);
    let hash = hasher.hash(&password).await?;
    let mut hashes = Vec::new();
    let mut verifies = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        hasher.hash(&password).await?;
        hashes.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        hasher.verify(&password, &hash).await?;
        verifies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(&mut hashes), median(&mut verifies)))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name(name)
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn spawn(
        binary: PathBuf,
        args: &[String],
        env: &[(&str, String)],
        port: u16,
    ) -> Result<Self, BoxError> {
        // `REFERRAL_BENCH_WRAP="heaptrack -o /tmp/server"` runs each server under a profiler
        // (its figures then measure the profiler too; RSS is the wrapper's). Each server gets
        // a process group of its own, so stopping it stops a wrapper's children too.
        let wrapper: Vec<String> = std::env::var("REFERRAL_BENCH_WRAP")
            .map(|wrap| wrap.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        command
            .process_group(0)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("RUST_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot start {}: {e} (build with `cargo build --release --examples`)",
                binary.display()
            )
        })?;
        Ok(Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    async fn wait_ready(&self, client: &reqwest::Client, path: &str) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}{path}", self.base)).send().await {
                if response.status().as_u16() < 500 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("server did not become ready within 60 s".into())
    }

    /// A `/proc/{pid}/status` figure in KiB (`VmHWM`: the peak resident set; `VmRSS`: now).
    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|line| line.starts_with(field))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse().ok())
            })
            .unwrap_or(0)
    }

    fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Prints the server's resident set now and at its peak so far, after `phase`.
    fn report_memory(&self, phase: &str) {
        println!(
            "  after {phase:<16} RSS {:5.1} MiB, peak so far {:5.1} MiB",
            self.status_kib("VmRSS:") as f64 / 1024.0,
            self.peak_rss_kib() as f64 / 1024.0
        );
    }

    /// Stops the server's whole process group (a wrapper and what it runs).
    fn stop(mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn client(connections: usize) -> Result<reqwest::Client, BoxError> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Drives `connections` loops of `request` for `seconds`.
async fn drive<F, Fut>(connections: usize, seconds: u64, request: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                if !request(worker * 1_000_000 + i).await {
                    errors += 1;
                }
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Figures {
        requests: latencies.len(),
        errors,
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
    }
}

/// The figures of a bare route served by this binary run with `flag`.
async fn bare_baseline(options: &Options, flag: &str) -> Result<Figures, BoxError> {
    let port = free_port()?;
    let server = Server::spawn(
        std::env::current_exe()?,
        &[flag.into(), port.to_string()],
        &[],
        port,
    )?;
    let http = client(options.connections)?;
    server.wait_ready(&http, "/bare").await?;
    let token = bench_issuer().issue(Uuid::now_v7(), 0, time::OffsetDateTime::now_utc())?;
    let url = format!("{}/bare", server.base);
    let auth = format!("Bearer {}", token.expose());
    let figures = drive(options.connections, options.seconds, move |_| {
        let request = http.get(&url).header("authorization", &auth).send();
        async move { matches!(request.await, Ok(r) if r.status().is_success()) }
    })
    .await;
    server.stop();
    Ok(figures)
}

/// The baseline server: one axum route that checks the same JWT and answers a small JSON body.
async fn serve_bare(port: u16) -> Result<(), BoxError> {
    let issuer = Arc::new(bench_issuer());
    let app = axum::Router::new().route(
        "/bare",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let issuer = issuer.clone();
            async move {
                let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
                let (status, body) = bare_answer(&issuer, authorization);
                (
                    axum::http::StatusCode::from_u16(status)
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// The issuer every bench token is checked with.
fn bench_issuer() -> AccessTokenIssuer {
    AccessTokenIssuer::new(
        SECRET.as_bytes(),
        "referral",
        "referral-api",
        time::Duration::minutes(15),
    )
}

/// What both bare routes answer for an `Authorization` header: the JWT check and a small
/// JSON body, as status and body.
fn bare_answer(issuer: &AccessTokenIssuer, authorization: Option<&str>) -> (u16, String) {
    let token = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    match issuer.verify(token, time::OffsetDateTime::now_utc()) {
        Ok(claims) => (200, json!({ "sub": claims.sub }).to_string()),
        Err(_) => (401, json!({ "code": "unauthorized" }).to_string()),
    }
}

/// The `Authorization` header, for the bare Rocket route.
struct Authorization(Option<String>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Authorization {
    type Error = ();

    async fn from_request(
        request: &'r rocket::Request<'_>,
    ) -> rocket::request::Outcome<Self, Self::Error> {
        let value = request
            .headers()
            .get_one("authorization")
            .map(str::to_owned);
        rocket::request::Outcome::Success(Authorization(value))
    }
}

#[rocket::get("/bare")]
fn bare_rocket_route(
    authorization: Authorization,
    issuer: &rocket::State<AccessTokenIssuer>,
) -> (rocket::http::Status, (rocket::http::ContentType, String)) {
    let (status, body) = bare_answer(issuer, authorization.0.as_deref());
    (
        rocket::http::Status::new(status),
        (rocket::http::ContentType::JSON, body),
    )
}

/// The Rocket baseline: one Rocket route that checks the same JWT and answers the same body,
/// with Rocket's defaults but its logging off (as the example server runs it).
async fn serve_bare_rocket(port: u16) -> Result<(), BoxError> {
    let config = rocket::Config {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port,
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::default()
    };
    rocket::custom(config)
        .manage(bench_issuer())
        .mount("/", rocket::routes![bare_rocket_route])
        .launch()
        .await?;
    Ok(())
}

/// A database URL for one run, and how to drop it afterwards.
/// The PostgreSQL server the bench creates its databases on, if any.
fn admin_postgres_url() -> Option<String> {
    std::env::var("REFERRAL_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("REFERRAL_TEST_POSTGRES_URL"))
        .ok()
}

/// What a run's database leaves behind, removed afterwards unless `REFERRAL_BENCH_KEEP_DB`
/// is set.
enum Scratch {
    /// A SQLite file (with its `-wal` and `-shm` companions).
    SqliteFile(PathBuf),
    /// A PostgreSQL database of that name.
    Postgres(String),
}

impl Scratch {
    async fn remove(self) -> Result<(), BoxError> {
        if std::env::var_os("REFERRAL_BENCH_KEEP_DB").is_some() {
            return Ok(());
        }
        match self {
            Scratch::SqliteFile(file) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut path = file.clone().into_os_string();
                    path.push(suffix);
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                }
            }
            Scratch::Postgres(name) => {
                if let Some(admin) = admin_postgres_url() {
                    psql(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}

async fn database_for(
    database: &str,
    framework: &str,
) -> Result<Option<(String, Scratch)>, BoxError> {
    match database {
        "sqlite" => {
            let dir = std::env::temp_dir().join("referral-load-bench");
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("{framework}-{}.db", Uuid::now_v7().simple()));
            Ok(Some((
                format!("sqlite://{}", file.display()),
                Scratch::SqliteFile(file),
            )))
        }
        "postgres" => {
            let Some(admin) = admin_postgres_url() else {
                return Ok(None);
            };
            let name = format!("referral_bench_{}", Uuid::now_v7().simple());
            let (base, _) = admin
                .rsplit_once('/')
                .ok_or("PostgreSQL URL needs a database name")?;
            psql(&admin, &format!("CREATE DATABASE {name}")).await?;
            Ok(Some((format!("{base}/{name}"), Scratch::Postgres(name))))
        }
        other => Err(format!("unknown database {other}").into()),
    }
}

async fn psql(url: &str, statement: &str) -> Result<(), BoxError> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url).await?;
    sqlx::query(statement).execute(&mut connection).await?;
    Ok(())
}

async fn seed(database_url: &str, referrals: usize) -> Result<UserRecord, BoxError> {
    let storage = referral::storage::open(database_url).await?;
    let hasher = PasswordHasher::new(Argon2Params::default())?;
    let now = time::OffsetDateTime::now_utc();
    let email = Email::parse(&format!("referrer-{}@example.com", Uuid::now_v7().simple()))?;
    let hash = hasher.hash(&Password::normalise(PASSWORD)).await?;
    let referrer = fixtures::user_record(email, hash, now - time::Duration::days(90));
    storage
        .create_user(fixtures::registration(referrer.clone()))
        .await?;
    let started = Instant::now();
    let first = now - time::Duration::days(89);
    fixtures::seed_referrals(
        storage,
        &referrer,
        referrals,
        first,
        time::Duration::seconds(60),
    )
    .await?;
    println!(
        "  seeded {referrals} referrals in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(referrer)
}

async fn run_one(
    options: &Options,
    framework: &str,
    database: &str,
) -> Result<Option<ServerResult>, BoxError> {
    let Some((database_url, scratch)) = database_for(database, framework).await? else {
        return Ok(None);
    };
    println!("{framework} on {database}:");
    let referrer = seed(&database_url, options.referrals).await?;
    if database == "postgres" {
        // As after any bulk load: seeding updated the referrer's row once per referral in a
        // minute, far faster than autovacuum runs, and its dead versions would be measured.
        psql(&database_url, "VACUUM ANALYZE").await?;
    }
    let port = free_port()?;
    let env = [
        ("BIND", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", database_url.clone()),
        ("SECRET_KEY", SECRET.to_owned()),
        // The bench is one machine playing many clients: it names each sign-up's client in
        // `X-Forwarded-For`, believed from loopback only, as from a proxy in production.
        ("TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
    ];
    let server = Server::spawn(
        example_binary(&format!("{framework}_server")),
        &[],
        &env,
        port,
    )?;
    let http = client(options.connections)?;
    server.wait_ready(&http, "/api/health").await?;
    server.report_memory("start");

    let login_body = json!({ "email": referrer.email.as_str(), "password": PASSWORD });
    let tokens: Value = http
        .post(format!("{}/api/login", server.base))
        .json(&login_body)
        .send()
        .await?
        .json()
        .await?;
    let access = tokens["access_token"]
        .as_str()
        .ok_or("login failed")?
        .to_owned();
    let auth = format!("Bearer {access}");

    let mut figures = BTreeMap::new();
    for (endpoint, path) in [
        ("referral-stats", "/api/referral-stats"),
        ("referrals", "/api/referrals?limit=50"),
    ] {
        let (http, url, auth) = (http.clone(), format!("{}{path}", server.base), auth.clone());
        let f = drive(options.connections, options.seconds, move |_| {
            let request = http.get(&url).header("authorization", &auth).send();
            async move {
                match request.await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        figures.insert(endpoint, f);
        server.report_memory(endpoint);
    }
    // Share links: every request a visitor of its own (an address per request, believed
    // from loopback as from a proxy), so every click is one to count; the redirect is
    // answered whether or not the click writer keeps up.
    let redirect_http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (url, code) = (
        format!("{}/r/{}", server.base, referrer.referral_code),
        referrer.referral_code.to_string(),
    );
    let f = drive(options.connections, options.seconds, move |i| {
        let client = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        let request = redirect_http
            .get(&url)
            .header("x-forwarded-for", client)
            .header("user-agent", format!("load-bench/{i}"))
            .send();
        let wanted = format!("ref={code}");
        async move {
            match request.await {
                Ok(r) => {
                    r.status().as_u16() == 302
                        && r.headers()
                            .get("location")
                            .and_then(|l| l.to_str().ok())
                            .is_some_and(|l| l.ends_with(&wanted))
                }
                Err(_) => false,
            }
        }
    })
    .await;
    let redirects = f.requests;
    figures.insert("share-link", f);
    server.report_memory("share-link");
    // Let the click writer catch up, then read how many of those clicks were counted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats: Value = http
        .get(format!("{}/api/referral-stats", server.base))
        .header("authorization", &auth)
        .send()
        .await?
        .json()
        .await?;
    println!(
        "  share-link: {} of {redirects} redirects counted as clicks (the rest dropped under overload)",
        stats["clicks"].as_u64().unwrap_or(0)
    );

    for (endpoint, connections) in [("login (1 conn)", 1), ("login", 8)] {
        let (http, url, body) = (
            http.clone(),
            format!("{}/api/login", server.base),
            login_body.clone(),
        );
        let f = drive(connections, options.seconds, move |_| {
            let request = http.post(&url).json(&body).send();
            async move { matches!(request.await, Ok(r) if r.status().is_success()) }
        })
        .await;
        figures.insert(endpoint, f);
        server.report_memory(endpoint);
    }
    let (http2, url, code) = (
        http.clone(),
        format!("{}/api/register", server.base),
        referrer.referral_code.to_string(),
    );
    let run = Uuid::now_v7().simple().to_string();
    let f = drive(8, options.seconds, move |i| {
        let body = json!({ "email": format!("load-{run}-{i}@example.com"), "password": PASSWORD, "referral_code": code });
        // A client address of its own per sign-up (10.x.y.z), so the per-address limit
        // (10 per hour) measures nothing here.
        let client = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        let request = http2
            .post(&url)
            .header("x-forwarded-for", client)
            .json(&body)
            .send();
        async move { matches!(request.await, Ok(r) if r.status().as_u16() == 201) }
    })
    .await;
    figures.insert("register", f);
    server.report_memory("register");

    let rss = server.peak_rss_kib();
    server.stop();
    for (endpoint, f) in &figures {
        println!("  {endpoint:>16}: {:>7.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, {} errors)", f.per_second, f.p50_ms, f.p99_ms, f.requests, f.errors);
    }
    println!("  peak RSS {:.1} MiB", rss as f64 / 1024.0);
    scratch.remove().await?;
    Ok(Some((figures, rss)))
}
