//! Client transports, behind one transport-neutral interface.
//!
//! A [`Connection`] is opened with a name, joins rooms, and is then split
//! into a [`Poster`] (the sending half) and [`Events`] (the receiving half)
//! so that one task can post while another reads. WebSocket chat and MQTT
//! are the two [`Wire`]s; the load driver does not know which it talks.

pub mod mqtt;
pub mod ws;

use anyhow::{anyhow, Result};

use mqtt::driver::Flap;
use mqtt::{MqttConnection, MqttEvents, MqttPoster, MqttTarget};

/// Which protocol the simulated clients speak (the `--transport` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// WebSocket chat at `/ws` (JSON text frames).
    Ws,
    /// MQTT 3.1.1 over TCP.
    Mqtt,
    /// Both in every room: odd member positions MQTT, even ones WebSocket.
    Mix,
}

impl TransportKind {
    /// The wire of the member at `position` in its room.
    pub fn wire_for(self, position: usize) -> Wire {
        match self {
            Self::Ws => Wire::Ws,
            Self::Mqtt => Wire::Mqtt,
            Self::Mix if position % 2 == 1 => Wire::Mqtt,
            Self::Mix => Wire::Ws,
        }
    }
}

/// One connection's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// WebSocket chat.
    Ws,
    /// MQTT.
    Mqtt,
}

/// Where the hub (or broker) listens, per protocol.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The HTTP/WebSocket address, `HOST:PORT`.
    pub ws: Option<String>,
    /// The MQTT listener and how to use it.
    pub mqtt: Option<MqttTarget>,
}

/// The hub's answer to a join.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room's last seq at the moment of joining, if the protocol says
    /// (WebSocket does, MQTT does not); live messages follow it.
    pub last_seq: Option<u64>,
}

/// A chat message as the hub delivered it (only the fields the tools use).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The room it was posted to.
    pub room: String,
    /// Its per-room sequence number (none on plain MQTT topics).
    pub seq: Option<u64>,
    /// The sender's idempotency key, if it gave one.
    pub reference: Option<String>,
    /// The message text.
    pub text: String,
}

/// Something the hub told a client, in transport-neutral form.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A post was acknowledged (on the hub: made durable).
    Ack {
        /// The post's `ref`.
        reference: Option<String>,
        /// The seq it was given, if the protocol says (MQTT does not).
        seq: Option<u64>,
        /// Whether the hub saw this `ref` before and stored nothing new.
        duplicate: bool,
    },
    /// A message in a joined room.
    Message(Delivery),
    /// The hub refused something.
    Error {
        /// The error code (`too_large`, `not_joined`, …).
        code: String,
        /// The `ref` of the refused frame, if it had one.
        reference: Option<String>,
        /// The human-readable explanation.
        message: String,
    },
    /// Anything else (presence, typing, pong, gap, …), ignored by the tools.
    Other,
    /// A frame that breaks the protocol (not JSON, a message without seq, …).
    Malformed(String),
    /// The connection was lost and has been made again (a deliberate flap).
    Reconnected,
    /// The hub closed the connection.
    Closed {
        /// The close code, if the hub sent one.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
}

/// An open, greeted connection to the hub, before it is split.
pub enum Connection {
    /// A WebSocket connection.
    Ws(ws::WsConnection),
    /// An MQTT connection.
    Mqtt(MqttConnection),
}

impl Connection {
    /// Connects over `wire` as `name` (WebSocket nick, MQTT client id);
    /// `flap` (MQTT only) makes the connection drop once mid-run.
    pub async fn open(
        wire: Wire,
        endpoints: &Endpoints,
        name: &str,
        flap: Option<Flap>,
    ) -> Result<Self> {
        match wire {
            Wire::Ws => {
                let hub = endpoints
                    .ws
                    .as_deref()
                    .ok_or_else(|| anyhow!("WebSocket clients need --hub HOST:PORT"))?;
                Ok(Self::Ws(ws::WsConnection::open(hub, name).await?))
            }
            Wire::Mqtt => {
                let target = endpoints
                    .mqtt
                    .as_ref()
                    .ok_or_else(|| anyhow!("MQTT clients need --mqtt HOST:PORT"))?;
                Ok(Self::Mqtt(MqttConnection::open(target, name, flap).await?))
            }
        }
    }

    /// Joins `room` (MQTT: subscribes to its topic) and waits for the hub to confirm it.
    pub async fn join(&mut self, room: &str) -> Result<Joined> {
        match self {
            Self::Ws(c) => c.join(room).await,
            Self::Mqtt(c) => c.join(room).await,
        }
    }

    /// Splits the connection into its sending and receiving halves.
    pub fn split(self) -> (Poster, Events) {
        match self {
            Self::Ws(c) => {
                let (p, e) = c.split();
                (Poster::Ws(p), Events::Ws(e))
            }
            Self::Mqtt(c) => {
                let (p, e) = c.split();
                (Poster::Mqtt(p), Events::Mqtt(e))
            }
        }
    }
}

/// The sending half of a connection.
pub enum Poster {
    /// WebSocket.
    Ws(ws::WsPoster),
    /// MQTT.
    Mqtt(MqttPoster),
}

impl Poster {
    /// Queues a post; it is written out at the latest by the next [`Poster::flush`].
    pub async fn post(&mut self, room: &str, reference: &str, text: &str) -> Result<()> {
        match self {
            Self::Ws(p) => p.post(room, reference, text).await,
            Self::Mqtt(p) => p.post(room, reference, text).await,
        }
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        match self {
            Self::Ws(p) => p.flush().await,
            Self::Mqtt(_) => Ok(()), // rumqttc writes each request at once
        }
    }

    /// Whether posts get an [`HubEvent::Ack`] (not so for MQTT QoS 0).
    pub fn acknowledges(&self) -> bool {
        match self {
            Self::Ws(_) => true,
            Self::Mqtt(p) => p.acknowledges(),
        }
    }

    /// Whether a post should stay in the sender's window until its own copy
    /// comes back, not just its ack: MQTT brokers may ack before they
    /// deliver, and QoS 0 has no ack at all.
    pub fn paced_by_echo(&self) -> bool {
        matches!(self, Self::Mqtt(_))
    }

    /// Says goodbye to the hub. Errors are ignored: the run is over anyway.
    pub async fn close(&mut self) {
        match self {
            Self::Ws(p) => p.close().await,
            Self::Mqtt(p) => p.close().await,
        }
    }
}

/// The receiving half of a connection.
pub enum Events {
    /// WebSocket.
    Ws(ws::WsEvents),
    /// MQTT.
    Mqtt(MqttEvents),
}

impl Events {
    /// The next event; `None` once the connection is gone, an error if
    /// reading failed (the connection is then unusable).
    pub async fn next(&mut self) -> Option<Result<HubEvent>> {
        match self {
            Self::Ws(e) => e.next().await,
            Self::Mqtt(e) => e.next().await,
        }
    }
}
