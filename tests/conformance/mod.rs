//! The HTTP conformance suite: every rule of the contract (`docs/API.md`), checked over a
//! real socket with a real client, written once for every adapter, storage and prefix.
//!
//! An adapter's test file brings the suite in and names one function that serves an
//! [`Engine`] under a prefix on `127.0.0.1:0`:
//!
//! ```ignore
//! mod conformance;
//! use conformance::{Served, SpawnFuture};
//!
//! fn spawn(engine: referral::Engine, prefix: &'static str) -> SpawnFuture {
//!     Box::pin(async move { /* serve it, then */ Served::new(base_url, move || stop()) })
//! }
//!
//! conformance::conformance_tests!(spawn);
//! ```
//!
//! [`conformance_tests!`] expands to one module per storage and prefix (memory under `/api`,
//! memory under another prefix, a SQLite file, a PostgreSQL scratch database), each with one
//! `#[tokio::test]` per case, each case a function in this module's submodules taking the
//! [`Target`]. Cases are written with `/api/...` paths; the server rewrites them to its
//! prefix. Cases never sleep: time moves on the engine's [`ManualClock`].

#![allow(dead_code)] // each test binary uses the whole suite; rustc sees it per binary

pub mod accounts;
pub mod admin;
pub mod admin_events;
pub mod admin_rewards;
pub mod bodies;
pub mod clicks;
pub mod codes;
pub mod concurrency;
pub mod hardening;
pub mod rate_limits;
pub mod referrals;
pub mod reset;
pub mod routing;
pub mod self_service;
pub mod service;
pub mod sessions;
pub mod verification;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration as StdDuration;

use referral::{
    Argon2Params, ConfigBuilder, Engine, EngineBuilder, ManualClock, MemoryStorage, Message,
    RateLimit, RecordingMailer, Storage,
};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

/// The public base URL the test engines build links from; deliberately not the server's
/// address, so a link built from the request's `Host` would be caught.
pub const APP_BASE_URL: &str = "https://app.example.test";

/// A password every rule accepts.
pub const PASSWORD: &str = "correct horse battery staple";

/// The prefix cases are written with; servers under another prefix rewrite it.
pub const WRITTEN_PREFIX: &str = "/api";

