//! Entry points of the fuzz targets in `bridge/fuzz`. This module exists
//! only when the crate is built with `--cfg fuzzing`, as `cargo fuzz` does;
//! it reaches the crate-private decoders without making them public.
//!
//! Each entry point takes arbitrary bytes, runs them through a decoder the
//! way a connection would, and goes on with what a connection would do
//! next that needs no sockets or rooms. It panics only when an invariant
//! breaks (the decoders themselves must never panic); a panic is what the
//! fuzzer reports.

use std::fmt::Debug;

use bytes::BytesMut;
use chrono::DateTime;
use hubbub_core::{Message, RoomName, Via};

use crate::mqtt::codec::{sniff_version, Codec, DecodeError};
use crate::mqtt::packet::{
    ConnAckInfo, Inbound, Outbound, Publish, Qos, Reason, SubscribeOutcome, Version,
};
use crate::params::{check_name, history_query};
use crate::ws::frames::{answer_with, message_frame, parse, room_name, ClientOp, Frame, Refused};

/// The WebSocket chat protocol: `data` as one text frame (the session only
/// ever gets text frames, which are valid UTF-8; other input is skipped).
/// Parses it as the session does, then validates what the op names (room,
/// nick, history slice) and builds the answer frames that echo the input.
/// Every frame must be a JSON object with a `type`, and not out of
/// proportion to the input.
pub fn ws_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let op = match parse(text) {
        Ok(op) => op,
        Err(refusal) => {
            assert!(matches!(refusal.code, "bad_json" | "bad_op"), "{refusal:?}");
            check_frame(&refusal.frame(), text);
            return;
        }
    };
    let frames = answer_with(op, answer);
    for frame in &frames {
        check_frame(frame, text);
    }
}

/// What the session would check of `op` before it needs the rooms, and
/// the frames it would send that echo what the client sent: the `ack` and
/// the `message` of a post (with this hub as `fuzz` and the client as
/// `guest-1`), and `pong`. Frames built only from validated room names and
/// the hub's own state are left out.
fn answer(op: ClientOp) -> Result<Vec<String>, Refused> {
    match op {
        ClientOp::Hello { nick } => check_name(&nick).map_err(|m| ("bad_nick", m))?,
        ClientOp::Join { room, .. } | ClientOp::Leave { room } | ClientOp::Typing { room } => {
            checked_room_name(&room)?;
        }
        ClientOp::History {
            room,
            before,
            after,
            limit,
        } => {
            checked_room_name(&room)?;
            history_query(before, after, limit).map_err(|m| ("bad_query", m))?;
        }
        ClientOp::Post {
            room,
            text,
            reference,
        } => return Ok(post(checked_room_name(&room)?, text, reference)),
        ClientOp::Ping => return Ok(vec![Frame::Pong.text()]),
    }
    Ok(Vec::new())
}

/// The `ack` the poster gets and the `message` every member gets.
fn post(room: RoomName, text: String, reference: Option<String>) -> Vec<String> {
    let ack = Frame::Ack {
        room: &room,
        reference: reference.as_deref(),
        seq: 1,
        duplicate: false,
    }
    .text();
    let message = Message {
        room,
        seq: 1,
        from: "guest-1".to_owned(),
        text,
        ts: DateTime::UNIX_EPOCH,
        origin: "fuzz".to_owned(),
        via: Via::Ws,
        reference,
        origin_seq: None,
        origin_ts: None,
    };
    let frame = message_frame(&message.to_json());
    // What members receive is the message itself, unchanged.
    let back: serde_json::Value = serde_json::from_str(&frame).expect("a message frame is JSON");
    assert_eq!(back["text"].as_str(), Some(message.text.as_str()));
    assert_eq!(back["ref"].as_str(), message.reference.as_deref());
    vec![ack, frame]
}

/// A room name as the session takes it, which must be the name sent.
fn checked_room_name(room: &str) -> Result<RoomName, Refused> {
    let name = room_name(room)?;
    assert_eq!(name.as_str(), room);
    Ok(name)
}

/// A frame the hub sends: a JSON object with a `type`, at most a few times
/// the size of the frame that caused it (it may echo the input's fields).
fn check_frame(frame: &str, input: &str) {
    let value: serde_json::Value =
        serde_json::from_str(frame).unwrap_or_else(|e| panic!("not JSON ({e}): {frame:?}"));
    assert!(value["type"].is_string(), "no type: {frame}");
    assert!(
        frame.len() <= 8 * input.len() + 1024,
        "a {} byte answer to a {} byte frame",
        frame.len(),
        input.len()
    );
}

