//! From the rooms to MQTT: every room message is published on
//! `rooms/{room}` (canonical JSON, QoS 1), presence changes as retained
//! `rooms/{room}/presence`, typing on `rooms/{room}/typing`. One tap on
//! every room feeds the broker's router, so wildcard subscriptions such as
//! `rooms/#` see rooms created after they subscribed.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hubbub_core::{CloseReason, Event, HistoryQuery, Next, RoomName, Via};
use serde_json::json;

use super::broker::Broker;
use super::packet::Qos;
use super::room_topics::PREFIX;

/// Events the tap holds before the feed counts as too slow.
const TAP_QUEUE: usize = 16 * 1024;
/// Messages read per page when repairing a gap from history.
const REPAIR_PAGE: usize = 500;

/// Runs until the broker shuts down.
pub(crate) async fn run(broker: Arc<Broker>) {
    // Last seq published per room, to repair gaps after an overflow.
    let mut last: HashMap<RoomName, u64> = HashMap::new();
    loop {
        let mut tap = broker.rooms.tap(TAP_QUEUE);
        loop {
            let next = tokio::select! {
                () = broker.shutdown.cancelled() => return,
                next = tap.next() => next,
            };
            match next {
                Next::Event(Event::Message(p)) => {
                    let m = &p.message;
                    let previous = last.insert(m.room.clone(), m.seq);
                    if let Some(prev) = previous {
                        repair(&broker, &m.room, prev, m.seq);
                    }
                    broker.publish_from_hub(
                        format!("{PREFIX}{}", m.room),
                        Bytes::from(p.json.to_string()),
                        Qos::AtLeastOnce,
                        false,
                    );
                }
                Next::Event(Event::Presence { room, .. }) => publish_presence(&broker, &room),
                Next::Event(Event::Typing { room, who, via }) if via != Via::Mqtt => {
                    let payload = json!({"room": room, "who": &*who}).to_string();
                    broker.publish_from_hub(
                        format!("{PREFIX}{room}/typing"),
                        Bytes::from(payload),
                        Qos::AtMostOnce,
                        false,
                    );
                }
                Next::Event(Event::Typing { .. }) => {}
                Next::Closed(CloseReason::SlowConsumer) => {
                    tracing::warn!(
                        "MQTT room feed fell behind; reopening (gaps are repaired from history)"
                    );
                    break;
                }
                // Only members' queues are closed for a rule change; a tap
                // is no member.
                Next::Closed(
                    CloseReason::ShuttingDown
                    | CloseReason::AccessChanged
                    | CloseReason::SessionEnded,
                ) => return,
            }
        }
    }
}

/// Publishes, from history, the messages between `prev` and `seq`
/// (exclusive) that the feed missed.
fn repair(broker: &Broker, room: &RoomName, prev: u64, seq: u64) {
    let mut after = prev;
    while after + 1 < seq {
        let query = HistoryQuery::After {
            seq: after,
            limit: REPAIR_PAGE,
        };
        let page = match broker.rooms.history_of_any(room, query) {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(room = %room, error = %e, "could not repair the MQTT feed from history");
                return;
            }
        };
        let page: Vec<_> = page.into_iter().filter(|m| m.seq < seq).collect();
        let Some(last) = page.last().map(|m| m.seq) else {
            return;
        };
        for m in page {
            broker.publish_from_hub(
                format!("{PREFIX}{room}"),
                Bytes::from(m.to_json()),
                Qos::AtLeastOnce,
                false,
            );
        }
        after = last;
    }
}

/// Publishes a room's online list as retained `rooms/{room}/presence`.
fn publish_presence(broker: &Broker, room: &RoomName) {
    let online = broker.rooms.online(room).unwrap_or_default();
    let payload = json!({"room": room, "online": online}).to_string();
    broker.publish_from_hub(
        format!("{PREFIX}{room}/presence"),
        Bytes::from(payload),
        Qos::AtLeastOnce,
        true,
    );
}
