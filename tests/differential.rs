//! Differential test: axum and Rocket, each over an identical fresh engine, receive the same
//! scripted sequence of requests (happy and unhappy paths: malformed, oversize and empty
//! bodies, unknown routes, wrong and unknown methods, bad tokens, rate limits), and must
//! answer alike.
//!
//! Per step it compares the status, the headers clients read (`Content-Type`, `Location`,
//! `WWW-Authenticate`, `Retry-After`, `Allow`), the set of header names (all but `Date`
//! and `Content-Length`, so no framework-specific header gives either away) and the body:
//! JSON after masking what differs between two engines by nature (ids, timestamps, tokens,
//! referral codes and links, cursors), byte for byte otherwise. Masking is consistent per
//! server: the first id a server shows becomes `<id1>` everywhere in its answers, so "the
//! same id twice" is compared too. Any difference fails the test with both sides printed.
//!
//! Values a step needs from an earlier answer (a token, a code, a cursor) are captured per
//! server and substituted into the request as `{{name}}`, so each server gets its own.
//!
//! Methods Rocket 0.5 cannot parse (`PROPFIND`, `PURGE`) are scripted too: the Rocket
//! adapter's catchers route them by path as axum does (see `referral-rocket`'s docs).
//! `CONNECT` is sent as clients send it, to an authority (`host:port`), not a path.

#[allow(unused_macros, unused_imports)] // the suite's macro is for the adapters' suites
mod conformance;
mod support_axum;
#[allow(dead_code)] // `stop` and the join handle serve other test binaries
mod support_rocket;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use conformance::{Backend, Reply, Served, Spawn, SpawnFuture, Target, TestServer, PASSWORD};
use referral::{Engine, MAX_BODY_BYTES};
use reqwest::Method;
use serde_json::{json, Value};

/// axum as `examples/axum_server.rs` serves it: the router plus the `404` fallback.
fn spawn_axum(engine: Engine, prefix: &'static str) -> SpawnFuture {
    Box::pin(async move {
        let app = referral::axum::Api::new()
            .prefix(prefix)
            .expect("a valid prefix")
            .router()
            .fallback(referral::axum::not_found)
            .with_state(engine);
        let server = support_axum::spawn_axum(app).await;
        Served::new(server.base_url.clone(), move || server.stop())
    })
}

/// Rocket as `examples/rocket_server.rs` serves it (through `spawn_rocket_at`).
fn spawn_rocket(engine: Engine, prefix: &'static str) -> SpawnFuture {
    Box::pin(async move {
        let rocket = support_rocket::spawn_rocket_at(engine, prefix).await;
        let shutdown = rocket.shutdown.clone();
        let base_url = rocket.base_url.clone();
        Served::new(base_url, move || {
            shutdown.notify();
            drop(rocket);
        })
    })
}

/// Headers whose values are compared.
const READ_HEADERS: [&str; 5] = [
    "content-type",
    "location",
    "www-authenticate",
    "retry-after",
    "allow",
];

/// Headers left out of the name comparison: framing and the clock.
const FRAMING_HEADERS: [&str; 2] = ["date", "content-length"];

/// JSON keys whose values differ between two engines by nature, and their placeholder kind.
const MASKED_KEYS: [(&str, &str); 10] = [
    ("id", "id"),
    ("user_id", "id"),
    ("referred_by", "id"),
    ("created_at", "time"),
    ("joined_at", "time"),
    ("access_token", "token"),
    ("refresh_token", "token"),
    ("referral_code", "code"),
    ("referral_link", "link"),
    ("next_cursor", "cursor"),
];

/// Replaces, per server, every value it shows in a masked place by a placeholder numbered
/// in order of first appearance.
#[derive(Default)]
struct Masker {
    seen: HashMap<String, String>,
    counters: HashMap<String, usize>,
}

impl Masker {
    fn placeholder(&mut self, kind: &str, value: &str) -> String {
        if let Some(known) = self.seen.get(value) {
            return known.clone();
        }
        let counter = self.counters.entry(kind.to_owned()).or_default();
        *counter += 1;
        let placeholder = format!("<{kind}{counter}>");
        self.seen.insert(value.to_owned(), placeholder.clone());
        placeholder
    }

