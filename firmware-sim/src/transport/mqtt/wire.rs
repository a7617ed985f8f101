//! What the load tools put on MQTT topics and read back: topic names per
//! topic mode, the post payload, and the delivery parser.
//!
//! A post is always the JSON `{"text","ref"}`. In room mode (`rooms/{room}`)
//! the hub stores it and publishes the canonical message JSON, which has
//! the room's `seq`; in plain mode (`bench/{room}`) the broker passes the
//! payload through unchanged, and the `ref` (run, sender, post number) and
//! the send time in `text` are all there is to check.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::transport::{Delivery, HubEvent};

/// Which topics the MQTT clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicMode {
    /// `rooms/{room}`: the hub's room topics (stored, canonical JSON back).
    Rooms,
    /// `bench/{room}`: plain pub/sub, for brokers without rooms.
    Plain,
}

impl TopicMode {
    /// The topic prefix of this mode.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Rooms => "rooms/",
            Self::Plain => "bench/",
        }
    }

    /// The topic of `room` in this mode.
    pub fn topic(self, room: &str) -> String {
        format!("{}{room}", self.prefix())
    }
}

/// The payload of a post.
#[derive(Serialize)]
struct PostBody<'a> {
    text: &'a str,
    #[serde(rename = "ref")]
    reference: &'a str,
}

/// A post as a publish payload: `{"text":…,"ref":…}`.
pub fn encode_post(text: &str, reference: &str) -> Vec<u8> {
    // Serializing two strings cannot fail; an empty payload would be refused
    // by the hub and show up as lost, never silently.
    serde_json::to_vec(&PostBody { text, reference }).unwrap_or_default()
}

/// The fields of a received payload the tools read (canonical message JSON
/// in room mode, a [`PostBody`] in plain mode).
#[derive(Deserialize)]
struct Received<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow, rename = "ref")]
    reference: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
}

/// Turns a received publish into a [`HubEvent`]: a message of the room its
/// topic names, or `Malformed` if topic or payload are not what `mode` sends.
pub fn decode_delivery(mode: TopicMode, topic: &str, payload: &[u8]) -> HubEvent {
    let Some(room) = topic.strip_prefix(mode.prefix()) else {
        return HubEvent::Malformed(format!("a publish on unexpected topic {topic}"));
    };
    let body: Received<'_> = match serde_json::from_slice(payload) {
        Ok(b) => b,
        Err(e) => {
            let shown: String = String::from_utf8_lossy(payload).chars().take(120).collect();
            return HubEvent::Malformed(format!(
                "publish on {topic} is not a message ({e}): {shown}"
            ));
        }
    };
    let seq = match (mode, body.seq) {
        (TopicMode::Rooms, Some(seq)) => Some(seq),
        (TopicMode::Rooms, None) => {
            return HubEvent::Malformed(format!("room message on {topic} without a seq"))
        }
        (TopicMode::Plain, _) => None,
    };
    HubEvent::Message(Delivery {
        room: room.to_owned(),
        seq,
        reference: body.reference.map(Cow::into_owned),
        text: body.text.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_per_mode() {
        assert_eq!(TopicMode::Rooms.topic("load-1"), "rooms/load-1");
        assert_eq!(TopicMode::Plain.topic("load-1"), "bench/load-1");
    }

    #[test]
    fn post_payload_shape() {
        let p = encode_post("t=5;..", "r1-0-3");
        assert_eq!(p, br#"{"text":"t=5;..","ref":"r1-0-3"}"#);
    }

    #[test]
    fn decodes_canonical_room_messages() {
        let payload = br#"{"room":"load-0","seq":7,"from":"sim-x-0","text":"t=9;..","ts":"x","origin":"o","via":"mqtt","ref":"r-0-1"}"#;
        match decode_delivery(TopicMode::Rooms, "rooms/load-0", payload) {
            HubEvent::Message(d) => {
                assert_eq!((d.room.as_str(), d.seq), ("load-0", Some(7)));
                assert_eq!(d.reference.as_deref(), Some("r-0-1"));
                assert_eq!(d.text, "t=9;..");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_delivery(TopicMode::Rooms, "rooms/a", br#"{"text":"x"}"#),
            HubEvent::Malformed(_)
        ));
    }

    #[test]
    fn decodes_plain_payloads_and_rejects_junk() {
        let p = encode_post("t=1;", "r-2-0");
        match decode_delivery(TopicMode::Plain, "bench/load-3", &p) {
            HubEvent::Message(d) => {
                assert_eq!((d.room.as_str(), d.seq), ("load-3", None));
                assert_eq!(d.reference.as_deref(), Some("r-2-0"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_delivery(TopicMode::Plain, "bench/x", b"hello"),
            HubEvent::Malformed(_)
        ));
        assert!(matches!(
            decode_delivery(TopicMode::Plain, "rooms/x", &p),
            HubEvent::Malformed(_)
        ));
    }
}