/// The packet size limits the MQTT target decodes with: the smallest and
/// the largest `mqtt.max_packet_bytes` the configuration accepts.
const MQTT_LIMITS: [usize; 2] = [64, 256 * 1024 * 1024];

/// Bytes a fixed header may take besides the remaining length it announces.
const FIXED_HEADER_MAX: usize = 5;

/// The MQTT codec: `data` as what a client sends on a fresh connection,
/// read as the connection does (CONNECT first, then packets in the
/// version it announced), and also as what follows the CONNECT of a 3.1.1
/// and of an MQTT 5 connection. Each with the smallest and the largest
/// packet limit, and each with the bytes arriving at once, one by one, and
/// cut in two at a point derived from the data: the three must decode the
/// same. Each call of the decoder must either wait for more bytes (taking
/// none, and only while a packet within the limit can still be coming),
/// take a whole packet (at least one byte, at most a packet's worth), or
/// fail. Every decoded packet is then encoded back as the hub would answer
/// it; a decoded PUBLISH encoded again must decode to itself.
pub fn mqtt_packet(data: &[u8]) {
    let cut = data.iter().fold(0usize, |h, &b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % (data.len() + 1);
    for max in MQTT_LIMITS {
        let handshake = |chunks: &mut dyn Iterator<Item = &[u8]>| connection(chunks, max, None);
        same_for_every_cut(data, cut, handshake);
        for version in [Version::V311, Version::V5] {
            same_for_every_cut(data, cut, |chunks| connection(chunks, max, Some(version)));
        }
    }
}

/// Runs `read` on `data` arriving whole, byte by byte and cut at `cut`,
/// and checks that all three tell the same story.
fn same_for_every_cut(
    data: &[u8],
    cut: usize,
    mut read: impl FnMut(&mut dyn Iterator<Item = &[u8]>) -> Vec<String>,
) {
    let whole = read(&mut std::iter::once(data));
    let by_byte = read(&mut data.chunks(1));
    let (head, tail) = data.split_at(cut);
    let in_two = read(&mut [head, tail].into_iter());
    assert_eq!(whole, by_byte, "whole vs byte by byte");
    assert_eq!(whole, in_two, "whole vs cut at {cut}");
}

/// One connection's reading, fed `chunks` as its socket reads: from the
/// CONNECT on if `version` is `None`, else after a CONNECT of `version`.
/// Returns what it decoded, then how it ended.
fn connection(
    chunks: &mut dyn Iterator<Item = &[u8]>,
    max: usize,
    version: Option<Version>,
) -> Vec<String> {
    let mut log = Vec::new();
    let mut buf = BytesMut::new();
    let mut codec = version.map(|v| Codec::new(v, max));
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let current = match codec {
                Some(c) => c,
                // The handshake: the version first, then the CONNECT.
                None => match sniff_version(&buf, max) {
                    Ok(Some(v)) => Codec::new(v, max),
                    Ok(None) => {
                        assert_waits_fairly(&buf, max);
                        break;
                    }
                    Err(e) => return ended(log, e),
                },
            };
            let before = buf.len();
            match current.decode(&mut buf) {
                Ok(Some(packet)) => {
                    let taken = before - buf.len();
                    assert!(
                        (1..=FIXED_HEADER_MAX + max).contains(&taken),
                        "a packet of {taken} bytes"
                    );
                    if codec.is_none() && !matches!(packet, Inbound::Connect(_)) {
                        return ended(log, DecodeError::NotConnect);
                    }
                    answer_packet(&current, &packet);
                    log.push(format!("{packet:?}"));
                    codec = Some(current);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "bytes taken while waiting for more");
                    assert_waits_fairly(&buf, max);
                    break;
                }
                Err(e) => return ended(log, e),
            }
        }
    }
    log.push(format!("waiting with {} bytes", buf.len()));
    log
}

fn ended(mut log: Vec<String>, e: DecodeError) -> Vec<String> {
    log.push(format!("error: {e}"));
    log
}

