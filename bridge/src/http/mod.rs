//! The HTTP listener: REST API, SSE, health, metrics, the web chat app and
//! the WebSocket upgrade, all on one port.

mod admin_api;
mod assets;
pub mod caller;
mod error;
mod ops;
mod rate;
mod rooms_api;
mod session_api;
mod sse;
mod tls_listener;
mod uplink_api;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use hubbub_core::Rooms;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::ApiError;
pub use rate::AddressRates;

/// Largest body of a login or admin request.
const SMALL_BODY: usize = 64 * 1024;

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
    /// How clients prove who they are.
    pub auth: std::sync::Arc<hubbub_core::auth::Auth>,
    /// Administrative requests (`/api/admin/...`).
    pub admin: std::sync::Arc<hubbub_core::admin::Admin>,
    /// Client connections over every transport.
    pub limiter: std::sync::Arc<hubbub_core::limits::ConnectionLimiter>,
    /// Posts per second over HTTP, per client address.
    pub post_rates: std::sync::Arc<AddressRates>,
    /// The listener serves HTTPS, so the session cookie is `Secure`.
    pub https: bool,
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
        .route("/api/me", get(session_api::me))
        .merge(
            Router::new()
                .route("/api/login", post(session_api::login))
                .route("/api/logout", post(session_api::logout))
                .route(
                    "/api/admin/users",
                    get(admin_api::users).post(admin_api::add_user),
                )
                .route("/api/admin/users/{name}", delete(admin_api::delete_user))
                .route(
                    "/api/admin/users/{name}/password",
                    put(admin_api::set_password),
                )
                .route("/api/admin/users/{name}/role", put(admin_api::set_role))
                .route(
                    "/api/admin/users/{name}/sessions",
                    delete(admin_api::revoke),
                )
                .route("/api/admin/rooms", get(admin_api::rooms))
                .route(
                    "/api/admin/rooms/{room}",
                    get(admin_api::room)
                        .put(admin_api::set_room)
                        .delete(admin_api::clear_room),
                )
                .layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .fallback(ops::not_found)
        // Bodies are read with our own limit so that an oversized one gets
        // the JSON error shape.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The ALPN protocols the HTTPS listener offers: HTTP/1.1 only, the one
/// version the server speaks.
pub const ALPN: &[&[u8]] = &[b"http/1.1"];

/// Serves HTTP on `listener`, or HTTPS when `tls` is given, until
/// `state.shutdown` is cancelled, then stops accepting and lets in-flight
/// requests finish. Handlers can extract the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub fn serve(
    listener: TcpListener,
    tls: Option<crate::tls::TlsAcceptor>,
    state: AppState,
) -> impl Future<Output = std::io::Result<()>> {
    use axum::serve::ListenerExt;
    let shutdown = state.shutdown.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    async move {
        let stop = shutdown.cancelled_owned();
        match tls {
            None => {
                let listener = listener.tap_io(|tcp| set_nodelay(tcp));
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
            Some(acceptor) => {
                // TCP_NODELAY is set before the handshake; this tap only
                // gives the TLS listener the `ConnectInfo` that axum
                // provides for tapped listeners.
                let listener = tls_listener::TlsListener::new(listener, acceptor)?.tap_io(|_| {});
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
        }
    }
}

/// Chat frames are small; send them now, not after Nagle's delay.
fn set_nodelay(tcp: &TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

/// How often an idle SSE stream gets a comment line.
pub(crate) const SSE_KEEPALIVE: Duration = Duration::from_secs(15);
