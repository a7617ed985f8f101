//! A WebSocket chat client over tokio-tungstenite that speaks the JSON protocol.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::util::frame_type;
use crate::RECV_TIMEOUT;

/// What a client WebSocket runs over: a TCP socket, or TLS over one.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A client WebSocket, over TCP (`ws://`) or TLS (`wss://`).
pub type WsStream = WebSocketStream<Box<dyn ByteStream>>;

type Stream = WsStream;

/// Opens a WebSocket to `request`'s `ws://` URL, or to its `wss://` URL
/// with `tls` (see [`crate::tls::client_config`]); returns it with the
/// server's handshake response. Panics if a step fails or takes longer
/// than [`RECV_TIMEOUT`].
pub async fn ws_connect(
    request: impl IntoClientRequest,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> (WsStream, Response) {
    let request = request
        .into_client_request()
        .expect("a ws:// or wss:// URL");
    let uri = request.uri().clone();
    let secure = uri.scheme_str() == Some("wss");
    assert_eq!(
        secure,
        tls.is_some(),
        "wss:// goes with a TLS config and ws:// without: {uri}"
    );
    let host = uri.host().unwrap_or_else(|| panic!("no host in {uri}"));
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::time::timeout(RECV_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .unwrap_or_else(|_| panic!("TCP connect to {uri} timed out"))
        .unwrap_or_else(|e| panic!("TCP connect to {uri} failed: {e}"));
    let stream: Box<dyn ByteStream> = match tls {
        None => Box::new(tcp),
        Some(config) => Box::new(crate::tls::connect(tcp, host, config).await),
    };
    ws_handshake(request, stream).await
}

/// The WebSocket handshake over an open stream.
async fn ws_handshake(request: Request, stream: Box<dyn ByteStream>) -> (WsStream, Response) {
    let uri = request.uri().clone();
    let handshake = tokio_tungstenite::client_async(request, stream);
    match tokio::time::timeout(RECV_TIMEOUT, handshake).await {
        Err(_) => panic!("WebSocket handshake with {uri} timed out"),
        Ok(Err(e)) => panic!("WebSocket handshake with {uri} failed: {e}"),
        Ok(Ok(pair)) => pair,
    }
}

/// How a connection ended: the close frame's code and reason, or `code: None` without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code, if the hub sent a close frame.
    pub code: Option<u16>,
    /// The close reason, or what went wrong when there was no close frame.
    pub reason: String,
}

/// One thing read from the socket.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A JSON text frame.
    Json(Value),
    /// The connection ended.
    Close(CloseInfo),
}

/// An acknowledged post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The room.
    pub room: String,
    /// The seq the ack (or `201`) named.
    pub seq: u64,
    /// The text that was posted.
    pub text: String,
    /// Whether the hub said it repeated an earlier `ref`.
    pub duplicate: bool,
}

/// A chat connection; frames skipped by `recv_until` are kept (in order) for later reads.
pub struct WsClient {
    ws: Stream,
    stash: VecDeque<Value>,
    closed: Option<CloseInfo>,
}

fn is_ephemeral(v: &Value) -> bool {
    matches!(frame_type(v), "presence" | "typing")
}

