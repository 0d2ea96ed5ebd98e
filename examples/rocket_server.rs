//! The whole referral service on Rocket, with no set-up: `cargo run --example rocket_server`.
//!
//! It serves the HTTP contract at `http://127.0.0.1:5000/api/...`, logs one line when it
//! listens, and stops cleanly on SIGINT (Ctrl-C) or SIGTERM. No `Rocket.toml` is read: the
//! configuration is `referral::Settings` from the environment (`.env` first): `BIND`,
//! `DATABASE_URL` (SQLite `referral.db` by default; `postgres://` selects PostgreSQL),
//! `SECRET_KEY`, `APP_BASE_URL`, `MAIL_*`, `TRUSTED_PROXIES`. Queued mail goes out through the
//! outbox dispatcher.

#[cfg(unix)]
use std::collections::HashSet;
use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use referral::Settings;
use rocket::config::{Ident, LogLevel, Shutdown};
use rocket::fairing::AdHoc;
use tracing_subscriber::EnvFilter;

/// Rocket's own log lines (its launch banner, one line per request, a line per `404`) say
/// nothing the engine's `referral::http` request log does not, so they are off unless
/// `RUST_LOG` asks for them (`RUST_LOG=info,rocket=info`).
const DEFAULT_LOG: &str = "info,rocket=off";

/// The target of this server's own lines. Filters match targets by prefix, so the default
/// `rocket` target of this example (`rocket_server`) would be silenced with Rocket's.
const LOG_TARGET: &str = "referral::server";

#[rocket::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG)),
        )
        .init();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(target: LOG_TARGET, "{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn Error>> {
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            return Err(format!("reading .env failed: {error}").into());
        }
    }
    let settings = Settings::from_env()?;
    let engine = settings.engine().await?;
    let outbox = engine.outbox_dispatcher().spawn();
    let bind = settings.bind;

    let config = rocket::Config {
        address: bind.ip(),
        port: bind.port(),
        // No `Server` header, as with axum: a client must not tell the frameworks apart.
        ident: Ident::none(),
        // Honoured only when Rocket's logger is the global one; here tracing's is, and
        // `DEFAULT_LOG` silences Rocket instead.
        log_level: LogLevel::Off,
        cli_colors: false,
        shutdown: Shutdown {
            ctrlc: true,
            #[cfg(unix)]
            signals: HashSet::from([rocket::config::Sig::Term]),
            ..Shutdown::default()
        },
        ..rocket::Config::default()
    };
    rocket::custom(config)
        // Shield without the policies for headers the engine sends itself: a quiet log and
        // answers that match the axum server's header for header.
        .attach(referral::rocket::shield())
        .attach(referral::rocket::stage_with(engine))
        // Unknown paths outside `/api` answer the contract's `404` problem too, as axum's do.
        .register("/", referral::rocket::catchers())
        .attach(AdHoc::on_liftoff("listening", |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                tracing::info!(target: LOG_TARGET, "listening on http://{}", SocketAddr::new(config.address, config.port));
            })
        }))
        .attach(AdHoc::on_shutdown("shutdown", |_| {
            Box::pin(async { tracing::info!(target: LOG_TARGET, "shutting down") })
        }))
        .launch()
        .await?;
    outbox.shutdown().await?;
    Ok(())
}