    /// Registers a value that must be masked wherever it appears (a reset token from a
    /// mail, say).
    fn learn(&mut self, kind: &str, value: &str) {
        self.placeholder(kind, value);
    }

    /// `value` with masked keys replaced, then every known value replaced inside strings
    /// (a code inside a link, a token inside a mail).
    fn mask(&mut self, value: &Value) -> Value {
        let mut value = value.clone();
        self.mask_keys(&mut value);
        self.mask_known(&mut value);
        value
    }

    fn mask_keys(&mut self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                // Links last: a link is masked as the codes it carries when it carries any
                // (`https://…/r/<code1>`), so a link to another code is a difference.
                for links in [false, true] {
                    for (key, field) in map.iter_mut() {
                        let kind = MASKED_KEYS
                            .iter()
                            .find(|(name, _)| name == key)
                            .map(|(_, kind)| *kind);
                        match (kind, &*field) {
                            (Some("link"), Value::String(text)) if links => {
                                let masked = self.mask_text(text);
                                *field = Value::String(if masked == *text {
                                    self.placeholder("link", text)
                                } else {
                                    masked
                                });
                            }
                            (Some("link"), _) => {}
                            (Some(kind), Value::String(text)) if !links => {
                                *field = Value::String(self.placeholder(kind, text));
                            }
                            (Some(_), Value::String(_)) => {}
                            _ if !links => self.mask_keys(field),
                            _ => {}
                        }
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.mask_keys(item)),
            _ => {}
        }
    }

    fn mask_known(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.mask_text(text),
            Value::Object(map) => map.values_mut().for_each(|field| self.mask_known(field)),
            Value::Array(items) => items.iter_mut().for_each(|item| self.mask_known(item)),
            _ => {}
        }
    }

    /// `text` with every known value (longest first) replaced by its placeholder.
    fn mask_text(&self, text: &str) -> String {
        let mut known: Vec<(&String, &String)> = self
            .seen
            .iter()
            .filter(|(value, _)| value.len() >= 6)
            .collect();
        known.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let mut masked = text.to_owned();
        for (value, placeholder) in known {
            if masked.contains(value.as_str()) {
                masked = masked.replace(value.as_str(), placeholder);
            }
        }
        masked
    }
}

/// What a comparison looks at: one server's answer, masked.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    status: u16,
    read_headers: BTreeMap<&'static str, Option<String>>,
    header_names: BTreeSet<String>,
    body: ObservedBody,
}

#[derive(Debug, Clone, PartialEq)]
enum ObservedBody {
    Json(Value),
    Bytes(String),
}

impl Observed {
    fn of(reply: &Reply, masker: &mut Masker) -> Self {
        let read_headers = READ_HEADERS
            .iter()
            .map(|name| {
                (
                    *name,
                    reply.header(name).map(|value| masker.mask_text(value)),
                )
            })
            .collect();
        let header_names = reply
            .headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| !FRAMING_HEADERS.contains(&name.as_str()))
            .collect();
        let body = match serde_json::from_slice::<Value>(&reply.body) {
            Ok(json) => ObservedBody::Json(masker.mask(&json)),
            Err(_) => ObservedBody::Bytes(masker.mask_text(&String::from_utf8_lossy(&reply.body))),
        };
        Observed {
            status: reply.status,
            read_headers,
            header_names,
            body,
        }
    }

    /// One line per fact, for the diff.
    fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("status: {}", self.status)];
        for (name, value) in &self.read_headers {
            lines.push(format!(
                "{name}: {}",
                value.as_deref().unwrap_or("(absent)")
            ));
        }
        lines.push(format!(
            "header names: {}",
            self.header_names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        match &self.body {
            ObservedBody::Json(json) => {
                lines.push("body (JSON, masked):".into());
                let pretty = serde_json::to_string_pretty(json).expect("JSON prints");
                lines.extend(pretty.lines().map(|line| format!("  {line}")));
            }
            ObservedBody::Bytes(text) => {
                lines.push(format!("body (not JSON, {} bytes):", text.len()));
                let shown: String = text.chars().take(300).collect();
                lines.extend(shown.lines().map(|line| format!("  {line}")));
            }
        }
        lines
    }
}

