//! One stream entry: a message as stored on its origin hub, and its room's
//! epoch there. Fields: `m` = the canonical message JSON (its `seq` is the
//! origin seq), `e` = the epoch.

use hubbub_core::{Message, RoomName};
use redis::streams::StreamId;

/// The field holding the message.
pub const MESSAGE: &str = "m";
/// The field holding the epoch.
pub const EPOCH: &str = "e";

/// Why a stream entry cannot be relayed.
#[derive(Debug, thiserror::Error)]
pub enum BadEntry {
    /// A field is missing or not a string.
    #[error("stream entry {id} has no {field:?} field")]
    Missing {
        /// The entry id.
        id: String,
        /// The field.
        field: &'static str,
    },
    /// The message is not canonical JSON.
    #[error("stream entry {id} holds no message: {error}")]
    Json {
        /// The entry id.
        id: String,
        /// What is wrong.
        error: serde_json::Error,
    },
    /// The message names another room than the stream's.
    #[error("stream entry {id} of room {stream} holds a message of room {message}")]
    OtherRoom {
        /// The entry id.
        id: String,
        /// The stream's room.
        stream: RoomName,
        /// The message's room.
        message: RoomName,
    },
}

/// A decoded entry.
#[derive(Debug)]
pub struct Entry {
    /// The message as stored on its origin hub.
    pub message: Message,
    /// Its room's epoch on the origin hub.
    pub epoch: String,
}

/// Decodes an entry read from `room`'s stream.
pub fn decode(room: &RoomName, entry: &StreamId) -> Result<Entry, BadEntry> {
    let field = |field: &'static str| {
        entry.get::<String>(field).ok_or_else(|| BadEntry::Missing {
            id: entry.id.clone(),
            field,
        })
    };
    let message: Message =
        serde_json::from_str(&field(MESSAGE)?).map_err(|error| BadEntry::Json {
            id: entry.id.clone(),
            error,
        })?;
    if &message.room != room {
        return Err(BadEntry::OtherRoom {
            id: entry.id.clone(),
            stream: room.clone(),
            message: message.room,
        });
    }
    Ok(Entry {
        message,
        epoch: field(EPOCH)?,
    })
}
