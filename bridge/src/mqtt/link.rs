//! The byte stream under an MQTT connection: a TCP socket, or WebSocket
//! binary frames (MQTT over WebSocket, subprotocol `mqtt`).

use std::io;

use axum::extract::ws::{Message, WebSocket};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One client's byte stream.
pub enum Link {
    /// Plain TCP.
    Tcp(TcpStream),
    /// WebSocket binary frames.
    Ws(Box<WebSocket>),
}

impl Link {
    /// Appends what arrives to `buf`; `Ok(0)` means the peer closed.
    /// Safe to cancel: nothing read is lost.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => {
                buf.reserve(512);
                s.read_buf(buf).await
            }
            Link::Ws(ws) => loop {
                match ws.recv().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(0),
                    Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                        buf.extend_from_slice(&b);
                        return Ok(b.len());
                    }
                    Some(Ok(Message::Text(_))) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "MQTT over WebSocket uses binary frames",
                        ))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(io::Error::other(e)),
                }
            },
        }
    }

    /// Writes bytes out.
    pub async fn write(&mut self, data: Bytes) -> io::Result<()> {
        match self {
            Link::Tcp(s) => s.write_all(&data).await,
            Link::Ws(ws) => ws
                .send(Message::Binary(data))
                .await
                .map_err(io::Error::other),
        }
    }

    /// Closes the stream, politely where the transport has a way.
    pub async fn close(&mut self) {
        match self {
            Link::Tcp(s) => {
                let _ = s.shutdown().await;
            }
            Link::Ws(ws) => {
                let _ = ws.send(Message::Close(None)).await;
            }
        }
    }
}
