//! Serving an axum app on `127.0.0.1:0` for the root tests (the axum twin of
//! `support_rocket.rs`).

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running axum server.
pub struct SpawnedAxum {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    stop: oneshot::Sender<()>,
}

impl SpawnedAxum {
    /// Stops accepting connections and lets in-flight requests finish.
    pub fn stop(self) {
        self.stop.send(()).ok();
    }
}

/// Serves `app` on a free loopback port until [`SpawnedAxum::stop`].
pub async fn spawn_axum(app: axum::Router) -> SpawnedAxum {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("a bound address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        // With connect info, as the example serves it: per-address limits see the peer.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            stopped.await.ok();
        })
        .await
        .expect("the server runs");
    });
    SpawnedAxum {
        base_url: format!("http://{address}"),
        stop,
    }
}
