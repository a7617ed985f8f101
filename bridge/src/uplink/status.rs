//! The uplink's live status, shared by its two tasks and shown by
//! `GET /api/uplink` and the metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use hubbub_core::metrics::Metrics;
use hubbub_core::uplink::UplinkState;
use hubbub_core::{format_ts, Message, RoomName};
use serde_json::{json, Value};

/// Which side of the uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Sending the outbox.
    Outbound,
    /// Reading other hubs' messages.
    Inbound,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Outbound => "outbound",
            Side::Inbound => "inbound",
        }
    }
}

#[derive(Default)]
struct RoomStatus {
    position: String,
    received: u64,
    lag_ms: Option<i64>,
}

#[derive(Default)]
struct Live {
    outbound_ok: bool,
    inbound_ok: bool,
    last_error: Option<(Side, String, String)>,
    sent: u64,
    rooms: BTreeMap<RoomName, RoomStatus>,
}

struct Shared {
    hub_id: String,
    state: UplinkState,
    metrics: Arc<Metrics>,
    live: Mutex<Live>,
}

/// A handle on the uplink's status; cheap to clone. The default is an
/// uplink that is off.
#[derive(Clone, Default)]
pub struct UplinkStatus {
    shared: Option<Arc<Shared>>,
}

impl UplinkStatus {
    /// The status of a running uplink.
    pub(crate) fn new(hub_id: String, state: UplinkState, metrics: Arc<Metrics>) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                hub_id,
                state,
                metrics,
                live: Mutex::new(Live::default()),
            })),
        }
    }

    fn live(&self) -> Option<(&Shared, MutexGuard<'_, Live>)> {
        let shared = self.shared.as_deref()?;
        Some((
            shared,
            shared.live.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// The last exchange of `side` with Redis succeeded.
    pub(crate) fn ok(&self, side: Side) {
        if let Some((shared, mut live)) = self.live() {
            match side {
                Side::Outbound => live.outbound_ok = true,
                Side::Inbound => live.inbound_ok = true,
            }
            let connected = live.outbound_ok && live.inbound_ok;
            shared.metrics.uplink.connected.set(i64::from(connected));
        }
    }

    /// The last exchange of `side` with Redis failed.
    pub(crate) fn failed(&self, side: Side, error: &str) {
        if let Some((shared, mut live)) = self.live() {
            let was_ok = match side {
                Side::Outbound => std::mem::replace(&mut live.outbound_ok, false),
                Side::Inbound => std::mem::replace(&mut live.inbound_ok, false),
            };
            // Loud once per outage, quiet while it lasts.
            if was_ok || live.last_error.is_none() {
                tracing::warn!(
                    side = side.as_str(),
                    error,
                    "uplink: Redis exchange failed; retrying"
                );
            } else {
                tracing::debug!(
                    side = side.as_str(),
                    error,
                    "uplink: Redis exchange failed again"
                );
            }
            let at = format_ts(&chrono::Utc::now());
            live.last_error = Some((side, error.to_string(), at));
            shared.metrics.uplink.connected.set(0);
            shared.metrics.uplink.errors.inc();
        }
    }

    /// `count` outbox messages reached Redis.
    pub(crate) fn sent(&self, count: u64) {
        if let Some((shared, mut live)) = self.live() {
            live.sent += count;
            shared.metrics.uplink.sent.inc_by(count);
            let depth = shared.state.depth();
            shared
                .metrics
                .uplink
                .outbox_messages
                .set(depth.messages as i64);
            shared.metrics.uplink.outbox_bytes.set(depth.bytes as i64);
        }
    }

    /// Reading `room` has reached `position`.
    pub(crate) fn read(&self, room: &RoomName, position: &str) {
        if let Some((_, mut live)) = self.live() {
            live.rooms.entry(room.clone()).or_default().position = position.into();
        }
    }

    /// A message relayed from another hub was stored here as `stored`.
    pub(crate) fn received(&self, stored: &Message) {
        if let Some((shared, mut live)) = self.live() {
            let room = live.rooms.entry(stored.room.clone()).or_default();
            room.received += 1;
            if let Some(origin_ts) = stored.origin_ts {
                let lag_ms = (stored.ts - origin_ts).num_milliseconds();
                room.lag_ms = Some(lag_ms);
                shared
                    .metrics
                    .uplink
                    .set_lag(stored.room.as_str(), lag_ms as f64 / 1000.0);
            }
        }
    }

    /// The status as `GET /api/uplink` shows it, listing only the rooms
    /// `visible` accepts.
    pub fn to_json(&self, visible: impl Fn(&RoomName) -> bool) -> Value {
        let Some((shared, live)) = self.live() else {
            return json!({"enabled": false});
        };
        let depth = shared.state.depth();
        let rooms: serde_json::Map<String, Value> = live
            .rooms
            .iter()
            .filter(|(name, _)| visible(name))
            .map(|(name, r)| {
                (
                    name.to_string(),
                    json!({"position": r.position, "received": r.received, "lag_ms": r.lag_ms}),
                )
            })
            .collect();
        json!({
            "enabled": true,
            "hub": shared.hub_id,
            "connected": live.outbound_ok && live.inbound_ok,
            "last_error": live.last_error.as_ref().map(|(side, message, at)| {
                json!({"side": side.as_str(), "message": message, "at": at})
            }),
            "outbox": {
                "messages": depth.messages,
                "bytes": depth.bytes,
                "dropped": depth.dropped,
                "sent": live.sent,
            },
            "rooms": rooms,
        })
    }
}
