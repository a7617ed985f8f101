//! The HTTP listener: REST API, SSE, health, metrics, the web chat app and
//! the WebSocket upgrade, all on one port.

mod assets;
mod error;
mod ops;
mod rooms_api;
mod sse;
mod uplink_api;

use std::future::Future;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use hubbub_core::Rooms;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::ApiError;

/// Largest request body or WebSocket frame accepted: room for a message of
/// `max_message_bytes` even if every byte of it is JSON-escaped, plus the
/// envelope.
pub fn frame_limit(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(8).saturating_add(4096)
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The room service.
    pub rooms: Rooms,
    /// Cancelled when the hub stops.
    pub shutdown: CancellationToken,
    /// Tracks long-lived connection tasks (WebSocket sessions) so shutdown
    /// can wait for them.
    pub tasks: TaskTracker,
    /// The MQTT broker, when MQTT over WebSocket is on.
    pub mqtt: Option<std::sync::Arc<crate::mqtt::Broker>>,
    /// The Redis uplink's status (off by default).
    pub uplink: crate::uplink::UplinkStatus,
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(assets::routes())
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/ws", get(crate::ws::upgrade))
        .route("/mqtt", get(crate::mqtt::upgrade))
        .route("/api/rooms", get(rooms_api::list))
        .route(
            "/api/rooms/{room}/messages",
            get(rooms_api::messages).post(rooms_api::post),
        )
        .route("/api/rooms/{room}/events", get(sse::events))
        .route("/api/uplink", get(uplink_api::status))
        .fallback(ops::not_found)
        // Bodies are read with our own limit so that an oversized one gets
        // the JSON error shape.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves HTTP on `listener` until `state.shutdown` is cancelled, then stops
/// accepting and lets in-flight requests finish.
pub fn serve(listener: TcpListener, state: AppState) -> impl Future<Output = std::io::Result<()>> {
    use axum::serve::ListenerExt;
    let shutdown = state.shutdown.clone();
    // Chat frames are small; send them now, not after Nagle's delay.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let app = router(state);
    async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}

/// How often an idle SSE stream gets a comment line.
pub(crate) const SSE_KEEPALIVE: Duration = Duration::from_secs(15);
