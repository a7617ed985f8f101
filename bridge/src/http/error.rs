//! The JSON error shape of the HTTP API and the status for each code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hubbub_core::{BadRoomName, RoomError};
use serde_json::json;

/// An error answered as `{"error":{"code":..,"message":..}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A 400 for malformed input.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        let status = match &e {
            RoomError::NoSuchRoom(_) => StatusCode::NOT_FOUND,
            RoomError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RoomError::StoreUnavailable(_) | RoomError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RoomError::BadRoom(_)
            | RoomError::EmptyText
            | RoomError::NotUtf8
            | RoomError::BadRef { .. }
            | RoomError::NotJoined(_) => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<BadRoomName> for ApiError {
    fn from(e: BadRoomName) -> Self {
        RoomError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}
