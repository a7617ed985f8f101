//! What each kind of device does, apart from being connected: when it
//! acts, what it publishes, how it answers what it receives.

mod bot;
mod doorbell;
mod sensor;
mod thermostat;

use rand::rngs::StdRng;
use serde::Serialize;
use tokio::time::Instant;

use super::config::BehaviourSpec;

/// Why a device publishes something (for the log and the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A periodic reading (thermostat, sensor).
    Reading,
    /// A scheduled post (doorbell).
    Ring,
    /// An answer to a message (bot).
    Reply,
}

/// One publish a behaviour asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether it is retained.
    pub retain: bool,
    /// Why.
    pub purpose: Purpose,
    /// What it says, for the log.
    pub summary: String,
}

/// A device's behaviour.
pub trait Behaviour: Send {
    /// The filters it subscribes to (none, unless it listens).
    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }
    /// When it next wants to act on its own, if ever.
    fn next_due(&self) -> Option<Instant>;
    /// Acts (it is due at `now`).
    fn due(&mut self, now: Instant, rng: &mut StdRng) -> Vec<Outbound>;
    /// Reacts to a publish it received (not at all, unless it listens).
    fn on_message(&mut self, _topic: &str, _payload: &[u8], _now: Instant) -> Vec<Outbound> {
        Vec::new()
    }
}

/// Builds the behaviour of a device `id` started at `start`; `boot` makes
/// its post refs unique to this run.
pub fn build(spec: &BehaviourSpec, id: &str, boot: &str, start: Instant) -> Box<dyn Behaviour> {
    let poster = RoomPoster::new(boot);
    match spec {
        BehaviourSpec::Thermostat {
            room,
            interval,
            start: celsius,
        } => Box::new(thermostat::Thermostat::new(
            poster, room, *interval, *celsius, start,
        )),
        BehaviourSpec::Doorbell {
            room,
            at,
            repeat,
            text,
        } => Box::new(doorbell::Doorbell::new(
            poster,
            room,
            at.clone(),
            *repeat,
            text,
            start,
        )),
        BehaviourSpec::Bot { rooms } => Box::new(bot::Bot::new(poster, id, rooms, start)),
        BehaviourSpec::Sensor {
            topic,
            interval,
            start: value,
            quantity,
            unit,
            retain,
        } => Box::new(sensor::Sensor::new(sensor::SensorSpec {
            id: id.to_owned(),
            topic: topic.clone(),
            interval: *interval,
            value: *value,
            quantity: quantity.clone(),
            unit: unit.clone(),
            retain: *retain,
            start,
        })),
    }
}

/// Posts to rooms: `rooms/{room}` with `{"text","ref"}`, where the `ref`
/// is unique to this run of the device, so that a post repeated after a
/// reconnect is stored once (the hub's idempotency), and a later run is
/// never taken for a repeat.
#[derive(Debug, Clone)]
pub struct RoomPoster {
    boot: String,
    next: u64,
}

#[derive(Serialize)]
struct PostBody<'a> {
    text: &'a str,
    #[serde(rename = "ref")]
    reference: &'a str,
}

impl RoomPoster {
    /// A poster whose refs start with `boot`.
    pub fn new(boot: &str) -> Self {
        Self {
            boot: boot.to_owned(),
            next: 1,
        }
    }

    /// A post of `text` to `room`.
    pub fn post(&mut self, room: &str, text: &str, purpose: Purpose) -> Outbound {
        let reference = format!("{}-{}", self.boot, self.next);
        self.next += 1;
        let payload = serde_json::to_vec(&PostBody {
            text,
            reference: &reference,
        })
        .unwrap_or_else(|_| text.as_bytes().to_vec());
        Outbound {
            topic: format!("rooms/{room}"),
            payload,
            retain: false,
            purpose,
            summary: text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_posts_carry_fresh_refs() {
        let mut p = RoomPoster::new("b1");
        let a = p.post("kitchen", "hi \"there\"", Purpose::Ring);
        let b = p.post("kitchen", "again", Purpose::Ring);
        assert_eq!(a.topic, "rooms/kitchen");
        assert_eq!(a.payload, br#"{"text":"hi \"there\"","ref":"b1-1"}"#);
        assert!(String::from_utf8(b.payload).unwrap().contains("\"b1-2\""));
    }
}
