//! The HTTP conformance suite against the axum adapter, over a real socket.

mod conformance;
mod support_axum;

use conformance::{Served, SpawnFuture};
use referral::Engine;
use support_axum::spawn_axum;

/// Serves `referral::axum::router()` on `127.0.0.1:0` until the test ends.
fn spawn(engine: Engine) -> SpawnFuture {
    Box::pin(async move {
        let server = spawn_axum(referral::axum::router().with_state(engine)).await;
        Served::new(server.base_url.clone(), move || server.stop())
    })
}

conformance::conformance_tests!(spawn);
