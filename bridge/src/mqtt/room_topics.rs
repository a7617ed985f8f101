//! How MQTT topics under `rooms/` map onto the room service.
//!
//! - `rooms/{room}`: a post (plain UTF-8 text, or JSON `{"text","ref"}`);
//!   subscribers get the canonical message JSON, published by the hub.
//! - `rooms/{room}/typing`: ephemeral, passed through, never stored.
//! - `rooms/{room}/presence`: retained `{"room","online"}`, the hub's alone.

use hubbub_core::{RoomError, RoomName};
use serde::Deserialize;

use super::packet::Reason;

/// The prefix of every room topic.
pub const PREFIX: &str = "rooms/";

/// What a topic under `rooms/` is.
#[derive(Debug, PartialEq, Eq)]
pub enum RoomTopic {
    /// `rooms/{room}`
    Post(RoomName),
    /// `rooms/{room}/typing`
    Typing(RoomName),
    /// `rooms/{room}/presence`
    Presence(RoomName),
    /// Anything else under `rooms/`.
    Invalid(String),
}

/// Classifies a topic; `None` if it is not under `rooms/`.
pub fn classify(topic: &str) -> Option<RoomTopic> {
    let rest = topic.strip_prefix(PREFIX)?;
    let (room, tail) = match rest.split_once('/') {
        Some((room, tail)) => (room, Some(tail)),
        None => (rest, None),
    };
    let room = match RoomName::new(room) {
        Ok(r) => r,
        Err(e) => return Some(RoomTopic::Invalid(e.to_string())),
    };
    Some(match tail {
        None => RoomTopic::Post(room),
        Some("typing") => RoomTopic::Typing(room),
        Some("presence") => RoomTopic::Presence(room),
        Some(_) => RoomTopic::Invalid(format!(
            "under rooms/{room}/ only typing (and the hub's presence) exist"
        )),
    })
}

/// The room name an exact subscription filter names, if it is one
/// (`rooms/{room}`), for presence.
pub fn subscribed_room(filter: &str) -> Option<RoomName> {
    match classify(filter)? {
        RoomTopic::Post(room) => Some(room),
        _ => None,
    }
}

/// A post's text and idempotency key, read from a publish payload.
#[derive(Debug, PartialEq, Eq)]
pub struct PostBody {
    /// The text.
    pub text: String,
    /// The `ref`, if the payload was JSON with one.
    pub reference: Option<String>,
}

#[derive(Deserialize)]
struct JsonBody {
    text: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

/// Reads a payload: a JSON object with `text` (and `ref`), else the whole
/// payload as UTF-8 text.
pub fn post_body(payload: &[u8]) -> Result<PostBody, RoomError> {
    if payload.first() == Some(&b'{') {
        if let Ok(body) = serde_json::from_slice::<JsonBody>(payload) {
            return Ok(PostBody {
                text: body.text,
                reference: body.reference,
            });
        }
    }
    match std::str::from_utf8(payload) {
        Ok(text) => Ok(PostBody {
            text: text.to_owned(),
            reference: None,
        }),
        Err(_) => Err(RoomError::NotUtf8),
    }
}

/// The MQTT 5 reason code for a refused room post.
pub fn reason_for(e: &RoomError) -> Reason {
    match e {
        RoomError::BadRoom(_) | RoomError::NoSuchRoom(_) => Reason::TopicNameInvalid,
        RoomError::EmptyText
        | RoomError::TooLarge { .. }
        | RoomError::BadRef { .. }
        | RoomError::NotUtf8 => Reason::PayloadFormatInvalid,
        RoomError::NotJoined(_) | RoomError::ReadOnly(_) => Reason::NotAuthorized,
        RoomError::TooManyRooms { .. } => Reason::QuotaExceeded,
        RoomError::StoreUnavailable(_) | RoomError::ShuttingDown => Reason::ImplementationSpecific,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> RoomName {
        RoomName::new(s).unwrap()
    }

    #[test]
    fn classifies_room_topics() {
        assert_eq!(
            classify("rooms/kitchen"),
            Some(RoomTopic::Post(room("kitchen")))
        );
        assert_eq!(
            classify("rooms/kitchen/typing"),
            Some(RoomTopic::Typing(room("kitchen")))
        );
        assert_eq!(
            classify("rooms/kitchen/presence"),
            Some(RoomTopic::Presence(room("kitchen")))
        );
        assert!(matches!(
            classify("rooms/Kitchen"),
            Some(RoomTopic::Invalid(_))
        ));
        assert!(matches!(
            classify("rooms/kitchen/x"),
            Some(RoomTopic::Invalid(_))
        ));
        assert_eq!(classify("sensors/t"), None);
        assert_eq!(subscribed_room("rooms/kitchen"), Some(room("kitchen")));
        assert_eq!(subscribed_room("rooms/+"), None);
    }

    #[test]
    fn reads_text_and_json_payloads() {
        assert_eq!(post_body(b"hi").unwrap().text, "hi");
        let b = post_body(br#"{"text":"yo","ref":"r1"}"#).unwrap();
        assert_eq!(
            (b.text.as_str(), b.reference.as_deref()),
            ("yo", Some("r1"))
        );
        assert_eq!(post_body(br#"{"other":1}"#).unwrap().text, r#"{"other":1}"#);
        assert!(post_body(&[0xff, 0xfe]).is_err());
    }
}
