//! A doorbell: posts its text to its room at fixed times from the start,
//! the whole schedule repeated every `repeat` if set.

use std::time::Duration;

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Behaviour, Outbound, Purpose, RoomPoster};

/// A doorbell in a room.
pub struct Doorbell {
    poster: RoomPoster,
    room: String,
    at: Vec<Duration>,
    repeat: Option<Duration>,
    text: String,
    start: Instant,
    /// Which ring is next: round and index into `at`.
    round: u32,
    index: usize,
}

impl Doorbell {
    /// `at` sorted, not empty (the config checks both).
    pub fn new(
        poster: RoomPoster,
        room: &str,
        at: Vec<Duration>,
        repeat: Option<Duration>,
        text: &str,
        start: Instant,
    ) -> Self {
        Self {
            poster,
            room: room.to_owned(),
            at,
            repeat,
            text: text.to_owned(),
            start,
            round: 0,
            index: 0,
        }
    }

    fn ring_at(&self) -> Option<Instant> {
        let offset = *self.at.get(self.index)?;
        let round = match self.repeat {
            Some(r) => r.saturating_mul(self.round),
            None if self.round == 0 => Duration::ZERO,
            None => return None,
        };
        Some(self.start + round + offset)
    }

    fn advance(&mut self) {
        self.index += 1;
        if self.index >= self.at.len() {
            self.index = 0;
            self.round += 1;
        }
    }
}

impl Behaviour for Doorbell {
    fn next_due(&self) -> Option<Instant> {
        self.ring_at()
    }

    fn due(&mut self, now: Instant, _: &mut StdRng) -> Vec<Outbound> {
        let mut out = Vec::new();
        while let Some(at) = self.ring_at().filter(|at| *at <= now) {
            let _ = at;
            out.push(self.poster.post(&self.room, &self.text, Purpose::Ring));
            self.advance();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn rings_on_schedule_and_repeats() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(0);
        let mut d = Doorbell::new(
            RoomPoster::new("b"),
            "hall",
            vec![secs(1), secs(3)],
            Some(secs(10)),
            "ding",
            start,
        );
        assert_eq!(d.next_due(), Some(start + secs(1)));
        assert_eq!(d.due(start + secs(1), &mut rng).len(), 1);
        assert_eq!(d.next_due(), Some(start + secs(3)));
        assert_eq!(d.due(start + secs(12), &mut rng).len(), 2); // 3 and 11
        assert_eq!(d.next_due(), Some(start + secs(13)));
    }

    #[test]
    fn without_repeat_rings_once() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(0);
        let mut d = Doorbell::new(
            RoomPoster::new("b"),
            "hall",
            vec![secs(2)],
            None,
            "ding",
            start,
        );
        let out = d.due(start + secs(100), &mut rng);
        assert_eq!((out.len(), out[0].summary.as_str()), (1, "ding"));
        assert_eq!(d.next_due(), None);
    }
}
