//! The MQTT edge: a broker of the hub's own on its own listeners (TCP, and
//! WebSocket at `GET /mqtt`), where rooms are topics under `rooms/`.
//!
//! rumqttd's listeners are never exposed to clients and its router is not
//! used: it cannot refuse a publish or subscription, delivers at the
//! subscription's QoS, and never frees per-client state. The wire format is
//! rumqttc's kept codec ([`codec`]); routing, sessions, retained messages
//! and wills are here.

mod acl;
mod broker;
pub(crate) mod codec;
mod connection;
mod feed;
mod link;
pub(crate) mod packet;
mod policy;
mod room_topics;
mod session;
mod sys;
mod topic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use hubbub_core::auth::Auth;
use hubbub_core::limits::ConnectionLimiter;
use hubbub_core::metrics::Transport;
use hubbub_core::Rooms;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use acl::Acl;
pub use acl::AclProblems;
pub use broker::Broker;
use link::Link;
use policy::Policy;

use crate::connected::Connected;
use crate::http::{ApiError, AppState};

/// `[mqtt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Serve MQTT at all (TCP listener and `GET /mqtt`).
    pub enabled: bool,
    /// Address of the TCP listener; port 0 picks a free one.
    pub listen: std::net::SocketAddr,
    /// Serve MQTT over WebSocket at `GET /mqtt` on the HTTP listener.
    pub websocket: bool,
    /// Connections at once; past it CONNACK says "server busy".
    pub max_connections: usize,
    /// Subscriptions one client may hold; past it SUBACK says "quota
    /// exceeded".
    pub max_subscriptions: usize,
    /// Who may publish and subscribe to plain topics (outside `rooms/`)
    /// when accounts are on, one Mosquitto-style rule each:
    /// `topic ACCESS FILTER`, `user NAME topic ACCESS FILTER`,
    /// `pattern ACCESS FILTER` (`%u` user name, `%c` client id). No rule:
    /// refused.
    pub acl: Vec<String>,
    /// Largest packet accepted, in bytes.
    pub max_packet_bytes: usize,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout_secs: u64,
    /// Unacknowledged QoS 1/2 messages sent to one client at once.
    pub max_inflight: u16,
    /// QoS 1/2 publishes from one client the hub takes before acknowledging
    /// (announced to MQTT 5 clients as receive maximum).
    pub receive_maximum: u16,
    /// Messages queued for one session; past it the oldest is dropped.
    pub max_queued_messages: usize,
    /// Retained messages kept, over all topics.
    pub max_retained: usize,
    /// Longest a session outlives its connection, in seconds (3.1.1
    /// persistent sessions get this; MQTT 5 requests are capped to it).
    pub max_session_expiry_secs: u32,
    /// How often `$SYS/hubbub/...` is published, in seconds.
    pub sys_interval_secs: u64,
    /// `[mqtt.tls]`: TLS on the TCP listener (MQTT over TLS, "mqtts").
    /// Absent: plain TCP. MQTT over WebSocket rides the HTTP listener and
    /// has TLS when it has (`[http.tls]`).
    pub tls: Option<crate::tls::TlsConfig>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 1883)),
            websocket: true,
            max_connections: 1024,
            max_subscriptions: 100,
            acl: Vec::new(),
            max_packet_bytes: 256 * 1024,
            connect_timeout_secs: 10,
            max_inflight: 32,
            receive_maximum: 64,
            max_queued_messages: 1000,
            max_retained: 10_000,
            max_session_expiry_secs: 7 * 24 * 3600,
            sys_interval_secs: 10,
            tls: None,
        }
    }
}

impl MqttConfig {
    /// Every value that parses but cannot work, as `key: why`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_connections == 0 {
            out.push("mqtt.max_connections: must be at least 1".into());
        }
        if self.max_subscriptions == 0 {
            out.push("mqtt.max_subscriptions: must be at least 1".into());
        }
        if let Err(AclProblems(problems)) = Acl::parse(&self.acl) {
            out.extend(problems);
        }
        if !(64..=256 * 1024 * 1024).contains(&self.max_packet_bytes) {
            out.push("mqtt.max_packet_bytes: must be 64 to 268435456".into());
        }
        if self.max_inflight == 0 {
            out.push("mqtt.max_inflight: must be at least 1".into());
        }
        if self.receive_maximum == 0 {
            out.push("mqtt.receive_maximum: must be at least 1".into());
        }
        if self.max_queued_messages == 0 {
            out.push("mqtt.max_queued_messages: must be at least 1".into());
        }
        if self.sys_interval_secs == 0 {
            out.push("mqtt.sys_interval_secs: must be at least 1".into());
        }
        if let Some(tls) = &self.tls {
            out.extend(tls.problems("mqtt.tls"));
        }
        out
    }
}

/// Starts the broker's background tasks (the room feed, `$SYS`). Clients
/// log in through `auth`, and every connection counts in `limiter`. Fails
/// only on an ACL rule that [`MqttConfig::problems`] names.
pub fn start(
    config: MqttConfig,
    auth: Arc<Auth>,
    limiter: Arc<ConnectionLimiter>,
    rooms: Rooms,
    tasks: &TaskTracker,
) -> Result<Arc<Broker>, AclProblems> {
    let interval = Duration::from_secs(config.sys_interval_secs.max(1));
    let policy = Policy::new(auth, Acl::parse(&config.acl)?, rooms.clone());
    let broker = Broker::new(config, policy, limiter, rooms);
    tasks.spawn(feed::run(broker.clone()));
    tasks.spawn(sys::run(broker.clone(), interval));
    Ok(broker)
}

/// Accepts MQTT connections on `listener` until the broker shuts down; with
/// `tls`, each connection's task does the TLS handshake first.
pub async fn serve_tcp(
    listener: TcpListener,
    tls: Option<crate::tls::TlsAcceptor>,
    broker: Arc<Broker>,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = broker.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let broker = broker.clone();
                let tls = tls.clone();
                let connected = Connected::new(&broker.rooms, Transport::mqtt);
                tasks.spawn(async move {
                    // Never in this loop: a slow handshake holds only its own task.
                    let link = Link::over_tcp(stream, peer, tls.as_ref(), &broker.shutdown).await;
                    if let Some(link) = link {
                        connection::serve(broker, link, Some(peer)).await;
                    }
                    drop(connected);
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `GET /mqtt`: MQTT over WebSocket (subprotocol `mqtt`). The peer's
/// address counts toward the per-address limits and the login throttle as
/// on the TCP listener.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(broker) = state.mqtt.clone() else {
        return ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "MQTT over WebSocket is off (mqtt.websocket)",
        )
        .into_response();
    };
    let max = broker.config.max_packet_bytes;
    let tasks = state.tasks.clone();
    ws.protocols(["mqtt"])
        .max_message_size(max + 8)
        .read_buffer_size(4096)
        .on_upgrade(move |socket| {
            tasks.track_future(async move {
                let connected = Connected::new(&broker.rooms, Transport::mqtt_ws);
                connection::serve(broker, Link::Ws(Box::new(socket)), Some(peer)).await;
                drop(connected);
            })
        })
}
