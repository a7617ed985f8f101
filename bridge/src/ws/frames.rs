//! The frames of the chat protocol: what a client may send, and what the
//! hub sends back.

use hubbub_core::{Message, RoomError, RoomName};
use serde::{Deserialize, Serialize};

/// A frame from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ClientOp {
    /// Choose a nick.
    Hello {
        /// The nick.
        nick: String,
    },
    /// Join a room, optionally resuming after `since`.
    Join {
        /// The room.
        room: String,
        /// Last seq the client has.
        since: Option<u64>,
        /// The epoch `since` belongs to.
        epoch: Option<String>,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: String,
    },
    /// Post a message.
    Post {
        /// The room.
        room: String,
        /// The text.
        text: String,
        /// Idempotency key.
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
    /// Read history.
    History {
        /// The room.
        room: String,
        /// Only messages below this seq.
        before: Option<u64>,
        /// Only messages above this seq.
        after: Option<u64>,
        /// How many.
        limit: Option<usize>,
    },
    /// Say you are typing.
    Typing {
        /// The room.
        room: String,
    },
    /// Liveness check.
    Ping,
}

/// A frame from the hub (all but `message`, see [`message_frame`]).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame<'a> {
    /// Answer to `hello`.
    Welcome {
        /// The name in force.
        nick: &'a str,
        /// `user` (logged in), `guest` (accounts on, not logged in) or
        /// `anonymous` (accounts off).
        kind: &'a str,
        /// This hub's id.
        hub: &'a str,
        /// The largest message text accepted.
        max_message_bytes: usize,
    },
    /// Answer to `join`.
    Joined {
        /// The room.
        room: &'a RoomName,
        /// Its title.
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
        /// Its epoch.
        epoch: &'a str,
        /// Highest seq at the join.
        last_seq: u64,
        /// Who is online.
        online: &'a [String],
        /// The client's position was not valid in this epoch.
        reset: bool,
    },
    /// Missed messages not replayed.
    Gap {
        /// The room.
        room: &'a RoomName,
        /// First missing seq.
        from_seq: u64,
        /// Last missing seq.
        to_seq: u64,
    },
    /// A post is durable.
    Ack {
        /// The room.
        room: &'a RoomName,
        /// The client's key.
        #[serde(rename = "ref")]
        reference: Option<&'a str>,
        /// Its seq.
        seq: u64,
        /// It repeated an earlier `ref`.
        duplicate: bool,
    },
    /// Answer to `history`.
    History {
        /// The room.
        room: &'a RoomName,
        /// Oldest first.
        messages: &'a [Message],
    },
    /// Someone came or went.
    Presence {
        /// The room.
        room: &'a RoomName,
        /// Who.
        who: &'a str,
        /// `join` or `leave`.
        state: &'a str,
    },
    /// Someone is typing.
    Typing {
        /// The room.
        room: &'a RoomName,
        /// Who.
        who: &'a str,
    },
    /// Answer to `leave`.
    Left {
        /// The room.
        room: &'a RoomName,
    },
    /// Answer to `ping`.
    Pong,
    /// A refused frame.
    Error {
        /// Stable code.
        code: &'a str,
        /// Human words.
        message: &'a str,
        /// The refused frame's `op`, so a client can tell which one failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        op: Option<&'a str>,
        /// The refused frame's `room`.
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        /// The refused frame's `ref`.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
    },
}

impl Frame<'_> {
    /// The frame as JSON text.
    pub fn text(&self) -> String {
        // Only strings, numbers and lists: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A `message` frame: the canonical message JSON with `"type":"message"`
/// in front, built from the JSON serialized once per message.
pub fn message_frame(canonical: &str) -> String {
    let fields = canonical.strip_prefix('{').unwrap_or(canonical);
    let mut frame = String::with_capacity(fields.len() + 18);
    frame.push_str("{\"type\":\"message\",");
    frame.push_str(fields);
    frame
}

/// A frame the hub could not act on.
#[derive(Debug)]
pub struct Refusal {
    /// Stable code.
    pub code: &'static str,
    /// Human words.
    pub message: String,
    /// The frame's `op`, if it had one.
    pub op: Option<String>,
    /// The frame's `room`, if it had one.
    pub room: Option<String>,
    /// The frame's `ref`, if it had one.
    pub reference: Option<String>,
}

impl Refusal {
    /// The `error` frame.
    pub fn frame(&self) -> String {
        Frame::Error {
            code: self.code,
            message: &self.message,
            op: self.op.as_deref(),
            room: self.room.as_deref(),
            reference: self.reference.as_deref(),
        }
        .text()
    }
}

fn text_field(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|f| f.as_str()).map(String::from)
}

