//! The Linktree-like host app (`examples/linktree`) on a SQLite file and on a PostgreSQL
//! scratch database: its own migrations and tables beside the library's on one pool, in both
//! orders and across restarts; the contract under `/auth`; its own routes behind `AuthUser`.

#[allow(dead_code)]
#[path = "../examples/linktree/app.rs"]
mod linktree;

mod support_axum;

use linktree::{app, default_handle, Db, AUTH_PREFIX};
use referral::{Argon2Params, Config};
use serde_json::{json, Value};
use support_axum::spawn_axum;

const SECRET: &str = "linktree-tests-secret-of-more-than-32-bytes";
const PASSWORD: &str = "correct horse battery staple";

fn config() -> Config {
    Config::builder()
        .secret(SECRET)
        .argon2(Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .expect("a valid configuration")
}

/// The app served on a fresh pool to `url`, migrated in the order given.
async fn start(
    url: &str,
    app_migrations_first: bool,
) -> (support_axum::SpawnedAxum, reqwest::Client) {
    let db = Db::connect(url).await.expect("connecting to the database");
    let (router, _engine) = app(db, config(), app_migrations_first)
        .await
        .expect("the app starts");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    (spawn_axum(router).await, client)
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    response.json().await.unwrap_or(Value::Null)
}

/// A person signs up under `/auth`, claims a handle, adds a link; anyone reads the page.
async fn a_person_builds_a_page(base: &str, client: &reqwest::Client, email: &str, handle: &str) {
    let registered = json_of(
        client
            .post(format!("{base}{AUTH_PREFIX}/register"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = registered["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = client
        .put(format!("{base}/profile"))
        .json(&json!({ "handle": handle, "display_name": "Someone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "the app's routes need a signed-in user"
    );
    let saved = client
        .put(format!("{base}/profile"))
        .bearer_auth(&token)
        .json(&json!({ "handle": handle, "display_name": "Someone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 204);
    let added = client
        .post(format!("{base}/links"))
        .bearer_auth(&token)
        .json(&json!({ "title": "Blog", "url": "https://blog.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let page = json_of(
        client
            .get(format!("{base}/@{handle}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page["links"][0]["url"], "https://blog.example");
}

/// Two starts on one database (app migrations first, then the library's first), then a
/// third: everything from before is still there, and both sides keep working.
async fn both_orders_and_restarts(url: &str) {
    let (server, client) = start(url, true).await;
    a_person_builds_a_page(&server.base_url, &client, "ada@example.com", "ada").await;
    server.stop();

    let (server, client) = start(url, false).await;
    let base = server.base_url.clone();
    let page = json_of(
        client.get(format!("{base}/@ada")).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(page["handle"], "ada");
    let login = client
        .post(format!("{base}{AUTH_PREFIX}/login"))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    a_person_builds_a_page(&base, &client, "grace@example.com", "grace").await;
    server.stop();

    let (server, client) = start(url, true).await;
    let me = client
        .get(format!("{}{AUTH_PREFIX}/openapi.json", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_the_app_and_the_library_share_a_file_in_both_orders_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("linktree.db").display());
    both_orders_and_restarts(&url).await;
    // The app's bookkeeping holds the app's migration only; its `users` table is its own.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(versions, vec![20250101000000]);
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('users')")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(columns, vec!["id", "note"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_app_and_the_library_share_a_database_in_both_orders_across_restarts() {
    let Some(scratch) = referral::testing::ScratchPostgres::create().await else {
        return;
    };
    both_orders_and_restarts(scratch.url()).await;
    let pool = sqlx::PgPool::connect(scratch.url()).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(versions, vec![20250101000000]);
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = 'users' ORDER BY ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(columns, vec!["id", "note"]);
    pool.close().await;
}

/// A sign-up gets its profile row from the app's `user.registered` handler once the outbox
/// delivers the event (at least once: a redelivery changes nothing), so the new user can add
/// links before choosing a handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_gets_its_profile_row_from_the_user_registered_event() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("linktree.db").display());
    let db = Db::connect(&url).await.unwrap();
    let (router, engine) = app(db, config(), true).await.unwrap();
    let server = spawn_axum(router).await;
    let base = server.base_url.clone();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let registered = json_of(
        client
            .post(format!("{base}{AUTH_PREFIX}/register"))
            .json(&json!({ "email": "lin@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let user_id: uuid::Uuid = registered["user"]["id"].as_str().unwrap().parse().unwrap();
    let handle = default_handle(&user_id);
    let page = |handle: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .get(format!("{base}/@{handle}"))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        page(handle.clone()).await.status(),
        404,
        "not before delivery"
    );
    let dispatcher = engine.outbox_dispatcher();
    while !dispatcher.dispatch_due().await.unwrap().is_idle() {}
    let shown = json_of(page(handle.clone()).await, 200).await;
    assert_eq!(shown["handle"], handle.as_str());

    // The event delivered again (a dispatcher that died before recording it): no change.
    let event = referral::Event {
        id: uuid::Uuid::now_v7(),
        kind: "user.registered".into(),
        occurred_at: time::OffsetDateTime::now_utc(),
        data: json!({ "user_id": user_id, "referrer_id": null }),
    };
    let db = Db::connect(&url).await.unwrap();
    let handler = linktree::CreateProfile { db };
    referral::EventHandler::handle(&handler, &event)
        .await
        .unwrap();
    assert_eq!(json_of(page(handle.clone()).await, 200).await, shown);

    let token = registered["tokens"]["access_token"].as_str().unwrap();
    let added = client
        .post(format!("{base}/links"))
        .bearer_auth(token)
        .json(&json!({ "title": "Shop", "url": "https://shop.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        added.status(),
        201,
        "the profile exists without PUT /profile"
    );
    server.stop();
}
