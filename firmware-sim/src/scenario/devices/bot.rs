//! A bot: listens in its rooms and answers `!temp` (the latest thermostat
//! reading it saw in that room) and `!uptime` (how long it has run).

use std::collections::HashMap;

use rand::rngs::StdRng;
use serde::Deserialize;
use tokio::time::Instant;

use super::thermostat::parse_reading;
use super::{Behaviour, Outbound, Purpose, RoomPoster};

/// The last reading seen in a room.
#[derive(Debug, Clone)]
struct Seen {
    celsius: f64,
    from: String,
    at: Instant,
}

/// A bot in some rooms.
pub struct Bot {
    poster: RoomPoster,
    id: String,
    rooms: Vec<String>,
    started: Instant,
    readings: HashMap<String, Seen>,
}

/// The fields of a room message the bot reads.
#[derive(Deserialize)]
struct RoomMessage {
    room: String,
    from: String,
    text: String,
}

impl Bot {
    /// A bot named `id` (its own messages are ignored by that name).
    pub fn new(poster: RoomPoster, id: &str, rooms: &[String], started: Instant) -> Self {
        Self {
            poster,
            id: id.to_owned(),
            rooms: rooms.to_vec(),
            started,
            readings: HashMap::new(),
        }
    }

    fn answer(&self, room: &str, command: &str, now: Instant) -> Option<String> {
        match command {
            "!temp" => Some(match self.readings.get(room) {
                Some(s) => format!(
                    "{room}: {:.1} °C (from {}, {} s ago)",
                    s.celsius,
                    s.from,
                    now.saturating_duration_since(s.at).as_secs()
                ),
                None => format!("{room}: no temperature reading yet"),
            }),
            "!uptime" => {
                let s = now.saturating_duration_since(self.started).as_secs();
                Some(format!(
                    "{} up {}h {:02}m {:02}s",
                    self.id,
                    s / 3600,
                    s / 60 % 60,
                    s % 60
                ))
            }
            _ => None,
        }
    }
}

impl Behaviour for Bot {
    fn subscriptions(&self) -> Vec<String> {
        self.rooms.iter().map(|r| format!("rooms/{r}")).collect()
    }

    fn next_due(&self) -> Option<Instant> {
        None
    }

    fn due(&mut self, _: Instant, _: &mut StdRng) -> Vec<Outbound> {
        Vec::new()
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], now: Instant) -> Vec<Outbound> {
        let Ok(m) = serde_json::from_slice::<RoomMessage>(payload) else {
            return Vec::new();
        };
        if m.from == self.id || topic.strip_prefix("rooms/") != Some(m.room.as_str()) {
            return Vec::new();
        }
        if let Some(celsius) = parse_reading(&m.text) {
            self.readings.insert(
                m.room,
                Seen {
                    celsius,
                    from: m.from,
                    at: now,
                },
            );
            return Vec::new();
        }
        match self.answer(&m.room, m.text.trim(), now) {
            Some(text) => vec![self.poster.post(&m.room, &text, Purpose::Reply)],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg(room: &str, from: &str, text: &str) -> Vec<u8> {
        serde_json::json!({"room": room, "seq": 1, "from": from, "text": text})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn answers_commands_and_ignores_the_rest() {
        let start = Instant::now();
        let mut bot = Bot::new(RoomPoster::new("b"), "bot", &["kitchen".to_string()], start);
        assert_eq!(bot.subscriptions(), ["rooms/kitchen"]);
        let none = bot.on_message("rooms/kitchen", &msg("kitchen", "bob", "!temp"), start);
        assert!(
            none[0].summary.contains("no temperature reading yet"),
            "{none:?}"
        );
        bot.on_message(
            "rooms/kitchen",
            &msg("kitchen", "thermo", "temperature 22.5 °C"),
            start,
        );
        let t = bot.on_message(
            "rooms/kitchen",
            &msg("kitchen", "bob", " !temp "),
            start + Duration::from_secs(3),
        );
        assert_eq!(t[0].summary, "kitchen: 22.5 °C (from thermo, 3 s ago)");
        assert_eq!(t[0].topic, "rooms/kitchen");
        let up = bot.on_message(
            "rooms/kitchen",
            &msg("kitchen", "bob", "!uptime"),
            start + Duration::from_secs(3725),
        );
        assert_eq!(up[0].summary, "bot up 1h 02m 05s");
        assert!(bot
            .on_message("rooms/kitchen", &msg("kitchen", "bot", "!temp"), start)
            .is_empty());
        assert!(bot
            .on_message("rooms/kitchen", &msg("kitchen", "bob", "hello"), start)
            .is_empty());
        assert!(bot
            .on_message("rooms/kitchen", b"not json", start)
            .is_empty());
    }
}
