//! Two `axum_server` processes on one PostgreSQL database, each with its cache on (the
//! default): a password reset on one must refuse the old access token on the other within a
//! second — the cache's documented staleness bound — although the other had just served,
//! and cached, that token's user.
//!
//! The example binary is the one `cargo test` builds beside this test
//! (`target/debug/examples/axum_server`). Without `REFERRAL_TEST_POSTGRES_URL` the test says
//! so in one line and passes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use referral_core::testing::{reset_token_in, ScratchPostgres, SmtpCatcher};
use serde_json::{json, Value};

const SECRET: &str = "instances-test-secret-0123456789-0123456789";
const APP_BASE_URL: &str = "https://links.instances.example";

/// The most a revoked token may still be accepted by another instance.
const STALENESS_BOUND: Duration = Duration::from_secs(1);

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database_url: &str, smtp_port: u16) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let binary = example_binary("axum_server");
        let child = Command::new(&binary)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("SECRET_KEY", SECRET)
            .env("APP_BASE_URL", APP_BASE_URL)
            .env("MAIL_SERVER", "127.0.0.1")
            .env("MAIL_PORT", smtp_port.to_string())
            .env("MAIL_FROM", "no-reply@instances.example")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): `cargo test --all-features` builds it",
                    binary.display()
                )
            });
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/api/health", self.base)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not become ready within 60 s", self.base);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/debug/examples/NAME`, beside `target/debug/deps/` where this test runs from.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps/<test>");
    debug.join("examples").join(name)
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = client.post(url).json(&body).send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(client: &reqwest::Client, server: &Server, access_token: &str) -> u16 {
    client
        .get(format!("{}/api/me", server.base))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("GET /api/me")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_on_one_instance_refuses_the_old_token_on_another_within_a_second() {
    let Some(scratch) = ScratchPostgres::create().await else {
        return;
    };
    let smtp = SmtpCatcher::start().await;
    let client = reqwest::Client::new();
    // One after the other: the first migrates the empty database.
    let first = Server::start(scratch.url(), smtp.port());
    first.wait_ready(&client).await;
    let second = Server::start(scratch.url(), smtp.port());
    second.wait_ready(&client).await;

    let (status, body) = post(
        &client,
        format!("{}/api/register", first.base),
        json!({ "email": "carol@example.com", "password": "a long enough password" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let access = body["tokens"]["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    // The second instance accepts the token, and now holds its user in its cache.
    for _ in 0..5 {
        assert_eq!(me(&client, &second, &access).await, 200);
    }

    let (status, body) = post(
        &client,
        format!("{}/api/reset-password", first.base),
        json!({ "email": "carol@example.com" }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // The sign-up's verification mail arrives too: wait for the one with a reset link.
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        let found = smtp
            .messages()
            .iter()
            .find_map(|mail| reset_token_in(&mail.text, APP_BASE_URL));
        if let Some(token) = found {
            break token;
        }
        assert!(Instant::now() < deadline, "no reset mail within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (status, body) = post(
        &client,
        format!("{}/api/reset-password/confirm", first.base),
        json!({ "token": token, "new_password": "another long password" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reset_at = Instant::now();

    assert_eq!(
        me(&client, &first, &access).await,
        401,
        "refused at once where reset"
    );
    loop {
        let status = me(&client, &second, &access).await;
        let waited = reset_at.elapsed();
        if status == 401 {
            assert!(
                waited < STALENESS_BOUND,
                "refused by the other instance only after {waited:?}"
            );
            eprintln!("the other instance refused the old token {waited:?} after the reset");
            break;
        }
        assert_eq!(status, 200);
        assert!(
            waited < STALENESS_BOUND,
            "the other instance still accepts the old token {waited:?} after the reset"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