/// Waiting for more is only right while a packet within the limit may
/// still be arriving: otherwise a client could make the hub buffer without
/// end.
fn assert_waits_fairly(buf: &BytesMut, max: usize) {
    assert!(
        buf.len() < FIXED_HEADER_MAX + max,
        "waiting for more with {} bytes buffered, limit {max}",
        buf.len()
    );
}

/// Encodes what the hub would send back for `packet`, and checks that a
/// PUBLISH (or a will) survives being encoded and decoded again.
fn answer_packet(codec: &Codec, packet: &Inbound) {
    let answers = match packet {
        Inbound::Connect(c) => {
            if let Some(will) = &c.will {
                // Sent with a packet id of its own when its QoS needs one.
                let mut message = will.message.clone();
                if message.qos != Qos::AtMostOnce {
                    message.pkid = 1;
                }
                publish_round_trip(codec.version(), &message);
            }
            vec![Outbound::ConnAck(
                Reason::Success,
                ConnAckInfo {
                    assigned_client_id: Some(c.client_id.clone()),
                    receive_maximum: c.receive_maximum,
                    max_packet_size: c.max_packet_size,
                    session_expiry: c.session_expiry,
                    server_keep_alive: Some(c.keep_alive),
                    ..ConnAckInfo::default()
                },
            )]
        }
        Inbound::Publish(p) => {
            publish_round_trip(codec.version(), p);
            vec![
                Outbound::PubAck(p.pkid, Reason::Success, None),
                Outbound::PubRec(p.pkid, Reason::NotAuthorized, Some(p.topic.clone())),
            ]
        }
        Inbound::PubAck(_) | Inbound::PubComp(_) => vec![],
        Inbound::PubRec(pkid) => vec![Outbound::PubRel(*pkid)],
        Inbound::PubRel(pkid) => vec![Outbound::PubComp(*pkid)],
        Inbound::Subscribe { pkid, filters } => vec![Outbound::SubAck(
            *pkid,
            filters
                .iter()
                .map(|f| SubscribeOutcome::Granted(f.qos))
                .collect(),
        )],
        Inbound::Unsubscribe { pkid, filters } => vec![Outbound::UnsubAck(*pkid, filters.len())],
        Inbound::PingReq => vec![Outbound::PingResp],
        Inbound::Disconnect { .. } => vec![Outbound::Disconnect(
            Reason::ProtocolError,
            Some("fuzz".into()),
        )],
    };
    for answer in &answers {
        let mut out = BytesMut::new();
        codec.encode(answer, &mut out);
        if out.is_empty() {
            // 3.1.1 has no DISCONNECT from the server; anything else that
            // writes nothing failed to encode.
            assert!(
                codec.version() == Version::V311 && matches!(answer, Outbound::Disconnect(..)),
                "{answer:?} encoded as nothing"
            );
        } else {
            assert_one_packet(&out, answer);
        }
    }
}

/// `bytes` are one whole packet: its remaining length is what follows.
fn assert_one_packet(bytes: &[u8], what: &impl Debug) {
    let mut remaining = 0usize;
    let mut len_len = 0;
    loop {
        len_len += 1;
        assert!(len_len <= 4, "header over 4 bytes for {what:?}");
        let byte = *bytes
            .get(len_len)
            .unwrap_or_else(|| panic!("cut-off header for {what:?}"));
        remaining |= usize::from(byte & 0x7f) << (7 * (len_len - 1));
        if byte & 0x80 == 0 {
            break;
        }
    }
    assert_eq!(
        1 + len_len + remaining,
        bytes.len(),
        "{what:?} encoded as {bytes:02x?}"
    );
}

/// Encodes `p` as the hub sends a PUBLISH and decodes it again.
fn publish_round_trip(version: Version, p: &Publish) {
    let codec = Codec::new(version, MQTT_LIMITS[1]);
    let mut out = BytesMut::new();
    codec.encode(&Outbound::Publish(p.clone()), &mut out);
    let back = match codec.decode(&mut out) {
        Ok(Some(Inbound::Publish(back))) => back,
        other => panic!("{p:?} encoded as {out:02x?} decodes as {other:?}"),
    };
    assert!(out.is_empty(), "bytes left after {p:?}");
    assert_eq!(
        (&back.topic, &back.payload, back.qos, back.retain, back.dup),
        (&p.topic, &p.payload, p.qos, p.retain, p.dup)
    );
    assert_eq!((back.pkid, back.expiry_secs), (p.pkid, p.expiry_secs));
    assert_eq!(back.props, p.props);
}
