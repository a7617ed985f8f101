//! # hubbub-core: the room service
//!
//! The centre of Hubbub. A *room* is a named, durable, ordered log of chat
//! messages with live subscribers. This crate assigns each message its
//! per-room `seq`, makes it durable through group commit into the
//! [`store::HistoryStore`], and only then acknowledges it and fans it out
//! to subscribers through bounded queues. It knows nothing of transports:
//! MQTT, WebSocket, HTTP and the Redis uplink live in `hubbub-bridge` and
//! speak only the [`Rooms`] API (the uplink also the [`uplink`] API: its
//! outbox, filled by the group commit, and relaying other hubs' messages).

pub mod access;
pub mod accounts;
pub mod admin;
pub mod auth;
mod commit;
pub mod config;
mod error;
mod inbox;
pub mod limits;
mod message;
pub mod metrics;
pub mod retention;
mod room;
mod room_name;
mod rooms;
pub mod store;
mod subscription;
mod tap;
pub mod uplink;

pub use access::Identity;
pub use commit::Posted;
pub use error::RoomError;
pub use inbox::{CloseReason, Event, Next, PresenceState};
pub use message::{format_ts, Message, Published, Via};
pub use room_name::{BadRoomName, RoomName, ROOM_NAME_RULE};
pub use rooms::{NewPost, PendingPost, RoomSummary, Rooms, RoomsOptions, MAX_REF_CHARS};
pub use store::HistoryQuery;
pub use subscription::{Gap, Joined, Resume, Role, Subscription};
pub use tap::Tap;
