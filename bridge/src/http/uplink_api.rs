//! `GET /api/uplink`: the Redis uplink's status, `{"enabled":false}` when
//! it is off (docs/protocol.md). Lists only the rooms the caller may see.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;

use super::caller::Caller;
use super::AppState;

/// `GET /api/uplink`
pub async fn status(State(state): State<AppState>, caller: Caller) -> impl IntoResponse {
    let who = caller.reader();
    Json(
        state
            .uplink
            .to_json(|room| state.rooms.can_read(&who, room)),
    )
}
