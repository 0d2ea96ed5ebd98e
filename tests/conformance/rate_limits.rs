//! The failed-login limit: 10 per email per 15 minutes, then `429` with `Retry-After`.

use time::Duration;

use super::{Reply, Target, TestServer, PASSWORD};

const LIMIT: usize = 10;

async fn fail_logins(server: &TestServer, email: &str, times: usize) {
    for attempt in 1..=times {
        let reply = server.login(email, "a wrong password").await;
        assert_eq!(
            reply.status, 401,
            "failed login {attempt} of {times} for {email}"
        );
    }
}

/// Checks a `429 rate_limited` with a `Retry-After` of 1..=`at_most` seconds; returns it.
#[track_caller]
fn expect_rate_limited(reply: &Reply, at_most: i64) -> i64 {
    reply.expect_problem(429, "rate_limited");
    let retry_after: i64 = reply
        .header("retry-after")
        .expect("Retry-After is set")
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(
        (1..=at_most).contains(&retry_after),
        "Retry-After {retry_after} within 1..={at_most}"
    );
    retry_after
}

pub async fn the_eleventh_failed_login_answers_429_with_retry_after(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    fail_logins(&server, "jane@example.com", LIMIT).await;
    expect_rate_limited(
        &server.login("jane@example.com", "wrong again").await,
        15 * 60,
    );
    // The right password is refused too while the window lasts, and so is the same email
    // typed differently.
    server.advance(Duration::minutes(5));
    let retry_after =
        expect_rate_limited(&server.login("jane@example.com", PASSWORD).await, 10 * 60);
    assert!(retry_after <= 10 * 60);
    expect_rate_limited(&server.login(" JANE@example.com", PASSWORD).await, 10 * 60);
    // Other emails are not affected.
    server.register("john@example.com", None).await;
    server.tokens("john@example.com", PASSWORD).await;
}

pub async fn unregistered_emails_are_rate_limited_alike(target: Target) {
    let server = TestServer::start(target).await;
    fail_logins(&server, "nobody@example.com", LIMIT).await;
    expect_rate_limited(&server.login("nobody@example.com", PASSWORD).await, 15 * 60);
}

pub async fn logins_are_allowed_again_once_the_window_has_passed(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    fail_logins(&server, "jane@example.com", LIMIT).await;
    let retry_after =
        expect_rate_limited(&server.login("jane@example.com", PASSWORD).await, 15 * 60);
    server.advance(Duration::seconds(retry_after - 1));
    expect_rate_limited(&server.login("jane@example.com", PASSWORD).await, 1);
    server.advance(Duration::seconds(1));
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn a_password_reset_clears_the_failed_login_count(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    fail_logins(&server, "jane@example.com", LIMIT).await;
    expect_rate_limited(&server.login("jane@example.com", PASSWORD).await, 15 * 60);
    let token = server.reset_token_for("jane@example.com").await;
    let new_password = "a brand new passphrase";
    server
        .confirm_reset(&token, new_password)
        .await
        .expect_json(200);
    server.tokens("jane@example.com", new_password).await;
}
