//! A thermostat: posts its temperature to its room every interval, as
//! `temperature 21.4 °C` (a slow random walk).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use tokio::time::Instant;

use super::{Behaviour, Outbound, Purpose, RoomPoster};

/// The lowest and highest reading.
const RANGE: (f64, f64) = (5.0, 35.0);

/// A thermostat in a room.
pub struct Thermostat {
    poster: RoomPoster,
    room: String,
    interval: Duration,
    celsius: f64,
    next: Instant,
}

impl Thermostat {
    /// First reading one interval after `start`.
    pub fn new(
        poster: RoomPoster,
        room: &str,
        interval: Duration,
        celsius: f64,
        start: Instant,
    ) -> Self {
        Self {
            poster,
            room: room.to_owned(),
            interval,
            celsius: celsius.clamp(RANGE.0, RANGE.1),
            next: start + interval,
        }
    }
}

/// The text of a reading (the bot reads it back with [`parse_reading`]).
pub fn reading_text(celsius: f64) -> String {
    format!("temperature {celsius:.1} °C")
}

/// The °C of a thermostat's text, if it is one.
pub fn parse_reading(text: &str) -> Option<f64> {
    let rest = text.strip_prefix("temperature ")?;
    let (number, unit) = rest.split_once(' ')?;
    (unit == "°C").then(|| number.parse().ok()).flatten()
}

impl Behaviour for Thermostat {
    fn next_due(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn due(&mut self, now: Instant, rng: &mut StdRng) -> Vec<Outbound> {
        // Keep the rhythm; skip readings missed while stalled.
        while self.next <= now {
            self.next += self.interval;
        }
        self.celsius = (self.celsius + rng.gen_range(-0.2..=0.2)).clamp(RANGE.0, RANGE.1);
        let text = reading_text(self.celsius);
        vec![self.poster.post(&self.room, &text, Purpose::Reading)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn readings_round_trip() {
        assert_eq!(parse_reading(&reading_text(21.44)), Some(21.4));
        assert_eq!(parse_reading("temperature hot °C"), None);
        assert_eq!(parse_reading("temperature 21 F"), None);
        assert_eq!(parse_reading("hello"), None);
    }

    #[test]
    fn posts_on_its_rhythm() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Thermostat::new(
            RoomPoster::new("b"),
            "kitchen",
            Duration::from_secs(5),
            21.0,
            start,
        );
        assert_eq!(t.next_due(), Some(start + Duration::from_secs(5)));
        let out = t.due(start + Duration::from_secs(12), &mut rng);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "rooms/kitchen");
        assert!(parse_reading(&out[0].summary).is_some());
        assert_eq!(t.next_due(), Some(start + Duration::from_secs(15)));
    }
}
