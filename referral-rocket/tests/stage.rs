//! The adapter through Rocket's local client: what a client of a Rocket app sees.

use referral_core::{Argon2Params, Config, Engine, MAX_BODY_BYTES};
use referral_rocket::AuthUser;
use rocket::error::ErrorKind;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{Build, Rocket};
use serde_json::{json, Value};

fn engine() -> Engine {
    // Cheap hashing: these tests are about translation, not password cost.
    let config = Config::builder()
        .random_secret()
        .argon2(Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap();
    Engine::builder(config).build().unwrap()
}

#[rocket::get("/dashboard")]
fn dashboard(user: AuthUser) -> String {
    format!("hello, {}", user.0.email)
}

#[rocket::get("/api/custom")]
fn custom_api_route() -> &'static str {
    "mine"
}

#[rocket::get("/api/teapot")]
fn teapot() -> Status {
    Status::ImATeapot
}

/// The app as a host sets it up: the stage, its own routes, and the problem catchers where
/// its own routes live.
fn app(engine: Engine) -> Rocket<Build> {
    rocket::build()
        .attach(referral_rocket::stage_with(engine))
        .mount("/", rocket::routes![dashboard, custom_api_route, teapot])
        .register("/", referral_rocket::catchers())
}

async fn client() -> Client {
    Client::tracked(app(engine())).await.unwrap()
}

fn content_type<'a>(response: &'a LocalResponse<'_>) -> Option<&'a str> {
    response.headers().get_one("Content-Type")
}

async fn json_body(response: LocalResponse<'_>) -> Value {
    serde_json::from_slice(&response.into_bytes().await.unwrap()).unwrap()
}

/// Asserts a problem document with `status` and `code`, and answers it.
async fn assert_problem(response: LocalResponse<'_>, status: u16, code: &str) -> Value {
    assert_eq!(response.status().code, status);
    assert_eq!(content_type(&response), Some("application/problem+json"));
    let body = json_body(response).await;
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    body
}

async fn register(client: &Client, email: &str) -> Value {
    let response = client
        .post("/api/register")
        .header(ContentType::JSON)
        .body(json!({ "email": email, "password": "correct horse battery" }).to_string())
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Created);
    json_body(response).await
}

fn bearer(registered: &Value) -> Header<'static> {
    let token = registered["tokens"]["access_token"].as_str().unwrap();
    Header::new("Authorization", format!("Bearer {token}"))
}

#[rocket::async_test]
async fn registering_answers_201_with_location_and_the_new_user() {
    let client = client().await;
    let response = client
        .post("/api/register")
        .header(ContentType::JSON)
        .body(r#"{"email":" Ann@Example.com ","password":"correct horse battery"}"#)
        .dispatch()
        .await;

    assert_eq!(response.status(), Status::Created);
    assert_eq!(response.headers().get_one("Location"), Some("/api/me"));
    assert_eq!(content_type(&response), Some("application/json"));
    let body = json_body(response).await;
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["tokens"]["token_type"], "Bearer");

    let me = client.get("/api/me").header(bearer(&body)).dispatch().await;
    assert_eq!(me.status(), Status::Ok);
    assert_eq!(json_body(me).await["id"], body["user"]["id"]);
}

#[rocket::async_test]
async fn an_unknown_api_path_is_a_404_problem_document() {
    let client = client().await;
    for path in ["/api/nope", "/api", "/api/me/", "/api/deeper/still/nope"] {
        assert_problem(client.get(path).dispatch().await, 404, "not_found").await;
    }
}

