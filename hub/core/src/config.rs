//! The parts of the hub's configuration that the room service reads.
//! Each section deserializes from the TOML config file with defaults for
//! every key; see `config/hubbub.toml` for the documented whole.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::access::RoomAccess;
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
    /// Only the users on its lists may see it.
    pub private: bool,
    /// Users who may read and write.
    pub members: BTreeSet<String>,
    /// Users who may read only.
    pub readers: BTreeSet<String>,
    /// Users who may write (on a public room: the only ones who may).
    pub writers: BTreeSet<String>,
}

impl RoomDeclaration {
    /// Its rules of access.
    pub fn access(&self) -> RoomAccess {
        RoomAccess {
            private: self.private,
            members: self.members.clone(),
            readers: self.readers.clone(),
            writers: self.writers.clone(),
        }
    }
}

impl RoomsConfig {
    /// The rules of every declared room that has any.
    pub fn access_rules(&self) -> BTreeMap<RoomName, RoomAccess> {
        self.declare
            .iter()
            .map(|(name, d)| (name.clone(), d.access()))
            .filter(|(_, a)| !a.is_open())
            .collect()
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest message text in bytes.
    pub max_message_bytes: usize,
    /// Events queued for one connection before it is dropped as too slow.
    pub subscriber_queue: usize,
    /// Rooms one connection may be in at once (WebSocket joins, MQTT
    /// subscriptions to single rooms).
    pub max_rooms_per_connection: usize,
    /// Client connections at once, over every transport.
    pub max_connections: usize,
    /// Client connections at once from one address.
    pub max_connections_per_address: usize,
    /// Messages a connection may post per second, on average (0: no limit).
    pub messages_per_second: u32,
    /// Messages a connection may post at once before the rate applies.
    pub message_burst: u32,
    /// Failed logins per minute from one address before each further
    /// attempt has to wait (1 s, doubling up to a minute).
    pub login_attempts: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            subscriber_queue: 1024,
            max_rooms_per_connection: 100,
            max_connections: 4096,
            max_connections_per_address: 256,
            messages_per_second: 100,
            message_burst: 200,
            login_attempts: 5,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Users log in (`hubbub user add`); off, everyone names themselves
    /// and nobody can prove who they are (the loopback default).
    pub accounts: bool,
    /// Clients that do not log in may take part, as `guest:NAME` when
    /// accounts are on. Unset, it is the opposite of `accounts`.
    pub anonymous: Option<bool>,
    /// How long a login session lasts, in hours (unset: 720, 30 days).
    pub session_hours: Option<u64>,
}

impl AuthConfig {
    /// Whether clients that do not log in may take part.
    pub fn anonymous_allowed(&self) -> bool {
        self.anonymous.unwrap_or(!self.accounts)
    }

    /// How long a login session lasts.
    pub fn session_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.session_hours.unwrap_or(720).saturating_mul(3600))
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
    /// Nothing is written while the data directory's file system has less
    /// than this many MiB free (0: no check).
    pub min_free_mb: u64,
}

impl StoreConfig {
    /// The sled engine's settings from these.
    pub fn sled_options(&self) -> crate::store::SledOptions {
        crate::store::SledOptions {
            cache_bytes: self.cache_mb.saturating_mul(1024 * 1024),
            min_free_bytes: self.min_free_mb.saturating_mul(1024 * 1024),
            ..crate::store::SledOptions::default()
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_mb: 4,
            max_batch: 2048,
            min_free_mb: 64,
        }
    }
}
