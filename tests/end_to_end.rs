//! End to end, for each adapter (axum, Rocket) on each database (a SQLite file, a fresh
//! PostgreSQL database): the engine built as the example servers build it (storage from a
//! URL through `referral::storage::open`, `SmtpMailer`, a spawned outbox dispatcher), served
//! over a real socket, with mail delivered over SMTP to an in-process `SmtpCatcher`.
//!
//! PostgreSQL comes from `REFERRAL_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); each test works in a `ScratchPostgres` database
//! of its own. Unset, the PostgreSQL tests print one line and pass.

mod support_axum;
#[allow(dead_code)] // `stop` serves other test binaries
mod support_rocket;

use std::sync::Arc;
use std::time::Duration;

use referral::testing::{CaughtMail, ScratchPostgres, SmtpCatcher};
use referral::{
    Argon2Params, Config, Engine, OutboxHandle, OutboxPolicy, RateLimit, SmtpMailer, SmtpSettings,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support_axum::spawn_axum;
use tokio::task::JoinSet;

/// A public base URL no server listens on, so a link built from anything else shows.
const APP_BASE_URL: &str = "https://referrals.e2e.example";
const SECRET: &str = "end-to-end-secret-of-well-over-thirty-two-bytes";
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a brand new passphrase";
/// How long a mail may take to arrive.
const MAIL_WAIT: Duration = Duration::from_secs(20);

/// Per-address limits high enough for one address to sign up everyone in these tests.
const GENEROUS: RateLimit = RateLimit {
    max: 100_000,
    window: time::Duration::hours(1),
};

/// Cheap argon2id: hashing is not what these tests are about.
const CHEAP_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

#[derive(Clone, Copy, Debug)]
enum Adapter {
    Axum,
    Rocket,
}

#[derive(Clone, Copy, Debug)]
enum Database {
    Sqlite,
    Postgres,
}

/// Where the data lives; removed when dropped.
enum Store {
    /// Kept for its `Drop`, which removes the directory and the database file.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// Kept for its `Drop`, which drops the scratch database.
    Postgres(#[allow(dead_code)] ScratchPostgres),
}

impl Store {
    /// A new empty database and its URL, or `None` when PostgreSQL is asked for and not
    /// configured.
    async fn create(database: Database) -> Option<(Store, String)> {
        match database {
            Database::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                // `open` creates the file, as the examples rely on.
                let url = format!("sqlite://{}", dir.path().join("referral.db").display());
                Some((Store::Sqlite(dir), url))
            }
            Database::Postgres => {
                let scratch = ScratchPostgres::create().await?;
                let url = scratch.url().to_owned();
                Some((Store::Postgres(scratch), url))
            }
        }
    }
}

/// A client of one server.
#[derive(Clone)]
struct Api {
    base_url: String,
    client: reqwest::Client,
}

/// A whole service: storage, SMTP mail through the outbox, an adapter on a real socket.
struct Service {
    api: Api,
    catcher: SmtpCatcher,
    outbox: Option<OutboxHandle>,
    stop: Option<Box<dyn FnOnce() + Send>>,
    // Last: the database goes after the server and the dispatcher.
    _store: Store,
}

impl Service {
    /// Starts one, or `None` when its database is not available here.
    async fn start(adapter: Adapter, database: Database) -> Option<Service> {
        let (store, database_url) = Store::create(database).await?;
        let catcher = SmtpCatcher::start().await;

        // As `referral::Settings::engine` builds it, with test-sized hashing and retries.
        let storage = referral::storage::open(&database_url)
            .await
            .expect("the database opens and migrates");
        let mut smtp = SmtpSettings::new("127.0.0.1");
        smtp.port = catcher.port();
        smtp.from = "Referrals <no-reply@referrals.e2e.example>".to_owned();
        smtp.timeout = Duration::from_secs(5);
        let mailer = SmtpMailer::new(smtp).expect("SMTP settings are valid");
        let config = Config::builder()
            .secret(SECRET)
            .app_base_url(APP_BASE_URL)
            .argon2(CHEAP_ARGON2)
            // Every client here is 127.0.0.1: per-address limits have their own tests.
            .registration_limit(GENEROUS)
            .reset_request_limit(GENEROUS)
            // These cases follow the reset mail through SMTP alone; the verification mail a
            // sign-up sends has its own cases (engine and conformance suites).
            .verification_mail_on_sign_up(false)
            .outbox(OutboxPolicy {
                backoff_base: time::Duration::milliseconds(100),
                backoff_max: time::Duration::milliseconds(400),
                poll_interval: time::Duration::milliseconds(100),
                ..OutboxPolicy::default()
            })
            .build()
            .expect("the configuration is valid");
        let engine = Engine::builder(config)
            .storage(storage)
            .mailer(Arc::new(mailer))
            .build()
            .expect("the engine builds");
        let outbox = engine.outbox_dispatcher().spawn();

        let (base_url, stop) = match adapter {
            Adapter::Axum => serve_axum(engine).await,
            Adapter::Rocket => {
                let rocket = support_rocket::spawn_rocket(engine).await;
                let base_url = rocket.base_url.clone();
                let stop: Box<dyn FnOnce() + Send> = Box::new(move || {
                    rocket.shutdown.notify();
                });
                (base_url, stop)
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("reqwest client builds");
        Some(Service {
            api: Api { base_url, client },
            catcher,
            outbox: Some(outbox),
            stop: Some(stop),
            _store: store,
        })
    }

    /// The latest mail to `to`, waiting for it.
    async fn mail_to(&self, to: &str) -> CaughtMail {
        self.catcher
            .wait_for_mail_to(to, MAIL_WAIT)
            .await
            .unwrap_or_else(|| panic!("no mail to {to} within {MAIL_WAIT:?}"))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        if let Some(outbox) = self.outbox.take() {
            outbox.shutdown().await.expect("the dispatcher stops");
        }
        self.catcher.stop().await;
    }
}

impl std::ops::Deref for Service {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .json(&body)
            .send()
            .await
            .expect("the server answers");
        read(response).await
    }

    async fn get_as(&self, path: &str, access_token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("the server answers");
        read(response).await
    }

    async fn register(&self, email: &str, code: Option<&str>) -> (StatusCode, Value) {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(code) = code {
            body["referral_code"] = json!(code);
        }
        self.post("/api/register", body).await
    }

    async fn login(&self, email: &str, password: &str) -> StatusCode {
        self.post(
            "/api/login",
            json!({ "email": email, "password": password }),
        )
        .await
        .0
    }
}

async fn serve_axum(engine: Engine) -> (String, Box<dyn FnOnce() + Send>) {
    let app = referral::axum::router()
        .fallback(referral::axum::not_found)
        .with_state(engine);
    let server = spawn_axum(app).await;
    (server.base_url.clone(), Box::new(move || server.stop()))
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("the body is readable");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    (status, body)
}

/// The token of the reset link in `body`, checking the link is built from `APP_BASE_URL`.
fn reset_token_in(body: &str) -> String {
    let marker = format!("{APP_BASE_URL}/reset-password?token=");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} link in: {body}"))
        + marker.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 22, "a token of at least 128 bits: {token}");
    token
}

