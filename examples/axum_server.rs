//! The whole service on axum, with no set-up: `cargo run --example axum_server`.
//!
//! Reads a `.env` file if present, then `BIND`, `DATABASE_URL` (SQLite file `referral.db` by
//! default, created and migrated; `postgres://` selects PostgreSQL), `SECRET_KEY`,
//! `APP_BASE_URL`, `MAIL_*` and `TRUSTED_PROXIES` (see `referral::Settings`). Sends queued mail
//! through the outbox dispatcher. Logs one line when listening and stops cleanly on SIGINT or
//! SIGTERM.

use std::error::Error;
use std::net::SocketAddr;

use referral::Settings;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    dotenvy::dotenv().ok();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let settings = Settings::from_env()?;
    let engine = settings.engine().await?;
    let outbox = engine.outbox_dispatcher().spawn();
    let bind = settings.bind;

    let app = referral::axum::router()
        .fallback(referral::axum::not_found)
        .with_state(engine);
    let listener = TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Connect info gives the engine each request's peer address (per-address limits).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    outbox.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, so in-flight requests finish before exit.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
