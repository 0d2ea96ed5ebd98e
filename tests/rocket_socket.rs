//! The Rocket adapter over a real socket: what `spawn_rocket` serves is what clients get.

mod support_rocket;

use std::sync::Arc;

use referral::{Config, Engine, RecordingMailer, MAX_BODY_BYTES};
use serde_json::{json, Value};
use support_rocket::spawn_rocket;

fn engine() -> Engine {
    Engine::builder(Config::builder().random_secret().build().unwrap())
        .mailer(Arc::new(RecordingMailer::new()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_spawned_rocket_serves_health_over_a_real_socket() {
    let server = spawn_rocket(engine()).await;
    let response = reqwest::get(format!("{}/api/health", server.base_url))
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    // Exactly what axum sends: the engine's headers plus hyper's framing.
    let mut names: Vec<&str> = response
        .headers()
        .keys()
        .map(|name| name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cache-control",
            "content-length",
            "content-type",
            "date",
            "x-content-type-options",
            "x-frame-options"
        ]
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn a_spawned_rocket_answers_problems_outside_the_api_and_for_oversize_bodies() {
    let server = spawn_rocket(engine()).await;
    let base = &server.base_url;
    let client = reqwest::Client::new();

    let unknown = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    assert!(unknown.headers().get("server").is_none());
    assert_eq!(unknown.json::<Value>().await.unwrap()["code"], "not_found");

    let oversize = client
        .post(format!("{base}/api/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; MAX_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(oversize.status(), 413);
    assert_eq!(
        oversize.json::<Value>().await.unwrap()["code"],
        "payload_too_large"
    );
}

#[tokio::test]
async fn a_stopped_rocket_no_longer_accepts_connections() {
    let server = spawn_rocket(engine()).await;
    let url = format!("{}/api/health", server.base_url);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);

    server.stop().await;
    let refused = reqwest::get(&url).await.unwrap_err();
    assert!(refused.is_connect(), "{refused}");
}
