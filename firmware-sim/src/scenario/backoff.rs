//! Reconnect delays like real firmware: exponential backoff with jitter.
//!
//! Attempt `n` waits `initial × 2^n`, capped at `max`, less a random share
//! of up to `jitter` of it, so that devices that lost the hub together do
//! not all come back in the same millisecond.

use std::time::Duration;

use rand::Rng;

use super::config::ReconnectConfig;

/// The delay before each reconnect attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    attempt: u32,
}

impl Backoff {
    /// A backoff with these settings, before its first attempt.
    pub fn new(config: &ReconnectConfig) -> Self {
        Self {
            initial: Duration::from_millis(config.initial_ms),
            max: Duration::from_millis(config.max_ms.max(config.initial_ms)),
            jitter: config.jitter.clamp(0.0, 1.0),
            attempt: 0,
        }
    }

    /// The delay before the next attempt (and counts the attempt).
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        let base = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let cut = if self.jitter > 0.0 {
            rng.gen_range(0.0..=self.jitter)
        } else {
            0.0
        };
        base.mul_f64(1.0 - cut)
    }

    /// Starts over (after a connection succeeded).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn config(jitter: f64) -> ReconnectConfig {
        ReconnectConfig {
            initial_ms: 100,
            max_ms: 1000,
            jitter,
        }
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut b = Backoff::new(&config(0.0));
        let ms: Vec<u128> = (0..6).map(|_| b.next_delay(&mut rng).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(&mut rng).as_millis(), 100);
        for _ in 0..100 {
            b.next_delay(&mut rng); // no overflow however long it fails
        }
    }

    #[test]
    fn jitter_takes_off_at_most_its_share() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut b = Backoff::new(&config(0.5));
            let d = b.next_delay(&mut rng).as_millis();
            assert!((50..=100).contains(&d), "{d}");
            seen.insert(d);
        }
        assert!(seen.len() > 10, "jitter should spread the delays");
    }
}
