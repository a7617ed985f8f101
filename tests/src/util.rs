//! Small assertions about the canonical message shared by the tests.

use serde_json::Value;

/// The `type` of a WebSocket frame ("" if none).
pub fn frame_type(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

/// The `seq` of a message; panics if missing.
pub fn seq_of(v: &Value) -> u64 {
    v["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no numeric seq in {v}"))
}

/// The `text` of a message; panics if missing.
pub fn text_of(v: &Value) -> &str {
    v["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {v}"))
}

/// The seqs of a list of messages.
pub fn seqs(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(seq_of).collect()
}

/// A WebSocket `message` frame without its `type`: the canonical message.
pub fn canonical(frame: &Value) -> Value {
    let mut v = frame.clone();
    if let Value::Object(map) = &mut v {
        map.remove("type");
    }
    v
}

/// Asserts `ts` is RFC 3339 UTC with milliseconds: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn assert_ts(ts: &str) {
    let b = ts.as_bytes();
    let ok = b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(ok, "ts {ts:?} is not RFC 3339 UTC with milliseconds");
}

/// Asserts a canonical message (or `message` frame) has every field with the right type.
pub fn assert_canonical(m: &Value) {
    assert!(m["room"].is_string(), "room: {m}");
    assert!(m["seq"].as_u64().is_some_and(|s| s >= 1), "seq: {m}");
    assert!(m["from"].is_string(), "from: {m}");
    assert!(
        m["text"].as_str().is_some_and(|t| !t.trim().is_empty()),
        "text: {m}"
    );
    assert_ts(m["ts"].as_str().unwrap_or_else(|| panic!("ts: {m}")));
    assert!(
        m["origin"].as_str().is_some_and(|o| !o.is_empty()),
        "origin: {m}"
    );
    assert!(
        matches!(m["via"].as_str(), Some("ws" | "mqtt" | "http" | "uplink")),
        "via: {m}"
    );
    assert!(
        m.get("ref").is_none() || m["ref"].is_string(),
        "ref must be a string or absent: {m}"
    );
}

/// Asserts the messages' seqs run `1, 2, 3, …` with no gap or repeat.
pub fn assert_gap_free(messages: &[Value]) {
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(
            seq_of(m),
            i as u64 + 1,
            "seqs must run 1, 2, 3, … without gaps; position {i} holds {m}"
        );
    }
}
