//! `/api/rooms`: list rooms, read history, post.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hubbub_core::{Identity, Message, NewPost, RoomError, RoomName, RoomSummary, Via};
use serde::{Deserialize, Serialize};

use super::caller::{Caller, ANONYMOUS};
use super::{frame_limit, ApiError, AppState};
use crate::params::{check_name, history_query};

/// An oversized body is still read (and dropped) up to this size, so that
/// the client, still sending, gets the 413 rather than a reset connection.
const DRAIN_CAP: usize = 4 * 1024 * 1024;

/// Why a body could not be taken.
enum BodyError {
    /// Over the limit; this many bytes were seen.
    TooLarge(usize),
    /// The client stopped sending mid-body.
    Broken,
}

/// Reads a body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, BodyError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else if seen > DRAIN_CAP {
            return Err(BodyError::TooLarge(seen));
        }
    }
    if seen > limit {
        Err(BodyError::TooLarge(seen))
    } else {
        Ok(kept.freeze())
    }
}

/// The body of `GET /api/rooms`.
#[derive(Serialize)]
struct RoomList {
    rooms: Vec<RoomSummary>,
}

/// The body of `GET /api/rooms/{room}/messages`.
#[derive(Serialize)]
struct HistoryPage {
    room: RoomName,
    epoch: String,
    messages: Vec<Message>,
}

/// `GET /api/rooms`: the rooms the caller may see.
pub async fn list(State(state): State<AppState>, caller: Caller) -> impl IntoResponse {
    Json(RoomList {
        rooms: state.rooms.list(&caller.reader()),
    })
}

/// Query parameters of `GET /api/rooms/{room}/messages`.
#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<usize>,
}

fn bad_query(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("bad_query", rejection.body_text())
}

/// `GET /api/rooms/{room}/messages?before=&after=&limit=`
pub async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let room = RoomName::new(&room)?;
    let Query(p) = params.map_err(bad_query)?;
    let query = history_query(p.before, p.after, p.limit)
        .map_err(|m| ApiError::bad_request("bad_query", m))?;
    let messages = state.rooms.history(&caller.reader(), &room, query)?;
    let epoch = state
        .rooms
        .summary(&room)
        .map(|s| s.epoch)
        .unwrap_or_default();
    Ok(Json(HistoryPage {
        room,
        epoch,
        messages,
    }))
}

/// Query parameters of `POST /api/rooms/{room}/messages`.
#[derive(Debug, Deserialize)]
pub struct PostParams {
    from: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

/// A JSON post body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostBody {
    text: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
    from: Option<String>,
}

/// `POST /api/rooms/{room}/messages`: JSON `{"text","ref","from"}`, or the
/// body as plain text. 201 with the stored message; 200 with the original
/// when the `ref` repeats. The author is the caller: a user by its user
/// name, a visitor by `from`.
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
    params: Result<Query<PostParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let room = RoomName::new(&room)?;
    let Query(params) = params.map_err(bad_query)?;
    state.post_rates.take(caller.peer())?;
    let limits = state.rooms.limits();
    let bytes = match read_body(body, frame_limit(limits.max_message_bytes)).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(size)) => {
            return Err(RoomError::TooLarge {
                size,
                limit: limits.max_message_bytes,
            }
            .into())
        }
        Err(BodyError::Broken) => {
            return Err(ApiError::bad_request(
                "bad_body",
                "the request body broke off",
            ))
        }
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if is_json {
        serde_json::from_slice::<PostBody>(&bytes)
            .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?
    } else {
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| RoomError::NotUtf8)?;
        PostBody {
            text,
            reference: None,
            from: None,
        }
    };
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ApiError::bad_request("bad_ref", "Idempotency-Key is not text"))
        })
        .transpose()?;
    let author = author(&caller, body.from.or(params.from))?;
    let posted = state
        .rooms
        .post(NewPost {
            room,
            author,
            text: body.text,
            via: Via::Http,
            reference: body.reference.or(idempotency_key).or(params.reference),
        })
        .await?;
    let status = if posted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        posted.message.json.to_string(),
    )
        .into_response())
}

/// Who a post is from: a user posts as itself (a `from` may only repeat
/// its name), a visitor as the `from` it gives.
fn author(caller: &Caller, from: Option<String>) -> Result<Identity, ApiError> {
    if let Some(user) = caller.user() {
        return match from {
            Some(from) if from != **user.name() => Err(ApiError::bad_request(
                "bad_from",
                format!("logged in as {user}: a user posts under its user name; leave `from` out"),
            )),
            _ => Ok(user.clone()),
        };
    }
    let from = from.unwrap_or_else(|| ANONYMOUS.to_owned());
    check_name(&from).map_err(|m| ApiError::bad_request("bad_from", m))?;
    Ok(caller.acting_as(&from))
}
