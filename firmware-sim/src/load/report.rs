//! The one JSON line a load run prints, built from every client's outcome.

use serde::Serialize;

use super::client::ClientOutcome;
use super::plan::{Pacing, Plan};
use crate::cli::LoadArgs;
use crate::procfs::ProcUsage;
use crate::stats::latency::{Histogram, LatencySummary};
use crate::transport::mqtt::wire::TopicMode;
use crate::transport::TransportKind;

/// The result of a load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Client transport.
    pub transport: TransportKind,
    /// MQTT QoS of publishes and subscriptions (MQTT clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    /// MQTT topics: `rooms` or `plain` (MQTT clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_mode: Option<TopicMode>,
    /// Number of clients.
    pub clients: usize,
    /// Number of rooms.
    pub rooms: usize,
    /// Posts per client.
    pub messages: u64,
    /// The window, in window mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// The total posting rate asked for, in rate mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Bytes per message text.
    pub size: usize,
    /// Posts written.
    pub sent: u64,
    /// Posts acknowledged.
    pub acked: u64,
    /// Posts the hub refused.
    pub post_errors: u64,
    /// Other `error` frames from the hub.
    pub other_errors: u64,
    /// Deliveries owed: each acknowledged post times the members of its room.
    pub expected: u64,
    /// Distinct deliveries of this run's posts.
    pub delivered: u64,
    /// Deliveries owed but not made.
    pub lost: u64,
    /// Deliveries of a post a client had already received.
    pub duplicated: u64,
    /// Deliveries whose seq was not above the previous one's in the room.
    pub out_of_order: u64,
    /// Times a room's seq jumped by more than one on a connection.
    pub seq_gaps: u64,
    /// Deliveries of posts whose ack never arrived (not an error by itself).
    pub delivered_unacked: u64,
    /// Messages in the rooms that this run did not post.
    pub foreign: u64,
    /// Frames that broke the protocol, and acks for unknown refs.
    pub malformed: u64,
    /// Own posts whose ack and delivery named different seqs.
    pub seq_mismatches: u64,
    /// Repeated acks, or acks flagged `duplicate`.
    pub duplicate_acks: u64,
    /// Clients whose connection ended early.
    pub disconnects: u64,
    /// Connections lost and made again (`--flap-after`).
    pub reconnects: u64,
    /// Posts a sender stopped waiting for (they never came back to it).
    pub given_up: u64,
    /// Clients not done when the timeout expired.
    pub timed_out: u64,
    /// Seconds from the first post until the last client was done.
    pub elapsed_s: f64,
    /// Deliveries per second.
    pub throughput: f64,
    /// Acknowledged posts per second.
    pub post_rate: f64,
    /// Send-to-delivery latency.
    pub latency_ms: LatencySummary,
    /// Send-to-ack latency.
    pub ack_latency_ms: LatencySummary,
    /// Hub CPU seconds (user + system) during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_cpu_s: Option<f64>,
    /// Hub CPU microseconds per delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_delivery: Option<f64>,
    /// Hub resident memory at the end, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_rss_kb: Option<u64>,
    /// Hub peak resident memory since it started, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_rss_peak_kb: Option<u64>,
    /// Whether the run was clean: everything acked and delivered once, in order.
    pub ok: bool,
    /// What was wrong, if anything.
    pub problems: Vec<String>,
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

