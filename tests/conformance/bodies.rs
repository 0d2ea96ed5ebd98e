//! Request bodies the engine cannot read: not JSON, the wrong shape, the wrong content type,
//! empty, or too large.

use reqwest::Method;
use serde_json::json;

use super::{Target, TestServer, PASSWORD};

/// Every route that reads a JSON body.
const BODY_ROUTES: [&str; 7] = [
    "/api/register",
    "/api/login",
    "/api/token/refresh",
    "/api/logout",
    "/api/reset-password",
    "/api/reset-password/confirm",
    "/api/verify-email",
];

const JSON: Option<&str> = Some("application/json");

pub async fn a_body_that_is_not_json_answers_400_invalid_json(target: Target) {
    let server = TestServer::start(target).await;
    for path in BODY_ROUTES {
        for body in ["{", "not json", "{\"email\": }", "\u{0}"] {
            let reply = server.raw(Method::POST, path, JSON, body).await;
            reply.expect_problem(400, "invalid_json");
        }
    }
}

pub async fn a_body_of_the_wrong_shape_answers_400_invalid_json(target: Target) {
    let server = TestServer::start(target).await;
    let shapes = [
        json!([]),
        json!("a string"),
        json!(42),
        json!(null),
        json!({}),
        json!({ "email": 1, "password": 2, "refresh_token": 3, "token": 4, "new_password": 5 }),
    ];
    for path in BODY_ROUTES {
        for shape in &shapes {
            let reply = server.post(path, shape).await;
            reply.expect_problem(400, "invalid_json");
        }
    }
    let reply = server
        .post(
            "/api/register",
            &json!({ "email": "jane@example.com", "password": PASSWORD, "referral_code": 12345678 }),
        )
        .await;
    reply.expect_problem(400, "invalid_json");
    server.refused_login("jane@example.com", PASSWORD).await;
}

pub async fn a_wrong_content_type_answers_400_invalid_json(target: Target) {
    let server = TestServer::start(target).await;
    let body = json!({ "email": "jane@example.com", "password": PASSWORD }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        for path in BODY_ROUTES {
            let reply = server
                .raw(Method::POST, path, Some(content_type), body.clone())
                .await;
            reply.expect_problem(400, "invalid_json");
        }
    }
    server.refused_login("jane@example.com", PASSWORD).await;
    let charset = server
        .raw(
            Method::POST,
            "/api/register",
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    charset.expect_json(201);
}

pub async fn an_empty_body_answers_400_invalid_json(target: Target) {
    let server = TestServer::start(target).await;
    for path in BODY_ROUTES {
        for body in ["", "   \n"] {
            let reply = server.raw(Method::POST, path, JSON, body).await;
            reply.expect_problem(400, "invalid_json");
        }
    }
}

pub async fn a_body_over_64_kib_answers_413_payload_too_large(target: Target) {
    let server = TestServer::start(target).await;
    let padding = " ".repeat(64 * 1024);
    let oversize =
        format!("{{\"email\": \"jane@example.com\",{padding} \"password\": \"{PASSWORD}\"}}");
    assert!(oversize.len() > 64 * 1024);
    for path in BODY_ROUTES {
        let reply = server.raw(Method::POST, path, JSON, oversize.clone()).await;
        reply.expect_problem(413, "payload_too_large");
    }
    let huge = "x".repeat(1024 * 1024);
    let reply = server
        .send(
            server
                .client
                .post(server.url("/api/register"))
                .header("content-type", "application/json")
                .body(huge),
        )
        .await;
    reply.expect_problem(413, "payload_too_large");
    server.refused_login("jane@example.com", PASSWORD).await;
}

pub async fn a_body_of_exactly_64_kib_is_read(target: Target) {
    let server = TestServer::start(target).await;
    let head = format!("{{\"email\": \"jane@example.com\", \"password\": \"{PASSWORD}\"");
    let body = format!("{head}{}}}", " ".repeat(64 * 1024 - head.len() - 1));
    assert_eq!(body.len(), 64 * 1024);
    server
        .raw(Method::POST, "/api/register", JSON, body)
        .await
        .expect_json(201);
}
