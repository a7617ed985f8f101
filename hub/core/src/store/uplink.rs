//! The uplink's durable state, kept by the same store as the history so
//! that it is written by the same group commit:
//!
//! - the **outbox**: copies of the messages first posted on this hub that
//!   are still to be sent to other hubs, in commit order, each with an id
//!   that rises by one;
//! - the **origin marks**: per room, origin hub and origin room epoch, the
//!   highest origin seq already stored here (how relayed messages are
//!   de-duplicated);
//! - the **stream positions**: per room, how far the inbound side has read.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::message::Message;
use crate::room_name::RoomName;

/// How large the outbox may grow. Past either limit the oldest unsent
/// entries are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most unsent messages.
    pub max_messages: u64,
    /// Most unsent bytes (as stored).
    pub max_bytes: u64,
}

impl Default for OutboxLimits {
    /// No limit.
    fn default() -> Self {
        Self {
            max_messages: u64::MAX,
            max_bytes: u64::MAX,
        }
    }
}

/// A message to put in the outbox, with its room's epoch on this hub.
#[derive(Debug, Clone, Copy)]
pub struct OutboxItem<'a> {
    /// The message, as stored here.
    pub message: &'a Message,
    /// The epoch of its room here.
    pub epoch: &'a str,
}

/// An unsent outbox entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Its place in the outbox; ids rise by one per entry.
    #[serde(skip)]
    pub id: u64,
    /// The epoch of the message's room on this hub.
    pub epoch: String,
    /// The message, as stored here.
    pub message: Message,
}

/// How much the outbox holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxDepth {
    /// Unsent messages.
    pub messages: u64,
    /// Their size as stored, in bytes.
    pub bytes: u64,
    /// Unsent messages dropped over a limit since the store was opened.
    pub dropped: u64,
}

/// The highest origin seq stored here for one room, origin hub and origin
/// room epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginMark {
    /// The room (the same name on every hub).
    pub room: RoomName,
    /// The origin hub's id.
    pub origin: String,
    /// The room's epoch on the origin hub.
    pub epoch: String,
    /// The highest seq (on the origin hub) stored here.
    pub seq: u64,
}

/// The uplink's durable state; every [`super::HistoryStore`] keeps it.
/// Outbox entries and origin marks are written by
/// [`super::HistoryStore::append`], in the batch they belong to.
pub trait UplinkStore {
    /// The highest seq stored here from `origin`'s room `room` in that
    /// room's `epoch`, if any.
    fn origin_mark(
        &self,
        room: &RoomName,
        origin: &str,
        epoch: &str,
    ) -> Result<Option<u64>, StoreError>;

    /// Up to `limit` unsent outbox entries, oldest first.
    fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Marks every entry up to id `through` as sent and frees what it can.
    /// Not synced: after a crash, some entries may be sent again (the
    /// receiving hubs drop the repeats).
    fn outbox_sent(&self, through: u64) -> Result<OutboxDepth, StoreError>;

    /// How much the outbox holds now.
    fn outbox_depth(&self) -> OutboxDepth;

    /// Every saved inbound stream position.
    fn stream_positions(&self) -> Result<Vec<(RoomName, String)>, StoreError>;

    /// Saves inbound stream positions. Not synced: after a crash, reading
    /// resumes from an older position and the origin marks drop repeats.
    fn save_stream_positions(&self, positions: &[(RoomName, String)]) -> Result<(), StoreError>;
}
