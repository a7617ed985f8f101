//! The flaky network: when each device's next fault comes, and what it is.
//!
//! Faults arrive at exponentially distributed intervals (a Poisson process)
//! with the configured mean. A fault either drops the connection the way a
//! dying network does (no DISCONNECT, so the broker publishes the will) or
//! stalls it: nothing read or written for a while, which past 1.5 times the
//! keep-alive makes the broker give up on the device too.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::config::FlakyConfig;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Drop the socket.
    Drop,
    /// Neither read nor write for this long.
    Stall(Duration),
}

/// The fault schedule of one device.
#[derive(Debug, Clone)]
pub struct FaultClock {
    config: FlakyConfig,
    next: Instant,
}

impl FaultClock {
    /// A schedule starting at `now`.
    pub fn new(config: FlakyConfig, now: Instant, rng: &mut impl Rng) -> Self {
        let mut clock = Self { config, next: now };
        clock.schedule(now, rng);
        clock
    }

    /// When the next fault is due.
    pub fn next_at(&self) -> Instant {
        self.next
    }

    /// The fault that is due, and the one after it scheduled.
    pub fn take(&mut self, now: Instant, rng: &mut impl Rng) -> Fault {
        self.schedule(now, rng);
        if rng.gen_bool(self.config.disconnect_share.clamp(0.0, 1.0)) {
            Fault::Drop
        } else {
            let (lo, hi) = (
                self.config.stall_min_ms,
                self.config.stall_max_ms.max(self.config.stall_min_ms),
            );
            Fault::Stall(Duration::from_millis(rng.gen_range(lo..=hi)))
        }
    }

    fn schedule(&mut self, now: Instant, rng: &mut impl Rng) {
        let u: f64 = rng.gen_range(0.0..1.0);
        let secs = -self.config.mean_interval_secs * (1.0 - u).ln();
        self.next = now + Duration::from_secs_f64(secs.clamp(0.05, 86_400.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn mean_interval_and_mix_are_about_right() {
        let config = FlakyConfig {
            enabled: true,
            mean_interval_secs: 2.0,
            disconnect_share: 0.25,
            stall_min_ms: 100,
            stall_max_ms: 300,
        };
        let mut rng = StdRng::seed_from_u64(3);
        let start = Instant::now();
        let mut clock = FaultClock::new(config, start, &mut rng);
        let (mut drops, n) = (0, 2000);
        let mut at = start;
        for _ in 0..n {
            at = clock.next_at();
            match clock.take(at, &mut rng) {
                Fault::Drop => drops += 1,
                Fault::Stall(d) => assert!((100..=300).contains(&d.as_millis())),
            }
        }
        let mean = (at - start).as_secs_f64() / n as f64;
        assert!((1.7..2.3).contains(&mean), "mean interval {mean}");
        assert!((400..600).contains(&drops), "{drops} drops");
    }
}
