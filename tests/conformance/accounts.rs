//! Registration, `/api/me` and login.

use referral::Argon2Params;
use serde_json::json;

use super::{assert_utc_timestamp, assert_uuid, Target, TestServer, APP_BASE_URL, PASSWORD};

const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub async fn registering_answers_201_with_the_user_its_tokens_and_location_api_me(target: Target) {
    let server = TestServer::start(target).await;
    let reply = server
        .post(
            "/api/register",
            &json!({ "email": "jane@example.com", "password": PASSWORD }),
        )
        .await;
    let body = reply.expect_json(201);
    assert_eq!(
        reply.header("location"),
        Some(server.path("/api/me").as_str())
    );

    let user = &body["user"];
    assert_uuid(&user["id"]);
    assert_eq!(user["email"], "jane@example.com");
    let code = user["referral_code"].as_str().expect("referral_code");
    assert_eq!(code.len(), 8, "{code}");
    assert!(
        code.chars().all(|c| CROCKFORD.contains(c)),
        "{code} is Crockford base32"
    );
    assert_eq!(
        user["referral_link"],
        format!("{APP_BASE_URL}/register?ref={code}")
    );
    assert!(user["referred_by"].is_null());
    assert_utc_timestamp(&user["created_at"]);
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["metadata"], serde_json::json!({}));
    assert_eq!(user["roles"], json!(["user"]));
    let mut fields: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "email",
            "email_verified",
            "id",
            "metadata",
            "referral_code",
            "referral_link",
            "referred_by",
            "roles"
        ],
        "User has exactly the contract's fields"
    );

    let tokens = &body["tokens"];
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 15 * 60);
    assert_eq!(tokens["refresh_expires_in"], 30 * 24 * 60 * 60);
    let access = tokens["access_token"].as_str().expect("access_token");
    assert_eq!(access.split('.').count(), 3, "a JWT: {access}");
    let refresh = tokens["refresh_token"].as_str().expect("refresh_token");
    assert!(refresh.len() >= 22, "at least 128 bits: {refresh}");
}

pub async fn me_answers_the_signed_in_user(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    let me = server
        .get_as("/api/me", account.access())
        .await
        .expect_json(200);
    assert_eq!(me, account.user);
}

pub async fn registering_with_a_referral_code_records_the_referrer(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    let referee = server
        .register("new@example.com", Some(referrer.code()))
        .await;
    assert_eq!(referee.user["referred_by"], referrer.user["id"]);
    let me = server
        .get_as("/api/me", referee.access())
        .await
        .expect_json(200);
    assert_eq!(me["referred_by"], referrer.user["id"]);
}

pub async fn referral_codes_match_in_any_case_with_surrounding_spaces(target: Target) {
    let server = TestServer::start(target).await;
    let referrer = server.register("ref@example.com", None).await;
    let typed = format!("  {}  ", referrer.code().to_lowercase());
    let referee = server.register("new@example.com", Some(&typed)).await;
    assert_eq!(referee.user["referred_by"], referrer.user["id"]);
}

pub async fn an_unknown_referral_code_answers_422_and_creates_no_account(target: Target) {
    let server = TestServer::start(target).await;
    server.register("ref@example.com", None).await;
    for code in ["ZZZZZZZZ", "not a code at all"] {
        let reply = server
            .post(
                "/api/register",
                &json!({ "email": "new@example.com", "password": PASSWORD, "referral_code": code }),
            )
            .await;
        reply.expect_problem(422, "unknown_referral_code");
    }
    server.refused_login("new@example.com", PASSWORD).await;
}

