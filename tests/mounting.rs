//! An app mounting a subset of the contract and replacing one handler, on each framework,
//! over a real socket: what README's "Mount in an existing axum app" and "Attach to an
//! existing Rocket app" promise, each in a few lines.

mod support_axum;
#[allow(dead_code)]
mod support_rocket;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use referral::axum::{ApiError, EngineRequest, EngineResponse};
use referral::{Config, Endpoint, Engine, Error, Mount, RecordingMailer};
use serde_json::{json, Value};

fn engine() -> Engine {
    Engine::builder(Config::builder().random_secret().build().unwrap())
        .mailer(Arc::new(RecordingMailer::new()))
        .build()
        .unwrap()
}

/// Sign-ups for invited addresses only, with the library's parsing and answers.
async fn invited_only(
    State(engine): State<Engine>,
    EngineRequest(request): EngineRequest,
) -> Result<EngineResponse, ApiError> {
    let body: referral::RegisterRequest = referral::parse_json(&request)?;
    if !body.email.ends_with("@invited.example") {
        return Err(Error::invalid("email", "not_invited", "Sign-ups are by invitation").into());
    }
    Ok(engine
        .serve(&Mount::new("/auth")?, Endpoint::Register, request)
        .await
        .into())
}

async fn post_json(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn axum_serves_a_subset_under_auth_with_one_handler_replaced() {
    let app = referral::axum::Api::new()
        .prefix("/auth")
        .unwrap()
        .without([Endpoint::ResetRequest, Endpoint::ResetConfirm])
        .replace(Endpoint::Register, post(invited_only))
        .router()
        .with_state(engine());
    let server = support_axum::spawn_axum(app).await;
    let base = &server.base_url;
    let password = "correct horse battery staple";
    let (status, body) = post_json(
        base,
        "/auth/register",
        json!({ "email": "a@example.com", "password": password }),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (422, Some("not_invited"))
    );
    let (status, _) = post_json(
        base,
        "/auth/register",
        json!({ "email": "a@invited.example", "password": password }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post_json(
        base,
        "/auth/login",
        json!({ "email": "a@invited.example", "password": password }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = post_json(
        base,
        "/auth/reset-password",
        json!({ "email": "a@invited.example" }),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    server.stop();
}

#[rocket::get("/health")]
fn own_health() -> &'static str {
    "the app's own health"
}

#[tokio::test]
async fn rocket_serves_a_subset_under_auth_with_one_handler_replaced() {
    let api = referral::rocket::Api::new()
        .prefix("/auth")
        .unwrap()
        .without([Endpoint::ResetRequest, Endpoint::ResetConfirm]);
    let rocket = rocket::build()
        .manage(engine())
        .mount("/auth", api.routes())
        .mount("/auth", rocket::routes![own_health]) // tried before the library's route
        .register("/auth", api.catchers());
    let client = rocket::local::asynchronous::Client::tracked(rocket)
        .await
        .unwrap();
    let health = client.get("/auth/health").dispatch().await;
    assert_eq!(health.into_string().await.unwrap(), "the app's own health");
    let reset = client
        .post("/auth/reset-password")
        .header(rocket::http::ContentType::JSON)
        .body(json!({ "email": "a@example.com" }).to_string())
        .dispatch()
        .await;
    assert_eq!(reset.status().code, 404);
    let me = client.get("/auth/me").dispatch().await;
    assert_eq!(me.status().code, 401);
}
