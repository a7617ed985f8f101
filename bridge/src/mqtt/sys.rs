//! `$SYS/hubbub/...`: the broker's statistics as retained messages, and
//! the periodic sweep of expired sessions.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::broker::Broker;
use super::packet::Qos;

/// Publishes the statistics every `interval` until shutdown.
pub(crate) async fn run(broker: Arc<Broker>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = broker.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        broker.sweep();
        let stats = [
            (
                "clients/connected",
                broker.stats.connected.load(Ordering::Relaxed).to_string(),
            ),
            ("clients/sessions", broker.session_count().to_string()),
            (
                "messages/received",
                broker.stats.received.load(Ordering::Relaxed).to_string(),
            ),
            (
                "messages/sent",
                broker.stats.sent.load(Ordering::Relaxed).to_string(),
            ),
            ("uptime", broker.uptime_secs().to_string()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ];
        for (name, value) in stats {
            broker.publish_from_hub(
                format!("$SYS/hubbub/{name}"),
                Bytes::from(value),
                Qos::AtMostOnce,
                true,
            );
        }
    }
}
