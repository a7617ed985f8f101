//! Helpers shared by the `mqtt_*` tests: a raw packet client over TCP or
//! WebSocket (rumqttc's codecs, for exact bytes and malformed input),
//! rumqttc clients (3.1.1 and 5) driven by a task, Debian's
//! `mosquitto_pub`/`mosquitto_sub`, and the paho-mqtt Python client.
//!
//! Every wait is bounded: [`RECV_TIMEOUT`] for anything expected, short
//! "quiet" windows only to check that nothing (more) arrives.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use hubbub_tests::{ws_connect, Hub, WsStream, RECV_TIMEOUT};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A window in which something must *not* arrive (a will after a clean
/// disconnect, a second copy of a message). Long enough for a loaded
/// machine to have delivered it if it were coming; never a speed check.
pub const QUIET: Duration = Duration::from_secs(2);

/// A client id nobody else in the process uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------
// The raw client
// ---------------------------------------------------------------------------

/// The protocol version a raw client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ver {
    /// MQTT 3.1.1
    V4,
    /// MQTT 5
    V5,
}

/// A packet from the hub, decoded by the version's codec.
#[allow(clippy::large_enum_variant)] // test code: matched on, never stored in bulk
#[derive(Debug, Clone)]
pub enum Pkt {
    /// MQTT 3.1.1
    V4(v4::Packet),
    /// MQTT 5
    V5(v5::Packet),
}

/// What a read came to.
#[allow(clippy::large_enum_variant)] // test code: matched on, never stored in bulk
#[derive(Debug)]
pub enum Got {
    /// A whole packet.
    Packet(Pkt),
    /// The hub closed the connection (or reset it).
    Closed(String),
    /// Nothing within the wait.
    Quiet,
}

enum Io {
    Tcp(TcpStream),
    Ws(Box<WsStream>),
}

/// A client that writes exactly the bytes it is given and decodes what
/// comes back with rumqttc's packet codecs.
pub struct Raw {
    io: Io,
    buf: BytesMut,
    /// The version used to decode what the hub sends.
    pub ver: Ver,
    closed: Option<String>,
}

impl Raw {
    /// A TCP connection to the hub's MQTT listener (nothing sent yet).
    pub async fn tcp(addr: SocketAddr) -> Raw {
        let stream = tokio::time::timeout(RECV_TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("MQTT TCP connect to {addr} timed out"))
            .unwrap_or_else(|e| panic!("MQTT TCP connect to {addr} failed: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Raw {
            io: Io::Tcp(stream),
            buf: BytesMut::new(),
            ver: Ver::V4,
            closed: None,
        }
    }

    /// A WebSocket connection to `ws://…/mqtt` with subprotocol `mqtt`;
    /// checks that the hub agreed to the subprotocol.
    pub async fn ws(url: &str) -> Raw {
        Self::ws_with(url, None).await
    }

    /// Like [`Raw::ws`], to `wss://…/mqtt` with this TLS client config.
    pub async fn wss(url: &str, tls: std::sync::Arc<rustls::ClientConfig>) -> Raw {
        Self::ws_with(url, Some(tls)).await
    }

    async fn ws_with(url: &str, tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> Raw {
        let mut request = url.into_client_request().expect("a ws:// or wss:// url");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "mqtt".parse().expect("a header value"),
        );
        let (ws, response) = ws_connect(request, tls).await;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            protocol,
            Some("mqtt"),
            "the hub answers GET /mqtt with subprotocol mqtt: {response:?}"
        );
        Raw {
            io: Io::Ws(Box::new(ws)),
            buf: BytesMut::new(),
            ver: Ver::V4,
            closed: None,
        }
    }

    /// Writes raw bytes; `false` if the connection is gone.
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> bool {
        let sent = match &mut self.io {
            Io::Tcp(s) => tokio::time::timeout(RECV_TIMEOUT, s.write_all(bytes))
                .await
                .map(|r| r.is_ok()),
            Io::Ws(ws) => {
                tokio::time::timeout(RECV_TIMEOUT, ws.send(Message::binary(bytes.to_vec())))
                    .await
                    .map(|r| r.is_ok())
            }
        };
        sent.unwrap_or(false)
    }

