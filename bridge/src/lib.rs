//! # hubbub-bridge: the ways in and out of Hubbub's rooms
//!
//! Each transport here is a bridge that speaks only the room API of
//! `hubbub-core` ([`hubbub_core::Rooms`]): it turns its clients' frames into
//! posts, joins and history queries, and turns room events back into frames.
//! The room service never learns which transport a client uses beyond the
//! message's `via`.
//!
//! - [`http`]: the HTTP listener: REST API, Server-Sent Events, health,
//!   metrics, the chat page, and the WebSocket upgrade for [`ws`].
//! - [`ws`]: the WebSocket chat protocol (`GET /ws`).
//! - [`mqtt`]: the MQTT broker, where rooms are topics under `rooms/`.
//! - [`uplink`]: the Redis uplink between hubs, with store-and-forward.
//! - [`tls`]: TLS for the HTTP and MQTT listeners (`[http.tls]`, `[mqtt.tls]`).
//!
//! Built with `--cfg fuzzing` (as `cargo fuzz` does), the crate also has a
//! `fuzzing` module: the entry points of the fuzz targets in `bridge/fuzz`.

mod connected;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod http;
pub mod mqtt;
mod params;
pub mod tls;
pub mod uplink;
pub mod ws;
