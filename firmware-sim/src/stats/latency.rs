//! Latency distributions: a log-linear histogram of microseconds.
//!
//! Values below 256 µs are kept exactly; above that each power of two is
//! split into 128 buckets, so any reported percentile is within 0.8 % of
//! the true value. Memory is fixed (about 30 KiB) however many samples.

use std::time::Duration;

use serde::Serialize;

/// Values below this are counted exactly.
const LINEAR: u64 = 256;
/// log2 of the buckets per power of two above [`LINEAR`].
const SUB_BITS: u32 = 7;
/// Largest power of two tracked; larger values are clamped (2^36 µs ≈ 19 h).
const MAX_MAG: u32 = 35;
const BUCKETS: usize = LINEAR as usize + (((MAX_MAG - 8 + 1) as usize) << SUB_BITS);

/// A histogram of durations in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: u128,
    max_us: u64,
}

/// Percentiles of a [`Histogram`], in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    /// How many samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let v = v.min((1u64 << (MAX_MAG + 1)) - 1);
    let mag = 63 - v.leading_zeros();
    let top = v >> (mag - SUB_BITS);
    LINEAR as usize + (((mag - 8) as usize) << SUB_BITS) + (top as usize - (1 << SUB_BITS))
}

/// The middle of bucket `i`'s range of values.
fn midpoint(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let k = i - LINEAR as usize;
    let mag = 8 + (k >> SUB_BITS) as u32;
    let top = (1u64 << SUB_BITS) + (k as u64 & ((1 << SUB_BITS) - 1));
    let shift = mag - SUB_BITS;
    (top << shift) + ((1u64 << shift) >> 1)
}

/// Microseconds as milliseconds (three decimals, exact).
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Histogram {
    /// An empty histogram (allocates on the first sample).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample in microseconds.
    pub fn record_us(&mut self, us: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[index(us)] += 1;
        self.total += 1;
        self.sum_us += u128::from(us);
        self.max_us = self.max_us.max(us);
    }

    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds all of `other`'s samples.
    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum_us += other.sum_us;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The value at percentile `p` (0 to 100), in microseconds.
    pub fn percentile_us(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return midpoint(i).min(self.max_us);
            }
        }
        self.max_us
    }

    /// The usual percentiles in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.total,
            p50: ms(self.percentile_us(50.0)),
            p90: ms(self.percentile_us(90.0)),
            p99: ms(self.percentile_us(99.0)),
            max: ms(self.max_us),
            mean: if self.total == 0 {
                0.0
            } else {
                ms((self.sum_us / u128::from(self.total)) as u64)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..5_000_000u64).step_by(97) {
            let i = index(v);
            assert!(i >= last, "index not monotonic at {v}");
            last = i;
            let m = midpoint(i);
            let err = (m as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err <= 0.008 || v < LINEAR, "{v} -> {m}");
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for us in 1..=10_000 {
            h.record_us(us);
        }
        let s = h.summary();
        assert_eq!(s.count, 10_000);
        assert!((s.p50 - 5.0).abs() < 0.05, "{s:?}");
        assert!((s.p99 - 9.9).abs() < 0.08, "{s:?}");
        assert_eq!(s.max, 10.0);
        let mut g = Histogram::new();
        g.merge(&h);
        g.merge(&Histogram::new());
        assert_eq!(g.summary(), s);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Histogram::new().summary(), LatencySummary::default());
    }
}
