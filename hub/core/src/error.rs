//! The errors a room operation can give a client, each with a stable code.

use crate::room_name::BadRoomName;

/// Why a room operation was refused. Every transport shows `code()` and the
/// `Display` text to the client.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The room name breaks the rule.
    #[error(transparent)]
    BadRoom(#[from] BadRoomName),
    /// The room does not exist and rooms are not created on first use.
    #[error("no room named {0:?} (rooms.auto_create is off and it is not declared in the config)")]
    NoSuchRoom(String),
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
