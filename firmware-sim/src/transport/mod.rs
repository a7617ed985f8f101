//! Client transports, behind one transport-neutral interface.
//!
//! A [`Connection`] is opened with a nick, joins rooms, and is then split
//! into a [`Poster`] (the sending half) and [`Events`] (the receiving half)
//! so that one task can post while another reads. Only WebSocket exists
//! today; an MQTT client becomes another variant of each enum here, and
//! the load driver does not change.

pub mod ws;

use anyhow::Result;

/// Which protocol the simulated clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// WebSocket chat at `/ws` (JSON text frames).
    Ws,
}

/// The hub's answer to a join.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room's last seq at the moment of joining; live messages follow it.
    pub last_seq: u64,
}

/// A chat message as the hub delivered it (only the fields the tools use).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The room it was posted to.
    pub room: String,
    /// Its per-room sequence number.
    pub seq: u64,
    /// The sender's idempotency key, if it gave one.
    pub reference: Option<String>,
    /// The message text.
    pub text: String,
}

/// Something the hub told a client, in transport-neutral form.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A post was made durable.
    Ack {
        /// The post's `ref`.
        reference: Option<String>,
        /// The seq it was given.
        seq: u64,
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
}

impl Connection {
    /// Connects to `hub` (`HOST:PORT`) and introduces the client as `nick`.
    pub async fn open(kind: TransportKind, hub: &str, nick: &str) -> Result<Self> {
        match kind {
            TransportKind::Ws => Ok(Self::Ws(ws::WsConnection::open(hub, nick).await?)),
        }
    }

    /// Joins `room` and waits for the hub to confirm it.
    pub async fn join(&mut self, room: &str) -> Result<Joined> {
        match self {
            Self::Ws(c) => c.join(room).await,
        }
    }

    /// Splits the connection into its sending and receiving halves.
    pub fn split(self) -> (Poster, Events) {
        match self {
            Self::Ws(c) => {
                let (p, e) = c.split();
                (Poster::Ws(p), Events::Ws(e))
            }
        }
    }
}

/// The sending half of a connection.
pub enum Poster {
    /// WebSocket.
    Ws(ws::WsPoster),
}

impl Poster {
    /// Queues a post; it is written out at the latest by the next [`Poster::flush`].
    pub async fn post(&mut self, room: &str, reference: &str, text: &str) -> Result<()> {
        match self {
            Self::Ws(p) => p.post(room, reference, text).await,
        }
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        match self {
            Self::Ws(p) => p.flush().await,
        }
    }

    /// Says goodbye to the hub. Errors are ignored: the run is over anyway.
    pub async fn close(&mut self) {
        match self {
            Self::Ws(p) => p.close().await,
        }
    }
}

/// The receiving half of a connection.
pub enum Events {
    /// WebSocket.
    Ws(ws::WsEvents),
}

impl Events {
    /// The next event; `None` once the connection is gone, an error if
    /// reading failed (the connection is then unusable).
    pub async fn next(&mut self) -> Option<Result<HubEvent>> {
        match self {
            Self::Ws(e) => e.next().await,
        }
    }
}
