//! The Redis keys of the uplink. See docs/uplink.md for why they look so.

use hubbub_core::RoomName;

/// A set of every room name any hub has sent to: how a hub with
/// `rooms = ["*"]` finds rooms first posted elsewhere.
pub const ROOMS_KEY: &str = "hubbub:rooms";

/// A room's stream: `hubbub:{kitchen}:stream`. The braces are a Redis
/// Cluster hash tag: the room name alone decides the slot, so every key of
/// one room lives on one shard and rooms spread over the shards.
pub fn stream_key(room: &RoomName) -> String {
    format!("hubbub:{{{room}}}:stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_the_hash_tag() {
        let room = RoomName::new("kitchen").unwrap();
        assert_eq!(stream_key(&room), "hubbub:{kitchen}:stream");
    }
}
