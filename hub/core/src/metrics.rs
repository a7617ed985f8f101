//! Prometheus metrics shared by the room service and every transport.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::message::Via;

/// A transport, as a metrics label.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Transport {
    /// WebSocket chat.
    ws,
    /// Server-sent events.
    sse,
    /// MQTT over TCP.
    mqtt,
    /// MQTT over WebSocket.
    mqtt_ws,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: Transport,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViaLabel {
    via: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoomLabel {
    room: String,
}

/// The Redis uplink's metrics (all zero while it is off).
pub struct UplinkMetrics {
    /// 1 while the last exchange with Redis succeeded, else 0.
    pub connected: Gauge,
    /// Unsent messages in the outbox.
    pub outbox_messages: Gauge,
    /// Bytes of unsent messages in the outbox.
    pub outbox_bytes: Gauge,
    /// Unsent messages dropped because the outbox was full.
    pub outbox_dropped: Counter,
    /// Messages sent to Redis.
    pub sent: Counter,
    /// Relayed messages not stored because this hub already had them.
    pub repeats: Counter,
    /// Relayed messages refused by this hub (too large, no such room...).
    pub rejected: Counter,
    /// Failed exchanges with Redis.
    pub errors: Counter,
    lag: Family<RoomLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl UplinkMetrics {
    fn register(registry: &mut Registry) -> Self {
        let sub = registry.sub_registry_with_prefix("uplink");
        let this = Self {
            connected: Gauge::default(),
            outbox_messages: Gauge::default(),
            outbox_bytes: Gauge::default(),
            outbox_dropped: Counter::default(),
            sent: Counter::default(),
            repeats: Counter::default(),
            rejected: Counter::default(),
            errors: Counter::default(),
            lag: Family::default(),
        };
        sub.register(
            "connected",
            "1 while the last exchange with Redis succeeded",
            this.connected.clone(),
        );
        sub.register(
            "outbox_messages",
            "Unsent messages in the outbox",
            this.outbox_messages.clone(),
        );
        sub.register(
            "outbox_bytes",
            "Bytes of unsent messages in the outbox",
            this.outbox_bytes.clone(),
        );
        sub.register(
            "outbox_dropped",
            "Unsent messages dropped, oldest first, because the outbox was full",
            this.outbox_dropped.clone(),
        );
        sub.register("sent", "Messages sent to Redis", this.sent.clone());
        sub.register(
            "repeats",
            "Relayed messages this hub already had (not stored again)",
            this.repeats.clone(),
        );
        sub.register(
            "rejected",
            "Relayed messages this hub refused (too large, no such room...)",
            this.rejected.clone(),
        );
        sub.register("errors", "Failed exchanges with Redis", this.errors.clone());
        sub.register(
            "lag_seconds",
            "Per room, from the origin hub accepting the last relayed message to this hub storing it",
            this.lag.clone(),
        );
        this
    }

    /// Records the lag of the last message relayed into `room`.
    pub fn set_lag(&self, room: &str, seconds: f64) {
        self.lag
            .get_or_create(&RoomLabel { room: room.into() })
            .set(seconds);
    }
}

/// Every metric the hub exports. Handles are cheap clones of shared atomics.
pub struct Metrics {
    registry: Registry,
    /// One counter per `Via`, in `Via::ALL` order, made once: the committer
    /// counts every message and should not look a label up each time.
    messages_in: [Counter; 4],
    connections: Family<TransportLabel, Gauge>,
    /// Events handed to subscriber queues.
    pub deliveries: Counter,
    /// Posts answered with an earlier message because their `ref` repeated.
    pub duplicates: Counter,
    /// Subscribers dropped because their queue overflowed.
    pub slow_consumer_drops: Counter,
    /// Ephemeral events (typing, presence) not queued because a queue was full.
    pub ephemeral_drops: Counter,
    /// Seconds each group commit took to write and sync.
    pub flush_seconds: Histogram,
    /// Messages per group commit.
    pub batch_messages: Histogram,
    /// The Redis uplink.
    pub uplink: UplinkMetrics,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hubbub");
        let messages_in = Family::<ViaLabel, Counter>::default();
        registry.register(
            "messages_in",
            "Messages stored, by the way they came in",
            messages_in.clone(),
        );
        let messages_in = Via::ALL.map(|via| {
            messages_in
                .get_or_create(&ViaLabel { via: via.as_str() })
                .clone()
        });
        let connections = Family::<TransportLabel, Gauge>::default();
        registry.register(
            "connections",
            "Open client connections, by transport",
            connections.clone(),
        );
        let deliveries = Counter::default();
        registry.register(
            "deliveries",
            "Events handed to subscriber queues (messages out)",
            deliveries.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "duplicate_posts",
            "Posts that repeated a ref and got the original message back",
            duplicates.clone(),
        );
        let drops = Family::<DropLabel, Counter>::default();
        registry.register(
            "queue_drops",
            "Queue overflows: slow consumers disconnected, ephemeral events skipped",
            drops.clone(),
        );
        let flush_seconds =
            Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5]);
        registry.register(
            "store_flush_seconds",
            "Time to write and sync one group commit",
            flush_seconds.clone(),
        );
        let batch_messages = Histogram::new([1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0]);
        registry.register(
            "store_batch_messages",
            "Messages per group commit",
            batch_messages.clone(),
        );
        let slow_consumer_drops = drops
            .get_or_create(&DropLabel {
                kind: "slow_consumer",
            })
            .clone();
        let ephemeral_drops = drops
            .get_or_create(&DropLabel { kind: "ephemeral" })
            .clone();
        let uplink = UplinkMetrics::register(&mut registry);
        Self {
            messages_in,
            connections,
            deliveries,
            duplicates,
            slow_consumer_drops,
            ephemeral_drops,
            flush_seconds,
            batch_messages,
            uplink,
            registry,
        }
    }

    /// The counter of messages stored that came in by `via`.
    pub fn messages_in(&self, via: Via) -> &Counter {
        // `Via::ALL` lists the variants in declaration order.
        &self.messages_in[via as usize]
    }

    /// The gauge of open connections of one transport.
    pub fn connections(&self, transport: Transport) -> Gauge {
        self.connections
            .get_or_create(&TransportLabel { transport })
            .clone()
    }

    /// Everything in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
