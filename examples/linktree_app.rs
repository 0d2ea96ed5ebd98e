//! A Linktree-like app embedding `referral`: `cargo run --example linktree_app`.
//!
//! The app has its own tables (profiles with a handle, their links) and migrations, shares
//! one database pool with the library, mounts the library's contract under `/auth`, and
//! guards its own routes with `AuthUser`:
//!
//! - `POST /auth/register`, `POST /auth/login`, … — the library's contract;
//! - `PUT /profile` `{ "handle", "display_name" }` (bearer) — your page;
//! - `POST /links` `{ "title", "url" }` (bearer) — add a link to it;
//! - `GET /@{handle}` — the public page.
//!
//! `DATABASE_URL` (default `sqlite://linktree.db`), `BIND` (default `127.0.0.1:5001`),
//! `SECRET_KEY` (default: random per start).

#[path = "linktree/app.rs"]
mod linktree;

use std::net::SocketAddr;

use linktree::{app, Db};
use referral::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    dotenvy::dotenv().ok();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://linktree.db".into());
    let bind: SocketAddr = std::env::var("BIND")
        .unwrap_or_else(|_| "127.0.0.1:5001".into())
        .parse()?;
    let config = match std::env::var("SECRET_KEY") {
        Ok(secret) => Config::builder().secret(secret),
        Err(_) => Config::builder().random_secret(),
    }
    .app_base_url(format!("http://{bind}"))
    .build()?;
    let db = Db::connect(&url).await?;
    let (router, engine) = app(db, config, true).await?;
    let outbox = engine.outbox_dispatcher().spawn();
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!("linktree listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        tokio::signal::ctrl_c().await.ok();
    })
    .await?;
    outbox.shutdown().await?;
    Ok(())
}
