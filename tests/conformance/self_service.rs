//! Account self-service: changing one's password (every other session ends, this one gets
//! fresh tokens; a wrong current password is a counted failed login).

use serde_json::{json, Value};

use super::{Account, Reply, Target, TestServer, PASSWORD};

/// A password every rule accepts, other than [`PASSWORD`].
const NEW_PASSWORD: &str = "a brand new passphrase";

/// `POST /api/change-password` as `account` (its first access token).
async fn change_password(server: &TestServer, token: &str, current: &str, new: &str) -> Reply {
    server
        .call(
            "POST",
            "/api/change-password",
            Some(token),
            Some(&json!({ "current_password": current, "new_password": new })),
        )
        .await
}

fn access_of(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("an access token")
}

fn refresh_of(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("a refresh token")
}

async fn refresh(server: &TestServer, token: &str) -> Reply {
    server
        .post("/api/token/refresh", &json!({ "refresh_token": token }))
        .await
}

pub async fn changing_the_password_ends_other_sessions_and_the_answer_carries_working_tokens(
    target: Target,
) {
    let server = TestServer::start(target).await;
    let jane: Account = server.register("jane@example.com", None).await;
    let laptop = server.tokens("jane@example.com", PASSWORD).await;

    let changed = change_password(&server, jane.access(), PASSWORD, NEW_PASSWORD)
        .await
        .expect_json(200);
    assert!(changed["message"].as_str().is_some_and(|m| !m.is_empty()));
    let tokens = &changed["tokens"];
    assert_eq!(tokens["token_type"], "Bearer");

    // The new tokens work.
    server
        .get_as("/api/me", access_of(tokens))
        .await
        .expect_json(200);
    let rotated = refresh(&server, refresh_of(tokens)).await.expect_json(200);
    server
        .get_as("/api/me", access_of(&rotated))
        .await
        .expect_json(200);

    // Every earlier session, this device's included, has ended.
    for access in [jane.access(), access_of(&laptop)] {
        server
            .get_as("/api/me", access)
            .await
            .expect_problem(401, "unauthorized");
    }
    for refresh_token in [jane.refresh(), refresh_of(&laptop)] {
        refresh(&server, refresh_token)
            .await
            .expect_problem(401, "invalid_refresh_token");
    }

    // The new password logs in, the old one no longer does.
    server.refused_login("jane@example.com", PASSWORD).await;
    server.tokens("jane@example.com", NEW_PASSWORD).await;
}

pub async fn changing_the_password_without_a_token_answers_401(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let body = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    let reply = server
        .call("POST", "/api/change-password", None, Some(&body))
        .await;
    reply.expect_problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    change_password(&server, "not-a-token", PASSWORD, NEW_PASSWORD)
        .await
        .expect_problem(401, "unauthorized");
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn a_wrong_current_password_answers_401_and_counts_toward_the_login_limit(
    target: Target,
) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    // Ten failures (the login limit), mixed: the same count serves both.
    for _ in 0..5 {
        change_password(&server, jane.access(), "not my password", NEW_PASSWORD)
            .await
            .expect_problem(401, "invalid_credentials");
        server
            .refused_login("jane@example.com", "not my password")
            .await;
    }
    let reply = change_password(&server, jane.access(), PASSWORD, NEW_PASSWORD).await;
    reply.expect_problem(429, "rate_limited");
    assert!(reply.header("retry-after").is_some());
    server
        .login("jane@example.com", PASSWORD)
        .await
        .expect_problem(429, "rate_limited");
    // Nothing changed: the session still works, and so does the password after the window.
    server
        .get_as("/api/me", jane.access())
        .await
        .expect_json(200);
    server.advance(time::Duration::minutes(16));
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn a_bad_new_password_answers_422_and_changes_nothing(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    change_password(&server, jane.access(), PASSWORD, "short")
        .await
        .expect_field_error("new_password", "too_short");
    change_password(&server, jane.access(), PASSWORD, "jane@example.com")
        .await
        .expect_field_error("new_password", "same_as_email");
    change_password(&server, jane.access(), PASSWORD, "password1")
        .await
        .expect_field_error("new_password", "too_common");
    server
        .call(
            "POST",
            "/api/change-password",
            Some(jane.access()),
            Some(&json!({ "current_password": PASSWORD })),
        )
        .await
        .expect_problem(400, "invalid_json");
    // The session and the password are as they were.
    server
        .get_as("/api/me", jane.access())
        .await
        .expect_json(200);
    refresh(&server, jane.refresh()).await.expect_json(200);
    server.tokens("jane@example.com", PASSWORD).await;
}
