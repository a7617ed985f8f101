//! HTTPS: a listener for `axum::serve` that yields TLS streams whose
//! handshake has finished.
//!
//! `axum::serve` takes one connection at a time from its listener, so a
//! handshake done inside `accept` would let one slow or silent client hold
//! up every client behind it. Here a background task accepts TCP and starts
//! one task per handshake (bounded by [`HANDSHAKE_TIMEOUT`]); finished
//! streams reach [`TlsListener::accept`] through a channel, in the order
//! they finish.
//!
//! [`HANDSHAKE_TIMEOUT`]: crate::tls::HANDSHAKE_TIMEOUT

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::tls::{self, TlsAcceptor};

/// Handshakes under way at once. Each holds a socket and rustls' buffers
/// for up to the handshake timeout; past this many, new connections wait in
/// the kernel's backlog instead of costing memory.
const MAX_HANDSHAKES: usize = 512;

/// Finished handshakes waiting for `axum::serve` to take them.
const READY_QUEUE: usize = 64;

type Ready = (TlsStream<TcpStream>, SocketAddr);

/// TLS over a TCP listener; see the module doc.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<Ready>,
    local_addr: SocketAddr,
    /// Stops the accept task and every handshake under way when the
    /// listener is dropped (`axum::serve` drops it when shutdown begins).
    _stop: DropGuard,
}

impl TlsListener {
    /// Starts accepting on `tcp`, with `acceptor` doing the handshakes.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(tcp, acceptor, tx, stop.clone()));
        Ok(Self {
            ready,
            local_addr,
            _stop: stop.drop_guard(),
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task ends only when this listener is dropped, and
            // it holds a sender till then: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<Ready>,
    stop: CancellationToken,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        // Take a handshake slot first, so a full house waits here, not in memory.
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            permit = handshakes.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "HTTPS accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        super::set_nodelay(&stream);
        let (acceptor, ready, stop) = (acceptor.clone(), ready.clone(), stop.clone());
        tokio::spawn(async move {
            let finished = tokio::select! {
                () = stop.cancelled() => return,
                finished = tls::handshake(&acceptor, stream, peer) => finished,
            };
            drop(permit);
            if let Some(stream) = finished {
                // Fails only when the listener is gone: the hub is stopping.
                let _ = ready.send((stream, peer)).await;
            }
        });
    }
}
