//! A sensor on a plain (non-room) topic: publishes
//! `{"sensor","seq","quantity","value","unit","ts_ms"}` every interval.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use tokio::time::Instant;

use super::{Behaviour, Outbound, Purpose};

/// What a sensor is.
#[derive(Debug, Clone)]
pub struct SensorSpec {
    /// Its id.
    pub id: String,
    /// Its topic.
    pub topic: String,
    /// Time between readings.
    pub interval: Duration,
    /// First reading.
    pub value: f64,
    /// What it measures.
    pub quantity: String,
    /// Its unit.
    pub unit: String,
    /// Retain readings.
    pub retain: bool,
    /// When the scenario started.
    pub start: Instant,
}

/// A sensor.
pub struct Sensor {
    spec: SensorSpec,
    seq: u64,
    next: Instant,
}

#[derive(Serialize)]
struct Reading<'a> {
    sensor: &'a str,
    seq: u64,
    quantity: &'a str,
    value: f64,
    unit: &'a str,
    ts_ms: u64,
}

impl Sensor {
    /// First reading one interval after the start.
    pub fn new(spec: SensorSpec) -> Self {
        let next = spec.start + spec.interval;
        Self { spec, seq: 0, next }
    }
}

impl Behaviour for Sensor {
    fn next_due(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn due(&mut self, now: Instant, rng: &mut StdRng) -> Vec<Outbound> {
        while self.next <= now {
            self.next += self.spec.interval;
        }
        self.seq += 1;
        self.spec.value = (self.spec.value + rng.gen_range(-0.5..=0.5)).clamp(0.0, 100.0);
        let value = (self.spec.value * 10.0).round() / 10.0;
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let reading = Reading {
            sensor: &self.spec.id,
            seq: self.seq,
            quantity: &self.spec.quantity,
            value,
            unit: &self.spec.unit,
            ts_ms,
        };
        let payload = serde_json::to_vec(&reading).unwrap_or_default();
        vec![Outbound {
            topic: self.spec.topic.clone(),
            payload,
            retain: self.spec.retain,
            purpose: Purpose::Reading,
            summary: format!(
                "{} {value} {} (#{})",
                self.spec.quantity, self.spec.unit, self.seq
            ),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn readings_count_up() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(2);
        let mut s = Sensor::new(SensorSpec {
            id: "hygro".into(),
            topic: "sensors/garage/humidity".into(),
            interval: Duration::from_secs(1),
            value: 50.0,
            quantity: "humidity".into(),
            unit: "%".into(),
            retain: true,
            start,
        });
        for seq in 1..=3 {
            let out = s.due(start + Duration::from_secs(seq), &mut rng);
            let v: serde_json::Value = serde_json::from_slice(&out[0].payload).unwrap();
            assert_eq!(v["seq"], seq);
            assert_eq!(v["sensor"], "hygro");
            assert!(out[0].retain);
        }
    }
}
