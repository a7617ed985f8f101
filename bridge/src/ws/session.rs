//! One WebSocket chat connection: reads ops, keeps posts in flight, and
//! forwards room events, until the client leaves or the hub ends it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitSink};
use futures_util::{SinkExt, StreamExt};
use hubbub_core::limits::TokenBucket;
use hubbub_core::metrics::Transport;
use hubbub_core::{
    CloseReason, Event, NewPost, Next, Posted, Resume, Role, RoomError, RoomName, Rooms,
    Subscription, Via,
};

use super::frames::{
    answer_with, message_frame, parse, refused, room_name, ClientOp, Frame, Refusal, Refused,
};
use crate::connected::Connected;
use crate::http::caller::Caller;
use crate::params::{check_name, history_query};

/// Posts one connection may have waiting for their ack before the hub
/// stops reading its frames.
const MAX_IN_FLIGHT: usize = 64;

/// Most queued events written with one flush.
const WRITE_BATCH: usize = 64;

/// How long a closing connection gets to take its close frame (a slow
/// reader first has to read what is already on its way).
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// How long a stopping hub waits to deliver acks still in flight.
const ACK_DRAIN: Duration = Duration::from_secs(5);

const CLOSE_UNSUPPORTED: u16 = 1003;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_SLOW_CONSUMER: u16 = 4000;
const CLOSE_SESSION_ENDED: u16 = 4001;
const CLOSE_ACCESS_CHANGED: u16 = 4003;

static GUESTS: AtomicU64 = AtomicU64::new(1);

type Sink = SplitSink<WebSocket, WsMessage>;
type AckFuture =
    Pin<Box<dyn Future<Output = (RoomName, Option<String>, Result<Posted, RoomError>)> + Send>>;

/// Why the session loop stopped.
enum End {
    /// The client closed or vanished; nothing more to say.
    Gone,
    /// Close with this code and reason.
    Close(u16, String),
}

impl From<CloseReason> for End {
    fn from(reason: CloseReason) -> Self {
        let code = match reason {
            CloseReason::SlowConsumer => CLOSE_SLOW_CONSUMER,
            CloseReason::ShuttingDown => CLOSE_GOING_AWAY,
            CloseReason::AccessChanged => CLOSE_ACCESS_CHANGED,
            CloseReason::SessionEnded => CLOSE_SESSION_ENDED,
        };
        let text = match reason {
            CloseReason::SlowConsumer | CloseReason::AccessChanged | CloseReason::SessionEnded => {
                format!("{}: {}", reason.code(), reason.message())
            }
            CloseReason::ShuttingDown => reason.message().to_owned(),
        };
        End::Close(code, text)
    }
}

struct Session {
    rooms: Rooms,
    caller: Caller,
    sub: Subscription,
    /// Posts and typing notes per second.
    bucket: TokenBucket,
    /// After a refusal for the rate, nothing more is read from the client
    /// before this: a flood then costs the hub one refusal per token, and
    /// TCP's window pushes back on the flooder instead.
    read_after: Option<Instant>,
    in_flight: FuturesOrdered<AckFuture>,
}

/// Runs one connection of `caller` to its end.
pub async fn run(socket: WebSocket, rooms: Rooms, caller: Caller, frame_limit: usize) {
    let _connected = Connected::new(&rooms, Transport::ws);
    // Until its `hello`, a visitor is `guest-N`; a user is its user name.
    let who = caller.acting_as(&format!("guest-{}", GUESTS.fetch_add(1, Ordering::Relaxed)));
    let sub = rooms.subscribe(who.clone(), Role::Participant(who.name().clone()));
    let limits = rooms.limits();
    let bucket = TokenBucket::new(limits.messages_per_second, limits.message_burst);
    let mut session = Session {
        rooms,
        caller,
        sub,
        bucket,
        read_after: None,
        in_flight: FuturesOrdered::new(),
    };
    let (mut sink, mut stream) = socket.split();
    let end = session.serve(&mut sink, &mut stream, frame_limit).await;
    if let End::Close(code, _) = &end {
        if *code == CLOSE_GOING_AWAY {
            session.drain_acks(&mut sink).await;
        }
    }
    // Leave every room first, so nothing more piles up for this client.
    drop(session);
    if let End::Close(code, reason) = end {
        let close = WsMessage::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(close)).await;
    }
}

