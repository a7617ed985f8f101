//! What a scenario run did, per device and in total: the JSON line
//! `firmware-sim run` prints at the end.

use serde::Serialize;

use super::config::Kind;

/// One device's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceReport {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Option<Kind>,
    /// CONNACKs received.
    pub connects: u64,
    /// Connections lost without being asked to (by the network or the broker).
    pub disconnects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Connections dropped on purpose by the flaky network.
    pub faults_dropped: u64,
    /// Stalls made by the flaky network.
    pub faults_stalled: u64,
    /// Publishes handed to the MQTT client (readings, rings, replies, status).
    pub published: u64,
    /// Of those, replies to messages (the bot).
    pub replies: u64,
    /// Publishes dropped because the device's queue was full.
    pub dropped: u64,
    /// PUBACKs received.
    pub acked: u64,
    /// Publishes received.
    pub received: u64,
    /// Subscriptions the broker refused.
    pub refused_subscriptions: u64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The scenario file.
    pub scenario: String,
    /// The broker.
    pub broker: String,
    /// Seconds run.
    pub elapsed_s: f64,
    /// The seed of every random choice (rerun with `--seed` to repeat them).
    pub seed: u64,
    /// Whether the flaky network was on.
    pub flaky: bool,
    /// Every device.
    pub devices: Vec<DeviceReport>,
    /// Whether every device connected at least once and kept its subscriptions.
    pub ok: bool,
}

impl RunReport {
    /// Sums up; `ok` when every device connected and no subscription was refused.
    pub fn new(
        scenario: String,
        broker: String,
        elapsed_s: f64,
        seed: u64,
        flaky: bool,
        devices: Vec<DeviceReport>,
    ) -> Self {
        let ok = devices
            .iter()
            .all(|d| d.connects > 0 && d.refused_subscriptions == 0);
        Self {
            scenario,
            broker,
            elapsed_s: (elapsed_s * 1000.0).round() / 1000.0,
            seed,
            flaky,
            devices,
            ok,
        }
    }
}
