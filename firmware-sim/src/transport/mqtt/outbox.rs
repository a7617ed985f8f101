//! Which post a PUBACK acknowledges.
//!
//! MQTT 3.1.1 acks name only a packet id, which rumqttc assigns when it
//! writes the publish. Posts are handed to rumqttc in order, and rumqttc
//! writes them in that order, reporting each write with its packet id; so
//! the n-th write of a new publish is the n-th post still waiting. A write
//! with a packet id already in flight is a retransmission (after a
//! reconnect) and changes nothing.

use std::collections::{HashMap, VecDeque};

/// Posts on their way out and the packet ids of those in flight.
#[derive(Debug, Default)]
pub struct Outbox {
    waiting: VecDeque<String>,
    in_flight: HashMap<u16, String>,
}

impl Outbox {
    /// A post with `reference` was handed to the client.
    pub fn posted(&mut self, reference: String) {
        self.waiting.push_back(reference);
    }

    /// A publish with packet id `pkid` was written (0 for QoS 0).
    pub fn written(&mut self, pkid: u16) {
        if pkid != 0 && self.in_flight.contains_key(&pkid) {
            return; // a retransmission
        }
        if let Some(reference) = self.waiting.pop_front() {
            if pkid != 0 {
                self.in_flight.insert(pkid, reference);
            }
        }
    }

    /// The post that `pkid` acknowledges, if it is one in flight.
    pub fn acked(&mut self, pkid: u16) -> Option<String> {
        self.in_flight.remove(&pkid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_packet_ids_in_write_order() {
        let mut o = Outbox::default();
        for r in ["a", "b", "c"] {
            o.posted(r.into());
        }
        o.written(1);
        o.written(2);
        assert_eq!(o.acked(2).as_deref(), Some("b"));
        o.written(1); // retransmission of "a"
        o.written(2); // "c" reuses the freed id
        assert_eq!(o.acked(1).as_deref(), Some("a"));
        assert_eq!(o.acked(2).as_deref(), Some("c"));
        assert_eq!(o.acked(2), None);
    }

    #[test]
    fn qos0_writes_just_leave() {
        let mut o = Outbox::default();
        o.posted("a".into());
        o.written(0);
        assert_eq!(o.acked(0), None);
        o.posted("b".into());
        o.written(1);
        assert_eq!(o.acked(1).as_deref(), Some("b"));
    }
}
