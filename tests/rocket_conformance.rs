//! The HTTP conformance suite against the Rocket adapter, over a real socket: the very same
//! cases `axum_conformance` runs, unchanged.

mod conformance;
#[allow(dead_code)] // `stop` and the join handle serve other test binaries
mod support_rocket;

use conformance::{Served, SpawnFuture};
use referral::Engine;
use support_rocket::spawn_rocket;

/// Serves the engine with `spawn_rocket` (the stage, the root catchers, no `Server` header)
/// until the test ends.
fn spawn(engine: Engine) -> SpawnFuture {
    Box::pin(async move {
        let rocket = spawn_rocket(engine).await;
        let shutdown = rocket.shutdown.clone();
        let base_url = rocket.base_url.clone();
        // The server task ends with the test's runtime; `notify` stops it earlier.
        Served::new(base_url, move || {
            shutdown.notify();
            drop(rocket);
        })
    })
}

conformance::conformance_tests!(spawn);
