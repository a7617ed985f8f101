//! `[uplink]`: the Redis uplink's settings, with checks that name the key.

use std::collections::BTreeSet;

use hubbub_core::store::OutboxLimits;
use hubbub_core::uplink::{OutboxRule, RoomSelection};
use hubbub_core::{RoomName, ROOM_NAME_RULE};
use serde::Deserialize;

/// `[uplink]`. Absent: no uplink, and no Redis needed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// The Redis (or Valkey) server, `redis://[user:password@]host[:port][/db]`
    /// or `redis+unix:///path`.
    pub redis_url: String,
    /// This hub's id on the uplink. Defaults to `hub.id`; one of the two
    /// must be set (see `config/hubbub.toml`).
    #[serde(default)]
    pub hub_id: Option<String>,
    /// The rooms shared with other hubs: `["*"]` (every room, the default)
    /// or a list of names.
    #[serde(default = "every_room")]
    pub rooms: Vec<String>,
    /// Most unsent messages kept while Redis is unreachable.
    #[serde(default = "default_outbox_max_messages")]
    pub outbox_max_messages: u64,
    /// Most bytes of unsent messages kept while Redis is unreachable.
    #[serde(default = "default_outbox_max_bytes")]
    pub outbox_max_bytes: u64,
    /// Each room's stream is trimmed to about this many entries
    /// (`XADD … MAXLEN ~`).
    #[serde(default = "default_stream_maxlen")]
    pub stream_maxlen: u64,
}

fn every_room() -> Vec<String> {
    vec!["*".into()]
}

fn default_outbox_max_messages() -> u64 {
    100_000
}

fn default_outbox_max_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_stream_maxlen() -> u64 {
    100_000
}

/// Smallest accepted `outbox_max_bytes`: room for at least one large message.
const MIN_OUTBOX_BYTES: u64 = 1024 * 1024;

impl UplinkConfig {
    /// Every value that parses but cannot work, as `uplink.key: why`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.redis_url.starts_with("rediss://") || self.redis_url.starts_with("valkeys://") {
            out.push(
                "uplink.redis_url: TLS (rediss://) is not built in; use redis:// on a trusted \
                 network or through a TLS tunnel (stunnel, spiped, WireGuard)"
                    .into(),
            );
        } else if let Err(e) = redis::Client::open(self.redis_url.as_str()) {
            out.push(format!(
                "uplink.redis_url: {e} (expected redis://host:port/ or redis+unix:///path)"
            ));
        }
        let star = self.rooms.iter().any(|r| r == "*");
        if self.rooms.is_empty() {
            out.push("uplink.rooms: list the shared rooms, or [\"*\"] for every room".into());
        } else if star && self.rooms.len() > 1 {
            out.push("uplink.rooms: \"*\" already means every room; use it alone".into());
        }
        for room in self.rooms.iter().filter(|r| *r != "*") {
            if RoomName::new(room).is_err() {
                out.push(format!(
                    "uplink.rooms: {room:?} is not a room name ({ROOM_NAME_RULE})"
                ));
            }
        }
        if self.outbox_max_messages == 0 {
            out.push("uplink.outbox_max_messages: must be at least 1".into());
        }
        if self.outbox_max_bytes < MIN_OUTBOX_BYTES {
            out.push(format!(
                "uplink.outbox_max_bytes: must be at least {MIN_OUTBOX_BYTES} (1 MiB)"
            ));
        }
        if self.stream_maxlen < 100 {
            out.push("uplink.stream_maxlen: must be at least 100".into());
        }
        out
    }

    /// The rooms shared (names that break the rule are left out; see
    /// [`Self::problems`]).
    pub fn selection(&self) -> RoomSelection {
        if self.rooms.iter().any(|r| r == "*") {
            return RoomSelection::All;
        }
        let rooms: BTreeSet<RoomName> = self
            .rooms
            .iter()
            .filter_map(|r| RoomName::new(r).ok())
            .collect();
        RoomSelection::Only(rooms)
    }

    /// The rule by which the group commit fills the outbox.
    pub fn outbox_rule(&self) -> OutboxRule {
        OutboxRule {
            rooms: self.selection(),
            limits: OutboxLimits {
                max_messages: self.outbox_max_messages,
                max_bytes: self.outbox_max_bytes,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> UplinkConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn defaults_share_every_room() {
        let c = parse(serde_json::json!({"redis_url": "redis://127.0.0.1:6379/"}));
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.selection(), RoomSelection::All);
        assert_eq!(c.outbox_rule().limits.max_messages, 100_000);
    }

    #[test]
    fn problems_name_their_key() {
        let c = parse(serde_json::json!({
            "redis_url": "rediss://cloud:6380",
            "rooms": ["*", "Bad Room"],
            "outbox_max_messages": 0,
            "outbox_max_bytes": 10,
            "stream_maxlen": 5,
        }));
        let all = c.problems().join("\n");
        for key in [
            "uplink.redis_url",
            "uplink.rooms: \"*\"",
            "uplink.rooms: \"Bad Room\"",
            "uplink.outbox_max_messages",
            "uplink.outbox_max_bytes",
            "uplink.stream_maxlen",
        ] {
            assert!(all.contains(key), "{key} missing from:\n{all}");
        }
        let c = parse(serde_json::json!({"redis_url": "http://x", "rooms": ["kitchen"]}));
        assert!(c.problems()[0].starts_with("uplink.redis_url"));
        let kitchen = RoomName::new("kitchen").unwrap();
        assert_eq!(c.selection(), RoomSelection::Only([kitchen].into()));
    }
}
