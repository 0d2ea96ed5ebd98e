//! The HTTP conformance suite against the axum adapter, over a real socket.

mod conformance;
mod support_axum;

use conformance::{Served, SpawnFuture};
use referral::Engine;
use support_axum::spawn_axum;

/// Serves the contract under `prefix` with `referral::axum::Api`, plus the `404` fallback,
/// until the test ends.
fn spawn(engine: Engine, prefix: &'static str) -> SpawnFuture {
    Box::pin(async move {
        let app = referral::axum::Api::new()
            .prefix(prefix)
            .expect("a valid prefix")
            .router()
            .fallback(referral::axum::not_found)
            .with_state(engine);
        let server = spawn_axum(app).await;
        Served::new(server.base_url.clone(), move || server.stop())
    })
}

conformance::conformance_tests!(spawn);
