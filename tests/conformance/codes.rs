//! Vanity codes: `PUT /api/referral-code`, and the earlier codes that keep working.

use reqwest::Method;
use serde_json::{json, Value};

use super::{Account, Reply, Target, TestServer, APP_BASE_URL};

/// `PUT /api/referral-code` as `account`.
pub(super) async fn choose(server: &TestServer, account: &Account, code: &str) -> Reply {
    server
        .send(
            server
                .client
                .put(server.url("/api/referral-code"))
                .header("authorization", format!("Bearer {}", account.access()))
                .json(&json!({ "code": code })),
        )
        .await
}

async fn me(server: &TestServer, account: &Account) -> Value {
    server
        .get_as("/api/me", account.access())
        .await
        .expect_json(200)
}

pub async fn choosing_a_code_answers_200_stats_and_earlier_codes_keep_working(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let signed_up_with = jane.code().to_owned();

    let stats = choose(&server, &jane, " Jane_Doe ").await.expect_json(200);
    assert_eq!(stats["referral_code"], "Jane_Doe");
    assert_eq!(
        stats["referral_link"],
        format!("{APP_BASE_URL}/register?ref=Jane_Doe")
    );
    assert_eq!(stats["total_referrals"], 0);
    let user = me(&server, &jane).await;
    assert_eq!(user["referral_code"], "Jane_Doe");
    assert_eq!(
        user["referral_link"],
        format!("{APP_BASE_URL}/register?ref=Jane_Doe")
    );

    // Both codes, in any case, sign people up as Jane's referrals.
    server.register("a@example.com", Some("jane_doe")).await;
    server
        .register("b@example.com", Some(&signed_up_with.to_lowercase()))
        .await;
    let stats = server
        .get_as("/api/referral-stats", jane.access())
        .await
        .expect_json(200);
    assert_eq!(stats["total_referrals"], 2);

    // Choosing the first code again makes it current.
    let stats = choose(&server, &jane, &signed_up_with)
        .await
        .expect_json(200);
    assert_eq!(stats["referral_code"], signed_up_with.as_str());
    server.register("c@example.com", Some("JANE_DOE")).await;
}

pub async fn a_code_someone_holds_answers_409_code_taken_in_any_case(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let john = server.register("john@example.com", None).await;
    let jane_first = jane.code().to_owned();
    choose(&server, &jane, "Jane").await.expect_json(200);
    choose(&server, &jane, "JaneDoe").await.expect_json(200);
    for taken in [
        "jane",
        "JANEDOE",
        jane_first.as_str(),
        &jane_first.to_lowercase(),
    ] {
        choose(&server, &john, taken)
            .await
            .expect_problem(409, "code_taken");
    }
    assert_eq!(me(&server, &john).await["referral_code"], john.code());
    // The refused claims gave John nothing: Jane's codes still sign people up as hers.
    let referee = server.register("r@example.com", Some("jane")).await;
    assert_eq!(referee.user["referred_by"], jane.user["id"]);
}

pub async fn a_malformed_or_reserved_code_answers_422_with_a_field_error(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let too_long = "x".repeat(33);
    for (code, error) in [
        ("abc", "too_short"),
        (too_long.as_str(), "too_long"),
        ("jane doe", "invalid_characters"),
        ("jané", "invalid_characters"),
        ("jane.doe", "invalid_characters"),
        ("admin", "reserved"),
        ("Register", "reserved"),
    ] {
        choose(&server, &jane, code)
            .await
            .expect_field_error("code", error);
    }
    assert_eq!(me(&server, &jane).await["referral_code"], jane.code());
    // A reserved word is refused as a whole word only.
    choose(&server, &jane, "API_").await.expect_json(200);
    let reply = server
        .send(
            server
                .client
                .put(server.url("/api/referral-code"))
                .header("authorization", format!("Bearer {}", jane.access()))
                .json(&json!({ "code": 42 })),
        )
        .await;
    reply.expect_problem(400, "invalid_json");
}

pub async fn choosing_a_code_needs_a_bearer_token(target: Target) {
    let server = TestServer::start(target).await;
    let reply = server
        .raw(
            Method::PUT,
            "/api/referral-code",
            Some("application/json"),
            r#"{"code":"Jane_Doe"}"#,
        )
        .await;
    reply.expect_problem(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    // Nobody got the code: someone signed in can still choose it.
    let jane = server.register("jane@example.com", None).await;
    choose(&server, &jane, "Jane_Doe").await.expect_json(200);
}