impl Session {
    async fn serve(
        &mut self,
        sink: &mut Sink,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        frame_limit: usize,
    ) -> End {
        loop {
            let out = tokio::select! {
                frame = read(stream, self.read_after), if self.in_flight.len() < MAX_IN_FLIGHT => match frame {
                    Some(Ok(WsMessage::Text(text))) => {
                        if text.len() > frame_limit {
                            return End::Close(CLOSE_TOO_BIG, format!("frame over the limit of {frame_limit} bytes"));
                        }
                        // The pause, if any, is over.
                        self.read_after = None;
                        self.handle(text.as_str())
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        return End::Close(CLOSE_UNSUPPORTED, "binary frames are not part of the protocol; send JSON text".into());
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Vec::new(),
                    Some(Ok(WsMessage::Close(_))) | None => return End::Gone,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "websocket read failed");
                        // tungstenite cut off a frame far over the limit
                        // before reading it; its error says so in words.
                        if e.to_string().contains("Space limit exceeded") {
                            return End::Close(CLOSE_TOO_BIG, format!("frame over the limit of {frame_limit} bytes"));
                        }
                        return End::Close(CLOSE_PROTOCOL, "unreadable frame".into());
                    }
                },
                Some((room, reference, outcome)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    vec![ack_frame(&room, reference.as_deref(), outcome)]
                }
                next = self.sub.next() => match next {
                    Next::Event(event) => {
                        let mut frames = vec![event_frame(&event)];
                        while frames.len() < WRITE_BATCH {
                            match self.sub.try_next() {
                                Some(e) => frames.push(event_frame(&e)),
                                None => break,
                            }
                        }
                        frames
                    }
                    Next::Closed(reason) => return reason.into(),
                },
            };
            if let Err(end) = send(&self.sub, sink, out).await {
                return end;
            }
        }
    }

    /// Delivers the acks of posts already submitted, for a bounded time.
    async fn drain_acks(&mut self, sink: &mut Sink) {
        let drain = async {
            while let Some((room, reference, outcome)) = self.in_flight.next().await {
                let frame = ack_frame(&room, reference.as_deref(), outcome);
                if sink.send(WsMessage::Text(frame.into())).await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(ACK_DRAIN, drain).await;
    }

    /// Acts on one text frame; returns the frames to answer with.
    fn handle(&mut self, text: &str) -> Vec<String> {
        let op = match parse(text) {
            Ok(op) => op,
            Err(refusal) => return vec![refusal.frame()],
        };
        answer_with(op, |op| self.apply(op))
    }

    fn apply(&mut self, op: ClientOp) -> Result<Vec<String>, Refused> {
        match op {
            ClientOp::Hello { nick } => self.hello(nick),
            ClientOp::Join { room, since, epoch } => {
                let room = room_name(&room)?;
                let joined = self
                    .sub
                    .join(&room, &Resume { since, epoch })
                    .map_err(refused)?;
                let mut out = Vec::with_capacity(joined.replay.len() + 2);
                out.push(
                    Frame::Joined {
                        room: &room,
                        title: joined.title.as_deref(),
                        epoch: &joined.epoch,
                        last_seq: joined.last_seq,
                        online: &joined.online,
                        reset: joined.reset,
                    }
                    .text(),
                );
                out.extend(joined.replay.iter().map(|m| message_frame(&m.to_json())));
                if let Some(gap) = joined.gap {
                    out.push(
                        Frame::Gap {
                            room: &room,
                            from_seq: gap.from_seq,
                            to_seq: gap.to_seq,
                        }
                        .text(),
                    );
                }
                Ok(out)
            }
            ClientOp::Leave { room } => {
                let room = room_name(&room)?;
                self.sub.leave(&room).map_err(refused)?;
                Ok(vec![Frame::Left { room: &room }.text()])
            }
            ClientOp::Post {
                room,
                text,
                reference,
            } => {
                self.take_token()?;
                let room = room_name(&room)?;
                if !self.sub.is_joined(&room) {
                    return Err(refused(RoomError::NotJoined(room.to_string())));
                }
                let pending = self
                    .rooms
                    .submit(NewPost {
                        room: room.clone(),
                        author: self.sub.who().clone(),
                        text,
                        via: Via::Ws,
                        reference: reference.clone(),
                    })
                    .map_err(refused)?;
                self.in_flight.push_back(Box::pin(async move {
                    (room, reference, pending.outcome().await)
                }));
                Ok(Vec::new())
            }
            ClientOp::History {
                room,
                before,
                after,
                limit,
            } => {
                let room = room_name(&room)?;
                let query = history_query(before, after, limit).map_err(|m| ("bad_query", m))?;
                let messages = self
                    .rooms
                    .history(self.sub.who(), &room, query)
                    .map_err(refused)?;
                Ok(vec![Frame::History {
                    room: &room,
                    messages: &messages,
                }
                .text()])
            }
            ClientOp::Typing { room } => {
                self.take_token()?;
                let room = room_name(&room)?;
                self.sub.typing(&room, Via::Ws).map_err(refused)?;
                Ok(Vec::new())
            }
            ClientOp::Ping => Ok(vec![Frame::Pong.text()]),
        }
    }

    /// A visitor takes `nick` (a guest's name is `guest:nick`); a user's
    /// name is its user name, and a `hello` naming anyone else is refused.
    fn hello(&mut self, nick: String) -> Result<Vec<String>, Refused> {
        check_name(&nick).map_err(|m| ("bad_nick", m))?;
        if let Some(user) = self.caller.user() {
            if nick != **user.name() {
                return Err((
                    "bad_nick",
                    format!("logged in as {user}: a user's name is its user name"),
                ));
            }
        } else {
            let who = self.caller.acting_as(&nick);
            let role = Role::Participant(who.name().clone());
            if !self.sub.set_identity(who, role) {
                return Err((
                    "already_joined",
                    "send hello before joining any room".into(),
                ));
            }
        }
        let who = self.sub.who();
        Ok(vec![Frame::Welcome {
            nick: who.name(),
            kind: who.kind(),
            hub: self.rooms.hub_id(),
            max_message_bytes: self.rooms.limits().max_message_bytes,
        }
        .text()])
    }

    /// Takes a token for a post or typing note, or refuses it: the
    /// connection stays open, and nothing taken before is affected.
    fn take_token(&mut self) -> Result<(), Refused> {
        let now = Instant::now();
        if self.bucket.take(now) {
            return Ok(());
        }
        let limits = self.rooms.limits();
        // At most this long until the next token.
        let token = Duration::from_secs_f64(1.0 / f64::from(limits.messages_per_second.max(1)));
        self.read_after = Some(now + token);
        Err((
            "rate_limited",
            format!(
                "over {} messages a second on this connection (limits.messages_per_second, \
                 bursts of {}): this one was not taken; send it again in a moment",
                limits.messages_per_second, limits.message_burst
            ),
        ))
    }
}

/// The client's next frame, not before `after`. Dropped unfinished (another
/// branch of the session's loop won), it has read nothing: `next` is
/// cancel-safe, and the next call waits for the same instant.
async fn read(
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    after: Option<Instant>,
) -> Option<Result<WsMessage, axum::Error>> {
    if let Some(at) = after {
        tokio::time::sleep_until(at.into()).await;
    }
    stream.next().await
}

/// Sends frames with one flush, unless the hub ends the subscription
/// first: a reader too slow to take them must not hold its session forever.
async fn send(sub: &Subscription, sink: &mut Sink, frames: Vec<String>) -> Result<(), End> {
    if frames.is_empty() {
        return Ok(());
    }
    let write = async {
        for text in frames {
            sink.feed(WsMessage::Text(text.into())).await?;
        }
        sink.flush().await
    };
    tokio::select! {
        sent = write => sent.map_err(|_| End::Gone),
        reason = sub.closed() => Err(reason.into()),
    }
}

fn ack_frame(
    room: &RoomName,
    reference: Option<&str>,
    outcome: Result<Posted, RoomError>,
) -> String {
    match outcome {
        Ok(posted) => Frame::Ack {
            room,
            reference,
            seq: posted.message.message.seq,
            duplicate: posted.duplicate,
        }
        .text(),
        Err(e) => Refusal {
            code: e.code(),
            message: e.to_string(),
            op: Some("post".to_owned()),
            room: Some(room.to_string()),
            reference: reference.map(String::from),
        }
        .frame(),
    }
}

fn event_frame(event: &Event) -> String {
    match event {
        Event::Message(p) => message_frame(&p.json),
        Event::Presence { room, who, state } => Frame::Presence {
            room,
            who,
            state: state.as_str(),
        }
        .text(),
        Event::Typing { room, who, .. } => Frame::Typing { room, who }.text(),
    }
}
