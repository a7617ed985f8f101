//! The errors a room operation can give a client, each with a stable code.

use crate::room_name::BadRoomName;

/// Why a room operation was refused. Every transport shows `code()` and the
/// `Display` text to the client.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The room name breaks the rule.
    #[error(transparent)]
    BadRoom(#[from] BadRoomName),
    /// The room does not exist, or the client may not see it (the two
    /// look the same on purpose).
    #[error("no room named {0:?}")]
    NoSuchRoom(String),
    /// The client may read the room but not post to it.
    #[error("you may not post in room {0:?}")]
    ReadOnly(String),
    /// The connection is in as many rooms as it may be.
    #[error("joined to {limit} rooms already (limits.max_rooms_per_connection); leave one first")]
    TooManyRooms {
        /// The limit.
        limit: usize,
    },
    /// An empty message.
    #[error("message text is empty")]
    EmptyText,
    /// A message that is not UTF-8 text.
    #[error("message text is not valid UTF-8")]
    NotUtf8,
    /// A message over the configured size.
    #[error("message is {size} bytes, over the limit of {limit} bytes (limits.max_message_bytes)")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A bad idempotency key.
    #[error("ref must be 1 to {max} characters without control characters")]
    BadRef {
        /// The longest accepted.
        max: usize,
    },
    /// An operation on a room the client has not joined.
    #[error("not joined to room {0:?}; send a join first")]
    NotJoined(String),
    /// The history store failed; nothing was stored.
    #[error("message not stored: {0}")]
    StoreUnavailable(String),
    /// The hub is shutting down and takes no more posts.
    #[error("the hub is shutting down")]
    ShuttingDown,
}

impl RoomError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RoomError::BadRoom(_) => "bad_room",
            RoomError::NoSuchRoom(_) => "no_such_room",
            RoomError::ReadOnly(_) => "not_allowed",
            RoomError::TooManyRooms { .. } => "too_many_rooms",
            RoomError::EmptyText => "empty",
            RoomError::NotUtf8 => "bad_utf8",
            RoomError::TooLarge { .. } => "too_large",
            RoomError::BadRef { .. } => "bad_ref",
            RoomError::NotJoined(_) => "not_joined",
            RoomError::StoreUnavailable(_) => "store_unavailable",
            RoomError::ShuttingDown => "shutting_down",
        }
    }
}