impl LoadReport {
    /// Adds up the outcomes of all clients.
    pub fn build(
        plan: &Plan,
        args: &LoadArgs,
        outcomes: &[ClientOutcome],
        elapsed_s: f64,
        hub: Option<ProcUsage>,
    ) -> Self {
        let mut by_client: Vec<Option<&ClientOutcome>> = vec![None; plan.clients];
        for o in outcomes {
            if let Some(slot) = by_client.get_mut(o.client) {
                *slot = Some(o);
            }
        }
        let mut latency = Histogram::new();
        let mut ack_latency = Histogram::new();
        let (mut expected, mut lost) = (0u64, 0u64);
        let mut first_error = None;
        for o in outcomes {
            latency.merge(&o.latency);
            ack_latency.merge(&o.ack_latency);
            let room = plan.room_of(o.client);
            for pos in 0..plan.members(room) {
                let sender = plan.member(room, pos);
                if let Some(s) = by_client.get(sender).copied().flatten() {
                    expected += s.acked.count();
                    lost += o.tracker.missing(pos, &s.acked);
                }
            }
            if first_error.is_none() {
                first_error.clone_from(&o.first_error);
            }
        }
        let sum = |f: fn(&ClientOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
        let acked = sum(|o| o.acked.count());
        let delivered = sum(|o| o.tracker.delivered);
        let mqtt = args.transport != TransportKind::Ws;
        let mut r = Self {
            transport: args.transport,
            qos: mqtt.then_some(args.mqtt.qos),
            topic_mode: mqtt.then_some(args.mqtt.topic_mode),
            clients: plan.clients,
            rooms: plan.rooms,
            messages: plan.messages,
            window: match plan.pacing {
                Pacing::Window(w) => Some(w),
                Pacing::Rate { .. } => None,
            },
            rate: match plan.pacing {
                Pacing::Rate { interval } => Some(round(
                    plan.clients as f64 / interval.as_secs_f64().max(1e-9),
                    3,
                )),
                Pacing::Window(_) => None,
            },
            size: plan.size,
            sent: sum(|o| o.sent),
            acked,
            post_errors: sum(|o| o.post_errors),
            other_errors: sum(|o| o.other_errors),
            expected,
            delivered,
            lost,
            duplicated: sum(|o| o.tracker.duplicated),
            out_of_order: sum(|o| o.tracker.out_of_order),
            seq_gaps: sum(|o| o.tracker.seq_gaps),
            delivered_unacked: (delivered + lost).saturating_sub(expected),
            foreign: sum(|o| o.tracker.foreign),
            malformed: sum(|o| o.malformed),
            seq_mismatches: sum(|o| o.seq_mismatches),
            duplicate_acks: sum(|o| o.repeated_acks + o.duplicate_acks),
            disconnects: sum(|o| u64::from(o.disconnect.is_some())),
            reconnects: sum(|o| o.reconnects),
            given_up: sum(|o| o.given_up),
            timed_out: sum(|o| u64::from(o.timed_out)),
            elapsed_s: round(elapsed_s, 3),
            throughput: round(delivered as f64 / elapsed_s.max(1e-9), 1),
            post_rate: round(acked as f64 / elapsed_s.max(1e-9), 1),
            latency_ms: latency.summary(),
            ack_latency_ms: ack_latency.summary(),
            hub_cpu_s: hub.map(|h| round(h.cpu_s, 2)),
            cpu_us_per_delivery: hub
                .filter(|_| delivered > 0)
                .map(|h| round(h.cpu_s * 1e6 / delivered as f64, 2)),
            hub_rss_kb: hub.map(|h| h.rss_kb),
            hub_rss_peak_kb: hub.map(|h| h.rss_peak_kb),
            ok: false,
            problems: Vec::new(),
        };
        let planned = plan.planned_posts();
        let mut problem = |cond: bool, what: String| {
            if cond {
                r.problems.push(what);
            }
        };
        problem(r.lost > 0, format!("{} deliveries lost", r.lost));
        problem(
            r.duplicated > 0,
            format!("{} deliveries duplicated", r.duplicated),
        );
        problem(
            r.out_of_order > 0,
            format!("{} deliveries out of order", r.out_of_order),
        );
        problem(
            r.acked < planned,
            format!("{} of {planned} posts acknowledged", r.acked),
        );
        problem(
            r.post_errors > 0,
            format!("{} posts refused", r.post_errors),
        );
        problem(
            r.other_errors > 0,
            format!("{} other error frames", r.other_errors),
        );
        problem(r.malformed > 0, format!("{} malformed frames", r.malformed));
        problem(
            r.seq_mismatches > 0,
            format!(
                "{} acks named another seq than the delivery",
                r.seq_mismatches
            ),
        );
        problem(
            r.duplicate_acks > 0,
            format!("{} duplicate acks", r.duplicate_acks),
        );
        let first_disconnect = outcomes.iter().find_map(|o| o.disconnect.as_deref());
        problem(
            r.disconnects > 0,
            format!(
                "{} clients disconnected (first: {})",
                r.disconnects,
                first_disconnect.unwrap_or("?")
            ),
        );
        problem(
            r.timed_out > 0,
            format!("{} clients timed out", r.timed_out),
        );
        if let (false, Some(e)) = (r.problems.is_empty(), first_error) {
            r.problems.push(format!("first error: {e}"));
        }
        r.ok = r.problems.is_empty();
        r
    }
}
