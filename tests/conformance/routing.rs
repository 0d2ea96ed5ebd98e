//! Paths and methods the contract does not serve.

use reqwest::Method;

use super::{Target, TestServer};

pub async fn an_unknown_api_route_answers_a_404_problem(target: Target) {
    let server = TestServer::start(target).await;
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/nope"),
        (Method::GET, "/api"),
        (Method::GET, "/api/"),
        (Method::GET, "/api/me/extra"),
        (Method::GET, "/api/health/"),
        (Method::POST, "/api/register/x"),
    ] {
        let reply = server.raw(method.clone(), path, None, "").await;
        let problem = reply.expect_problem(404, "not_found");
        assert_eq!(problem["title"], "Not Found", "{method} {path}");
    }
}

pub async fn a_wrong_method_answers_405_with_allow(target: Target) {
    let server = TestServer::start(target).await;
    let cases = [
        (Method::GET, "/api/register", "POST"),
        (Method::PUT, "/api/login", "POST"),
        (Method::DELETE, "/api/token/refresh", "POST"),
        (Method::GET, "/api/logout", "POST"),
        (Method::POST, "/api/me", "GET, HEAD, PATCH, DELETE"),
        (Method::DELETE, "/api/referrals", "GET, HEAD"),
        (Method::PATCH, "/api/referral-stats", "GET, HEAD"),
        (Method::POST, "/api/health", "GET, HEAD"),
        (Method::PUT, "/api/openapi.json", "GET, HEAD"),
        (Method::GET, "/api/reset-password", "POST"),
        (Method::GET, "/api/reset-password/confirm", "POST"),
    ];
    for (method, path, allow) in cases {
        let reply = server
            .raw(method.clone(), path, Some("application/json"), "{}")
            .await;
        reply.expect_problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
}
