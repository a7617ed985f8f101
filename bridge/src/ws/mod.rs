//! The WebSocket chat protocol at `GET /ws` (see `docs/protocol.md`):
//! JSON text frames, one [`hubbub_core::Subscription`] per connection.

mod frames;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;

use crate::http::{frame_limit, AppState};

/// Bytes tungstenite reserves to read a connection's frames. Small, because
/// most connections sit idle and chat frames are short; it grows as needed.
const READ_BUFFER: usize = 1024;

/// Frames are gathered up to this many bytes before a write; a flush
/// writes whatever is gathered. Allocated only once something is sent.
const WRITE_BUFFER: usize = 4 * 1024;

/// `GET /ws`: upgrades and runs a chat session until either side ends it.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let limit = frame_limit(state.rooms.limits().max_message_bytes);
    let tasks = state.tasks.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        // Frames a little over the limit get a clean 1009 from the session;
        // far larger ones are cut off by tungstenite before they are read.
        .max_message_size(limit.saturating_mul(2))
        .max_frame_size(limit.saturating_mul(2))
        .on_upgrade(move |socket| tasks.track_future(session::run(socket, state.rooms, limit)))
}
