//! The byte stream under an MQTT connection: a TCP socket, TLS over TCP, or
//! WebSocket binary frames (MQTT over WebSocket, subprotocol `mqtt`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::tls::{self, TlsAcceptor};

/// Longest a polite close may take (a TLS close_notify or a WebSocket close
/// frame to a peer that no longer reads).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// One client's byte stream.
pub enum Link {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP, handshake done.
    Tls(Box<TlsStream<TcpStream>>),
    /// WebSocket binary frames.
    Ws(Box<WebSocket>),
}

impl Link {
    /// The link of a connection accepted on the TCP listener: the socket
    /// itself, or, with `tls`, the socket after a TLS handshake. `None` if
    /// the handshake fails, takes too long, or `shutdown` comes first.
    pub async fn over_tcp(
        tcp: TcpStream,
        peer: SocketAddr,
        tls: Option<&TlsAcceptor>,
        shutdown: &CancellationToken,
    ) -> Option<Link> {
        let Some(acceptor) = tls else {
            return Some(Link::Tcp(tcp));
        };
        tokio::select! {
            stream = tls::handshake(acceptor, tcp, peer) => stream.map(|s| Link::Tls(Box::new(s))),
            () = shutdown.cancelled() => None,
        }
    }

    /// Appends what arrives to `buf`; `Ok(0)` means the peer closed.
    /// Safe to cancel: nothing read is lost.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => read_stream(s, buf).await,
            Link::Tls(s) => read_stream(s.as_mut(), buf).await,
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
            Link::Tcp(s) => write_stream(s, &data).await,
            Link::Tls(s) => write_stream(s.as_mut(), &data).await,
            Link::Ws(ws) => ws
                .send(Message::Binary(data))
                .await
                .map_err(io::Error::other),
        }
    }

    /// Closes the stream, politely where the transport has a way, waiting
    /// at most [`CLOSE_GRACE`] for that.
    pub async fn close(&mut self) {
        let polite = async {
            match self {
                Link::Tcp(s) => {
                    let _ = s.shutdown().await;
                }
                // Sends close_notify, then shuts the socket down.
                Link::Tls(s) => {
                    let _ = s.shutdown().await;
                }
                Link::Ws(ws) => {
                    let _ = ws.send(Message::Close(None)).await;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, polite).await;
    }
}

async fn read_stream<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(512);
    s.read_buf(buf).await
}

/// Writes all of `data` and flushes: TLS keeps records in its own buffer
/// until flushed (for plain TCP, flushing does nothing).
async fn write_stream<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8]) -> io::Result<()> {
    s.write_all(data).await?;
    s.flush().await
}
