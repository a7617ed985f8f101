//! The history store: the one small trait behind which the storage engine
//! lives, so that it can be changed without touching anything else.

mod accounts;
mod sled_accounts;
mod sled_store;
mod sled_uplink;
mod uplink;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::room_name::RoomName;

pub use accounts::{AccountStore, SessionRecord, StoredAccounts, UserRecord};
pub use sled_store::{SledOptions, SledStore};
pub use uplink::{OriginMark, OutboxDepth, OutboxEntry, OutboxItem, OutboxLimits, UplinkStore};

/// How long a `ref` (idempotency key) is remembered: a repeat within this
/// window returns the original message instead of posting a new one.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(600);

/// What the store keeps about a room besides its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMeta {
    /// Changes whenever the room's history is started anew, so a client
    /// knows its `seq` position no longer means anything.
    pub epoch: String,
    /// When the room was created.
    pub created: DateTime<Utc>,
}

/// A room as found in the store at start-up.
#[derive(Debug, Clone)]
pub struct StoredRoom {
    /// Its name.
    pub name: RoomName,
    /// Its metadata.
    pub meta: RoomMeta,
    /// The highest seq ever made durable in it (0 if none).
    pub last_seq: u64,
}

/// Which slice of a room's history to read. Results are always in
/// ascending `seq` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryQuery {
    /// The newest `limit` messages.
    Latest {
        /// How many at most.
        limit: usize,
    },
    /// The newest `limit` messages with a seq below `seq`.
    Before {
        /// Exclusive upper bound.
        seq: u64,
        /// How many at most.
        limit: usize,
    },
    /// The oldest `limit` messages with a seq above `seq`.
    After {
        /// Exclusive lower bound.
        seq: u64,
        /// How many at most.
        limit: usize,
    },
}

/// How much history each room keeps. Enforcement drops whole buckets, so
/// a room keeps at least `max_messages` and at most one bucket more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep at most about this many messages per room.
    pub max_messages: Option<u64>,
    /// Drop messages older than this.
    pub max_age: Option<Duration>,
}

/// A failure of the history store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (disk full, I/O error...).
    #[error("history store failed: {0}")]
    Engine(String),
    /// A file operation failed.
    #[error("history store I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file system is nearly full: nothing is written, so that sled
    /// (which stays failed after a failed write) never runs out of space.
    #[error(
        "the disk is nearly full ({free} bytes free, below the {min} bytes kept free by \
         store.min_free_mb); nothing more is stored until there is room"
    )]
    DiskFull {
        /// Bytes available.
        free: u64,
        /// Bytes kept free.
        min: u64,
    },
    /// Stored bytes could not be decoded.
    #[error("history store holds a corrupt record: {0}")]
    Corrupt(String),
}

/// One group commit: everything [`HistoryStore::append`] writes and makes
/// durable together.
#[derive(Debug, Clone, Default)]
pub struct Batch<'a> {
    /// New messages (any rooms; per room, seq ascending and following the
    /// last stored one).
    pub messages: &'a [Message],
    /// Messages of this batch that go into the uplink outbox, in order.
    pub outbox: Vec<OutboxItem<'a>>,
    /// How large the outbox may grow.
    pub outbox_limits: OutboxLimits,
    /// Origin marks raised by relayed messages of this batch.
    pub marks: Vec<OriginMark>,
}

impl<'a> Batch<'a> {
    /// A batch of messages alone.
    pub fn messages(messages: &'a [Message]) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }
}

/// What an append did besides storing the batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    /// Unsent outbox entries dropped, oldest first, to keep within the
    /// outbox limits.
    pub outbox_dropped: u64,
}

/// A durable, per-room, seq-ordered message log, with the uplink's state.
pub trait HistoryStore: UplinkStore + Send + Sync + 'static {
    /// Every room with its durable state, read once at start-up.
    fn load_rooms(&self) -> Result<Vec<StoredRoom>, StoreError>;

    /// Records a new room; durable when it returns.
    fn create_room(&self, name: &RoomName, meta: &RoomMeta) -> Result<(), StoreError>;

    /// Appends a batch: its messages, remembering each message's `ref`,
    /// its outbox entries and its origin marks; makes all of it durable
    /// before returning. On error nothing of the batch may be visible
    /// afterwards.
    fn append(&self, batch: &Batch<'_>) -> Result<Appended, StoreError>;

    /// The message that `from` posted in `room` with idempotency key
    /// `reference` at or after `since`, if any.
    fn find_by_ref(
        &self,
        room: &RoomName,
        from: &str,
        reference: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError>;

    /// Reads a slice of a room's history.
    fn query(&self, room: &RoomName, query: HistoryQuery) -> Result<Vec<Message>, StoreError>;

    /// Drops history past the policy, and idempotency keys older than the
    /// window; returns how many messages were dropped.
    fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

/// Opens a store in a test, waiting while a just-dropped instance's
/// background threads still hold sled's file lock.
#[cfg(test)]
pub(crate) fn open_when_free<T, E: std::fmt::Display>(open: impl Fn() -> Result<T, E>) -> T {
    let mut tries = 0;
    loop {
        match open() {
            Ok(store) => return store,
            Err(_) if tries < 250 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open the store: {e}"),
        }
    }
}