/// A line diff of `left` and `right` (longest common subsequence): `  ` both, `- ` axum
/// only, `+ ` Rocket only.
fn diff(left: &[String], right: &[String]) -> String {
    let (n, m) = (left.len(), right.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if left[i] == right[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && left[i] == right[j] {
            let _ = writeln!(out, "    {}", left[i]);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "  + {}", right[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "  - {}", left[i]);
            i += 1;
        }
    }
    out
}

/// A request of the script; `{{name}}` in the path, header values and body is replaced by
/// each server's own captured value.
#[derive(Clone)]
struct Request {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn new(method: &str, path: &str) -> Self {
        Request {
            method: Method::from_bytes(method.as_bytes()).expect("a valid method token"),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    fn post_json(path: &str, body: Value) -> Self {
        Self::new("POST", path)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// One server under the script: its test server, captured values and masker.
struct Side {
    name: &'static str,
    server: TestServer,
    vars: HashMap<String, String>,
    masker: Masker,
}

impl Side {
    async fn start(name: &'static str, spawn: Spawn) -> Self {
        let target = Target {
            spawn,
            backend: Backend::Memory,
            prefix: "/api",
        };
        Side {
            name,
            server: TestServer::start(target).await,
            vars: HashMap::new(),
            masker: Masker::default(),
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = text.to_owned();
        while let Some(start) = out.find("{{") {
            let end = start + out[start..].find("}}").expect("`{{` is closed");
            let name = &out[start + 2..end];
            let value = self
                .vars
                .get(name)
                .unwrap_or_else(|| panic!("{}: nothing captured as {name}", self.name))
                .clone();
            out.replace_range(start..end + 2, &value);
        }
        out
    }

    async fn send(&self, request: &Request) -> Reply {
        let url = self.server.url(&self.substitute(&request.path));
        let mut builder = self.server.client.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            builder = builder.header(name, self.substitute(value));
        }
        let body =
            if request.body.len() <= MAX_BODY_BYTES && std::str::from_utf8(&request.body).is_ok() {
                self.substitute(std::str::from_utf8(&request.body).expect("checked"))
                    .into_bytes()
            } else {
                request.body.clone()
            };
        self.server.send(builder.body(body)).await
    }
}

/// Both servers, the script's progress and every difference found.
struct Differential {
    axum: Side,
    rocket: Side,
    steps: usize,
    differences: Vec<String>,
    /// `"{status} {label}"` per request step, as axum answered.
    outcomes: Vec<String>,
    last: Option<(Reply, Reply)>,
}

impl Differential {
    async fn start() -> Self {
        Differential {
            axum: Side::start("axum", spawn_axum).await,
            rocket: Side::start("rocket", spawn_rocket).await,
            steps: 0,
            differences: Vec::new(),
            outcomes: Vec::new(),
            last: None,
        }
    }

    /// Sends `request` to both servers and compares the answers; returns their status,
    /// which must agree for the script to be meaningful.
    async fn step(&mut self, label: &str, request: Request) -> u16 {
        self.steps += 1;
        let axum = self.axum.send(&request).await;
        let rocket = self.rocket.send(&request).await;
        let left = Observed::of(&axum, &mut self.axum.masker);
        let right = Observed::of(&rocket, &mut self.rocket.masker);
        if left != right {
            self.differences.push(format!(
                "step {} ({label}): {} {}\n{}",
                self.steps,
                request.method,
                request.path,
                diff(&left.lines(), &right.lines())
            ));
        }
        let status = axum.status;
        self.outcomes.push(format!("{status} {label}"));
        self.last = Some((axum, rocket));
        status
    }

    /// Captures, per server, the string at JSON `pointer` of the last answers as `name`.
    fn capture(&mut self, name: &str, pointer: &str) {
        let (axum, rocket) = self.last.as_ref().expect("a step ran");
        for (side, reply) in [(&mut self.axum, axum), (&mut self.rocket, rocket)] {
            let value = reply
                .json()
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no string at {pointer} in {}",
                        side.name,
                        String::from_utf8_lossy(&reply.body)
                    )
                })
                .to_owned();
            side.vars.insert(name.to_owned(), value);
        }
    }

    /// Defines `name` per server from its other captured values.
    fn derive(&mut self, name: &str, make: impl Fn(&HashMap<String, String>) -> String) {
        for side in [&mut self.axum, &mut self.rocket] {
            let value = make(&side.vars);
            side.vars.insert(name.to_owned(), value);
        }
    }

    /// Takes the mail each engine queued since the last call, compares it (masked), and
    /// captures the reset token of the one mail as `name`.
    async fn capture_reset_token(&mut self, name: &str) {
        self.steps += 1;
        let mut observed = Vec::new();
        for side in [&mut self.axum, &mut self.rocket] {
            let mails = side.server.reset_mails().await;
            assert_eq!(mails.len(), 1, "{}: one reset mail", side.name);
            let token = conformance::reset_token_in(&mails[0].text);
            side.masker.learn("reset", &token);
            side.vars.insert(name.to_owned(), token);
            let mail = &mails[0];
            observed.push(vec![
                format!("to: {}", mail.to),
                format!("subject: {}", mail.subject),
                format!("text: {}", side.masker.mask_text(&mail.text)),
                format!("html: {}", side.masker.mask_text(&mail.html)),
            ]);
        }
        if observed[0] != observed[1] {
            self.differences.push(format!(
                "step {} (reset mail):\n{}",
                self.steps,
                diff(&observed[0], &observed[1])
            ));
        }
    }

    /// Moves both engines' clocks.
    fn advance(&self, by: time::Duration) {
        self.axum.server.advance(by);
        self.rocket.server.advance(by);
    }

    fn finish(self) {
        println!("{} steps compared", self.steps);
        // The script means what it says: each step got the answer the contract gives.
        let expected: Vec<String> = EXPECTED_OUTCOMES
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        assert!(
            self.outcomes == expected,
            "the script's statuses changed (- expected, + axum's):\n{}",
            diff(&expected, &self.outcomes)
        );
        assert!(
            self.differences.is_empty(),
            "axum (-) and Rocket (+) answered differently in {} of {} steps:\n\n{}",
            self.differences.len(),
            self.steps,
            self.differences.join("\n")
        );
    }
}

/// The status of every request step of the script (both servers must agree on it too).
const EXPECTED_OUTCOMES: &str = "
200 health
200 health, HEAD
200 openapi
201 register alice
200 me as alice
201 register bob with alice's code, lower case and spaces
201 register carol with bob's code (second tier for alice)
201 register dan, ignoring fields a client must not set
409 duplicate email in another case
422 unknown referral code
422 malformed email
422 short password
422 common password
422 password equal to the email
422 password of 129 characters
422 empty email and password
400 not JSON
400 JSON of the wrong shape
400 wrong types
400 wrong content type
400 form content type
400 no content type, JSON body
400 empty body
400 blank body
413 oversize body of 65537 bytes
413 oversize body of 1048576 bytes
413 oversize body of 8388608 bytes
201 a body of exactly 64 KiB
404 routing GET /api/nope
404 routing POST /api/nope
404 routing GET /nope
404 routing POST /nope
404 routing GET /
404 routing GET /api
404 routing GET /api/
404 routing GET /api/health/
404 routing GET /api/me/extra
405 routing GET /api/register
405 routing PUT /api/login
405 routing PUT /api/me
405 routing PATCH /api/referral-stats
405 routing OPTIONS /api/register
405 routing OPTIONS /api/health
405 routing HEAD /api/register
404 routing HEAD /api/nope
405 routing POST /api/health
405 routing TRACE /api/health
405 routing PROPFIND /api/health
405 routing PROPFIND /api/register
404 routing PROPFIND /api/nope
404 routing PROPFIND /nope
404 routing PURGE /api
404 routing CONNECT /api/health
200 login alice
401 login with a wrong password
401 login with an unknown email
200 refresh
401 reuse the rotated refresh token
401 the newer one is revoked too
401 an unknown refresh token
204 logout
204 logout again
401 refresh after logout
401 me without a token
401 me with garbage bearer
401 me with empty bearer
401 me with basic credentials
200 me with bearer in lower case
401 me with forged payload
401 me with alg none
401 me with a refresh token
200 alice's referrals
201 register gina with alice's code
200 alice's referrals, one per page
200 the next page
422 referrals with limit=0
422 referrals with limit=abc
422 referrals with limit=101
422 referrals with limit=-1
422 referrals with cursor=garbage
422 referrals with limit=1&limit=2
401 referrals without a token
200 alice's stats
200 bob's stats
200 HEAD alice's stats
202 reset request for bob
202 reset request for an unknown email
422 reset request with a malformed email
400 confirm with a bad token
422 confirm with a weak password
200 confirm
400 confirm again
401 bob's old access token after the reset
401 bob's old password
200 bob's new password
401 failed login 1 for carol
401 failed login 2 for carol
401 failed login 3 for carol
401 failed login 4 for carol
401 failed login 5 for carol
401 failed login 6 for carol
401 failed login 7 for carol
401 failed login 8 for carol
401 failed login 9 for carol
401 failed login 10 for carol
429 failed login 11 for carol
429 carol's right password while limited
401 an expired access token
200 carol after the window
";

/// base64url without padding, for hand-made tokens.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, byte)| n | u32::from(*byte) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_rocket_answer_a_scripted_session_alike() {
    let mut d = Differential::start().await;
    let json = |path: &str, body: Value| Request::post_json(path, body);

    // Service endpoints.
    d.step("health", Request::get("/api/health")).await;
    d.step("health, HEAD", Request::new("HEAD", "/api/health"))
        .await;
    d.step("openapi", Request::get("/api/openapi.json")).await;

    // Registration: happy paths, with codes in any case and with spaces.
    let status = d
        .step(
            "register alice",
            json(
                "/api/register",
                json!({ "email": "alice@example.com", "password": PASSWORD }),
            ),
        )
        .await;
    assert_eq!(status, 201);
    d.capture("alice.access", "/tokens/access_token");
    d.capture("alice.refresh", "/tokens/refresh_token");
    d.capture("alice.code", "/user/referral_code");
    d.derive("alice.code.messy", |vars| {
        format!("  {}  ", vars["alice.code"].to_ascii_lowercase())
    });
    d.step(
        "me as alice",
        Request::get("/api/me").bearer("{{alice.access}}"),
    )
    .await;
    d.step(
        "register bob with alice's code, lower case and spaces",
        json(
            "/api/register",
            json!({ "email": " Bob@Example.com ", "password": PASSWORD,
                    "referral_code": "{{alice.code.messy}}" }),
        ),
    )
    .await;
    d.capture("bob.access", "/tokens/access_token");
    d.capture("bob.code", "/user/referral_code");
    d.step(
        "register carol with bob's code (second tier for alice)",
        json(
            "/api/register",
            json!({ "email": "carol@example.com", "password": PASSWORD,
                    "referral_code": "{{bob.code}}" }),
        ),
    )
    .await;
    d.step(
        "register dan, ignoring fields a client must not set",
        json(
            "/api/register",
            json!({ "email": "dan@example.com", "password": PASSWORD,
                    "id": "00000000-0000-0000-0000-000000000000", "referred_by": "x",
                    "reward_points": 1000000, "referral_code": null }),
        ),
    )
    .await;

    // Registration: unhappy paths.
    d.step(
        "duplicate email in another case",
        json(
            "/api/register",
            json!({ "email": "ALICE@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    d.step(
        "unknown referral code",
        json(
            "/api/register",
            json!({ "email": "eve@example.com", "password": PASSWORD, "referral_code": "ZZZZZZZZ" }),
        ),
    )
    .await;
    for (label, email, password) in [
        ("malformed email", "not-an-email", PASSWORD),
        ("short password", "eve@example.com", "short"),
        ("common password", "eve@example.com", "password123"),
        (
            "password equal to the email",
            "eve@example.com",
            "eve@example.com",
        ),
        (
            "password of 129 characters",
            "eve@example.com",
            &"x".repeat(129),
        ),
        ("empty email and password", "", ""),
    ] {
        d.step(
            label,
            json(
                "/api/register",
                json!({ "email": email, "password": password }),
            ),
        )
        .await;
    }

    // Bodies.
    let register = || Request::new("POST", "/api/register");
    d.step(
        "not JSON",
        register()
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    d.step(
        "JSON of the wrong shape",
        register()
            .header("content-type", "application/json")
            .body("[]"),
    )
    .await;
    d.step(
        "wrong types",
        json("/api/register", json!({ "email": 1, "password": 2 })),
    )
    .await;
    d.step(
        "wrong content type",
        register()
            .header("content-type", "text/plain")
            .body(json!({ "email": "eve@example.com", "password": PASSWORD }).to_string()),
    )
    .await;
    d.step(
        "form content type",
        register()
            .header("content-type", "application/x-www-form-urlencoded")
            .body("email=eve%40example.com"),
    )
    .await;
    d.step(
        "no content type, JSON body",
        Request::new("POST", "/api/login").body(
            json!({ "email": "alice@example.com", "password": "wrong password" }).to_string(),
        ),
    )
    .await;
    d.step(
        "empty body",
        register().header("content-type", "application/json"),
    )
    .await;
    d.step(
        "blank body",
        register()
            .header("content-type", "application/json")
            .body("  \n"),
    )
    .await;
    for size in [MAX_BODY_BYTES + 1, 1024 * 1024, 8 * 1024 * 1024] {
        d.step(
            &format!("oversize body of {size} bytes"),
            register()
                .header("content-type", "application/json")
                .body(vec![b' '; size]),
        )
        .await;
    }
    let head = format!("{{\"email\": \"frank@example.com\", \"password\": \"{PASSWORD}\"");
    let exact = format!("{head}{}}}", " ".repeat(MAX_BODY_BYTES - head.len() - 1));
    d.step(
        "a body of exactly 64 KiB",
        register()
            .header("content-type", "application/json")
            .body(exact),
    )
    .await;

    // Routing: unknown paths, the API root, wrong and unknown methods.
    for (method, path) in [
        ("GET", "/api/nope"),
        ("POST", "/api/nope"),
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/"),
        ("GET", "/api"),
        ("GET", "/api/"),
        ("GET", "/api/health/"),
        ("GET", "/api/me/extra"),
        ("GET", "/api/register"),
        ("PUT", "/api/login"),
        ("PUT", "/api/me"),
        ("PATCH", "/api/referral-stats"),
        ("OPTIONS", "/api/register"),
        ("OPTIONS", "/api/health"),
        ("HEAD", "/api/register"),
        ("HEAD", "/api/nope"),
        ("POST", "/api/health"),
        ("TRACE", "/api/health"),
        ("PROPFIND", "/api/health"),
        ("PROPFIND", "/api/register"),
        ("PROPFIND", "/api/nope"),
        ("PROPFIND", "/nope"),
        ("PURGE", "/api"),
        ("CONNECT", "/api/health"),
    ] {
        d.step(
            &format!("routing {method} {path}"),
            Request::new(method, path).header("content-type", "application/json"),
        )
        .await;
    }

    // Login, refresh with rotation and reuse detection, logout.
    d.step(
        "login alice",
        json(
            "/api/login",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    d.capture("alice.refresh.2", "/refresh_token");
    d.step(
        "login with a wrong password",
        json(
            "/api/login",
            json!({ "email": "alice@example.com", "password": "not the password" }),
        ),
    )
    .await;
    d.step(
        "login with an unknown email",
        json(
            "/api/login",
            json!({ "email": "nobody@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    let refresh = |token: &str| json("/api/token/refresh", json!({ "refresh_token": token }));
    d.step("refresh", refresh("{{alice.refresh.2}}")).await;
    d.capture("alice.refresh.3", "/refresh_token");
    d.step(
        "reuse the rotated refresh token",
        refresh("{{alice.refresh.2}}"),
    )
    .await;
    d.step(
        "the newer one is revoked too",
        refresh("{{alice.refresh.3}}"),
    )
    .await;
    d.step("an unknown refresh token", refresh("not-a-token"))
        .await;
    let logout = |token: &str| json("/api/logout", json!({ "refresh_token": token }));
    d.step("logout", logout("{{alice.refresh}}")).await;
    d.step("logout again", logout("{{alice.refresh}}")).await;
    d.step("refresh after logout", refresh("{{alice.refresh}}"))
        .await;

    // Authentication of protected routes.
    d.derive("alice.forged", |vars| {
        let alice = segments(&vars["alice.access"]);
        let bob = segments(&vars["bob.access"]);
        format!("{}.{}.{}", alice[0], bob[1], alice[2])
    });
    d.derive("alice.alg-none", |vars| {
        let alice = segments(&vars["alice.access"]);
        format!(
            "{}.{}.",
            base64url(br#"{"alg":"none","typ":"JWT"}"#),
            alice[1]
        )
    });
    d.step("me without a token", Request::get("/api/me")).await;
    for (label, authorization) in [
        ("garbage bearer", "Bearer garbage"),
        ("empty bearer", "Bearer "),
        ("basic credentials", "Basic YWxpY2U6cGFzc3dvcmQ="),
        ("bearer in lower case", "bearer {{alice.access}}"),
        ("forged payload", "Bearer {{alice.forged}}"),
        ("alg none", "Bearer {{alice.alg-none}}"),
        ("a refresh token", "Bearer {{alice.refresh.3}}"),
    ] {
        d.step(
            &format!("me with {label}"),
            Request::get("/api/me").header("authorization", authorization),
        )
        .await;
    }

    // Referrals and stats.
    d.step(
        "alice's referrals",
        Request::get("/api/referrals").bearer("{{alice.access}}"),
    )
    .await;
    d.step(
        "register gina with alice's code",
        json(
            "/api/register",
            json!({ "email": "gina@example.com", "password": PASSWORD,
                    "referral_code": "{{alice.code}}" }),
        ),
    )
    .await;
    d.step(
        "alice's referrals, one per page",
        Request::get("/api/referrals?limit=1").bearer("{{alice.access}}"),
    )
    .await;
    d.capture("alice.cursor", "/next_cursor");
    d.step(
        "the next page",
        Request::get("/api/referrals?limit=1&cursor={{alice.cursor}}").bearer("{{alice.access}}"),
    )
    .await;
    for query in [
        "limit=0",
        "limit=abc",
        "limit=101",
        "limit=-1",
        "cursor=garbage",
        "limit=1&limit=2",
    ] {
        d.step(
            &format!("referrals with {query}"),
            Request::get(&format!("/api/referrals?{query}")).bearer("{{alice.access}}"),
        )
        .await;
    }
    d.step("referrals without a token", Request::get("/api/referrals"))
        .await;
    d.step(
        "alice's stats",
        Request::get("/api/referral-stats").bearer("{{alice.access}}"),
    )
    .await;
    d.step(
        "bob's stats",
        Request::get("/api/referral-stats").bearer("{{bob.access}}"),
    )
    .await;
    d.step(
        "HEAD alice's stats",
        Request::new("HEAD", "/api/referral-stats").bearer("{{alice.access}}"),
    )
    .await;

    // Password reset.
    let reset = |email: &str| json("/api/reset-password", json!({ "email": email }));
    let confirm = |token: &str, password: &str| {
        json(
            "/api/reset-password/confirm",
            json!({ "token": token, "new_password": password }),
        )
    };
    d.step("reset request for bob", reset("BOB@example.com"))
        .await;
    d.capture_reset_token("bob.reset").await;
    d.step(
        "reset request for an unknown email",
        reset("nobody@example.com"),
    )
    .await;
    d.step("reset request with a malformed email", reset("nope"))
        .await;
    d.step(
        "confirm with a bad token",
        confirm("not-a-token", "a brand new passphrase"),
    )
    .await;
    d.step(
        "confirm with a weak password",
        confirm("{{bob.reset}}", "password"),
    )
    .await;
    d.step(
        "confirm",
        confirm("{{bob.reset}}", "a brand new passphrase"),
    )
    .await;
    d.step(
        "confirm again",
        confirm("{{bob.reset}}", "another new passphrase"),
    )
    .await;
    d.step(
        "bob's old access token after the reset",
        Request::get("/api/me").bearer("{{bob.access}}"),
    )
    .await;
    d.step(
        "bob's old password",
        json(
            "/api/login",
            json!({ "email": "bob@example.com", "password": PASSWORD }),
        ),
    )
    .await;
    d.step(
        "bob's new password",
        json(
            "/api/login",
            json!({ "email": "bob@example.com", "password": "a brand new passphrase" }),
        ),
    )
    .await;

    // Rate limits: the eleventh failed login for one email answers 429 with Retry-After.
    for attempt in 1..=11 {
        d.step(
            &format!("failed login {attempt} for carol"),
            json(
                "/api/login",
                json!({ "email": "carol@example.com", "password": "not the password" }),
            ),
        )
        .await;
    }
    d.step(
        "carol's right password while limited",
        json(
            "/api/login",
            json!({ "email": "carol@example.com", "password": PASSWORD }),
        ),
    )
    .await;

    // Time passes: access tokens expire, the login window reopens.
    d.advance(time::Duration::minutes(16));
    d.step(
        "an expired access token",
        Request::get("/api/me").bearer("{{alice.access}}"),
    )
    .await;
    d.step(
        "carol after the window",
        json(
            "/api/login",
            json!({ "email": "carol@example.com", "password": PASSWORD }),
        ),
    )
    .await;

    assert!(d.steps >= 40, "the script has {} steps", d.steps);
    d.finish();
}

/// The comparison itself notices differences and ignores only what it masks.
#[test]
fn the_comparison_flags_differences_and_masks_only_identities() {
    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, value.parse().unwrap());
        }
        Reply {
            status,
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }
    let observe = |reply: &Reply| Observed::of(reply, &mut Masker::default());
    let json_type = ("content-type", "application/json");
    let base = reply(
        201,
        &[json_type, ("location", "/api/me"), ("date", "x")],
        r#"{"user":{"id":"a1","referral_code":"ABCDEFGH","referral_link":"https://x/r/ABCDEFGH","email":"a@b.c"}}"#,
    );
    // Other ids, codes and dates: the same once masked.
    let other_ids = reply(
        201,
        &[json_type, ("location", "/api/me"), ("date", "y")],
        r#"{"user":{"id":"b2","referral_code":"ZZZZZZZZ","referral_link":"https://x/r/ZZZZZZZZ","email":"a@b.c"}}"#,
    );
    assert_eq!(observe(&base), observe(&other_ids));
    // A link that does not carry the user's own code is a difference.
    let (mut left, mut right) = (Masker::default(), Masker::default());
    let a = Observed::of(&base, &mut left);
    let wrong_link = reply(
        201,
        &[json_type, ("location", "/api/me")],
        r#"{"user":{"id":"b2","referral_code":"ZZZZZZZZ","referral_link":"https://x/r/YYYYYYYY","email":"a@b.c"}}"#,
    );
    assert_ne!(a, Observed::of(&wrong_link, &mut right));
    // Status, a read header, an extra header, an unmasked field: each a difference.
    for different in [
        reply(
            200,
            &[json_type, ("location", "/api/me")],
            std::str::from_utf8(&base.body).unwrap(),
        ),
        reply(
            201,
            &[json_type, ("location", "/api/you")],
            std::str::from_utf8(&base.body).unwrap(),
        ),
        reply(
            201,
            &[json_type, ("location", "/api/me"), ("server", "Rocket")],
            std::str::from_utf8(&base.body).unwrap(),
        ),
        reply(
            201,
            &[json_type, ("location", "/api/me")],
            r#"{"user":{"id":"a1","referral_code":"ABCDEFGH","referral_link":"https://x/r/ABCDEFGH","email":"x@b.c"}}"#,
        ),
    ] {
        assert_ne!(observe(&base), observe(&different));
    }
    let lines = diff(
        &observe(&base).lines(),
        &observe(&reply(200, &[json_type], "{}")).lines(),
    );
    assert!(
        lines.contains("  - status: 201") && lines.contains("  + status: 200"),
        "{lines}"
    );
}
