//! What the store keeps of accounts: users, login sessions and the room
//! rules set at run time. Every write is durable when it returns.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::access::RoomAccess;
use crate::room_name::RoomName;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user name.
    pub name: String,
    /// The password's argon2 hash, as a PHC string.
    pub hash: String,
    /// May manage users and rooms.
    #[serde(default)]
    pub admin: bool,
    /// When the user was added.
    pub created: DateTime<Utc>,
}

/// A login session as stored, keyed by a hash of its token (the token
/// itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose session.
    pub user: String,
    /// When it was opened.
    pub created: DateTime<Utc>,
    /// When it ends.
    pub expires: DateTime<Utc>,
}

/// Everything the accounts keep, as read at start-up.
#[derive(Debug, Clone, Default)]
pub struct StoredAccounts {
    /// Every user.
    pub users: Vec<UserRecord>,
    /// Every session, by token hash.
    pub sessions: Vec<(String, SessionRecord)>,
    /// Room rules set at run time.
    pub room_rules: Vec<(RoomName, RoomAccess)>,
}

/// Durable storage of accounts and run-time room rules.
pub trait AccountStore: Send + Sync + 'static {
    /// Everything, read once at start-up.
    fn load_accounts(&self) -> Result<StoredAccounts, StoreError>;

    /// Adds or replaces a user.
    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError>;

    /// Removes a user (its sessions are removed by the caller).
    fn delete_user(&self, name: &str) -> Result<(), StoreError>;

    /// Adds a session.
    fn put_session(&self, key: &str, session: &SessionRecord) -> Result<(), StoreError>;

    /// Removes sessions.
    fn delete_sessions(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Sets a room's rules, or removes them (`None`).
    fn put_room_rules(&self, room: &RoomName, rules: Option<&RoomAccess>)
        -> Result<(), StoreError>;
}