/// A running server, as an adapter's spawner hands it back.
pub struct Served {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl Served {
    /// A server at `base_url`, stopped by calling `stop` (when the test ends).
    pub fn new(base_url: impl Into<String>, stop: impl FnOnce() + Send + 'static) -> Self {
        Served {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            stop: Some(Box::new(stop)),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

/// What an adapter's spawner returns.
pub type SpawnFuture = Pin<Box<dyn Future<Output = Served> + Send>>;

/// An adapter's spawner: serve this engine with the contract under this prefix on
/// `127.0.0.1:0` (inside the current tokio runtime, passing peer addresses to the engine)
/// and say where.
pub type Spawn = fn(Engine, &'static str) -> SpawnFuture;

/// Where a case's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `MemoryStorage` (can be switched off to test outages).
    Memory,
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A scratch database on `REFERRAL_TEST_POSTGRES_URL`.
    Postgres,
}

/// What a case runs against: an adapter, a storage, a prefix.
#[derive(Clone, Copy)]
pub struct Target {
    /// The adapter's spawner.
    pub spawn: Spawn,
    /// The storage.
    pub backend: Backend,
    /// The prefix the contract is mounted under.
    pub prefix: &'static str,
}

impl Target {
    /// Whether this target can run here: PostgreSQL needs `REFERRAL_TEST_POSTGRES_URL`
    /// (without it, says so once and the case passes without running).
    pub fn available(&self) -> bool {
        if self.backend != Backend::Postgres || postgres_url().is_some() {
            return true;
        }
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            println!("REFERRAL_TEST_POSTGRES_URL not set; skipping PostgreSQL conformance cases")
        });
        false
    }
}

fn postgres_url() -> Option<String> {
    std::env::var("REFERRAL_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// Cheap argon2id, so a suite of hundreds of registrations runs in seconds; cases about
/// hashing use the defaults instead.
pub const CHEAP_ARGON2: Argon2Params = Argon2Params {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// Per-address limits high enough for cases that sign up many users from `127.0.0.1`;
/// the cases about those limits set the defaults back.
const GENEROUS: RateLimit = RateLimit {
    max: 100_000,
    window: time::Duration::hours(1),
};

/// Keeps a case's database alive, and removes it afterwards.
enum Store {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Postgres(#[allow(dead_code)] referral::testing::ScratchPostgres),
}

impl Store {
    async fn open(backend: Backend) -> (Store, Arc<dyn Storage>, Option<MemoryStorage>) {
        match backend {
            Backend::Memory => {
                let memory = MemoryStorage::new();
                (Store::Memory, Arc::new(memory.clone()), Some(memory))
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("conformance.db").display());
                let storage = referral::storage::open(&url)
                    .await
                    .expect("opening a SQLite file");
                (Store::Sqlite(dir), storage, None)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let scratch = referral::testing::ScratchPostgres::create()
                    .await
                    .expect("REFERRAL_TEST_POSTGRES_URL is set (checked by Target::available)");
                let storage = referral::storage::open(scratch.url())
                    .await
                    .expect("opening the scratch PostgreSQL database");
                (Store::Postgres(scratch), storage, None)
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other:?} storage needs its cargo feature"),
        }
    }
}

/// A server under test, with the engine behind it and handles on its storage and clock.
pub struct TestServer {
    /// Where it listens.
    pub base_url: String,
    /// The prefix the contract is mounted under.
    pub prefix: &'static str,
    /// A client with no proxy and a timeout, so a hung server fails a test instead of
    /// hanging it.
    pub client: reqwest::Client,
    /// The engine the server answers with.
    pub engine: Engine,
    /// Its storage when it is memory (for switching it off).
    pub memory: Option<MemoryStorage>,
    /// Where its mail goes.
    pub mailer: RecordingMailer,
    mails_read: AtomicUsize,
    /// Its clock (moved instead of sleeping).
    pub clock: ManualClock,
    _served: Served,
    _store: Store,
}

impl TestServer {
    /// A server over a fresh engine with cheap hashing and default rules (per-address
    /// limits raised).
    pub async fn start(target: Target) -> Self {
        Self::start_with(target, |config| config).await
    }

    /// A server over a fresh engine whose configuration `configure` adjusts (on top of cheap
    /// hashing, raised per-address limits and [`APP_BASE_URL`]).
    pub async fn start_with(
        target: Target,
        configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Self {
        Self::start_built(target, configure, |builder| builder).await
    }

    /// A server as [`start_with`](Self::start_with) makes it, its engine builder further
    /// adjusted by `build` (a metadata validator, say).
    pub async fn start_built(
        target: Target,
        configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
        build: impl FnOnce(EngineBuilder) -> EngineBuilder,
    ) -> Self {
        let (store, storage, memory) = Store::open(target.backend).await;
        let clock = ManualClock::starting_now();
        let config = configure(
            referral::Config::builder()
                .secret(SECRET)
                .app_base_url(APP_BASE_URL)
                .argon2(CHEAP_ARGON2)
                .registration_limit(GENEROUS)
                .reset_request_limit(GENEROUS),
        )
        .build()
        .expect("test configuration is valid");
        let mailer = RecordingMailer::new();
        let engine = build(
            Engine::builder(config)
                .storage(storage)
                .mailer(Arc::new(mailer.clone()))
                .clock(Arc::new(clock.clone())),
        )
        .build()
        .expect("test engine builds");
        let served = (target.spawn)(engine.clone(), target.prefix).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            // Share links answer redirects: cases read them, never follow them.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(StdDuration::from_secs(60))
            .build()
            .expect("reqwest client builds");
        TestServer {
            base_url: served.base_url.clone(),
            prefix: target.prefix,
            client,
            engine,
            memory,
            mailer,
            mails_read: AtomicUsize::new(0),
            clock,
            _served: served,
            _store: store,
        }
    }

    /// `path` as this server serves it: a path written under `/api` moved to its prefix.
    pub fn path(&self, path: &str) -> String {
        match path.strip_prefix(WRITTEN_PREFIX) {
            Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => {
                format!("{}{rest}", self.prefix)
            }
            _ => path.to_owned(),
        }
    }

    /// The absolute URL of `path` (written under `/api`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, self.path(path))
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .expect("the answer body is readable")
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path`, no credentials.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    /// `GET path` with `Authorization: Bearer {access_token}`.
    pub async fn get_as(&self, path: &str, access_token: &str) -> Reply {
        self.get_with_authorization(path, &format!("Bearer {access_token}"))
            .await
    }

    /// `GET path` with this exact `Authorization` header.
    pub async fn get_with_authorization(&self, path: &str, authorization: &str) -> Reply {
        self.send(
            self.client
                .get(self.url(path))
                .header("authorization", authorization),
        )
        .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// `POST path` with a bearer access token and no body.
    pub async fn post_as(&self, path: &str, access_token: &str) -> Reply {
        self.send(self.client.post(self.url(path)).bearer_auth(access_token))
            .await
    }

    /// `method path` with `Authorization: Bearer {token}` (if any) and a JSON `body` (if any).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// A request with any method, content type and raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }

    /// Registers `email` with [`PASSWORD`] (and `referral_code`), expecting `201`.
    pub async fn register(&self, email: &str, referral_code: Option<&str>) -> Account {
        self.register_with(email, PASSWORD, referral_code).await
    }

    /// Registers `email` with `password` (and `referral_code`), expecting `201`.
    pub async fn register_with(
        &self,
        email: &str,
        password: &str,
        referral_code: Option<&str>,
    ) -> Account {
        let mut body = json!({ "email": email, "password": password });
        if let Some(code) = referral_code {
            body["referral_code"] = json!(code);
        }
        let reply = self.post("/api/register", &body).await;
        let registered = reply.expect_json(201);
        Account::from_registered(&registered)
    }

    /// `POST /api/login`.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/login",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs in, expecting `200`; returns the token pair.
    pub async fn tokens(&self, email: &str, password: &str) -> Value {
        self.login(email, password).await.expect_json(200)
    }

    /// Logs in, expecting `401 invalid_credentials`: the account does not exist, or this is
    /// not its password.
    pub async fn refused_login(&self, email: &str, password: &str) {
        self.login(email, password)
            .await
            .expect_problem(401, "invalid_credentials");
    }

    /// `POST /api/reset-password` for `email`.
    pub async fn request_reset(&self, email: &str) -> Reply {
        self.post("/api/reset-password", &json!({ "email": email }))
            .await
    }

    /// `POST /api/reset-password/confirm`.
    pub async fn confirm_reset(&self, token: &str, new_password: &str) -> Reply {
        self.post(
            "/api/reset-password/confirm",
            &json!({ "token": token, "new_password": new_password }),
        )
        .await
    }

    /// The mail sent since the last call (of this or [`verification_mails`]), oldest first:
    /// the outbox dispatcher delivers what is due (as a server's dispatcher would), then the
    /// recording mailer says what went out.
    pub async fn mails(&self) -> Vec<Message> {
        // Round after round: one user's messages of a topic go out in turn.
        while !self
            .engine
            .outbox_dispatcher()
            .dispatch_due()
            .await
            .expect("the outbox dispatcher runs")
            .is_idle()
        {}
        let sent = self.mailer.messages();
        let seen = self.mails_read.swap(sent.len(), Ordering::SeqCst);
        sent.into_iter().skip(seen).collect()
    }

    /// The reset mail among [`mails`](Self::mails) (every sign-up also sends a verification
    /// mail, which this passes over).
    pub async fn reset_mails(&self) -> Vec<Message> {
        self.mails()
            .await
            .into_iter()
            .filter(|mail| mail.text.contains("/reset-password?token="))
            .collect()
    }

    /// The verification mail among [`mails`](Self::mails).
    pub async fn verification_mails(&self) -> Vec<Message> {
        self.mails()
            .await
            .into_iter()
            .filter(|mail| mail.text.contains("/verify-email?token="))
            .collect()
    }

    /// Requests a reset for `email` and returns the token from the one mail it sends.
    pub async fn reset_token_for(&self, email: &str) -> String {
        self.request_reset(email).await.expect_json(202);
        let mails = self.reset_mails().await;
        assert_eq!(mails.len(), 1, "one reset mail for {email}");
        reset_token_in(&mails[0].text)
    }

    /// Moves the server's clock.
    pub fn advance(&self, by: time::Duration) {
        self.clock.advance(by);
    }
}

/// The signing secret of the test engines.
pub const SECRET: &str = "conformance-suite-secret-of-more-than-32-bytes";

/// The token of the reset link in a mail body.
pub fn reset_token_in(body: &str) -> String {
    let marker = format!("{APP_BASE_URL}/reset-password?token=");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no reset link in: {body}"))
        + marker.len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// A registered user, as the registration answered.
#[derive(Debug, Clone)]
pub struct Account {
    /// The `user` object.
    pub user: Value,
    /// The `tokens` object.
    pub tokens: Value,
}

impl Account {
    fn from_registered(registered: &Value) -> Self {
        Account {
            user: registered["user"].clone(),
            tokens: registered["tokens"].clone(),
        }
    }

    /// The access token.
    pub fn access(&self) -> &str {
        self.tokens["access_token"]
            .as_str()
            .expect("access_token is a string")
    }

    /// The refresh token.
    pub fn refresh(&self) -> &str {
        self.tokens["refresh_token"]
            .as_str()
            .expect("refresh_token is a string")
    }

    /// The user's own referral code.
    pub fn code(&self) -> &str {
        self.user["referral_code"]
            .as_str()
            .expect("referral_code is a string")
    }

    /// The user's id.
    pub fn id(&self) -> &str {
        self.user["id"].as_str().expect("id is a string")
    }
}

/// An answer: status, headers and body bytes.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The media type of `Content-Type`, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Checks `status` and the media type of `Content-Type`.
    #[track_caller]
    fn expect_status(&self, status: u16, media_type: &str) {
        assert_eq!(
            self.status,
            status,
            "status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.media_type().as_deref(),
            Some(media_type),
            "content type"
        );
    }

    /// Checks a success: `status`, `Content-Type: application/json`; returns the body.
    #[track_caller]
    pub fn expect_json(&self, status: u16) -> Value {
        self.expect_status(status, "application/json");
        self.json()
    }

    /// Checks an error: `status`, `Content-Type: application/problem+json`, and a problem
    /// document with `type`, `title`, this `status`, this `code` and a `detail`; returns it.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> Value {
        self.expect_status(status, "application/problem+json");
        let problem = self.json();
        assert_eq!(problem["type"], "about:blank", "{problem}");
        assert!(
            problem["title"]
                .as_str()
                .is_some_and(|title| !title.is_empty()),
            "title: {problem}"
        );
        assert_eq!(problem["status"], status, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty()),
            "detail: {problem}"
        );
        problem
    }

    /// Checks a `422 validation_failed` naming `field` with `code`; returns the problem.
    #[track_caller]
    pub fn expect_field_error(&self, field: &str, code: &str) -> Value {
        let problem = self.expect_problem(422, "validation_failed");
        let errors = problem["errors"].as_array().expect("errors is an array");
        assert!(
            errors.iter().any(|error| error["field"] == field
                && error["code"] == code
                && error["message"].as_str().is_some_and(|m| !m.is_empty())),
            "no {field}/{code} in {problem}"
        );
        problem
    }
}

/// Checks `value` is an RFC 3339 timestamp in UTC with a `Z`.
#[track_caller]
pub fn assert_utc_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is a string: {value}"));
    assert!(text.ends_with('Z'), "{text} ends with Z");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"));
}

/// Checks `value` is a UUID string.
#[track_caller]
pub fn assert_uuid(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("id is a string: {value}"));
    uuid::Uuid::parse_str(text).unwrap_or_else(|e| panic!("{text} is not a UUID: {e}"));
}

/// Expands to one module per target — memory under `/api`, memory under `/v1/auth`, a
/// SQLite file, a PostgreSQL scratch database — each with one `#[tokio::test]` per
/// conformance case, served through `$spawn` (a [`Spawn`] function in scope).
macro_rules! conformance_tests {
    ($spawn:ident) => {
        $crate::conformance::conformance_tests!(@target $spawn, memory, Memory, "/api", memory_only);
        $crate::conformance::conformance_tests!(@target $spawn, memory_prefixed, Memory, "/v1/auth", memory_only);
        #[cfg(feature = "sqlite")]
        $crate::conformance::conformance_tests!(@target $spawn, sqlite, Sqlite, "/api", no_extra);
        #[cfg(feature = "postgres")]
        $crate::conformance::conformance_tests!(@target $spawn, postgres, Postgres, "/api", no_extra);
    };
    (@target $spawn:ident, $module:ident, $backend:ident, $prefix:literal, $extra:ident) => {
        mod $module {
            $crate::conformance::conformance_tests!(@cases $spawn, $backend, $prefix;
                accounts: [
                registering_answers_201_with_the_user_its_tokens_and_location_api_me,
                me_answers_the_signed_in_user,
                registering_with_a_referral_code_records_the_referrer,
                referral_codes_match_in_any_case_with_surrounding_spaces,
                an_unknown_referral_code_answers_422_and_creates_no_account,
                fields_a_client_must_not_set_are_ignored_at_registration,
                a_registered_email_answers_409_email_taken_in_any_case,
                emails_are_trimmed_and_compared_without_case,
                passwords_are_compared_after_nfkc_normalisation,
                a_password_of_128_characters_is_accepted,
                bad_passwords_answer_422_with_a_field_error,
                a_malformed_or_overlong_email_answers_422_with_a_field_error,
                login_answers_200_with_a_token_pair,
                a_wrong_password_and_an_unknown_email_answer_the_same_401,
                a_user_registers_and_logs_in_at_the_default_argon2_cost,
            ],
            sessions: [
                refreshing_answers_a_new_pair_and_retires_the_old_refresh_token,
                presenting_a_rotated_refresh_token_revokes_the_newer_one_too,
                an_unknown_refresh_token_answers_401_invalid_refresh_token,
                an_expired_refresh_token_answers_401_invalid_refresh_token,
                logout_answers_204_and_the_refresh_token_stops_working,
                protected_routes_without_a_token_answer_401_with_www_authenticate_bearer,
                malformed_authorization_headers_answer_401,
                a_token_signed_with_another_key_answers_401,
                an_alg_none_token_answers_401,
                a_token_claiming_another_algorithm_answers_401,
                a_token_signed_with_the_key_under_hs384_or_hs512_answers_401,
                a_signed_token_of_another_type_answers_401,
                a_token_with_a_swapped_payload_answers_401,
                an_expired_access_token_answers_401,
                a_refresh_token_is_not_an_access_token,
            ],
            rate_limits: [
                the_eleventh_failed_login_answers_429_with_retry_after,
                unregistered_emails_are_rate_limited_alike,
                logins_are_allowed_again_once_the_window_has_passed,
                a_password_reset_clears_the_failed_login_count,
            ],
            reset: [
                a_reset_request_answers_202_and_mails_a_link_in_text_and_html,
                the_reset_link_ignores_the_requests_host_and_forwarding_headers,
                confirming_a_reset_changes_the_password_and_ends_every_session,
                a_reset_token_works_once,
                an_expired_reset_token_answers_400,
                a_superseded_reset_token_answers_400,
                an_unknown_reset_token_answers_400,
                a_bad_new_password_answers_422_and_leaves_the_token_usable,
                a_reset_for_an_unknown_email_answers_the_same_202_and_sends_nothing,
                a_fourth_reset_request_within_the_hour_answers_202_and_sends_nothing,
                a_malformed_email_in_a_reset_request_answers_422,
            ],
            referrals: [
                referrals_are_listed_newest_first_with_masked_emails,
                referrals_are_paged_fifty_at_a_time_by_default_with_a_cursor,
                a_small_limit_pages_through_every_referral_exactly_once,
                a_bad_limit_or_cursor_answers_422,
                stats_count_totals_recent_sign_ups_second_tier_and_points,
                a_new_user_has_empty_referrals_and_zero_stats,
            ],
            clicks: [
                a_share_link_redirects_with_the_code_and_counts_a_visitor_once_a_day,
                an_unknown_or_malformed_code_redirects_to_registration_and_counts_nothing,
                an_earlier_code_still_counts_and_redirects_with_the_current_one,
                a_share_link_with_another_method_answers_405_with_allow,
            ],
            codes: [
                choosing_a_code_answers_200_stats_and_earlier_codes_keep_working,
                a_code_someone_holds_answers_409_code_taken_in_any_case,
                a_malformed_or_reserved_code_answers_422_with_a_field_error,
                choosing_a_code_needs_a_bearer_token,
            ],
            routing: [
                an_unknown_api_route_answers_a_404_problem,
                a_wrong_method_answers_405_with_allow,
            ],
            bodies: [
                a_body_that_is_not_json_answers_400_invalid_json,
                a_body_of_the_wrong_shape_answers_400_invalid_json,
                a_wrong_content_type_answers_400_invalid_json,
                an_empty_body_answers_400_invalid_json,
                a_body_over_64_kib_answers_413_payload_too_large,
                a_body_of_exactly_64_kib_is_read,
            ],
            service: [
                health_answers_200_ok,
                the_openapi_document_lists_every_path,
            ],
            concurrency: [
                twenty_parallel_registrations_with_one_code_all_succeed_and_count_twenty,
                racing_registrations_of_one_email_yield_exactly_one_account,
            ],
            verification: [
                a_sign_up_mails_a_verification_link_that_verifies_once,
                an_unknown_or_superseded_verification_token_answers_400,
                resending_answers_202_and_the_fourth_within_the_hour_answers_429,
                an_unverified_login_can_be_refused_with_403_email_not_verified,
                rewards_held_until_verification_are_listed_pending_then_approved,
                rewards_answer_a_page_newest_first_and_refuse_a_bad_limit,
                a_disposable_sign_up_shows_a_held_flagged_reward,
            ],
            admin: [
                admin_endpoints_without_a_valid_token_answer_401,
                admin_endpoints_with_a_token_lacking_the_permission_answer_403_forbidden,
                an_app_role_holds_only_the_permissions_mapped_to_it,
                an_unknown_or_malformed_user_id_answers_404_not_found,
                new_users_hold_the_user_role_and_admin_emails_also_admin,
                an_admin_lists_and_searches_users_newest_first_with_a_cursor,
                an_admin_reads_one_user_with_referrer_and_stats,
                a_role_change_refuses_the_users_earlier_tokens_at_once,
                disabling_ends_every_session_and_login_answers_403_account_disabled,
                removing_the_last_admin_answers_409_last_admin,
                two_admins_demoting_each_other_at_once_leave_one_admin,
                an_unknown_or_invalid_role_answers_422_and_a_wrong_shape_400,
                every_change_is_in_the_audit_log_newest_first,
                an_admin_erases_a_user_with_204_once_and_it_is_audited,
                erasing_the_last_admin_answers_409_last_admin,
            ],
            admin_rewards: [
                reward_admin_endpoints_without_a_valid_token_answer_401,
                reward_admin_endpoints_with_a_plain_user_token_answer_403_forbidden,
                the_review_queue_lists_pending_rewards_newest_first_with_a_cursor,
                approving_a_pending_reward_counts_its_points_and_is_audited,
                revoking_needs_a_reason_and_takes_the_points_back,
                a_transition_the_lifecycle_forbids_answers_409_invalid_transition,
                an_unknown_or_malformed_reward_id_answers_404_not_found,
                the_admin_user_view_shows_email_verified_and_the_users_reward_flags,
                an_adjustment_answers_201_moves_the_total_and_is_audited,
                a_bad_adjustment_answers_422_or_400_and_an_unknown_user_404,
                a_conversion_answers_201_approves_held_rewards_and_a_repeat_200,
                a_bad_conversion_answers_422_or_400_and_an_unknown_user_404,
            ],
            admin_events: [
                dead_letter_endpoints_refuse_without_a_token_and_without_the_permission,
                dead_letters_are_listed_newest_first_without_their_payload,
                redelivering_a_dead_letter_answers_202_and_is_audited,
                redelivering_an_unknown_dead_letter_answers_404_not_found,
            ],
            self_service: [
                changing_the_password_ends_other_sessions_and_the_answer_carries_working_tokens,
                changing_the_password_without_a_token_answers_401,
                a_wrong_current_password_answers_401_and_counts_toward_the_login_limit,
                a_bad_new_password_answers_422_and_changes_nothing,
                deleting_the_account_answers_204_and_keeps_the_referrers_history,
                deleting_the_account_ends_every_session_and_frees_the_email,
                deleting_the_account_needs_a_token_and_the_right_password,
                a_sign_up_with_an_erased_users_code_has_no_referrer,
                metadata_given_at_sign_up_is_returned_and_patch_me_replaces_it,
                metadata_that_is_not_an_object_or_over_4_kib_answers_422_and_changes_nothing,
                the_apps_metadata_validator_answers_422_naming_each_key,
                patching_me_needs_a_token_and_a_json_body,
            ],
            hardening: [
                sixty_parallel_wrong_logins_get_at_most_ten_answers_401,
                the_eleventh_sign_up_from_one_address_within_the_hour_answers_429,
                the_twenty_first_reset_request_from_one_address_within_the_hour_answers_429,
                a_forwarded_for_header_from_an_untrusted_peer_changes_nothing,
                a_trusted_proxys_forwarded_address_is_the_one_counted,
                answers_carrying_tokens_are_never_cached_or_sniffed,
                a_body_that_stops_arriving_answers_408,
                a_body_without_a_content_type_answers_400_invalid_json,
            ],
            );
            $crate::conformance::conformance_tests!(@$extra $spawn, $backend, $prefix);
        }
    };
    (@memory_only $spawn:ident, $backend:ident, $prefix:literal) => {
        $crate::conformance::conformance_tests!(@cases $spawn, $backend, $prefix;
            service: [storage_down_answers_503_unavailable_and_recovers],
        );
    };
    (@no_extra $spawn:ident, $backend:ident, $prefix:literal) => {};
    (@cases $spawn:ident, $backend:ident, $prefix:literal; $($group:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        $($(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let target = $crate::conformance::Target {
                    spawn: super::$spawn,
                    backend: $crate::conformance::Backend::$backend,
                    prefix: $prefix,
                };
                if target.available() {
                    $crate::conformance::$group::$case(target).await;
                }
            }
        )*)*
    };
}
pub(crate) use conformance_tests;
