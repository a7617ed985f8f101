//! `GET /api/rooms/{room}/events`: a room's messages as Server-Sent Events,
//! resuming after `Last-Event-ID` (a seq) with no gap and no repeat.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use hubbub_core::limits::ConnectionPermit;
use hubbub_core::metrics::Transport;
use hubbub_core::{
    Event, HistoryQuery, Message, Next, Resume, Role, RoomError, RoomName, Rooms, Subscription,
};
use serde::Deserialize;
use serde_json::json;

use super::caller::Caller;
use super::{ApiError, AppState, SSE_KEEPALIVE};
use crate::connected::Connected;
use crate::params::MAX_HISTORY_LIMIT;

/// Query parameters of the events stream.
#[derive(Debug, Deserialize)]
pub struct EventsParams {
    since: Option<u64>,
}

/// `GET /api/rooms/{room}/events`: as the caller, who must be allowed to
/// read the room (else 404, as for history); the stream holds one of the
/// caller's connections.
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
    params: Result<Query<EventsParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let room = RoomName::new(&room)?;
    let Query(params) = params.map_err(|r| ApiError::bad_request("bad_query", r.body_text()))?;
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("bad_query", "Last-Event-ID must be a seq"))
        })
        .transpose()?;
    let permit = state.limiter.admit(caller.peer())?;
    let mut sub = state.rooms.subscribe(caller.reader(), Role::Watcher);
    let joined = sub.join(
        &room,
        &Resume {
            since: last_event_id.or(params.since),
            epoch: None,
        },
    )?;
    let feed = Feed {
        _permit: permit,
        _connected: Connected::new(&state.rooms, Transport::sse),
        rooms: state.rooms.clone(),
        room,
        sub,
        pending: joined.replay.into(),
        fill: joined.gap.map(|g| (g.from_seq - 1, g.to_seq)),
        done: false,
    };
    let stream = futures_util::stream::unfold(feed, |feed| feed.step());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(SSE_KEEPALIVE)))
}

/// The state of one stream: replayed messages first, then pages of a gap,
/// then live messages.
struct Feed {
    _permit: ConnectionPermit,
    _connected: Connected,
    rooms: Rooms,
    room: RoomName,
    sub: Subscription,
    pending: VecDeque<Message>,
    /// (last seq sent, last seq of the gap) while a gap is being paged.
    fill: Option<(u64, u64)>,
    done: bool,
}

fn message_event(seq: u64, json: &str) -> SseEvent {
    SseEvent::default()
        .event("message")
        .id(seq.to_string())
        .data(json)
}

fn error_event(code: &str, message: &str) -> SseEvent {
    SseEvent::default()
        .event("error")
        .data(json!({"code": code, "message": message}).to_string())
}

impl Feed {
    async fn step(mut self) -> Option<(Result<SseEvent, Infallible>, Self)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(m) = self.pending.pop_front() {
                let event = message_event(m.seq, &m.to_json());
                return Some((Ok(event), self));
            }
            if let Some((after, to)) = self.fill {
                if let Err(e) = self.page_gap(after, to) {
                    self.done = true;
                    return Some((Ok(error_event(e.code(), &e.to_string())), self));
                }
                continue;
            }
            match self.sub.next().await {
                Next::Event(Event::Message(p)) => {
                    let event = message_event(p.message.seq, &p.json);
                    return Some((Ok(event), self));
                }
                Next::Event(_) => {}
                Next::Closed(reason) => {
                    self.done = true;
                    return Some((Ok(error_event(reason.code(), reason.message())), self));
                }
            }
        }
    }

    /// Loads the next page of a gap into `pending`.
    fn page_gap(&mut self, after: u64, to: u64) -> Result<(), RoomError> {
        let query = HistoryQuery::After {
            seq: after,
            limit: MAX_HISTORY_LIMIT,
        };
        let page: Vec<Message> = self
            .rooms
            .history(self.sub.who(), &self.room, query)?
            .into_iter()
            .filter(|m| m.seq <= to)
            .collect();
        self.fill = match page.last() {
            Some(last) if last.seq < to => Some((last.seq, to)),
            _ => None,
        };
        self.pending.extend(page);
        Ok(())
    }
}
