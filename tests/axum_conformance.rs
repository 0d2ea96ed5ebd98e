//! The HTTP conformance suite against the axum adapter, over a real socket.

mod conformance;

use conformance::{Served, SpawnFuture};
use referral::Engine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves `referral::axum::router()` on `127.0.0.1:0` until the test ends.
fn spawn(engine: Engine) -> SpawnFuture {
    Box::pin(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        let app = referral::axum::router().with_state(engine);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await
                .expect("the server runs");
        });
        Served::new(format!("http://{address}"), move || {
            stop.send(()).ok();
        })
    })
}

conformance::conformance_tests!(spawn);