    /// Writes raw bytes; panics if the connection is gone.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        assert!(
            self.try_send_bytes(bytes).await,
            "cannot send {} bytes: the connection is gone",
            bytes.len()
        );
    }

    /// Encodes and sends a 3.1.1 packet.
    pub async fn send4(&mut self, p: v4::Packet) {
        let bytes = encode4(&p);
        self.send_bytes(&bytes).await;
    }

    /// Encodes and sends an MQTT 5 packet.
    pub async fn send5(&mut self, p: v5::Packet) {
        let bytes = encode5(&p);
        self.send_bytes(&bytes).await;
    }

    /// Sends a WebSocket text frame (MQTT over WebSocket is binary only).
    pub async fn send_ws_text(&mut self, text: &str) {
        match &mut self.io {
            Io::Ws(ws) => {
                let _ = tokio::time::timeout(RECV_TIMEOUT, ws.send(Message::text(text))).await;
            }
            Io::Tcp(_) => panic!("not a WebSocket connection"),
        }
    }

    /// Closes our write side (TCP FIN), keeping the read side open.
    pub async fn shutdown_write(&mut self) {
        match &mut self.io {
            Io::Tcp(s) => {
                let _ = s.shutdown().await;
            }
            Io::Ws(ws) => {
                let _ = ws.close().await;
            }
        }
    }

    fn decode(&mut self) -> Option<Pkt> {
        if self.buf.is_empty() {
            return None;
        }
        match self.ver {
            Ver::V4 => match v4::Packet::read(&mut self.buf, usize::MAX) {
                Ok(p) => Some(Pkt::V4(p)),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => None,
                Err(e) => panic!(
                    "the hub sent bytes that are not MQTT 3.1.1 ({e:?}): {:02x?}",
                    &self.buf[..]
                ),
            },
            Ver::V5 => match v5::Packet::read(&mut self.buf, None) {
                Ok(p) => Some(Pkt::V5(p)),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => None,
                Err(e) => panic!(
                    "the hub sent bytes that are not MQTT 5 ({e:?}): {:02x?}",
                    &self.buf[..]
                ),
            },
        }
    }

    /// The next packet, the end of the connection, or `Quiet` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(p) = self.decode() {
                return Got::Packet(p);
            }
            if let Some(why) = &self.closed {
                return Got::Closed(why.clone());
            }
            let read = match &mut self.io {
                Io::Tcp(s) => {
                    self.buf.reserve(4096);
                    match tokio::time::timeout_at(deadline, s.read_buf(&mut self.buf)).await {
                        Err(_) => return Got::Quiet,
                        Ok(Ok(0)) => Err("closed (EOF)".to_string()),
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(format!("closed ({e})")),
                    }
                }
                Io::Ws(ws) => match tokio::time::timeout_at(deadline, ws.next()).await {
                    Err(_) => return Got::Quiet,
                    Ok(None) => Err("closed (end of WebSocket stream)".to_string()),
                    Ok(Some(Err(e))) => Err(format!("closed ({e})")),
                    Ok(Some(Ok(Message::Binary(b)))) => {
                        self.buf.extend_from_slice(&b);
                        Ok(())
                    }
                    Ok(Some(Ok(Message::Close(f)))) => Err(format!("closed (close frame {f:?})")),
                    Ok(Some(Ok(Message::Text(t)))) => {
                        panic!("the hub sent a text frame on /mqtt: {t}")
                    }
                    Ok(Some(Ok(_))) => Ok(()),
                },
            };
            if let Err(why) = read {
                self.closed = Some(why);
            }
        }
    }

    /// The next packet; panics on close or after [`RECV_TIMEOUT`].
    pub async fn recv(&mut self) -> Pkt {
        match self.next(RECV_TIMEOUT).await {
            Got::Packet(p) => p,
            other => panic!("expected a packet from the hub, got {other:?}"),
        }
    }

    /// The next 3.1.1 packet.
    pub async fn recv4(&mut self) -> v4::Packet {
        match self.recv().await {
            Pkt::V4(p) => p,
            Pkt::V5(p) => panic!("expected a 3.1.1 packet, decoded {p:?}"),
        }
    }

    /// The next MQTT 5 packet.
    pub async fn recv5(&mut self) -> v5::Packet {
        match self.recv().await {
            Pkt::V5(p) => p,
            Pkt::V4(p) => panic!("expected an MQTT 5 packet, decoded {p:?}"),
        }
    }

    /// Reads until the hub closes the connection; returns what it sent
    /// before. Panics if it is still open after [`RECV_TIMEOUT`].
    pub async fn expect_closed(&mut self) -> Vec<Pkt> {
        let deadline = Instant::now() + RECV_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Got::Packet(p) => seen.push(p),
                Got::Closed(_) => return seen,
                Got::Quiet => panic!(
                    "the hub did not close the connection within {RECV_TIMEOUT:?}; it sent {seen:?}"
                ),
            }
        }
    }

    /// Asserts nothing arrives (and the connection stays open) for `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        match self.next(wait).await {
            Got::Quiet => {}
            other => panic!("expected nothing for {wait:?}, got {other:?}"),
        }
    }

    /// CONNECTs with a 3.1.1 packet and returns the CONNACK.
    pub async fn connect4(&mut self, c: v4::Connect) -> v4::ConnAck {
        self.ver = Ver::V4;
        self.send4(v4::Packet::Connect(c)).await;
        match self.recv4().await {
            v4::Packet::ConnAck(a) => a,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// CONNECTs as `id` (3.1.1, clean session, keep-alive 60 s); asserts success.
    pub async fn connect4_ok(&mut self, id: &str) {
        let mut c = v4::Connect::new(id);
        c.keep_alive = 60;
        let ack = self.connect4(c).await;
        assert_eq!(ack.code, v4::ConnectReturnCode::Success, "CONNACK for {id}");
    }

    /// CONNECTs with an MQTT 5 packet and returns the CONNACK.
    pub async fn connect5(
        &mut self,
        c: v5::Connect,
        will: Option<v5::LastWill>,
        login: Option<v5::Login>,
    ) -> v5::ConnAck {
        self.ver = Ver::V5;
        self.send5(v5::Packet::Connect(c, will, login)).await;
        match self.recv5().await {
            v5::Packet::ConnAck(a) => a,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// CONNECTs as `id` (MQTT 5, clean start, keep-alive 60 s); asserts success.
    pub async fn connect5_ok(&mut self, id: &str) -> v5::ConnAck {
        let ack = self.connect5(connect5(id, true, 60), None, None).await;
        assert_eq!(ack.code, v5::ConnectReturnCode::Success, "CONNACK for {id}");
        ack
    }

    /// Subscribes (3.1.1) and returns the SUBACK's codes.
    pub async fn subscribe4(
        &mut self,
        pkid: u16,
        filters: &[(&str, rumqttc::QoS)],
    ) -> Vec<v4::SubscribeReasonCode> {
        let mut s = v4::Subscribe::new_many(
            filters
                .iter()
                .map(|(f, q)| v4::SubscribeFilter::new((*f).to_string(), *q)),
        );
        s.pkid = pkid;
        self.send4(v4::Packet::Subscribe(s)).await;
        loop {
            match self.recv4().await {
                v4::Packet::SubAck(a) if a.pkid == pkid => return a.return_codes,
                v4::Packet::Publish(_) => {}
                other => panic!("expected SUBACK {pkid}, got {other:?}"),
            }
        }
    }

    /// Subscribes (MQTT 5) and returns the SUBACK's codes.
    pub async fn subscribe5(
        &mut self,
        pkid: u16,
        filters: Vec<v5::Filter>,
    ) -> Vec<v5::SubscribeReasonCode> {
        let mut s = v5::Subscribe::new_many(filters, None);
        s.pkid = pkid;
        self.send5(v5::Packet::Subscribe(s)).await;
        loop {
            match self.recv5().await {
                v5::Packet::SubAck(a) if a.pkid == pkid => return a.return_codes,
                v5::Packet::Publish(_) => {}
                other => panic!("expected SUBACK {pkid}, got {other:?}"),
            }
        }
    }

    /// Publishes (3.1.1) without waiting for anything.
    pub async fn publish4(&mut self, topic: &str, qos: rumqttc::QoS, pkid: u16, payload: &[u8]) {
        let mut p = v4::Publish::new(topic, qos, payload.to_vec());
        p.pkid = pkid;
        self.send4(v4::Packet::Publish(p)).await;
    }

    /// Publishes (MQTT 5) without waiting for anything.
    pub async fn publish5(
        &mut self,
        topic: &str,
        qos: rumqttc::v5::mqttbytes::QoS,
        pkid: u16,
        payload: &[u8],
    ) {
        let mut p = v5::Publish::new(topic, qos, payload.to_vec(), None);
        p.pkid = pkid;
        self.send5(v5::Packet::Publish(p)).await;
    }

    /// PINGREQ, then waits for PINGRESP (skipping publishes): proves the
    /// connection is alive and served.
    pub async fn ping(&mut self) {
        match self.ver {
            Ver::V4 => {
                self.send4(v4::Packet::PingReq).await;
                loop {
                    match self.recv4().await {
                        v4::Packet::PingResp => return,
                        v4::Packet::Publish(_) => {}
                        other => panic!("expected PINGRESP, got {other:?}"),
                    }
                }
            }
            Ver::V5 => {
                self.send5(v5::Packet::PingReq(v5::PingReq)).await;
                loop {
                    match self.recv5().await {
                        v5::Packet::PingResp(_) => return,
                        v5::Packet::Publish(_) => {}
                        other => panic!("expected PINGRESP, got {other:?}"),
                    }
                }
            }
        }
    }

    /// The next 3.1.1 PUBLISH (acknowledging QoS 1 and 2 as a client must).
    pub async fn next_publish4(&mut self) -> v4::Publish {
        loop {
            match self.recv4().await {
                v4::Packet::Publish(p) => {
                    match p.qos {
                        rumqttc::QoS::AtMostOnce => {}
                        rumqttc::QoS::AtLeastOnce => {
                            self.send4(v4::Packet::PubAck(v4::PubAck::new(p.pkid)))
                                .await
                        }
                        rumqttc::QoS::ExactlyOnce => {
                            self.send4(v4::Packet::PubRec(v4::PubRec::new(p.pkid)))
                                .await
                        }
                    }
                    return p;
                }
                v4::Packet::PubRel(r) => {
                    self.send4(v4::Packet::PubComp(v4::PubComp::new(r.pkid)))
                        .await
                }
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }

    /// The next MQTT 5 PUBLISH (acknowledging QoS 1 and 2).
    pub async fn next_publish5(&mut self) -> v5::Publish {
        use rumqttc::v5::mqttbytes::QoS;
        loop {
            match self.recv5().await {
                v5::Packet::Publish(p) => {
                    match p.qos {
                        QoS::AtMostOnce => {}
                        QoS::AtLeastOnce => {
                            self.send5(v5::Packet::PubAck(v5::PubAck::new(p.pkid, None)))
                                .await
                        }
                        QoS::ExactlyOnce => {
                            self.send5(v5::Packet::PubRec(v5::PubRec::new(p.pkid, None)))
                                .await
                        }
                    }
                    return p;
                }
                v5::Packet::PubRel(r) => {
                    self.send5(v5::Packet::PubComp(v5::PubComp::new(r.pkid, None)))
                        .await
                }
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }
}

/// The wire bytes of a 3.1.1 packet.
pub fn encode4(p: &v4::Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    p.write(&mut out, usize::MAX).expect("encodable packet");
    out.to_vec()
}

/// The wire bytes of an MQTT 5 packet.
pub fn encode5(p: &v5::Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    p.write(&mut out, None).expect("encodable packet");
    out.to_vec()
}

/// An MQTT 5 CONNECT without properties.
pub fn connect5(id: &str, clean_start: bool, keep_alive: u16) -> v5::Connect {
    v5::Connect {
        keep_alive,
        client_id: id.to_string(),
        clean_start,
        properties: None,
    }
}

/// A raw 3.1.1 client over TCP, connected as `id`.
pub async fn raw4(hub: &Hub, id: &str) -> Raw {
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    c.connect4_ok(id).await;
    c
}

/// A raw MQTT 5 client over TCP, connected as `id`.
pub async fn raw5(hub: &Hub, id: &str) -> Raw {
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    c.connect5_ok(id).await;
    c
}

/// The payload of a publish as UTF-8.
pub fn text(payload: &[u8]) -> String {
    String::from_utf8(payload.to_vec())
        .unwrap_or_else(|_| panic!("payload is not UTF-8: {payload:02x?}"))
}

/// The payload of a publish as JSON.
pub fn json(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).unwrap_or_else(|e| {
        panic!(
            "payload is not JSON ({e}): {}",
            String::from_utf8_lossy(payload)
        )
    })
}

// ---------------------------------------------------------------------------
// rumqttc clients, their event loops polled by a task
// ---------------------------------------------------------------------------

/// A rumqttc 3.1.1 client whose event loop runs in a task. The task stops
/// at the first connection error (no automatic reconnect), so a closed
/// connection shows as an `Err`.
pub struct Mq4 {
    /// The client handle (publish, subscribe, disconnect).
    pub client: rumqttc::AsyncClient,
    events: mpsc::UnboundedReceiver<Result<rumqttc::Event, rumqttc::ConnectionError>>,
    task: tokio::task::JoinHandle<()>,
}

/// MqttOptions for the hub's TCP listener (keep-alive 30 s).
pub fn opts4(hub: &Hub, id: &str) -> rumqttc::MqttOptions {
    let addr = hub.mqtt_addr();
    let mut o = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

impl Mq4 {
    /// Starts the event loop and waits for the CONNACK.
    pub async fn connect(options: rumqttc::MqttOptions) -> (Mq4, rumqttc::ConnAck) {
        let mut mq = Self::start(options);
        loop {
            match mq.next(RECV_TIMEOUT).await {
                Some(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a)))) => return (mq, a),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("rumqttc (3.1.1) could not connect: {e:?}"),
                None => panic!("rumqttc (3.1.1): no CONNACK within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// Starts the event loop without waiting for anything.
    pub fn start(options: rumqttc::MqttOptions) -> Mq4 {
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    return;
                }
            }
        });
        Mq4 {
            client,
            events,
            task,
        }
    }

    /// The next event (or the error that ended the connection), or `None` after `wait`.
    pub async fn next(
        &mut self,
        wait: Duration,
    ) -> Option<Result<rumqttc::Event, rumqttc::ConnectionError>> {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next incoming packet matching `want`; panics on a connection
    /// error or after [`RECV_TIMEOUT`]. Other events are skipped.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut want: impl FnMut(&rumqttc::Packet) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Ok(rumqttc::Event::Incoming(p))) => {
                    if let Some(t) = want(&p) {
                        return t;
                    }
                }
                Some(Ok(rumqttc::Event::Outgoing(_))) => {}
                Some(Err(e)) => panic!("connection ended ({e:?}) while waiting for {what}"),
                None => panic!("no {what} within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// The next incoming PUBLISH.
    pub async fn publish_in(&mut self) -> rumqttc::Publish {
        self.wait_for("PUBLISH", |p| match p {
            rumqttc::Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .await
    }

    /// The next incoming PUBLISH on `topic`.
    pub async fn publish_on(&mut self, topic: &str) -> rumqttc::Publish {
        self.wait_for(&format!("PUBLISH on {topic}"), |p| match p {
            rumqttc::Packet::Publish(p) if p.topic == topic => Some(p.clone()),
            _ => None,
        })
        .await
    }

    /// Subscribes and returns the SUBACK's codes.
    pub async fn subscribe(&mut self, filter: &str, qos: rumqttc::QoS) -> rumqttc::SubAck {
        self.client
            .subscribe(filter, qos)
            .await
            .expect("subscribe request");
        self.wait_for("SUBACK", |p| match p {
            rumqttc::Packet::SubAck(a) => Some(a.clone()),
            _ => None,
        })
        .await
    }

    /// Asserts no PUBLISH arrives within `wait` (acks and pings are fine).
    pub async fn expect_no_publish(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                None => return,
                Some(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                    panic!("expected no PUBLISH, got {p:?}")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("connection ended ({e:?}) while it should stay quiet"),
            }
        }
    }

    /// Waits for the connection to end; returns the error.
    pub async fn expect_end(&mut self) -> rumqttc::ConnectionError {
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Err(e)) => return e,
                Some(Ok(_)) => {}
                None => panic!("the connection did not end within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// Sends DISCONNECT and waits until the hub has closed the connection
    /// (which it does just before it lets go of the session).
    pub async fn disconnect(&mut self) {
        self.client.disconnect().await.expect("disconnect request");
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Err(_)) => break,
                Some(Ok(_)) => {}
                None => panic!(
                    "the hub did not close the connection within {RECV_TIMEOUT:?} of DISCONNECT"
                ),
            }
        }
        self.kill().await;
    }

    /// Drops the connection without DISCONNECT (the socket just closes).
    pub async fn kill(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Mq4 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A rumqttc MQTT 5 client whose event loop runs in a task (see [`Mq4`]).
pub struct Mq5 {
    /// The client handle.
    pub client: rumqttc::v5::AsyncClient,
    events: mpsc::UnboundedReceiver<Result<rumqttc::v5::Event, rumqttc::v5::ConnectionError>>,
    task: tokio::task::JoinHandle<()>,
}

/// MQTT 5 options for the hub's TCP listener (keep-alive 30 s).
pub fn opts5(hub: &Hub, id: &str) -> rumqttc::v5::MqttOptions {
    let addr = hub.mqtt_addr();
    let mut o = rumqttc::v5::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

impl Mq5 {
    /// Starts the event loop and waits for the CONNACK.
    pub async fn connect(options: rumqttc::v5::MqttOptions) -> (Mq5, v5::ConnAck) {
        let mut mq = Self::start(options);
        loop {
            match mq.next(RECV_TIMEOUT).await {
                Some(Ok(rumqttc::v5::Event::Incoming(v5::Packet::ConnAck(a)))) => return (mq, a),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("rumqttc (5) could not connect: {e:?}"),
                None => panic!("rumqttc (5): no CONNACK within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// Starts the event loop without waiting for anything.
    pub fn start(options: rumqttc::v5::MqttOptions) -> Mq5 {
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    return;
                }
            }
        });
        Mq5 {
            client,
            events,
            task,
        }
    }

    /// The next event (or the error that ended the connection), or `None` after `wait`.
    pub async fn next(
        &mut self,
        wait: Duration,
    ) -> Option<Result<rumqttc::v5::Event, rumqttc::v5::ConnectionError>> {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next incoming packet matching `want` (see [`Mq4::wait_for`]).
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut want: impl FnMut(&v5::Packet) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Ok(rumqttc::v5::Event::Incoming(p))) => {
                    if let Some(t) = want(&p) {
                        return t;
                    }
                }
                Some(Ok(rumqttc::v5::Event::Outgoing(_))) => {}
                Some(Err(e)) => panic!("connection ended ({e:?}) while waiting for {what}"),
                None => panic!("no {what} within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// The next incoming PUBLISH.
    pub async fn publish_in(&mut self) -> v5::Publish {
        self.wait_for("PUBLISH", |p| match p {
            v5::Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .await
    }

    /// The next incoming PUBLISH on `topic`.
    pub async fn publish_on(&mut self, topic: &str) -> v5::Publish {
        self.wait_for(&format!("PUBLISH on {topic}"), |p| match p {
            v5::Packet::Publish(p) if p.topic == topic.as_bytes() => Some(p.clone()),
            _ => None,
        })
        .await
    }

    /// Subscribes with these filters and returns the SUBACK.
    pub async fn subscribe_filters(&mut self, filters: Vec<v5::Filter>) -> v5::SubAck {
        self.client
            .subscribe_many(filters)
            .await
            .expect("subscribe request");
        self.wait_for("SUBACK", |p| match p {
            v5::Packet::SubAck(a) => Some(a.clone()),
            _ => None,
        })
        .await
    }

    /// Subscribes to one filter and returns the SUBACK.
    pub async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::v5::mqttbytes::QoS,
    ) -> v5::SubAck {
        self.subscribe_filters(vec![v5::Filter::new(filter, qos)])
            .await
    }

    /// Asserts no PUBLISH arrives within `wait`.
    pub async fn expect_no_publish(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                None => return,
                Some(Ok(rumqttc::v5::Event::Incoming(v5::Packet::Publish(p)))) => {
                    panic!("expected no PUBLISH, got {p:?}")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("connection ended ({e:?}) while it should stay quiet"),
            }
        }
    }

    /// Waits for the connection to end; returns the error.
    pub async fn expect_end(&mut self) -> rumqttc::v5::ConnectionError {
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Err(e)) => return e,
                Some(Ok(_)) => {}
                None => panic!("the connection did not end within {RECV_TIMEOUT:?}"),
            }
        }
    }

    /// Sends DISCONNECT and waits until the hub has closed the connection
    /// (which it does just before it lets go of the session).
    pub async fn disconnect(&mut self) {
        self.client.disconnect().await.expect("disconnect request");
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(Err(_)) => break,
                Some(Ok(_)) => {}
                None => panic!(
                    "the hub did not close the connection within {RECV_TIMEOUT:?} of DISCONNECT"
                ),
            }
        }
        self.kill().await;
    }

    /// Drops the connection without DISCONNECT.
    pub async fn kill(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Mq5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------
// mosquitto_pub / mosquitto_sub
// ---------------------------------------------------------------------------

/// Panics with an install hint if a command-line client is missing.
fn require_tool(tool: &str, package: &str) {
    let found = Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{tool}` is not installed; these tests need real MQTT clients: \
         `sudo apt-get install {package}`"
    );
}

/// Runs a command to its end, killing it (by its pid) after `limit`.
pub async fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    tokio::task::spawn_blocking(move || {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let out = child.wait_with_output();
            let _ = tx.send(());
            out
        });
        if rx.recv_timeout(limit).is_err() {
            // Our own child, still unreaped (its waiter holds it): SIGKILL by pid.
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            let out = waiter.join().expect("waiter thread");
            panic!("{cmd:?} did not finish within {limit:?}: {out:?}");
        }
        waiter
            .join()
            .expect("waiter thread")
            .expect("the command's output")
    })
    .await
    .expect("blocking task")
}

/// `mosquitto_pub -h 127.0.0.1 -p PORT ARGS…`; asserts it exits 0.
pub async fn mosquitto_pub(hub: &Hub, args: &[&str]) -> Output {
    let out = mosquitto_pub_status(hub, args).await;
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `mosquitto_pub` with these arguments, whatever its exit status.
pub async fn mosquitto_pub_status(hub: &Hub, args: &[&str]) -> Output {
    require_tool("mosquitto_pub", "mosquitto-clients");
    let addr = hub.mqtt_addr();
    let mut cmd = Command::new("mosquitto_pub");
    cmd.arg("-h")
        .arg(addr.ip().to_string())
        .arg("-p")
        .arg(addr.port().to_string())
        .args(args);
    run_bounded(cmd, RECV_TIMEOUT).await
}

/// One message printed by [`MosquittoSub`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The topic.
    pub topic: String,
    /// The QoS it was delivered with.
    pub qos: u8,
    /// The retain flag.
    pub retained: bool,
    /// The payload as text.
    pub payload: String,
}

/// A running `mosquitto_sub`, each message printed as one line
/// (`-F '%t<TAB>%q<TAB>%r<TAB>%p'`), read by a thread.
pub struct MosquittoSub {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Lines printed before it was known to be subscribed (retained
    /// messages), served first.
    early: std::collections::VecDeque<String>,
    ready_topic: String,
}

impl MosquittoSub {
    /// Starts `mosquitto_sub ARGS…` and waits until it is subscribed: it is
    /// also subscribed to a private topic that is published to until a
    /// message on it comes out.
    pub async fn start(hub: &Hub, args: &[&str]) -> MosquittoSub {
        require_tool("mosquitto_sub", "mosquitto-clients");
        let addr = hub.mqtt_addr();
        let ready_topic = format!("hubbub-test/ready/{}", unique("sub"));
        let mut child = Command::new("mosquitto_sub")
            .arg("-h")
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .arg("-F")
            .arg("%t\t%q\t%r\t%p")
            .args(args)
            .arg("-t")
            .arg(&ready_topic)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run mosquitto_sub: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        let mut sub = MosquittoSub {
            child,
            lines,
            early: std::collections::VecDeque::new(),
            ready_topic,
        };
        let mut probe = raw4(hub, &unique("probe")).await;
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "mosquitto_sub {args:?} did not get subscribed within {RECV_TIMEOUT:?}"
            );
            let topic = sub.ready_topic.clone();
            probe
                .publish4(&topic, rumqttc::QoS::AtMostOnce, 0, b"ready")
                .await;
            let wait = tokio::time::timeout(Duration::from_millis(300), sub.lines.recv()).await;
            match wait {
                Ok(Some(l)) if l.starts_with(&format!("{topic}\t")) => break,
                Ok(Some(l)) => sub.early.push_back(l),
                Ok(None) => panic!("mosquitto_sub {args:?} exited"),
                Err(_) => {}
            }
        }
        // Later probes may still be on their way; drop them as they come.
        sub
    }

    /// The next line, or `None` after `wait`. Probe lines are skipped.
    pub async fn try_line(&mut self, wait: Duration) -> Option<Line> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let l = match self.early.pop_front() {
                Some(l) => l,
                None => tokio::time::timeout_at(deadline, self.lines.recv())
                    .await
                    .ok()??,
            };
            let mut parts = l.splitn(4, '\t');
            let (Some(topic), Some(qos), Some(retained), Some(payload)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                panic!("mosquitto_sub printed an unexpected line: {l:?}");
            };
            if topic == self.ready_topic {
                continue;
            }
            return Some(Line {
                topic: topic.to_string(),
                qos: qos.parse().expect("%q is a number"),
                retained: retained == "1",
                payload: payload.to_string(),
            });
        }
    }

    /// The next line; panics after [`RECV_TIMEOUT`].
    pub async fn line(&mut self) -> Line {
        self.try_line(RECV_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("mosquitto_sub printed nothing within {RECV_TIMEOUT:?}"))
    }

    /// The next line on `topic` (others are skipped).
    pub async fn line_on(&mut self, topic: &str) -> Line {
        let deadline = Instant::now() + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_line(left).await {
                Some(l) if l.topic == topic => return l,
                Some(_) => {}
                None => panic!("mosquitto_sub printed nothing on {topic} within {RECV_TIMEOUT:?}"),
            }
        }
    }
}

impl Drop for MosquittoSub {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// paho-mqtt (Python)
// ---------------------------------------------------------------------------

/// `tests/mqtt_py/paho_checks.py`.
pub fn paho_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mqtt_py/paho_checks.py")
}

/// Runs one check of `paho_checks.py` against `hub`; panics with its
/// output if it fails, and with an install hint if paho-mqtt is missing.
pub async fn paho_check(hub: &Hub, check: &str) -> String {
    let probe = Command::new("python3")
        .args(["-c", "import paho.mqtt.client"])
        .output();
    match probe {
        Err(e) => panic!("python3 is needed for the paho-mqtt tests: {e}"),
        Ok(out) if !out.status.success() => panic!(
            "the paho-mqtt Python client is not installed; install it with \
             `apt-get install python3-paho-mqtt` (Debian) or `python3 -m pip install paho-mqtt`. \
             python3 said: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
    let addr = hub.mqtt_addr();
    let mut cmd = Command::new("python3");
    cmd.arg(paho_script())
        .arg("--host")
        .arg(addr.ip().to_string())
        .arg("--port")
        .arg(addr.port().to_string())
        .arg("--http")
        .arg(hub.http_base())
        .arg(check);
    let out = run_bounded(cmd, Duration::from_secs(120)).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "paho check {check} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("ok {check}")),
        "paho check {check} did not report success: {stdout}"
    );
    stdout
}
