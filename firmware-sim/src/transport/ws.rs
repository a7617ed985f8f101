//! The WebSocket chat client (`GET /ws`, JSON text frames; see docs/protocol.md).

use std::borrow::Cow;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Delivery, HubEvent, Joined};

/// How long opening a connection, `hello` and `join` may each take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a goodbye may take before the connection is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A frame from client to hub.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum ClientFrame<'a> {
    Hello {
        nick: &'a str,
    },
    Join {
        room: &'a str,
    },
    Post {
        room: &'a str,
        text: &'a str,
        #[serde(rename = "ref")]
        reference: &'a str,
    },
}

/// A frame from hub to client, flattened: every field the tools read, all optional.
#[derive(Deserialize)]
struct HubFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    room: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow, rename = "ref")]
    reference: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    duplicate: bool,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default)]
    last_seq: Option<u64>,
}

/// An open WebSocket connection that has been greeted with `welcome`.
pub struct WsConnection {
    stream: Stream,
}

impl WsConnection {
    /// Connects to `ws://HUB/ws`, sends `hello` with `nick` and waits for `welcome`.
    pub async fn open(hub: &str, nick: &str) -> Result<Self> {
        let url = format!("ws://{hub}/ws");
        let (stream, _) = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url.as_str(), None, true),
        )
        .await
        .with_context(|| format!("connecting to {url} timed out"))?
        .with_context(|| format!("connecting to {url}"))?;
        let mut conn = Self { stream };
        conn.send(&ClientFrame::Hello { nick }).await?;
        conn.wait_for("welcome", |_| true).await?;
        Ok(conn)
    }

    /// Sends `join` for `room` and waits for its `joined`.
    pub async fn join(&mut self, room: &str) -> Result<Joined> {
        self.send(&ClientFrame::Join { room }).await?;
        let frame = self
            .wait_for("joined", |f| f.room.as_deref() == Some(room))
            .await?;
        Ok(frame)
    }

    /// Splits into the sending and the receiving half.
    pub fn split(self) -> (WsPoster, WsEvents) {
        let (sink, stream) = self.stream.split();
        (WsPoster { sink }, WsEvents { stream })
    }

    async fn send(&mut self, frame: &ClientFrame<'_>) -> Result<()> {
        let json = serde_json::to_string(frame)?;
        self.stream
            .send(Message::text(json))
            .await
            .context("sending to the hub")
    }

    /// Reads frames until one of type `kind` that `accept` likes and returns
    /// its `last_seq`; fails on an `error` frame, a close
    /// or the timeout.
    async fn wait_for(
        &mut self,
        kind: &str,
        accept: impl Fn(&HubFrame<'_>) -> bool,
    ) -> Result<Joined> {
        let read = async {
            while let Some(msg) = self.stream.next().await {
                let text = match msg.context("reading from the hub")? {
                    Message::Text(t) => t,
                    Message::Close(frame) => bail!("hub closed the connection: {frame:?}"),
                    _ => continue,
                };
                let frame: HubFrame<'_> = serde_json::from_str(text.as_str())
                    .with_context(|| format!("hub sent a frame that is not JSON: {text}"))?;
                if frame.kind == "error" {
                    bail!(
                        "hub answered with error {}: {}",
                        frame.code.as_deref().unwrap_or("?"),
                        frame.message.as_deref().unwrap_or("")
                    );
                }
                if frame.kind == kind && accept(&frame) {
                    return Ok(Joined {
                        last_seq: frame.last_seq,
                    });
                }
            }
            Err(anyhow!("hub closed the connection before `{kind}`"))
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, read)
            .await
            .map_err(|_| anyhow!("no `{kind}` from the hub within {HANDSHAKE_TIMEOUT:?}"))?
    }
}

/// The sending half of a WebSocket connection.
pub struct WsPoster {
    sink: SplitSink<Stream, Message>,
}

impl WsPoster {
    /// Queues a `post` frame without flushing.
    pub async fn post(&mut self, room: &str, reference: &str, text: &str) -> Result<()> {
        let json = serde_json::to_string(&ClientFrame::Post {
            room,
            text,
            reference,
        })?;
        self.sink
            .feed(Message::text(json))
            .await
            .context("sending a post")
    }

