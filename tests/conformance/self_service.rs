//! Account self-service: changing one's password (every other session ends, this one gets
//! fresh tokens; a wrong current password is a counted failed login) and erasing one's
//! account (`DELETE /api/me`: every token ends, referrers keep their history anonymised);
//! the app's metadata about the user (given at sign-up, replaced by `PATCH /api/me`, an
//! object of at most 4 KiB, checked by the app's validator).

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

/// `DELETE /api/me` with `password`.
async fn delete_me(server: &TestServer, token: &str, password: &str) -> Reply {
    server
        .call(
            "DELETE",
            "/api/me",
            Some(token),
            Some(&json!({ "password": password })),
        )
        .await
}

pub async fn deleting_the_account_answers_204_and_keeps_the_referrers_history(target: Target) {
    let server = TestServer::start(target).await;
    let bob = server.register("bob@example.com", None).await;
    let jane = server.register("jane@example.com", Some(bob.code())).await;
    let before = server
        .get_as("/api/referral-stats", bob.access())
        .await
        .expect_json(200);
    let erased = delete_me(&server, jane.access(), PASSWORD).await;
    assert_eq!(erased.status, 204);
    assert!(erased.body.is_empty());

    let listed = server
        .get_as("/api/referrals", bob.access())
        .await
        .expect_json(200);
    let row = &listed["referrals"][0];
    assert_eq!(row["user_id"], jane.user["id"]);
    assert_eq!(row["email"], Value::Null, "an erased referee has no email");
    assert_eq!(row["reward_points"], 100);
    let after = server
        .get_as("/api/referral-stats", bob.access())
        .await
        .expect_json(200);
    for field in [
        "total_referrals",
        "total_reward_points",
        "referrals_last_30_days",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
}

pub async fn deleting_the_account_ends_every_session_and_frees_the_email(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let laptop = server.tokens("jane@example.com", PASSWORD).await;
    assert_eq!(
        delete_me(&server, jane.access(), PASSWORD).await.status,
        204
    );
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
    // Logging in answers as for an unknown email; a reset request sends nothing.
    server.refused_login("jane@example.com", PASSWORD).await;
    server
        .request_reset("jane@example.com")
        .await
        .expect_json(202);
    assert!(server.reset_mails().await.is_empty());
    // The address can sign up again, as a new account.
    let again = server.register("jane@example.com", None).await;
    assert_ne!(again.user["id"], jane.user["id"]);
    assert_ne!(again.code(), jane.code());
}

pub async fn deleting_the_account_needs_a_token_and_the_right_password(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let body = json!({ "password": PASSWORD });
    server
        .call("DELETE", "/api/me", None, Some(&body))
        .await
        .expect_problem(401, "unauthorized");
    server
        .call("DELETE", "/api/me", Some(jane.access()), None)
        .await
        .expect_problem(400, "invalid_json");
    // A wrong password is a failed login: ten of them, then the limit.
    for _ in 0..10 {
        delete_me(&server, jane.access(), "not my password")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    delete_me(&server, jane.access(), PASSWORD)
        .await
        .expect_problem(429, "rate_limited");
    server
        .login("jane@example.com", PASSWORD)
        .await
        .expect_problem(429, "rate_limited");
    // Nothing was erased.
    server
        .get_as("/api/me", jane.access())
        .await
        .expect_json(200);
}

pub async fn a_sign_up_with_an_erased_users_code_has_no_referrer(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let code = jane.code().to_owned();
    assert_eq!(
        delete_me(&server, jane.access(), PASSWORD).await.status,
        204
    );
    let ann = server
        .register("ann@example.com", Some(&code.to_lowercase()))
        .await;
    assert_eq!(ann.user["referred_by"], Value::Null);
    // The code stays reserved: nobody can choose it.
    server
        .call(
            "PUT",
            "/api/referral-code",
            Some(ann.access()),
            Some(&json!({ "code": code })),
        )
        .await
        .expect_problem(409, "code_taken");
    // Its share link counts nothing and carries no code.
    let followed = server.get(&format!("/r/{code}")).await;
    assert_eq!(followed.status, 302);
    assert_eq!(
        followed.header("location"),
        Some(format!("{}/register", super::APP_BASE_URL).as_str())
    );
}

/// `POST /api/register` for jane@example.com with `metadata`.
async fn register_jane_with(server: &TestServer, metadata: &Value) -> Reply {
    server
        .post(
            "/api/register",
            &json!({ "email": "jane@example.com", "password": PASSWORD, "metadata": metadata }),
        )
        .await
}

/// The access token of a `201` registration answer.
fn access_in(registered: &Value) -> &str {
    registered["tokens"]["access_token"]
        .as_str()
        .expect("an access token")
}

/// `PATCH /api/me` with `body`.
async fn patch_me(server: &TestServer, token: Option<&str>, body: Option<&Value>) -> Reply {
    server.call("PATCH", "/api/me", token, body).await
}

pub async fn metadata_given_at_sign_up_is_returned_and_patch_me_replaces_it(target: Target) {
    let server = TestServer::start(target).await;
    let plain = server.register("plain@example.com", None).await;
    assert_eq!(plain.user["metadata"], json!({}));
    let metadata = json!({ "handle": "jane", "links": [{ "url": "https://example.com" }] });
    let registered = register_jane_with(&server, &metadata)
        .await
        .expect_json(201);
    assert_eq!(registered["user"]["metadata"], metadata);
    let access = access_in(&registered);
    let me = server.get_as("/api/me", access).await.expect_json(200);
    assert_eq!(me["metadata"], metadata);

    // Replaced, not merged: `links` goes.
    let replacement = json!({ "handle": "janet", "theme": "dark" });
    let patched = patch_me(
        &server,
        Some(access),
        Some(&json!({ "metadata": replacement })),
    )
    .await
    .expect_json(200);
    assert_eq!(patched["metadata"], replacement);
    assert_eq!(patched["email"], "jane@example.com");
    assert_eq!(patched["id"], registered["user"]["id"]);
    let me = server.get_as("/api/me", access).await.expect_json(200);
    assert_eq!(
        me["metadata"], replacement,
        "the session goes on and reads the change"
    );

    // A body without `metadata` changes nothing; `{}` empties it.
    let unchanged = patch_me(&server, Some(access), Some(&json!({})))
        .await
        .expect_json(200);
    assert_eq!(unchanged["metadata"], replacement);
    let emptied = patch_me(&server, Some(access), Some(&json!({ "metadata": {} })))
        .await
        .expect_json(200);
    assert_eq!(emptied["metadata"], json!({}));
    // Someone else's metadata is untouched.
    let other = server
        .get_as("/api/me", plain.access())
        .await
        .expect_json(200);
    assert_eq!(other["metadata"], json!({}));
}

pub async fn metadata_that_is_not_an_object_or_over_4_kib_answers_422_and_changes_nothing(
    target: Target,
) {
    let server = TestServer::start(target).await;
    // `{"bio":"…"}` is 10 bytes around the text: 4,087 bytes of it make 4,097.
    let oversized = json!({ "bio": "x".repeat(4087) });
    let fits = json!({ "bio": "x".repeat(4086) });
    for (metadata, code) in [
        (json!([1, 2]), "not_an_object"),
        (json!("text"), "not_an_object"),
        (json!(7), "not_an_object"),
        (oversized.clone(), "too_large"),
    ] {
        register_jane_with(&server, &metadata)
            .await
            .expect_field_error("metadata", code);
    }
    // Nothing was stored: the address is free, and 4,096 bytes fit.
    let registered = register_jane_with(&server, &fits).await.expect_json(201);
    assert_eq!(registered["user"]["metadata"], fits);
    let access = access_in(&registered);
    for (metadata, code) in [
        (json!(null), "not_an_object"),
        (json!([]), "not_an_object"),
        (json!(false), "not_an_object"),
        (oversized, "too_large"),
    ] {
        patch_me(
            &server,
            Some(access),
            Some(&json!({ "metadata": metadata })),
        )
        .await
        .expect_field_error("metadata", code);
    }
    let me = server.get_as("/api/me", access).await.expect_json(200);
    assert_eq!(me["metadata"], fits, "nothing changed");
}

pub async fn the_apps_metadata_validator_answers_422_naming_each_key(target: Target) {
    let server = TestServer::start_built(
        target,
        |config| config,
        |builder| {
            builder.metadata_validator(std::sync::Arc::new(
                |metadata: &serde_json::Map<String, Value>| {
                    let mut errors = Vec::new();
                    if metadata
                        .get("handle")
                        .is_some_and(|handle| !handle.is_string())
                    {
                        errors.push(referral::MetadataError::new(
                            "handle",
                            "not_text",
                            "handle must be text",
                        ));
                    }
                    if metadata.contains_key("admin") {
                        errors.push(referral::MetadataError::new(
                            "admin",
                            "reserved",
                            "admin is not yours to set",
                        ));
                    }
                    if errors.is_empty() {
                        Ok(())
                    } else {
                        Err(errors)
                    }
                },
            ))
        },
    )
    .await;
    let refused = server
        .post(
            "/api/register",
            &json!({
                "email": "jane@example.com",
                "password": PASSWORD,
                "metadata": { "handle": 5, "admin": true }
            }),
        )
        .await;
    refused.expect_field_error("metadata.handle", "not_text");
    refused.expect_field_error("metadata.admin", "reserved");
    let registered = server
        .post(
            "/api/register",
            &json!({ "email": "jane@example.com", "password": PASSWORD, "metadata": { "handle": "jane" } }),
        )
        .await
        .expect_json(201);
    let access = access_in(&registered);
    patch_me(
        &server,
        Some(access),
        Some(&json!({ "metadata": { "handle": "jane", "admin": true } })),
    )
    .await
    .expect_field_error("metadata.admin", "reserved");
    let me = server.get_as("/api/me", access).await.expect_json(200);
    assert_eq!(me["metadata"], json!({ "handle": "jane" }));
}

pub async fn patching_me_needs_a_token_and_a_json_body(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let body = json!({ "metadata": { "handle": "jane" } });
    patch_me(&server, None, Some(&body))
        .await
        .expect_problem(401, "unauthorized");
    patch_me(&server, Some("not-a-token"), Some(&body))
        .await
        .expect_problem(401, "unauthorized");
    patch_me(&server, Some(jane.access()), None)
        .await
        .expect_problem(400, "invalid_json");
    let me = server
        .get_as("/api/me", jane.access())
        .await
        .expect_json(200);
    assert_eq!(me["metadata"], json!({}));
}
