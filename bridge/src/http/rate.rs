//! Messages per second for HTTP posts. A WebSocket connection has a token
//! bucket of its own; an HTTP client opens a new request (often a new
//! connection) for each post, so its bucket belongs to its address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hubbub_core::config::LimitsConfig;
use hubbub_core::limits::TokenBucket;

use super::ApiError;

/// Addresses with a bucket at most. Past it, buckets that have been idle
/// long enough to be full again are dropped (they allow exactly what a new
/// one would), then the least recently used.
const MAX_ADDRESSES: usize = 10_000;

/// One token bucket per client address, in a bounded map.
#[derive(Debug)]
pub struct AddressRates {
    rate: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, (TokenBucket, Instant)>>,
}

impl AddressRates {
    /// `limits.messages_per_second` per address, with bursts of
    /// `limits.message_burst` (a rate of 0 means no limit).
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            rate: limits.messages_per_second,
            burst: limits.message_burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long an idle bucket takes to fill up again.
    fn refill_time(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.burst.max(1)) / f64::from(self.rate.max(1)))
    }

    /// Takes one post's token for `addr` (none for an unknown address, which
    /// is not limited), or refuses with 429 `rate_limited`.
    pub fn take(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(addr), true) = (addr, self.rate > 0) else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&addr) {
            let full_again = self.refill_time();
            buckets.retain(|_, (_, used)| now.duration_since(*used) < full_again);
            if buckets.len() >= MAX_ADDRESSES {
                let stalest = buckets.iter().min_by_key(|(_, (_, used))| *used);
                if let Some(stalest) = stalest.map(|(a, _)| *a) {
                    buckets.remove(&stalest);
                }
            }
        }
        let (bucket, used) = buckets
            .entry(addr)
            .or_insert_with(|| (TokenBucket::new(self.rate, self.burst), now));
        *used = now;
        if bucket.take(now) {
            Ok(())
        } else {
            Err(ApiError::too_many(
                "rate_limited",
                format!(
                    "over {} posts a second from this address (limits.messages_per_second, \
                     bursts of {}): this post was not taken; send it again in a moment",
                    self.rate, self.burst
                ),
                Duration::from_secs_f64(1.0 / f64::from(self.rate)),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32) -> LimitsConfig {
        LimitsConfig {
            messages_per_second: rate,
            message_burst: burst,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn each_address_has_its_own_bucket() {
        let rates = AddressRates::new(&limits(1, 3));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!((0..3).all(|_| rates.take(Some(a)).is_ok()));
        let refused = rates.take(Some(a)).unwrap_err();
        assert_eq!(refused.code(), "rate_limited");
        assert!(rates.take(Some(b)).is_ok());
        assert!(rates.take(None).is_ok());
        let unlimited = AddressRates::new(&limits(0, 1));
        assert!((0..1000).all(|_| unlimited.take(Some(a)).is_ok()));
    }

    #[test]
    fn the_map_stays_bounded() {
        let rates = AddressRates::new(&limits(1, 1));
        for i in 0..(MAX_ADDRESSES as u32 + 50) {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(rates.take(Some(addr)).is_ok());
        }
        let held = rates.buckets.lock().unwrap().len();
        assert!(held <= MAX_ADDRESSES, "{held} buckets");
    }
}