/// Register with a code, reset the password through the mail, check everything after.
async fn reset_through_smtp(adapter: Adapter, database: Database) {
    let Some(service) = Service::start(adapter, database).await else {
        return;
    };
    let (status, alice) = service.register("alice@example.com", None).await;
    assert_eq!(status, 201, "{alice}");
    let alice_access = alice["tokens"]["access_token"].as_str().unwrap().to_owned();
    let code = alice["user"]["referral_code"].as_str().unwrap().to_owned();
    let (status, bob) = service
        .register("bob@example.com", Some(&code.to_lowercase()))
        .await;
    assert_eq!(status, 201, "{bob}");
    assert_eq!(bob["user"]["referred_by"], alice["user"]["id"]);
    let bob_access = bob["tokens"]["access_token"].as_str().unwrap().to_owned();

    let (status, body) = service
        .post("/api/reset-password", json!({ "email": "Bob@Example.com" }))
        .await;
    assert_eq!(status, 202, "{body}");
    let mail = service.mail_to("bob@example.com").await;
    assert_eq!(mail.to, ["bob@example.com"]);
    assert_eq!(mail.subject, "Reset your password");
    assert!(
        mail.from.contains("no-reply@referrals.e2e.example"),
        "{}",
        mail.from
    );
    let link = format!("{APP_BASE_URL}/reset-password?token=");
    assert!(mail.text.contains(&link), "text: {}", mail.text);
    assert!(mail.html.contains(&link), "html: {}", mail.html);
    let token = reset_token_in(&mail.text);
    assert_eq!(
        reset_token_in(&mail.html),
        token,
        "one token in both bodies"
    );

    let confirm = json!({ "token": token, "new_password": NEW_PASSWORD });
    let (status, body) = service
        .post("/api/reset-password/confirm", confirm.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(service.login("bob@example.com", PASSWORD).await, 401);
    assert_eq!(service.login("bob@example.com", NEW_PASSWORD).await, 200);
    let (status, body) = service.get_as("/api/me", &bob_access).await;
    assert_eq!(
        status, 401,
        "access tokens from before the reset stop working: {body}"
    );
    let (status, body) = service.post("/api/reset-password/confirm", confirm).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_reset_token");

    let (status, stats) = service.get_as("/api/referral-stats", &alice_access).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total_referrals"], 1, "{stats}");
    assert_eq!(stats["total_reward_points"], 100, "{stats}");
    assert_eq!(stats["referral_code"], code.as_str());
    assert_eq!(
        stats["referral_link"]
            .as_str()
            .map(|link| link.starts_with(APP_BASE_URL)),
        Some(true),
        "{stats}"
    );
    let (status, page) = service.get_as("/api/referrals", &alice_access).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["referrals"].as_array().map(Vec::len),
        Some(1),
        "{page}"
    );
    assert_eq!(page["referrals"][0]["user_id"], bob["user"]["id"]);
    service.stop().await;
}

