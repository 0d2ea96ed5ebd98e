//! Health, the OpenAPI document, and a storage outage.

use serde_json::json;

use referral::MemoryStorage;

use super::{Target, TestServer, PASSWORD};

fn memory_of(server: &TestServer) -> &MemoryStorage {
    server
        .memory
        .as_ref()
        .expect("outage cases run on memory storage")
}

pub async fn health_answers_200_ok(target: Target) {
    let server = TestServer::start(target).await;
    let body = server.get("/api/health").await.expect_json(200);
    assert_eq!(body, json!({ "status": "ok" }));
}

pub async fn the_openapi_document_lists_every_path(target: Target) {
    let server = TestServer::start(target).await;
    let document = server.get("/api/openapi.json").await.expect_json(200);
    let version = document["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version}");
    let paths = document["paths"].as_object().expect("paths");
    let expected = [
        ("/api/register", "post"),
        ("/api/login", "post"),
        ("/api/token/refresh", "post"),
        ("/api/logout", "post"),
        ("/api/me", "get"),
        ("/api/reset-password", "post"),
        ("/api/reset-password/confirm", "post"),
        ("/api/referrals", "get"),
        ("/api/referral-stats", "get"),
        ("/api/health", "get"),
    ];
    for (path, method) in expected {
        let path = server.path(path);
        assert!(
            paths[&path][method].is_object(),
            "{method} {path} in {:?}",
            paths.keys()
        );
    }
}

pub async fn storage_down_answers_503_unavailable_and_recovers(target: Target) {
    let server = TestServer::start(target).await;
    let account = server.register("jane@example.com", None).await;
    memory_of(&server).set_unavailable(true);

    server
        .get("/api/health")
        .await
        .expect_problem(503, "unavailable");
    server
        .post(
            "/api/register",
            &json!({ "email": "john@example.com", "password": PASSWORD }),
        )
        .await
        .expect_problem(503, "unavailable");
    server
        .login("jane@example.com", PASSWORD)
        .await
        .expect_problem(503, "unavailable");
    server
        .get_as("/api/me", account.access())
        .await
        .expect_problem(503, "unavailable");
    server
        .request_reset("jane@example.com")
        .await
        .expect_problem(503, "unavailable");

    memory_of(&server).set_unavailable(false);
    server.get("/api/health").await.expect_json(200);
    server.register("john@example.com", None).await;
    server.tokens("jane@example.com", PASSWORD).await;
}
