//! `GET /api/uplink`: the Redis uplink's status, `{"enabled":false}` when
//! it is off (docs/protocol.md).

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;

use super::AppState;

/// `GET /api/uplink`
pub async fn status(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.uplink.to_json())
}
