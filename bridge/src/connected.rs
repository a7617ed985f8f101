//! Counts open connections per transport for the metrics.

use hubbub_core::metrics::Transport;
use hubbub_core::Rooms;
use prometheus_client::metrics::gauge::Gauge;

/// Held for the life of one client connection; counts it in
/// `hubbub_connections{transport=..}`.
pub(crate) struct Connected(Gauge);

impl Connected {
    /// Counts a new connection.
    pub fn new(rooms: &Rooms, transport: Transport) -> Self {
        let gauge = rooms.metrics().connections(transport);
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.dec();
    }
}