#[rocket::async_test]
async fn a_wrong_method_is_a_405_problem_document_with_allow() {
    let client = client().await;
    for (response, allow) in [
        (client.get("/api/register").dispatch().await, "POST"),
        (
            client.put("/api/me").dispatch().await,
            "GET, HEAD, PATCH, DELETE",
        ),
        (client.put("/api/health").dispatch().await, "GET, HEAD"),
        (client.options("/api/login").dispatch().await, "POST"),
    ] {
        assert_eq!(response.headers().get_one("Allow"), Some(allow));
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

#[rocket::async_test]
async fn a_body_over_64_kib_is_a_413_problem_whatever_rockets_limits() {
    let client = client().await;
    let padding = " ".repeat(MAX_BODY_BYTES);
    let response = client
        .post("/api/register")
        .header(ContentType::JSON)
        .body(format!(
            r#"{{"email":"big@example.com","password":"correct horse battery"}}{padding}"#
        ))
        .dispatch()
        .await;
    assert_problem(response, 413, "payload_too_large").await;

    // Nothing was registered: the same email is still free.
    register(&client, "big@example.com").await;
}

#[rocket::async_test]
async fn a_body_of_exactly_64_kib_reaches_the_engine_whole() {
    let client = client().await;
    let json = r#"{"email":"edge@example.com","password":"correct horse battery"}"#;
    let body = format!("{json}{}", " ".repeat(MAX_BODY_BYTES - json.len()));
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let response = client
        .post("/api/register")
        .header(ContentType::JSON)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Created);
}

#[rocket::async_test]
async fn a_non_json_content_type_is_an_invalid_json_problem() {
    let client = client().await;
    let response = client
        .post("/api/login")
        .header(ContentType::Form)
        .body("email=a%40example.com&password=x")
        .dispatch()
        .await;
    assert_problem(response, 400, "invalid_json").await;
}

#[rocket::async_test]
async fn the_query_string_reaches_the_engine() {
    let client = client().await;
    let registered = register(&client, "query@example.com").await;

    let bad = client
        .get("/api/referrals?limit=0")
        .header(bearer(&registered))
        .dispatch()
        .await;
    let problem = assert_problem(bad, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "limit");

    let good = client
        .get("/api/referrals?limit=1")
        .header(bearer(&registered))
        .dispatch()
        .await;
    assert_eq!(good.status(), Status::Ok);
    assert_eq!(
        json_body(good).await,
        json!({ "referrals": [], "next_cursor": null })
    );
}

#[rocket::async_test]
async fn head_answers_like_get_without_a_body() {
    let client = client().await;
    let response = client.head("/api/health").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(content_type(&response), Some("application/json"));
    assert!(response.into_bytes().await.unwrap_or_default().is_empty());
}

#[rocket::async_test]
async fn auth_user_without_a_token_sends_the_engines_401_problem() {
    let client = client().await;
    let response = client.get("/dashboard").dispatch().await;
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some("Bearer")
    );
    let body = assert_problem(response, 401, "unauthorized").await;

    // Byte for byte what the engine's own routes answer.
    let api = client.get("/api/me").dispatch().await;
    assert_eq!(api.headers().get_one("WWW-Authenticate"), Some("Bearer"));
    assert_eq!(json_body(api).await, body);
}

#[rocket::async_test]
async fn auth_user_with_a_forged_token_is_refused() {
    let client = client().await;
    let response = client
        .get("/dashboard")
        .header(Header::new(
            "Authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        ))
        .dispatch()
        .await;
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some("Bearer")
    );
    assert_problem(response, 401, "unauthorized").await;
}

#[rocket::async_test]
async fn auth_user_with_a_valid_token_runs_the_route_as_that_user() {
    let client = client().await;
    let registered = register(&client, "dash@example.com").await;
    let response = client
        .get("/dashboard")
        .header(bearer(&registered))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.into_string().await.unwrap(),
        "hello, dash@example.com"
    );
}