impl ClientOp {
    /// The op's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            ClientOp::Hello { .. } => "hello",
            ClientOp::Join { .. } => "join",
            ClientOp::Leave { .. } => "leave",
            ClientOp::Post { .. } => "post",
            ClientOp::History { .. } => "history",
            ClientOp::Typing { .. } => "typing",
            ClientOp::Ping => "ping",
        }
    }

    /// The room it names, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            ClientOp::Join { room, .. }
            | ClientOp::Leave { room }
            | ClientOp::Post { room, .. }
            | ClientOp::History { room, .. }
            | ClientOp::Typing { room } => Some(room),
            ClientOp::Hello { .. } | ClientOp::Ping => None,
        }
    }
}

/// Why an op was refused: a code and words for the client.
pub type Refused = (&'static str, String);

/// A refusal for a room error.
pub fn refused(e: RoomError) -> Refused {
    (e.code(), e.to_string())
}

/// A room name from a frame, or its refusal.
pub fn room_name(room: &str) -> Result<RoomName, Refused> {
    RoomName::new(room).map_err(|e| refused(e.into()))
}

/// Carries out `op` with `apply`; a refusal becomes an `error` frame that
/// echoes the op's name, room and `ref`.
pub fn answer_with(
    op: ClientOp,
    apply: impl FnOnce(ClientOp) -> Result<Vec<String>, Refused>,
) -> Vec<String> {
    let reference = match &op {
        ClientOp::Post { reference, .. } => reference.clone(),
        _ => None,
    };
    let (name, room) = (op.name(), op.room().map(String::from));
    apply(op).unwrap_or_else(|(code, message)| {
        vec![Refusal {
            code,
            message,
            op: Some(name.to_owned()),
            room,
            reference,
        }
        .frame()]
    })
}

/// Parses a text frame, telling bad JSON from a bad operation.
pub fn parse(text: &str) -> Result<ClientOp, Refusal> {
    serde_json::from_str::<ClientOp>(text).map_err(|op_error| {
        match serde_json::from_str::<serde_json::Value>(text) {
            Err(e) => Refusal {
                code: "bad_json",
                message: format!("frame is not valid JSON: {e}"),
                op: None,
                room: None,
                reference: None,
            },
            Ok(v) if !v.is_object() => Refusal {
                code: "bad_json",
                message: "a frame is a JSON object with an \"op\" field".into(),
                op: None,
                room: None,
                reference: None,
            },
            Ok(v) => Refusal {
                code: "bad_op",
                message: op_error.to_string(),
                op: text_field(&v, "op"),
                room: text_field(&v, "room"),
                reference: text_field(&v, "ref"),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ops_and_classifies_errors() {
        assert!(matches!(parse(r#"{"op":"ping"}"#), Ok(ClientOp::Ping)));
        assert!(matches!(
            parse(r#"{"op":"post","room":"a","text":"hi","ref":"r1"}"#),
            Ok(ClientOp::Post { reference: Some(r), .. }) if r == "r1"
        ));
        assert_eq!(parse("{nope").unwrap_err().code, "bad_json");
        assert_eq!(parse("[1]").unwrap_err().code, "bad_json");
        let e = parse(r#"{"op":"fly","ref":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.reference.as_deref()), ("bad_op", Some("x")));
        assert_eq!(
            parse(r#"{"op":"post","room":"a"}"#).unwrap_err().code,
            "bad_op"
        );
    }

    #[test]
    fn message_frame_prefixes_the_type() {
        assert_eq!(
            message_frame(r#"{"room":"a","seq":1}"#),
            r#"{"type":"message","room":"a","seq":1}"#
        );
    }
}