/// With the SMTP server down, a reset request still answers 202; the mail arrives once the
/// server is back.
async fn mail_waits_for_the_smtp_server(adapter: Adapter, database: Database) {
    let Some(service) = Service::start(adapter, database).await else {
        return;
    };
    let (status, body) = service.register("carol@example.com", None).await;
    assert_eq!(status, 201, "{body}");

    service.catcher.stop().await;
    let started = std::time::Instant::now();
    let (status, body) = service
        .post(
            "/api/reset-password",
            json!({ "email": "carol@example.com" }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the answer does not wait for the mail server"
    );
    // Let the dispatcher fail a few times against the closed port.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(service.catcher.messages().is_empty());

    service.catcher.restart().await;
    let mail = service.mail_to("carol@example.com").await;
    let token = reset_token_in(&mail.text);
    let (status, body) = service
        .post(
            "/api/reset-password/confirm",
            json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Sent once, not once per retry.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(service.catcher.messages().len(), 1);
    service.stop().await;
}

/// 30 parallel registrations with one code all succeed and all count; 10 racing
/// registrations of one email yield one account.
async fn parallel_registrations(adapter: Adapter, database: Database) {
    let Some(service) = Service::start(adapter, database).await else {
        return;
    };
    let (status, referrer) = service.register("referrer@example.com", None).await;
    assert_eq!(status, 201, "{referrer}");
    let access = referrer["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = referrer["user"]["referral_code"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut tasks = JoinSet::new();
    for n in 0..30 {
        let (api, code) = (service.api.clone(), code.clone());
        tasks.spawn(async move {
            api.register(&format!("referee{n}@example.com"), Some(&code))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("a registration task");
        assert_eq!(status, 201, "{body}");
    }
    let (status, stats) = service.get_as("/api/referral-stats", &access).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["total_referrals"], 30, "{stats}");
    // Past 20 sign-ups with one code within the hour (the velocity limit), rewards are held
    // for review.
    assert_eq!(stats["total_reward_points"], 2000, "{stats}");
    assert_eq!(stats["pending_reward_points"], 1000, "{stats}");

    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let api = service.api.clone();
        tasks.spawn(async move { api.register("same@example.com", None).await });
    }
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("a registration task");
        if status == 409 {
            assert_eq!(body["code"], "email_taken", "{body}");
        }
        statuses.push(status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    service.stop().await;
}

macro_rules! end_to_end {
    ($($name:ident: $case:ident($adapter:ident, $database:ident);)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $case(Adapter::$adapter, Database::$database).await;
            }
        )*
    };
}

end_to_end! {
    axum_sqlite_reset_through_smtp: reset_through_smtp(Axum, Sqlite);
    axum_postgres_reset_through_smtp: reset_through_smtp(Axum, Postgres);
    rocket_sqlite_reset_through_smtp: reset_through_smtp(Rocket, Sqlite);
    rocket_postgres_reset_through_smtp: reset_through_smtp(Rocket, Postgres);
    axum_sqlite_mail_waits_for_the_smtp_server: mail_waits_for_the_smtp_server(Axum, Sqlite);
    axum_postgres_mail_waits_for_the_smtp_server: mail_waits_for_the_smtp_server(Axum, Postgres);
    rocket_sqlite_mail_waits_for_the_smtp_server: mail_waits_for_the_smtp_server(Rocket, Sqlite);
    rocket_postgres_mail_waits_for_the_smtp_server: mail_waits_for_the_smtp_server(Rocket, Postgres);
    axum_sqlite_parallel_registrations: parallel_registrations(Axum, Sqlite);
    rocket_sqlite_parallel_registrations: parallel_registrations(Rocket, Sqlite);
}