    /// Writes out all queued frames.
    pub async fn flush(&mut self) -> Result<()> {
        self.sink.flush().await.context("flushing posts")
    }

    /// Sends a close frame, waiting briefly.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.sink.close()).await;
    }
}

/// The receiving half of a WebSocket connection.
pub struct WsEvents {
    stream: SplitStream<Stream>,
}

impl WsEvents {
    /// The next event from the hub; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Result<HubEvent>> {
        loop {
            let msg = match self.stream.next().await? {
                Ok(m) => m,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return None
                }
                Err(e) => return Some(Err(anyhow!(e).context("reading from the hub"))),
            };
            match msg {
                Message::Text(t) => {
                    return Some(Ok(parse_event(t.as_str())
                        .unwrap_or_else(|e| HubEvent::Malformed(format!("{e:#}")))))
                }
                Message::Close(frame) => {
                    return Some(Ok(HubEvent::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    }))
                }
                Message::Binary(_) => return Some(Ok(HubEvent::Other)),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }
}

/// Turns one JSON text frame from the hub into a [`HubEvent`].
fn parse_event(text: &str) -> Result<HubEvent> {
    let f: HubFrame<'_> = serde_json::from_str(text)
        .with_context(|| format!("hub sent a frame that is not JSON: {text}"))?;
    let owned = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
    Ok(match f.kind.as_ref() {
        "message" => HubEvent::Message(Delivery {
            room: owned(f.room).unwrap_or_default(),
            seq: Some(
                f.seq
                    .ok_or_else(|| anyhow!("message frame without a seq: {text}"))?,
            ),
            reference: owned(f.reference),
            text: owned(f.text).unwrap_or_default(),
        }),
        "ack" => HubEvent::Ack {
            reference: owned(f.reference),
            seq: f.seq,
            duplicate: f.duplicate,
        },
        "error" => HubEvent::Error {
            code: owned(f.code).unwrap_or_default(),
            reference: owned(f.reference),
            message: owned(f.message).unwrap_or_default(),
        },
        _ => HubEvent::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_message_ack_and_error() {
        let m = parse_event(r#"{"type":"message","room":"r","seq":42,"from":"a","text":"t=5;..","ts":"x","origin":"o","via":"ws","ref":"c-1"}"#).unwrap();
        match m {
            HubEvent::Message(d) => {
                assert_eq!((d.room.as_str(), d.seq), ("r", Some(42)));
                assert_eq!(d.reference.as_deref(), Some("c-1"));
                assert_eq!(d.text, "t=5;..");
            }
            other => panic!("{other:?}"),
        }
        let a = parse_event(r#"{"type":"ack","room":"r","ref":"c-1","seq":42,"duplicate":false}"#)
            .unwrap();
        assert!(matches!(
            a,
            HubEvent::Ack {
                seq: Some(42),
                duplicate: false,
                ..
            }
        ));
        let e = parse_event(r#"{"type":"error","code":"too_large","message":"big","ref":"c-2"}"#)
            .unwrap();
        assert!(matches!(e, HubEvent::Error { ref code, .. } if code == "too_large"));
        let o = parse_event(r#"{"type":"presence","room":"r","who":"a","state":"join"}"#).unwrap();
        assert!(matches!(o, HubEvent::Other));
        let h = parse_event(r#"{"type":"history","room":"r","messages":[{"seq":1}]}"#).unwrap();
        assert!(matches!(h, HubEvent::Other));
    }

    #[test]
    fn escaped_text_is_unescaped() {
        let m = parse_event(r#"{"type":"message","room":"r","seq":1,"text":"a\"b"}"#).unwrap();
        assert!(matches!(m, HubEvent::Message(d) if d.text == "a\"b"));
    }

    #[test]
    fn post_frame_shape() {
        let json = serde_json::to_string(&ClientFrame::Post {
            room: "r",
            text: "hi",
            reference: "c-1",
        })
        .unwrap();
        assert_eq!(json, r#"{"op":"post","room":"r","text":"hi","ref":"c-1"}"#);
    }
}
