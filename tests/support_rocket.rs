//! Serving an engine with the Rocket adapter over a real socket, for the HTTP suites.

#[cfg(unix)]
use std::collections::HashSet;
use std::net::Ipv4Addr;

use referral::Engine;
use rocket::config::{Ident, LogLevel, Shutdown};
use rocket::fairing::AdHoc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A Rocket server [`spawn_rocket`] started.
pub struct SpawnedRocket {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    /// Stops the server when notified (`shutdown.notify()`; synchronous, so it fits a
    /// `Drop`).
    pub shutdown: rocket::Shutdown,
    server: JoinHandle<()>,
}

impl SpawnedRocket {
    /// Stops the server and waits until it has.
    pub async fn stop(self) {
        self.shutdown.notify();
        let _ = self.server.await;
    }
}

/// Serves `engine` on `127.0.0.1` at a free port, set up as `examples/rocket_server.rs`
/// sets it up (the stage, the problem catchers at the root, no `Server` header,
/// `referral::rocket::shield()`). The server runs on the current tokio runtime until
/// stopped or until the runtime ends.
pub async fn spawn_rocket(engine: Engine) -> SpawnedRocket {
    spawn_rocket_at(engine, "/api").await
}

/// [`spawn_rocket`] with the API under `prefix`.
pub async fn spawn_rocket_at(engine: Engine, prefix: &'static str) -> SpawnedRocket {
    let config = rocket::Config {
        address: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        ident: Ident::none(),
        log_level: LogLevel::Off,
        cli_colors: false,
        // Many servers share the test process: none of them takes over its signals.
        shutdown: Shutdown {
            ctrlc: false,
            #[cfg(unix)]
            signals: HashSet::new(),
            ..Shutdown::default()
        },
        ..rocket::Config::debug_default()
    };
    let (port_tx, port_rx) = oneshot::channel();
    let rocket = rocket::custom(config)
        .attach(referral::rocket::shield())
        .attach(referral::rocket::stage_with_at(engine, prefix))
        .register("/", referral::rocket::catchers())
        // By liftoff Rocket has bound the socket, and its config holds the real port.
        .attach(AdHoc::on_liftoff("port", move |rocket| {
            Box::pin(async move {
                let _ = port_tx.send(rocket.config().port);
            })
        }))
        .ignite()
        .await
        .expect("the Rocket test server ignites");
    let shutdown = rocket.shutdown();
    let server = tokio::spawn(async move {
        if let Err(error) = rocket.launch().await {
            panic!("the Rocket test server failed: {error}");
        }
    });
    let port = port_rx
        .await
        .expect("the Rocket test server did not lift off");
    SpawnedRocket {
        base_url: format!("http://127.0.0.1:{port}"),
        shutdown,
        server,
    }
}