pub async fn fields_a_client_must_not_set_are_ignored_at_registration(target: Target) {
    let server = TestServer::start(target).await;
    let someone = server.register("someone@example.com", None).await;
    let chosen_id = "0190a5d6-0000-7000-8000-000000000001";
    let reply = server
        .post(
            "/api/register",
            &json!({
                "email": "sneaky@example.com",
                "password": PASSWORD,
                "id": chosen_id,
                "referred_by": someone.user["id"],
                "referral_link": "https://evil.example/",
                "created_at": "2000-01-01T00:00:00Z",
                "rewards": 1_000_000,
                "reward_points": 1_000_000,
                "token_version": -1,
                "roles": ["user", "admin"],
                "disabled": true,
            }),
        )
        .await;
    let user = reply.expect_json(201)["user"].clone();
    assert_ne!(user["id"], chosen_id);
    assert_eq!(user["roles"], json!(["user"]));
    assert!(user["referred_by"].is_null());
    assert_ne!(user["created_at"], "2000-01-01T00:00:00Z");
    let access = reply.json()["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stats = server
        .get_as("/api/referral-stats", &access)
        .await
        .expect_json(200);
    assert_eq!(stats["total_reward_points"], 0);
    let someones = server
        .get_as("/api/referral-stats", someone.access())
        .await
        .expect_json(200);
    assert_eq!(someones["total_referrals"], 0);
}

pub async fn a_registered_email_answers_409_email_taken_in_any_case(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    for email in [
        "jane@example.com",
        "JANE@Example.COM",
        "  jane@example.com ",
    ] {
        let reply = server
            .post(
                "/api/register",
                &json!({ "email": email, "password": "another good passphrase" }),
            )
            .await;
        let problem = reply.expect_problem(409, "email_taken");
        assert_eq!(problem["detail"], "Email is already registered");
        assert_eq!(problem["title"], "Conflict");
    }
    server.tokens("jane@example.com", PASSWORD).await;
}

pub async fn emails_are_trimmed_and_compared_without_case(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register(" A@X.COM ", None).await;
    assert_eq!(account.user["email"], "a@x.com");
    server.tokens("a@x.com", PASSWORD).await;
    server.tokens("  A@x.Com", PASSWORD).await;
}

pub async fn passwords_are_compared_after_nfkc_normalisation(target: Target) {
    let server = TestServer::start(target).await;
    let composed = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
    let decomposed = "cafe\u{301} au lait, s'il vous plai\u{302}t";
    server
        .register_with("cafe@example.com", composed, None)
        .await;
    server.tokens("cafe@example.com", decomposed).await;
    server
        .refused_login("cafe@example.com", "cafe au lait, s'il vous plait")
        .await;
}

pub async fn a_password_of_128_characters_is_accepted(target: Target) {
    let server = TestServer::start(target).await;
    let longest = "é".repeat(128);
    server
        .register_with("long@example.com", &longest, None)
        .await;
    server.tokens("long@example.com", &longest).await;
}

pub async fn bad_passwords_answer_422_with_a_field_error(target: Target) {
    let server = TestServer::start(target).await;
    let cases = [
        ("short7!", "too_short"),
        ("", "too_short"),
        (&*"x".repeat(129), "too_long"),
        (&*"é".repeat(129), "too_long"),
        ("jane@example.com", "same_as_email"),
        ("password", "too_common"),
        ("12345678", "too_common"),
    ];
    for (password, code) in cases {
        let reply = server
            .post(
                "/api/register",
                &json!({ "email": "jane@example.com", "password": password }),
            )
            .await;
        reply.expect_field_error("password", code);
    }
    server
        .refused_login("jane@example.com", "jane@example.com")
        .await;
}

pub async fn a_malformed_or_overlong_email_answers_422_with_a_field_error(target: Target) {
    let server = TestServer::start(target).await;
    let overlong = format!("{}@example.com", "a".repeat(250));
    for email in ["not-an-email", "", "two@@example.com", overlong.as_str()] {
        let reply = server
            .post(
                "/api/register",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let problem = reply.expect_problem(422, "validation_failed");
        let errors = problem["errors"].as_array().expect("errors");
        assert!(
            errors.iter().any(|error| error["field"] == "email"),
            "{email}: {problem}"
        );
    }
}

pub async fn login_answers_200_with_a_token_pair(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let tokens = server.tokens("jane@example.com", PASSWORD).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_token"].as_str().is_some());
    assert!(tokens["refresh_expires_in"].as_i64().is_some());
    let access = tokens["access_token"].as_str().unwrap();
    let me = server.get_as("/api/me", access).await.expect_json(200);
    assert_eq!(me["email"], "jane@example.com");
}

pub async fn a_wrong_password_and_an_unknown_email_answer_the_same_401(target: Target) {
    let server = TestServer::start(target).await;
    server.register("jane@example.com", None).await;
    let wrong_password = server.login("jane@example.com", "not the password").await;
    let unknown_email = server.login("nobody@example.com", PASSWORD).await;
    let first = wrong_password.expect_problem(401, "invalid_credentials");
    let second = unknown_email.expect_problem(401, "invalid_credentials");
    assert_eq!(first, second);
    assert_eq!(
        wrong_password.header("www-authenticate"),
        unknown_email.header("www-authenticate")
    );
}

pub async fn a_user_registers_and_logs_in_at_the_default_argon2_cost(target: Target) {
    let server =
        TestServer::start_with(target, |config| config.argon2(Argon2Params::default())).await;
    server.register("jane@example.com", None).await;
    server.tokens("jane@example.com", PASSWORD).await;
    server
        .refused_login("jane@example.com", "wrong password")
        .await;
}
