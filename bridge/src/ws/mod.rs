//! The WebSocket chat protocol at `GET /ws` (see `docs/protocol.md`):
//! JSON text frames, one [`hubbub_core::Subscription`] per connection.

pub(crate) mod frames;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::http::caller::Caller;
use crate::http::{frame_limit, ApiError, AppState};

/// Bytes tungstenite reserves to read a connection's frames. Small, because
/// most connections sit idle and chat frames are short; it grows as needed.
const READ_BUFFER: usize = 1024;

/// Frames are gathered up to this many bytes before a write; a flush
/// writes whatever is gathered. Allocated only once something is sent.
const WRITE_BUFFER: usize = 4 * 1024;

/// `GET /ws`: authenticates the caller (before upgrading: a bad token,
/// a missing login where only users may take part, a cookie sent from
/// another site's page and a crowded hub are refused with an HTTP error),
/// then upgrades and runs a chat session until either side ends it.
pub async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    caller.check_origin(&headers)?;
    let permit = state.limiter.admit(caller.peer())?;
    let limit = frame_limit(state.rooms.limits().max_message_bytes);
    let tasks = state.tasks.clone();
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        // Frames a little over the limit get a clean 1009 from the session;
        // far larger ones are cut off by tungstenite before they are read.
        .max_message_size(limit.saturating_mul(2))
        .max_frame_size(limit.saturating_mul(2))
        .on_upgrade(move |socket| {
            let session = session::run(socket, state.rooms, caller, limit);
            tasks.track_future(async move {
                session.await;
                drop(permit);
            })
        }))
}
