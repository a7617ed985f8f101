//! End-to-end test harness for Hubbub.
//!
//! Every test starts the real `hubbub` binary ([`Hub`]) on a loopback port
//! chosen by the kernel, with its own temporary data directory, and talks
//! to it over real sockets: WebSocket ([`WsClient`]), HTTP ([`Http`]) and
//! Server-Sent Events ([`SseClient`]). Nothing is mocked; the contract the
//! tests check is `docs/protocol.md`.

#![warn(missing_docs)]

mod check;
mod http;
mod hub;
pub mod redis;
mod sse;
pub mod tls;
mod util;
mod ws;

use std::time::Duration;

pub use check::{check_config, CheckOutput};
pub use http::{Http, Reply};
pub use hub::{hubbub_bin, Hub, HubOptions, EXIT_TIMEOUT, START_TIMEOUT};
pub use sse::{SseClient, SseEvent};
pub use util::{
    assert_canonical, assert_gap_free, assert_ts, canonical, frame_type, seq_of, seqs, text_of,
};
pub use ws::{ws_connect, Acked, ByteStream, CloseInfo, Frame, WsClient, WsStream};

/// How long any single expected frame, event or reply may take to arrive.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(20);