fn preview(frames: &VecDeque<Value>) -> String {
    let mut out: Vec<String> = frames.iter().take(5).map(short).collect();
    if frames.len() > 5 {
        out.push(format!("… ({} more)", frames.len() - 5));
    }
    format!("[{}]", out.join(", "))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

impl WsClient {
    /// Connects to `ws://…/ws`; panics if that fails within [`RECV_TIMEOUT`].
    pub async fn connect(url: &str) -> WsClient {
        Self::wrap(ws_connect(url, None).await.0)
    }

    /// Connects to `ws://…/ws` with extra request headers (`Authorization`,
    /// `Cookie`, `Origin`, …); `Err((status, body))` if the hub answers the
    /// upgrade with an HTTP error instead. Panics on a timeout or a failure
    /// to connect at all.
    pub async fn try_connect_with_headers(
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, (u16, String)> {
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        use tokio_tungstenite::tungstenite::Error;
        let mut request = url
            .into_client_request()
            .unwrap_or_else(|e| panic!("not a WebSocket url {url}: {e}"));
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            let value = HeaderValue::from_str(value).expect("a header value");
            request.headers_mut().append(name, value);
        }
        let uri = request.uri().clone();
        let (host, port) = (
            uri.host().unwrap_or("127.0.0.1"),
            uri.port_u16().unwrap_or(80),
        );
        let tcp = tokio::time::timeout(RECV_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .unwrap_or_else(|_| panic!("TCP connect to {uri} timed out"))
            .unwrap_or_else(|e| panic!("TCP connect to {uri} failed: {e}"));
        let stream: Box<dyn ByteStream> = Box::new(tcp);
        let handshake = tokio_tungstenite::client_async(request, stream);
        match tokio::time::timeout(RECV_TIMEOUT, handshake).await {
            Err(_) => panic!("WebSocket handshake with {url} timed out"),
            Ok(Ok((ws, _))) => Ok(Self::wrap(ws)),
            Ok(Err(Error::Http(response))) => {
                let body = response.body().as_deref().unwrap_or_default();
                Err((
                    response.status().as_u16(),
                    String::from_utf8_lossy(body).into_owned(),
                ))
            }
            Ok(Err(e)) => panic!("WebSocket connect to {url} failed: {e}"),
        }
    }

    /// Connects to `wss://…/ws` with this TLS client config (see
    /// [`crate::tls::client_config`]); panics like [`WsClient::connect`].
    pub async fn connect_tls(url: &str, tls: Arc<rustls::ClientConfig>) -> WsClient {
        Self::wrap(ws_connect(url, Some(tls)).await.0)
    }

    /// Connects with a small kernel receive buffer (`SO_RCVBUF`), so a client that stops reading backs up quickly.
    pub async fn connect_with_recv_buffer(url: &str, bytes: u32) -> WsClient {
        let addr: SocketAddr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("not a ws://IP:PORT/… url: {url}"));
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = tokio::time::timeout(RECV_TIMEOUT, socket.connect(addr))
            .await
            .expect("TCP connect timed out")
            .unwrap_or_else(|e| panic!("TCP connect to {addr} failed: {e}"));
        let request = url.into_client_request().expect("a ws:// URL");
        Self::wrap(ws_handshake(request, Box::new(stream)).await.0)
    }

    fn wrap(ws: Stream) -> WsClient {
        WsClient {
            ws,
            stash: VecDeque::new(),
            closed: None,
        }
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(value.to_string()).await;
    }

    /// Sends a JSON value; returns false instead of panicking if the connection is gone.
    pub async fn try_send_json(&mut self, value: &Value) -> bool {
        self.try_send(Message::text(value.to_string())).await
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        let len = text.len();
        if !self.try_send(Message::text(text)).await {
            panic!("cannot send a {len}-byte text frame: the connection is gone");
        }
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        if !self.try_send(Message::binary(bytes)).await {
            panic!("cannot send a binary frame: the connection is gone");
        }
    }

    async fn try_send(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(RECV_TIMEOUT, self.ws.send(message)).await,
            Ok(Ok(()))
        )
    }

    /// Starts a clean close from our side.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(RECV_TIMEOUT, self.ws.close(None)).await;
    }

    /// Reads the socket (not the stash): a frame, or `None` after `timeout`.
    async fn read_socket(&mut self, timeout: Duration) -> Option<Frame> {
        if let Some(closed) = &self.closed {
            return Some(Frame::Close(closed.clone()));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return None,
                Ok(next) => next,
            };
            let closed = match next {
                None => CloseInfo {
                    code: None,
                    reason: "connection ended without a close frame".into(),
                },
                Some(Err(e)) => CloseInfo {
                    code: None,
                    reason: format!("connection failed without a close frame: {e}"),
                },
                Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                    Ok(v) => return Some(Frame::Json(v)),
                    Err(e) => panic!("the hub sent a text frame that is not JSON ({e}): {text}"),
                },
                Some(Ok(Message::Binary(b))) => {
                    panic!("the hub sent a binary frame ({} bytes)", b.len())
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(f) => CloseInfo {
                        code: Some(u16::from(f.code)),
                        reason: f.reason.to_string(),
                    },
                    None => CloseInfo {
                        code: None,
                        reason: "close frame without a code".into(),
                    },
                },
            };
            self.closed = Some(closed.clone());
            return Some(Frame::Close(closed));
        }
    }

    /// The next frame (stash first), or `None` if nothing arrives within `timeout`.
    pub async fn try_recv_frame(&mut self, timeout: Duration) -> Option<Frame> {
        if let Some(v) = self.stash.pop_front() {
            return Some(Frame::Json(v));
        }
        self.read_socket(timeout).await
    }

    /// The next frame of any kind (stash first); panics after [`RECV_TIMEOUT`].
    pub async fn recv_frame(&mut self) -> Frame {
        match self.try_recv_frame(RECV_TIMEOUT).await {
            Some(f) => f,
            None => panic!("no frame within {RECV_TIMEOUT:?}"),
        }
    }

    /// The next JSON frame, presence and typing included; panics on close or timeout.
    pub async fn recv_json(&mut self) -> Value {
        match self.recv_frame().await {
            Frame::Json(v) => v,
            Frame::Close(c) => panic!("the connection closed ({c:?}) while a frame was expected"),
        }
    }

    /// The next frame that is not `presence` or `typing`; panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        loop {
            let v = self.recv_json().await;
            if !is_ephemeral(&v) {
                return v;
            }
        }
    }

    /// The next frame of type `ty`, keeping other frames for later; panics on an unexpected `error`, close or timeout.
    pub async fn recv_until(&mut self, ty: &str) -> Value {
        let hit = self
            .stash
            .iter()
            .position(|v| frame_type(v) == ty || frame_type(v) == "error");
        if let Some(i) = hit {
            let v = self.stash.remove(i).expect("index is in range");
            if frame_type(&v) != ty {
                panic!("expected a `{ty}` frame, got {}", short(&v));
            }
            return v;
        }
        loop {
            match self.read_socket(RECV_TIMEOUT).await {
                None => panic!(
                    "no `{ty}` frame within {RECV_TIMEOUT:?}; unread frames: {}",
                    preview(&self.stash)
                ),
                Some(Frame::Close(c)) => panic!(
                    "the connection closed ({c:?}) while waiting for a `{ty}` frame; unread \
                     frames: {}",
                    preview(&self.stash)
                ),
                Some(Frame::Json(v)) => {
                    if frame_type(&v) == ty {
                        return v;
                    }
                    if frame_type(&v) == "error" {
                        panic!("expected a `{ty}` frame, got {}", short(&v));
                    }
                    self.stash.push_back(v);
                }
            }
        }
    }

    /// Waits for an `error` frame and checks its code; returns it.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.recv_until("error").await;
        assert_eq!(
            v["code"],
            json!(code),
            "expected error code {code}, got {}",
            short(&v)
        );
        assert!(
            v["message"].as_str().is_some_and(|m| !m.trim().is_empty()),
            "an error frame must carry a message: {v}"
        );
        v
    }

    /// Reads (and discards) frames until the hub closes the connection; panics on timeout.
    pub async fn expect_close(&mut self) -> CloseInfo {
        self.stash.clear();
        loop {
            match self.read_socket(RECV_TIMEOUT).await {
                None => panic!("the connection was not closed within {RECV_TIMEOUT:?}"),
                Some(Frame::Close(c)) => return c,
                Some(Frame::Json(_)) => {}
            }
        }
    }

    /// Asserts that no frame other than presence/typing arrives within `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.try_recv_frame(left).await {
                None => return,
                Some(Frame::Json(v)) if is_ephemeral(&v) => {}
                Some(other) => panic!("expected no frame, got {other:?}"),
            }
        }
    }

    /// Frames read but not yet consumed.
    pub fn unread(&self) -> usize {
        self.stash.len()
    }

    /// Sends `hello` and returns the `welcome`.
    pub async fn hello(&mut self, nick: &str) -> Value {
        self.send_json(&json!({"op":"hello","nick":nick})).await;
        let v = self.recv_until("welcome").await;
        assert_eq!(v["nick"], json!(nick), "welcome names the nick: {v}");
        v
    }

    /// Joins a room without `since` and returns `joined`.
    pub async fn join(&mut self, room: &str) -> Value {
        self.join_with(room, None, None).await
    }

    /// Joins with optional `since` and `epoch` and returns `joined` (replayed messages follow it).
    pub async fn join_with(
        &mut self,
        room: &str,
        since: Option<u64>,
        epoch: Option<&str>,
    ) -> Value {
        let mut op = json!({"op":"join","room":room});
        if let Some(since) = since {
            op["since"] = json!(since);
        }
        if let Some(epoch) = epoch {
            op["epoch"] = json!(epoch);
        }
        self.send_json(&op).await;
        let v = self.recv_until("joined").await;
        assert_eq!(v["room"], json!(room), "joined names the room: {v}");
        v
    }

    /// Sends a `post` without waiting for anything.
    pub async fn send_post(&mut self, room: &str, text: &str, reference: Option<&str>) {
        let mut op = json!({"op":"post","room":room,"text":text});
        if let Some(r) = reference {
            op["ref"] = json!(r);
        }
        self.send_json(&op).await;
    }

    /// Posts and returns the `ack`.
    pub async fn post(&mut self, room: &str, text: &str) -> Value {
        self.send_post(room, text, None).await;
        self.recv_until("ack").await
    }

    /// Posts with a `ref` and returns the `ack` (checking it echoes the ref).
    pub async fn post_ref(&mut self, room: &str, text: &str, reference: &str) -> Value {
        self.send_post(room, text, Some(reference)).await;
        let ack = self.recv_until("ack").await;
        assert_eq!(ack["ref"], json!(reference), "ack echoes the ref: {ack}");
        ack
    }

    /// The next `n` message frames (stash first), in arrival order.
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.recv_until("message").await);
        }
        out
    }

    /// Sends `history` with extra fields (`before`, `after`, `limit`) and returns its `messages`.
    pub async fn history(&mut self, room: &str, extra: Value) -> Vec<Value> {
        let mut op = json!({"op":"history","room":room});
        if let Value::Object(fields) = extra {
            for (k, v) in fields {
                op[k] = v;
            }
        }
        self.send_json(&op).await;
        let v = self.recv_until("history").await;
        assert_eq!(v["room"], json!(room), "history names the room: {v}");
        v["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("history without a messages array: {v}"))
            .clone()
    }

    /// Sends `ping` and waits for `pong`: proves the connection is still usable.
    pub async fn ping(&mut self) {
        self.send_json(&json!({"op":"ping"})).await;
        self.recv_until("pong").await;
    }

    /// Posts each `(room, text)` with `ref` = text (at most 128 characters), keeping up to
    /// `window` unacknowledged, and hands every ack to `on_ack` as it arrives. Returns `Ok`
    /// when all are acked or `stop` is set, `Err` with the close if the connection ends first.
    /// Error frames `shutting_down` and `store_unavailable` drop that post; others panic.
    pub async fn post_pipelined(
        &mut self,
        posts: impl IntoIterator<Item = (String, String)>,
        window: usize,
        stop: &AtomicBool,
        mut on_ack: impl FnMut(Acked),
    ) -> Result<(), CloseInfo> {
        let mut posts = posts.into_iter();
        let mut pending: HashMap<String, (String, String)> = HashMap::new();
        let mut exhausted = false;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            while !exhausted && pending.len() < window.max(1) {
                match posts.next() {
                    Some((room, text)) => {
                        assert!(text.chars().count() <= 128, "the text doubles as the ref");
                        let op = json!({"op":"post","room":room,"text":text,"ref":text});
                        if !self.try_send_json(&op).await {
                            return Err(self.expect_close().await);
                        }
                        pending.insert(text.clone(), (room, text));
                    }
                    None => exhausted = true,
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            let frame = match self.try_recv_frame(RECV_TIMEOUT).await {
                Some(f) => f,
                None => panic!(
                    "no ack within {RECV_TIMEOUT:?} for {} pending posts",
                    pending.len()
                ),
            };
            let v = match frame {
                Frame::Close(c) => return Err(c),
                Frame::Json(v) => v,
            };
            match frame_type(&v) {
                "ack" => {
                    let reference = v["ref"].as_str().unwrap_or_default();
                    let (room, text) = pending
                        .remove(reference)
                        .unwrap_or_else(|| panic!("ack for a ref not pending: {v}"));
                    assert_eq!(v["room"], json!(room), "ack names the room: {v}");
                    on_ack(Acked {
                        room,
                        seq: v["seq"]
                            .as_u64()
                            .unwrap_or_else(|| panic!("ack without a numeric seq: {v}")),
                        text,
                        duplicate: v["duplicate"] == json!(true),
                    });
                }
                "error" => match v["code"].as_str() {
                    Some("shutting_down" | "store_unavailable") => {
                        if let Some(r) = v["ref"].as_str() {
                            pending.remove(r);
                        }
                    }
                    _ => panic!("unexpected error frame while posting: {v}"),
                },
                _ => {}
            }
        }
    }
}
