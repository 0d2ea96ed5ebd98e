//! The HTTP conformance suite against the Rocket adapter, over a real socket: the very same
//! cases `axum_conformance` runs, unchanged.

mod conformance;
#[allow(dead_code)] // `stop` and the join handle serve other test binaries
mod support_rocket;

use conformance::{Served, SpawnFuture};
use referral::Engine;
use support_rocket::spawn_rocket_at;

/// Serves the engine with `spawn_rocket_at` (the stage under `prefix`, the root catchers, as
/// the example server is set up) until the test ends.
fn spawn(engine: Engine, prefix: &'static str) -> SpawnFuture {
    Box::pin(async move {
        let rocket = spawn_rocket_at(engine, prefix).await;
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
