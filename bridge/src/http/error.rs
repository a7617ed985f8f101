//! The JSON error shape of the HTTP API and the status for each code: the
//! one place where core errors become HTTP answers.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hubbub_core::accounts::AccountError;
use hubbub_core::admin::AdminError;
use hubbub_core::limits::Crowded;
use hubbub_core::{BadRoomName, RoomError};
use serde_json::json;

/// An error answered as `{"error":{"code":..,"message":..}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Sent as `Retry-After` (whole seconds, at least 1).
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A 400 for malformed input.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 429 that tells the client how long to wait.
    pub fn too_many(code: &'static str, message: impl Into<String>, wait: Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        let status = match &e {
            RoomError::NoSuchRoom(_) => StatusCode::NOT_FOUND,
            RoomError::ReadOnly(_) => StatusCode::FORBIDDEN,
            RoomError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RoomError::StoreUnavailable(_) | RoomError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RoomError::BadRoom(_)
            | RoomError::EmptyText
            | RoomError::NotUtf8
            | RoomError::BadRef { .. }
            | RoomError::NotJoined(_)
            | RoomError::TooManyRooms { .. } => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<BadRoomName> for ApiError {
    fn from(e: BadRoomName) -> Self {
        RoomError::from(e).into()
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let status = match &e {
            AccountError::BadCredentials => StatusCode::UNAUTHORIZED,
            AccountError::Throttled(wait) => {
                return Self::too_many(e.code(), e.to_string(), *wait);
            }
            AccountError::BadName(_) | AccountError::BadPassword(_) => StatusCode::BAD_REQUEST,
            AccountError::Exists(_) => StatusCode::CONFLICT,
            AccountError::NoSuchUser(_) | AccountError::AccountsOff => StatusCode::NOT_FOUND,
            AccountError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            AccountError::Hashing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Account(e) => e.into(),
            AdminError::BadRoom(e) => e.into(),
            AdminError::BadMember(_) => Self::bad_request(e.code(), e.to_string()),
            AdminError::Store(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
            }
        }
    }
}

impl From<Crowded> for ApiError {
    /// Too many connections in all: 503 (the hub is busy); too many from
    /// this address: 429 (the client's own doing).
    fn from(e: Crowded) -> Self {
        let status = match e {
            Crowded::Total(_) => StatusCode::SERVICE_UNAVAILABLE,
            Crowded::PerAddress(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            );
        }
        let message = match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body as JSON with Content-Type: application/json".to_owned()
            }
            other => other.body_text(),
        };
        Self::bad_request("bad_json", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
