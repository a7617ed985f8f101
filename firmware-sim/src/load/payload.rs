//! Message texts that carry their send time: `t=<unix nanos>;` then padding.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A text stamped with `sent_ns`, padded with `.` to `size` bytes (longer
/// if `size` is smaller than the stamp itself).
pub fn encode(sent_ns: u64, size: usize) -> String {
    let mut text = format!("t={sent_ns};");
    let pad = size.saturating_sub(text.len());
    text.extend(std::iter::repeat_n('.', pad));
    text
}

/// The send time stamped in `text`, if it has one.
pub fn decode(text: &str) -> Option<u64> {
    let (stamp, _) = text.strip_prefix("t=")?.split_once(';')?;
    stamp.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let t = encode(1_700_000_000_123_456_789, 64);
        assert_eq!(t.len(), 64);
        assert_eq!(decode(&t), Some(1_700_000_000_123_456_789));
        assert_eq!(encode(5, 1), "t=5;");
        assert_eq!(decode("hello"), None);
        assert_eq!(decode("t=x;"), None);
    }
}
