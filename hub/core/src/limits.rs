//! Limits every transport applies the same way: connections in total and
//! per address, and messages per second per connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 means no limit.
    pub fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Crowded {
    /// The hub has as many connections as it takes.
    #[error("the hub has {0} connections, its limit (limits.max_connections)")]
    Total(usize),
    /// This address has as many as it may.
    #[error("this address has {0} connections, its limit (limits.max_connections_per_address)")]
    PerAddress(usize),
}

impl Crowded {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        "too_many_connections"
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Counts client connections over every transport.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_address: usize,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimiter {
    /// At most `max_total` at once, `max_per_address` from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            counts: Arc::default(),
        }
    }

    /// Admits a connection from `addr` (none for an unknown address,
    /// which counts only toward the total); it counts until the permit is
    /// dropped.
    pub fn admit(&self, addr: Option<IpAddr>) -> Result<ConnectionPermit, Crowded> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= self.max_total {
            return Err(Crowded::Total(self.max_total));
        }
        if let Some(a) = addr {
            let n = counts.by_address.entry(a).or_insert(0);
            if *n >= self.max_per_address {
                return Err(Crowded::PerAddress(self.max_per_address));
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(ConnectionPermit {
            counts: self.counts.clone(),
            addr,
        })
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionPermit {
    counts: Arc<Mutex<Counts>>,
    addr: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(a) = self.addr {
            if let Some(n) = counts.by_address.get_mut(&a) {
                *n -= 1;
                if *n == 0 {
                    counts.by_address.remove(&a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn buckets_allow_bursts_then_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(10, 5);
        assert!((0..5).all(|_| b.take(start)));
        assert!(!b.take(start));
        assert!(b.take(start + Duration::from_millis(100)));
        assert!(!b.take(start + Duration::from_millis(100)));
        let mut unlimited = TokenBucket::new(0, 1);
        assert!((0..10_000).all(|_| unlimited.take(start)));
    }

    #[test]
    fn connections_are_limited_in_total_and_per_address() {
        let limiter = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limiter.admit(Some(a)).unwrap();
        let _second = limiter.admit(Some(a)).unwrap();
        assert_eq!(limiter.admit(Some(a)).unwrap_err(), Crowded::PerAddress(2));
        let _third = limiter.admit(Some(b)).unwrap();
        assert_eq!(limiter.admit(Some(b)).unwrap_err(), Crowded::Total(3));
        drop(first);
        limiter.admit(Some(a)).unwrap();
    }
}