#[rocket::async_test]
async fn shields_headers_are_kept_and_the_engines_security_headers_win() {
    let client = client().await;
    let api = client.get("/api/health").dispatch().await;
    // Shield adds what the engine does not send, and leaves what it does.
    assert_eq!(
        api.headers().get_one("Permissions-Policy"),
        Some("interest-cohort=()")
    );
    assert_eq!(
        api.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
    assert_eq!(api.headers().get_one("X-Frame-Options"), Some("DENY"));
    assert_eq!(api.headers().get_one("Cache-Control"), Some("no-store"));
    let own = client.get("/api/custom").dispatch().await;
    assert_eq!(
        own.headers().get_one("X-Frame-Options"),
        Some("SAMEORIGIN"),
        "the app's own routes keep Shield's defaults"
    );
}

#[rocket::async_test]
async fn the_stage_registers_nothing_at_the_app_root() {
    let rocket = rocket::build()
        .attach(referral_rocket::stage_with(engine()))
        .mount("/", rocket::routes![dashboard]);
    let client = Client::tracked(rocket).await.unwrap();
    let elsewhere = client.get("/not/the/api").dispatch().await;
    assert_eq!(elsewhere.status(), Status::NotFound);
    assert_ne!(content_type(&elsewhere), Some("application/problem+json"));
    let refused = client.get("/dashboard").dispatch().await;
    assert_eq!(refused.status(), Status::Unauthorized);
    assert_ne!(content_type(&refused), Some("application/problem+json"));
    // Under the API, the stage's own catchers answer.
    let unknown = client.get("/api/nope").dispatch().await;
    assert_problem(unknown, 404, "not_found").await;
}

#[rocket::async_test]
async fn each_endpoint_is_a_named_route_and_a_subset_can_be_mounted() {
    let api = referral_rocket::Api::new().without([referral_core::Endpoint::Register]);
    let rocket = rocket::build()
        .manage(engine())
        .mount("/api", api.routes())
        .register("/api", api.catchers());
    let client = Client::tracked(rocket).await.unwrap();
    let names: Vec<String> = client
        .rocket()
        .routes()
        .filter_map(|route| route.name.as_ref().map(|name| name.to_string()))
        .collect();
    assert!(names.contains(&"referral::login".to_owned()), "{names:?}");
    assert!(!names.contains(&"referral::register".to_owned()));
    let register = client
        .post("/api/register")
        .header(ContentType::JSON)
        .body(json!({ "email": "a@example.com", "password": "correct horse battery" }).to_string())
        .dispatch()
        .await;
    assert_problem(register, 404, "not_found").await;
    assert_eq!(
        client.get("/api/health").dispatch().await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn a_route_of_the_app_at_an_endpoints_path_replaces_it() {
    #[rocket::get("/health")]
    fn my_health() -> &'static str {
        "mine"
    }
    let rocket = rocket::build()
        .attach(referral_rocket::stage_with(engine()))
        .mount("/api", rocket::routes![my_health]);
    let client = Client::tracked(rocket).await.unwrap();
    let response = client.get("/api/health").dispatch().await;
    assert_eq!(response.into_string().await.unwrap(), "mine");
}

#[rocket::async_test]
async fn a_user_route_under_api_coexists_with_the_adapter() {
    let client = client().await;
    let response = client.get("/api/custom").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "mine");
}

#[rocket::async_test]
async fn statuses_rocket_produces_under_api_are_problem_documents() {
    let client = client().await;
    assert_problem(client.get("/api/teapot").dispatch().await, 418, "error").await;
}

#[rocket::async_test]
async fn the_catchers_make_rockets_own_404_a_problem_anywhere_they_are_registered() {
    let client = client().await;
    assert_problem(
        client.get("/not/the/api").dispatch().await,
        404,
        "not_found",
    )
    .await;
}

#[rocket::async_test]
async fn stage_at_serves_the_api_under_its_prefix() {
    let rocket = rocket::build()
        .manage(engine())
        .attach(referral_rocket::stage_at("/v1/auth"));
    let client = Client::tracked(rocket).await.unwrap();

    let health = client.get("/v1/auth/health").dispatch().await;
    assert_eq!(health.status(), Status::Ok);
    assert_eq!(json_body(health).await, json!({ "status": "ok" }));
    let wrong = client.post("/v1/auth/health").dispatch().await;
    assert_problem(wrong, 405, "method_not_allowed").await;
    let unknown = client.get("/v1/auth/nope").dispatch().await;
    assert_problem(unknown, 404, "not_found").await;
    let registered = client
        .post("/v1/auth/register")
        .header(ContentType::JSON)
        .body(json!({ "email": "v1@example.com", "password": "correct horse battery" }).to_string())
        .dispatch()
        .await;
    assert_eq!(
        registered.headers().get_one("Location"),
        Some("/v1/auth/me")
    );
    let outside = client.get("/api/health").dispatch().await;
    assert_eq!(outside.status(), Status::NotFound);
}

async fn assert_the_stage_failed(rocket: Rocket<Build>, fairing: &str) {
    let Err(error) = Client::tracked(rocket).await else {
        panic!("the rocket ignited");
    };
    // Reading the kind marks the error handled; Rocket panics on dropping an unhandled one.
    match error.kind() {
        ErrorKind::FailedFairings(failed) => assert_eq!(failed[0].name, fairing),
        other => panic!("failed for another reason: {other:?}"),
    }
}

#[rocket::async_test]
async fn the_stage_refuses_to_ignite_without_an_engine() {
    assert_the_stage_failed(rocket::build().attach(referral_rocket::stage()), "referral").await;
}

#[rocket::async_test]
async fn the_stage_refuses_to_ignite_with_a_malformed_base() {
    for base in ["v1", "/v1?x=1", "/<id>"] {
        let rocket = rocket::build()
            .manage(engine())
            .attach(referral_rocket::stage_at(base));
        assert_the_stage_failed(rocket, "referral").await;
    }
}

#[rocket::async_test]
async fn stage_with_refuses_to_ignite_when_an_engine_is_already_managed() {
    let rocket = rocket::build()
        .manage(engine())
        .attach(referral_rocket::stage_with(engine()));
    assert_the_stage_failed(rocket, "referral: engine").await;
}
