//! Password reset, end to end through the mail it sends.

use serde_json::{json, Value};
use time::Duration;

use super::{reset_token_in, Target, TestServer, APP_BASE_URL, PASSWORD};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn requested() -> Value {
    json!({ "message": "If that email is registered, a password reset link has been sent." })
}

pub async fn a_reset_request_answers_202_and_mails_a_link_in_text_and_html(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let body = server
        .request_reset("JANE@example.com ")
        .await
        .expect_json(202);
    assert_eq!(body, requested());
    let mails = server.reset_mails().await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to.as_str(), "jane@example.com");
    assert!(!mail.subject.is_empty());
    let token = reset_token_in(&mail.text);
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    let link = format!("{APP_BASE_URL}/reset-password?token={token}");
    assert!(mail.text.contains(&link), "text carries {link}");
    assert!(mail.html.contains(&link), "HTML carries {link}");
}

pub async fn the_reset_link_ignores_the_requests_host_and_forwarding_headers(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let request = server
        .client
        .post(server.url("/api/reset-password"))
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("forwarded", "host=evil.example;proto=http")
        .json(&json!({ "email": "jane@example.com" }));
    server.send(request).await.expect_json(202);
    let mails = server.reset_mails().await;
    assert_eq!(mails.len(), 1);
    for body in [&mails[0].text, &mails[0].html] {
        assert!(!body.contains("evil.example"), "{body}");
        assert!(!body.contains(&server.base_url), "{body}");
        assert!(body.contains(&format!("{APP_BASE_URL}/reset-password?token=")));
    }
}

pub async fn confirming_a_reset_changes_the_password_and_ends_every_session(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let second = server.tokens("jane@example.com", PASSWORD).await;
    let token = server.reset_token_for("jane@example.com").await;

    let body = server
        .confirm_reset(&token, NEW_PASSWORD)
        .await
        .expect_json(200);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );

    server.refused_login("jane@example.com", PASSWORD).await;
    let fresh = server.tokens("jane@example.com", NEW_PASSWORD).await;
    for refresh_token in [
        account.tokens["refresh_token"].clone(),
        second["refresh_token"].clone(),
    ] {
        server
            .post(
                "/api/token/refresh",
                &json!({ "refresh_token": refresh_token }),
            )
            .await
            .expect_problem(401, "invalid_refresh_token");
    }
    for access in [account.access(), second["access_token"].as_str().unwrap()] {
        let reply = server.get_as("/api/me", access).await;
        reply.expect_problem(401, "unauthorized");
    }
    let access = fresh["access_token"].as_str().unwrap();
    server.get_as("/api/me", access).await.expect_json(200);
}

pub async fn a_reset_token_works_once(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let token = server.reset_token_for("jane@example.com").await;
    server
        .confirm_reset(&token, NEW_PASSWORD)
        .await
        .expect_json(200);
    server
        .confirm_reset(&token, "yet another passphrase")
        .await
        .expect_problem(400, "invalid_reset_token");
    server.tokens("jane@example.com", NEW_PASSWORD).await;
}

pub async fn an_expired_reset_token_answers_400(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let token = server.reset_token_for("jane@example.com").await;
    server.advance(Duration::minutes(30) + Duration::seconds(1));
    server
        .confirm_reset(&token, NEW_PASSWORD)
        .await
        .expect_problem(400, "invalid_reset_token");
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn a_superseded_reset_token_answers_400(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let first = server.reset_token_for("jane@example.com").await;
    let second = server.reset_token_for("jane@example.com").await;
    assert_ne!(first, second);
    server
        .confirm_reset(&first, NEW_PASSWORD)
        .await
        .expect_problem(400, "invalid_reset_token");
    server
        .confirm_reset(&second, NEW_PASSWORD)
        .await
        .expect_json(200);
}

pub async fn an_unknown_reset_token_answers_400(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    for token in [
        "",
        "nonsense",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        server
            .confirm_reset(token, NEW_PASSWORD)
            .await
            .expect_problem(400, "invalid_reset_token");
    }
}

pub async fn a_bad_new_password_answers_422_and_leaves_the_token_usable(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let token = server.reset_token_for("jane@example.com").await;
    let bad = [
        ("short", "too_short"),
        ("jane@example.com", "same_as_email"),
        ("password", "too_common"),
    ];
    for (password, code) in bad {
        server
            .confirm_reset(&token, password)
            .await
            .expect_field_error("new_password", code);
    }
    server.tokens("jane@example.com", PASSWORD).await;
    server
        .confirm_reset(&token, NEW_PASSWORD)
        .await
        .expect_json(200);
}

pub async fn a_reset_for_an_unknown_email_answers_the_same_202_and_sends_nothing(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let known = server.request_reset("jane@example.com").await;
    let unknown = server.request_reset("nobody@example.com").await;
    assert_eq!(known.expect_json(202), unknown.expect_json(202));
    let mails = server.reset_mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to.as_str(), "jane@example.com");
}

pub async fn a_fourth_reset_request_within_the_hour_answers_202_and_sends_nothing(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    for _ in 0..4 {
        let body = server
            .request_reset("jane@example.com")
            .await
            .expect_json(202);
        assert_eq!(body, requested());
        server.advance(Duration::minutes(1));
    }
    assert_eq!(server.reset_mails().await.len(), 3);
    server.advance(Duration::hours(1));
    server
        .request_reset("jane@example.com")
        .await
        .expect_json(202);
    assert_eq!(
        server.reset_mails().await.len(),
        1,
        "the limit lifts after an hour"
    );
}

pub async fn a_malformed_email_in_a_reset_request_answers_422(target: Target) {
    let server = TestServer::start(target).await;
    server
        .request_reset("not-an-email")
        .await
        .expect_field_error("email", "invalid_email");
    assert!(server.reset_mails().await.is_empty());
}
