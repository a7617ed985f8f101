//! Slows down repeated failed logins from one address, on every
//! transport alike.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; past it the stalest are forgotten.
const MAX_TRACKED: usize = 10_000;
/// Longest wait imposed.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins per address. After `free` failures within `window`, each
/// further attempt must wait, twice as long after every failure (1 s, 2 s,
/// 4 s ... up to a minute). A success or a quiet `window` clears it.
#[derive(Debug)]
pub struct LoginThrottle {
    free: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginThrottle {
    /// `free` failures per `window` are let through unhindered.
    pub fn new(free: u32, window: Duration) -> Self {
        Self {
            free,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long an attempt from `addr` must still wait, if at all.
    pub fn wait(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.wait_in(&failures, addr, now)
    }

    fn wait_in(
        &self,
        failures: &HashMap<IpAddr, Failures>,
        addr: IpAddr,
        now: Instant,
    ) -> Option<Duration> {
        let f = failures.get(&addr)?;
        if f.count < self.free || now.duration_since(f.last) >= self.window {
            return None;
        }
        let doublings = (f.count - self.free).min(6);
        let backoff = Duration::from_secs(1 << doublings).min(MAX_WAIT);
        (f.last + backoff)
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
    }

    /// Starts an attempt from `addr`: `Err(wait)` if it must wait first;
    /// otherwise it counts as a failure until [`LoginThrottle::succeeded`]
    /// says otherwise, so that attempts made at once cannot all slip past
    /// the count before any of them has failed.
    pub fn begin(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = self.wait_in(&failures, addr, now) {
            return Err(wait);
        }
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&addr) {
            let window = self.window;
            failures.retain(|_, f| now.duration_since(f.last) < window);
            if failures.len() >= MAX_TRACKED {
                if let Some(stalest) = failures.iter().min_by_key(|(_, f)| f.last).map(|(a, _)| *a)
                {
                    failures.remove(&stalest);
                }
            }
        }
        let f = failures.entry(addr).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) >= self.window {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        Ok(())
    }

    /// A success from `addr` clears its failures.
    pub fn succeeded(&self, addr: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_free_failures_and_clear() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let start = Instant::now();
        // Attempts made at once count as they start.
        for _ in 0..3 {
            assert_eq!(t.begin(a, start), Ok(()));
        }
        assert_eq!(t.begin(a, start), Err(Duration::from_secs(1)));
        assert_eq!(t.wait(b, start), None, "other addresses are not affected");
        let later = start + Duration::from_secs(1);
        assert_eq!(t.begin(a, later), Ok(()));
        assert_eq!(t.wait(a, later), Some(Duration::from_secs(2)));
        assert_eq!(t.wait(a, later + Duration::from_secs(2)), None);
        // A quiet window forgets.
        assert_eq!(t.wait(a, later + Duration::from_secs(61)), None);
        t.succeeded(a);
        assert_eq!(t.wait(a, start), None);
    }
}
