//! The parts of the hub's configuration that the room service reads.
//! Each section deserializes from the TOML config file with defaults for
//! every key; see `config/hubbub.toml` for the documented whole.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::room_name::RoomName;
use crate::store::RetentionPolicy;

/// `[rooms]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// Create a room the first time anyone joins or posts to it.
    pub auto_create: bool,
    /// After a join with `since`, at most this many missed messages are
    /// sent; past that the client is told of the gap and pages itself.
    pub replay_max: usize,
    /// Rooms that exist from the start, with their titles.
    pub declare: BTreeMap<RoomName, RoomDeclaration>,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            auto_create: true,
            replay_max: 1000,
            declare: BTreeMap::new(),
        }
    }
}

/// `[rooms.declare.NAME]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomDeclaration {
    /// A human title shown in room lists.
    pub title: Option<String>,
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest message text in bytes.
    pub max_message_bytes: usize,
    /// Events queued for one connection before it is dropped as too slow.
    pub subscriber_queue: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            subscriber_queue: 1024,
        }
    }
}

/// `[retention]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keep about this many messages per room (0 = no count limit).
    pub max_messages_per_room: u64,
    /// Drop messages older than this many days (0 = no age limit).
    pub max_age_days: u64,
    /// How often retention runs, in seconds.
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            max_messages_per_room: 100_000,
            max_age_days: 90,
            interval_secs: 300,
        }
    }
}

impl RetentionConfig {
    /// The policy the store enforces.
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            max_messages: (self.max_messages_per_room > 0).then_some(self.max_messages_per_room),
            max_age: (self.max_age_days > 0)
                .then(|| std::time::Duration::from_secs(self.max_age_days * 86_400)),
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// sled's page cache in MiB. Resident memory runs about four times this.
    pub cache_mb: u64,
    /// Most messages written and flushed together in one group commit.
    pub max_batch: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_mb: 4,
            max_batch: 2048,
        }
    }
}
