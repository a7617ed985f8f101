//! The canonical message, the same JSON on every transport.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::room_name::RoomName;

/// The way a message entered the hub network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The WebSocket chat protocol.
    Ws,
    /// An MQTT publish.
    Mqtt,
    /// The REST API.
    Http,
    /// Another hub, through the uplink.
    Uplink,
}

impl Via {
    /// Every variant, for metrics labels.
    pub const ALL: [Via; 4] = [Via::Ws, Via::Mqtt, Via::Http, Via::Uplink];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Ws => "ws",
            Via::Mqtt => "mqtt",
            Via::Http => "http",
            Via::Uplink => "uplink",
        }
    }
}

/// A stored chat message, as every transport shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The room it belongs to.
    pub room: RoomName,
    /// Per-room sequence number on this hub: starts at 1, no gaps.
    pub seq: u64,
    /// Who posted it.
    pub from: String,
    /// The text, UTF-8, never empty.
    pub text: String,
    /// When this hub accepted it (RFC 3339 UTC, milliseconds).
    #[serde(with = "rfc3339_millis")]
    pub ts: DateTime<Utc>,
    /// Id of the hub where it was first posted.
    pub origin: String,
    /// How it entered.
    pub via: Via,
    /// The client's idempotency key, echoed back.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// For a message relayed from another hub (`via` = uplink): its `seq`
    /// on the origin hub. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_seq: Option<u64>,
    /// For a message relayed from another hub: when the origin hub
    /// accepted it. Absent otherwise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis_opt"
    )]
    pub origin_ts: Option<DateTime<Utc>>,
}

impl Message {
    /// The canonical JSON object.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and a timestamp cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A durable message together with its canonical JSON, shared by every
/// subscriber it is delivered to (serialized once, not once per reader).
#[derive(Debug)]
pub struct Published {
    /// The message.
    pub message: Message,
    /// `message` as canonical JSON.
    pub json: Box<str>,
}

impl Published {
    /// Wraps a message and serializes it once.
    pub fn new(message: Message) -> Arc<Self> {
        let json = message.to_json().into_boxed_str();
        Arc::new(Self { message, json })
    }
}

/// Formats a timestamp the way every message shows it.
pub fn format_ts(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

mod rfc3339_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ts(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod rfc3339_millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => super::rfc3339_millis::serialize(ts, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Ts(#[serde(with = "super::rfc3339_millis")] DateTime<Utc>);
        Ok(Option::<Ts>::deserialize(d)?.map(|Ts(ts)| ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn canonical_json_matches_the_contract() {
        let m = Message {
            room: RoomName::new("kitchen").unwrap(),
            seq: 42,
            from: "alice".into(),
            text: "hi".into(),
            ts: Utc.timestamp_millis_opt(1_795_525_200_123).unwrap(),
            origin: "pi".into(),
            via: Via::Ws,
            reference: Some("c-17".into()),
            origin_seq: None,
            origin_ts: None,
        };
        let json = m.to_json();
        assert_eq!(
            json,
            r#"{"room":"kitchen","seq":42,"from":"alice","text":"hi","ts":"2026-11-24T13:00:00.123Z","origin":"pi","via":"ws","ref":"c-17"}"#
        );
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn relayed_messages_carry_their_origin_seq_and_ts() {
        let m = Message {
            room: RoomName::new("kitchen").unwrap(),
            seq: 7,
            from: "bob".into(),
            text: "hi".into(),
            ts: Utc.timestamp_millis_opt(1_795_525_200_500).unwrap(),
            origin: "pi-garage".into(),
            via: Via::Uplink,
            reference: None,
            origin_seq: Some(42),
            origin_ts: Some(Utc.timestamp_millis_opt(1_795_525_200_123).unwrap()),
        };
        let json = m.to_json();
        assert_eq!(
            json,
            r#"{"room":"kitchen","seq":7,"from":"bob","text":"hi","ts":"2026-11-24T13:00:00.500Z","origin":"pi-garage","via":"uplink","origin_seq":42,"origin_ts":"2026-11-24T13:00:00.123Z"}"#
        );
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
