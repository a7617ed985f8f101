//! Measurements the tools collect: latency distributions and delivery bookkeeping.

pub mod bitset;
pub mod delivery;
pub mod latency;
