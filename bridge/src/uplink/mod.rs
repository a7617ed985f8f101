//! The Redis uplink: links this hub's rooms with other hubs (and a cloud
//! instance, the same binary) through Redis Streams, with store-and-forward.
//!
//! - Outbound ([`outbound`]): the group commit puts every message first
//!   posted here in a shared room into a durable outbox, in the same sync
//!   that stores it; this side sends the outbox to one stream per room,
//!   oldest first, and marks what Redis has taken as sent.
//! - Inbound ([`inbound`]): reads the shared rooms' streams from saved
//!   positions, skips this hub's own messages, and relays the others into
//!   the local rooms through [`Rooms::relay`], which stores each one once.
//! - [`UplinkStatus`]: connected or not, outbox depth, last error, lag per
//!   room, for `GET /api/uplink`; the metrics are in the hub's registry.
//!
//! It speaks only the room API and the outbox API of `hubbub-core`. The
//! design, the keys and Redis Cluster / Valkey notes: docs/uplink.md.

mod config;
mod inbound;
mod keys;
mod outbound;
mod status;
mod wire;

use std::time::Duration;

use hubbub_core::store::StoreError;
use hubbub_core::Rooms;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::UplinkConfig;
pub use status::UplinkStatus;

use inbound::Inbound;
use outbound::Outbound;

/// How long stopping waits for the uplink's tasks.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A failure of the uplink.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// Redis refused or the connection failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The outbox or the stream positions could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking store task failed.
    #[error("a store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running uplink.
pub struct Uplink {
    status: UplinkStatus,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Uplink {
    /// Starts both sides for `hub_id`. Redis need not be reachable: the
    /// hub works locally meanwhile and the outbox keeps what is posted.
    pub fn start(
        config: &UplinkConfig,
        hub_id: String,
        rooms: &Rooms,
        shutdown: CancellationToken,
    ) -> Result<Self, UplinkError> {
        let state = rooms.uplink_state();
        let status = UplinkStatus::new(hub_id.clone(), state.clone(), rooms.metrics().clone());
        // Two connections: the inbound side blocks in XREAD.
        let outbound = Outbound {
            conn: connection(config, Duration::from_secs(10))?,
            state: state.clone(),
            status: status.clone(),
            stream_maxlen: config.stream_maxlen,
            shutdown: shutdown.clone(),
        };
        let inbound = Inbound {
            conn: connection(config, Duration::from_secs(5))?,
            rooms: rooms.clone(),
            state,
            status: status.clone(),
            hub_id: hub_id.clone(),
            selection: config.selection(),
            shutdown: shutdown.clone(),
        };
        let tasks = vec![tokio::spawn(outbound.run()), tokio::spawn(inbound.run())];
        tracing::info!(hub = %hub_id, rooms = ?config.rooms, "uplink started");
        Ok(Self {
            status,
            shutdown,
            tasks,
        })
    }

    /// A handle on its status.
    pub fn status(&self) -> UplinkStatus {
        self.status.clone()
    }

    /// Stops both sides (what is unsent stays in the outbox).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                tracing::warn!("an uplink task did not stop in time");
            }
        }
    }
}

/// A reconnecting connection that connects on first use.
fn connection(
    config: &UplinkConfig,
    response_timeout: Duration,
) -> Result<ConnectionManager, UplinkError> {
    let client = redis::Client::open(config.redis_url.as_str())?;
    let options = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1));
    Ok(ConnectionManager::new_lazy_with_config(client, options)?)
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, UplinkError> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

/// Pauses between failed exchanges: 100 ms doubling up to 2 s.
#[derive(Debug)]
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Backoff::FIRST)
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(2);

    /// The next pause.
    fn next(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (self.0 * 2).min(Self::MOST);
        pause
    }

    /// After a success.
    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}
