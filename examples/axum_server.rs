//! The whole service on axum, with no set-up: `cargo run --example axum_server`.
//!
//! Reads a `.env` file if present, then `BIND`, `APP_BASE_URL` and `SECRET_KEY` (see the
//! README). Logs one line when listening and stops cleanly on SIGINT or SIGTERM.

use std::error::Error;
use std::sync::Arc;

use referral::{Config, Engine, LogMailer, MemoryStorage};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // ---- Set-up: settings from the environment. --------------------------------------
    // Temporary: this block becomes core's settings helper (DATABASE_URL selecting SQLite or
    // PostgreSQL, MAIL_* selecting SMTP) when that lands; the rest of the file stays.
    dotenvy::dotenv().ok();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let bind = env_or("BIND", "127.0.0.1:5000");
    let config = Config::builder().app_base_url(env_or("APP_BASE_URL", &format!("http://{bind}")));
    let config = match std::env::var("SECRET_KEY") {
        Ok(secret) if !secret.is_empty() => config.secret(secret),
        _ => {
            tracing::warn!(
                "SECRET_KEY is not set: using a random key, so every token dies with this \
                 process; set SECRET_KEY (at least 32 bytes) to keep sessions across restarts"
            );
            config.random_secret()
        }
    };
    let engine = Engine::builder(config.build()?)
        .storage(Arc::new(MemoryStorage::new()))
        .mailer(Arc::new(LogMailer))
        .build()?;
    // ---- End of set-up. ----------------------------------------------------------------

    let app = referral::axum::router()
        .fallback(referral::axum::not_found)
        .with_state(engine);
    let listener = TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
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
