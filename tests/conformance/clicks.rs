//! Share links: `GET /r/{code}` at the app root redirects to the registration page and
//! counts one click per visitor per 24 hours; the stats show the funnel.

use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;

use super::{Account, Reply, Target, TestServer, APP_BASE_URL};

/// Follows `/r/{code}` as a visitor with this user agent (the address is the loopback).
async fn visit(server: &TestServer, code: &str, user_agent: &str) -> Reply {
    server
        .send(
            server
                .client
                .get(server.url(&format!("/r/{code}")))
                .header("user-agent", user_agent),
        )
        .await
}

#[track_caller]
fn expect_redirect(reply: &Reply, location: &str) {
    assert_eq!(
        reply.status,
        302,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("location"), Some(location));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.body.is_empty(), "a redirect has no body");
    assert_eq!(reply.header("content-type"), None);
}

/// The account's stats once every click so far is counted.
async fn stats(server: &TestServer, account: &Account) -> Value {
    server.engine.flush_clicks().await;
    let email = account.user["email"].as_str().expect("email is a string");
    super::referrals::stats_of(server, email).await
}

pub async fn a_share_link_redirects_with_the_code_and_counts_a_visitor_once_a_day(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let code = jane.code().to_owned();
    let referral_link = format!("{APP_BASE_URL}/register?ref={code}");

    let first = stats(&server, &jane).await;
    assert_eq!(first["share_link"], format!("{APP_BASE_URL}/r/{code}"));
    assert_eq!(
        (
            first["clicks"].clone(),
            first["clicks_last_30_days"].clone()
        ),
        (json!(0), json!(0))
    );

    for user_agent in ["phone", "phone", "laptop", "phone"] {
        expect_redirect(&visit(&server, &code, user_agent).await, &referral_link);
    }
    // Matched without case, redirected to the code as its owner writes it.
    expect_redirect(
        &visit(&server, &code.to_lowercase(), "tablet").await,
        &referral_link,
    );
    let counted = stats(&server, &jane).await;
    assert_eq!(counted["clicks"], 3, "{counted}");
    assert_eq!(counted["clicks_last_30_days"], 3, "{counted}");

    // A day later the phone counts again; a month later only the total remembers.
    server.advance(Duration::hours(25));
    expect_redirect(&visit(&server, &code, "phone").await, &referral_link);
    assert_eq!(stats(&server, &jane).await["clicks"], 4);
    server.advance(Duration::days(31));
    let later = stats(&server, &jane).await;
    assert_eq!(
        (
            later["clicks"].clone(),
            later["clicks_last_30_days"].clone()
        ),
        (json!(4), json!(0))
    );

    // The funnel: people who clicked, then signed up.
    server.register("friend@example.com", Some(&code)).await;
    let funnel = stats(&server, &jane).await;
    assert_eq!(funnel["total_referrals"], 1);
    assert_eq!(funnel["clicks"], 4);
}

pub async fn an_unknown_or_malformed_code_redirects_to_registration_and_counts_nothing(
    target: Target,
) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let register = format!("{APP_BASE_URL}/register");
    let unknown = visit(&server, "nobody-here", "phone").await;
    expect_redirect(&unknown, &register);
    let known = visit(&server, jane.code(), "phone").await;
    // Same shape whether the code exists or not: only the location differs.
    let names = |reply: &Reply| {
        let mut names: Vec<String> = reply.headers.keys().map(|n| n.to_string()).collect();
        names.retain(|name| name != "date");
        names.sort();
        names
    };
    assert_eq!(names(&unknown), names(&known));
    for malformed in ["abc", "a.b.c.d", "%20%20%20%20", &"x".repeat(40)] {
        expect_redirect(&visit(&server, malformed, "phone").await, &register);
    }
    let counted = stats(&server, &jane).await;
    assert_eq!(
        counted["clicks"], 1,
        "only the known code counted: {counted}"
    );
}

pub async fn an_earlier_code_still_counts_and_redirects_with_the_current_one(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    let first_code = jane.code().to_owned();
    super::codes::choose(&server, &jane, "Jane_Doe")
        .await
        .expect_json(200);
    let current = format!("{APP_BASE_URL}/register?ref=Jane_Doe");
    expect_redirect(&visit(&server, &first_code, "phone").await, &current);
    expect_redirect(&visit(&server, "jane_doe", "laptop").await, &current);
    let counted = stats(&server, &jane).await;
    assert_eq!(counted["clicks"], 2);
    assert_eq!(counted["share_link"], format!("{APP_BASE_URL}/r/Jane_Doe"));
}

pub async fn a_share_link_with_another_method_answers_405_with_allow(target: Target) {
    let server = TestServer::start(target).await;
    let jane = server.register("jane@example.com", None).await;
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let reply = server
            .raw(method.clone(), &format!("/r/{}", jane.code()), None, "")
            .await;
        reply.expect_problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method}");
    }
    let head = server
        .send(
            server
                .client
                .head(server.url(&format!("/r/{}", jane.code()))),
        )
        .await;
    assert_eq!(head.status, 302);
}
