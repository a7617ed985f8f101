//! Room names: the one rule every transport shares.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The rule, in the words every error message uses.
pub const ROOM_NAME_RULE: &str =
    "a room name is 1 to 64 characters, each a lowercase ASCII letter, a digit, '_' or '-'";

/// Longest room name accepted.
pub const MAX_ROOM_NAME_LEN: usize = 64;

/// A validated room name (`[a-z0-9_-]{1,64}`), cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

/// A string that is not a valid room name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad room name {name:?}: {rule}", rule = ROOM_NAME_RULE)]
pub struct BadRoomName {
    /// The refused input, truncated for display.
    pub name: String,
}

impl RoomName {
    /// Checks `name` against the rule.
    pub fn new(name: &str) -> Result<Self, BadRoomName> {
        let valid = !name.is_empty()
            && name.len() <= MAX_ROOM_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(Arc::from(name)))
        } else {
            Err(BadRoomName {
                name: name.chars().take(80).collect(),
            })
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::str::FromStr for RoomName {
    type Err = BadRoomName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for RoomName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_rule() {
        for ok in ["a", "kitchen", "room_1-b", &"x".repeat(64)] {
            assert!(RoomName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in ["", "Kitchen", "a b", "a/b", "é", "#", &"x".repeat(65)] {
            let err = RoomName::new(bad).unwrap_err();
            assert!(err.to_string().contains("1 to 64"), "{err}");
        }
    }
}
