//! One simulated client during a load run: posts (paced) and receives
//! (checked), until everything it posted is resolved and everything
//! expected in its room has arrived (then lingers briefly to catch late
//! duplicates), or the deadline passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, TryAcquireError};
use tokio::time::{Instant, MissedTickBehavior};

use super::payload;
use super::plan::{Pacing, Plan};
use crate::stats::bitset::BitSet;
use crate::stats::delivery::{DeliveryTracker, Observed};
use crate::stats::latency::Histogram;
use crate::transport::{Connection, HubEvent};

/// How often a waiting receiver re-checks whether it can stop.
const RECHECK: Duration = Duration::from_millis(100);

/// State shared by all clients of a run.
#[derive(Debug)]
pub struct Shared {
    /// Per room: posts that will never be delivered (refused by the hub,
    /// or never acknowledged by a client that lost its connection), so
    /// receivers stop waiting for them.
    pub undeliverable: Vec<AtomicU64>,
}

impl Shared {
    /// Counters for `rooms` rooms.
    pub fn new(rooms: usize) -> Self {
        Self {
            undeliverable: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// What one client did and saw.
#[derive(Debug)]
pub struct ClientOutcome {
    /// The client's number.
    pub client: usize,
    /// Posts written to the connection.
    pub sent: u64,
    /// Which of its posts were acknowledged.
    pub acked: BitSet,
    /// Acks for a post that was already acknowledged.
    pub repeated_acks: u64,
    /// Acks that said `"duplicate":true`.
    pub duplicate_acks: u64,
    /// Posts the hub refused with an `error` frame.
    pub post_errors: u64,
    /// Other `error` frames.
    pub other_errors: u64,
    /// Frames that broke the protocol.
    pub malformed: u64,
    /// Own posts whose ack and delivery named different seqs.
    pub seq_mismatches: u64,
    /// The first error or malformed frame, for the report.
    pub first_error: Option<String>,
    /// What was delivered in the client's room.
    pub tracker: DeliveryTracker,
    /// Send-to-delivery latency of this client's first deliveries.
    pub latency: Histogram,
    /// Send-to-ack latency of this client's posts.
    pub ack_latency: Histogram,
    /// Why the connection ended early, if it did.
    pub disconnect: Option<String>,
    /// Whether the deadline passed before the client was done.
    pub timed_out: bool,
    /// When the client was done (all resolved and delivered).
    pub finished: Option<Instant>,
}

/// Runs client `client` on its joined connection until done or `deadline`.
pub async fn drive(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    client: usize,
    room_last_seq: u64,
    conn: Connection,
    deadline: Instant,
) -> ClientOutcome {
    let room_idx = plan.room_of(client);
    let room = plan.room_name(room_idx);
    let m = plan.messages;
    let senders = plan.members(room_idx);
    let (mut poster, mut events) = conn.split();

    let send_ns: Vec<AtomicU64> = (0..m).map(|_| AtomicU64::new(0)).collect();
    let window = Semaphore::new(match plan.pacing {
        Pacing::Window(w) => w as usize,
        Pacing::Rate { .. } => 0,
    });
    let mut sent = 0u64;
    let mut out = ClientOutcome {
        client,
        sent: 0,
        acked: BitSet::new(m),
        repeated_acks: 0,
        duplicate_acks: 0,
        post_errors: 0,
        other_errors: 0,
        malformed: 0,
        seq_mismatches: 0,
        first_error: None,
        tracker: DeliveryTracker::new(senders, m, room_last_seq),
        latency: Histogram::new(),
        ack_latency: Histogram::new(),
        disconnect: None,
        timed_out: false,
        finished: None,
    };

    let writer = async {
        let mut ticker = match plan.pacing {
            Pacing::Rate { interval } => {
                // Stagger clients over one interval so the total rate is smooth.
                let offset = interval.mul_f64(client as f64 / plan.clients as f64);
                let mut t = tokio::time::interval_at(Instant::now() + offset, interval);
                t.set_missed_tick_behavior(MissedTickBehavior::Burst);
                Some(t)
            }
            Pacing::Window(_) => None,
        };
        for n in 0..m {
            if let Some(t) = ticker.as_mut() {
                t.tick().await;
            } else {
                match window.try_acquire() {
                    Ok(permit) => permit.forget(),
                    Err(TryAcquireError::NoPermits) => {
                        poster.flush().await?;
                        match window.acquire().await {
                            Ok(permit) => permit.forget(),
                            Err(_) => return Ok(()), // the receiver stopped
                        }
                    }
                    Err(TryAcquireError::Closed) => return Ok(()),
                }
            }
            let now = payload::now_unix_nanos();
            send_ns[n as usize].store(now, Ordering::Relaxed);
            let text = payload::encode(now, plan.size);
            poster
                .post(&room, &plan.reference(client, n), &text)
                .await?;
            sent += 1;
            if ticker.is_some() {
                poster.flush().await?;
            }
        }
        poster.flush().await?;
        Ok::<(), anyhow::Error>(())
    };

    let reader = async {
        let mut resolved_own = 0u64;
        let own_position = plan.position(client);
        // The seq of each own post, from whichever of ack and delivery came first.
        let mut own_seq = vec![0u64; m as usize];
        let mut check_seq = |n: u64, seq: u64, out: &mut ClientOutcome| {
            let slot = &mut own_seq[n as usize];
            if *slot == 0 {
                *slot = seq;
            } else if *slot != seq {
                out.seq_mismatches += 1;
            }
        };
        let expected = senders as u64 * m;
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some(done) = out.finished {
                if done.elapsed() >= plan.linger {
                    break;
                }
            } else if resolved_own >= m
                && out.tracker.delivered + shared.undeliverable[room_idx].load(Ordering::Relaxed)
                    >= expected
            {
                out.finished = Some(Instant::now());
                continue;
            }
            let event = tokio::select! {
                e = events.next() => e,
                _ = recheck.tick() => continue,
            };
            let event = match event {
                None => {
                    out.disconnect = Some("connection ended without a close frame".into());
                    break;
                }
                Some(Err(e)) => {
                    out.disconnect = Some(format!("{e:#}"));
                    break;
                }
                Some(Ok(ev)) => ev,
            };
            match event {
                HubEvent::Ack {
                    reference,
                    seq,
                    duplicate,
                } => match reference.as_deref().and_then(|r| plan.parse_reference(r)) {
                    Some((c, n)) if c == client => {
                        if out.acked.insert(n) {
                            check_seq(n, seq, &mut out);
                            resolved_own += 1;
                            let sent_at = send_ns[n as usize].load(Ordering::Relaxed);
                            out.ack_latency.record_us(
                                payload::now_unix_nanos().saturating_sub(sent_at) / 1000,
                            );
                            window.add_permits(1);
                        } else {
                            out.repeated_acks += 1;
                        }
                        if duplicate {
                            out.duplicate_acks += 1;
                        }
                    }
                    _ => {
                        out.malformed += 1;
                        note(
                            &mut out.first_error,
                            format!("ack for a ref this client never sent: {reference:?}"),
                        );
                    }
                },
                HubEvent::Message(d) => {
                    if d.room != room {
                        out.malformed += 1;
                        note(
                            &mut out.first_error,
                            format!("message for room {} which was not joined", d.room),
                        );
                        continue;
                    }
                    let ours = d
                        .reference
                        .as_deref()
                        .and_then(|r| plan.parse_reference(r))
                        .map(|(c, n)| {
                            if plan.room_of(c) == room_idx {
                                (plan.position(c), n)
                            } else {
                                (usize::MAX, n) // posted elsewhere: counted as foreign
                            }
                        });
                    let kind = out.tracker.observe(d.seq, ours);
                    if let (Observed::First, Some((pos, n))) = (kind, ours) {
                        if pos == own_position {
                            check_seq(n, d.seq, &mut out);
                        }
                    }
                    if kind == Observed::First {
                        if let Some(sent_at) = payload::decode(&d.text) {
                            out.latency.record_us(
                                payload::now_unix_nanos().saturating_sub(sent_at) / 1000,
                            );
                        }
                    }
                }
                HubEvent::Error {
                    code,
                    reference,
                    message,
                } => {
                    note(&mut out.first_error, format!("{code}: {message}"));
                    match reference.as_deref().and_then(|r| plan.parse_reference(r)) {
                        Some((c, n)) if c == client && !out.acked.contains(n) => {
                            out.post_errors += 1;
                            resolved_own += 1;
                            shared.undeliverable[room_idx].fetch_add(1, Ordering::Relaxed);
                            window.add_permits(1);
                        }
                        _ => out.other_errors += 1,
                    }
                }
                HubEvent::Malformed(why) => {
                    out.malformed += 1;
                    note(&mut out.first_error, why);
                }
                HubEvent::Closed { code, reason } => {
                    out.disconnect = Some(format!(
                        "hub closed the connection: code {} {reason}",
                        code.map_or_else(|| "none".to_string(), |c| c.to_string())
                    ));
                    break;
                }
                HubEvent::Other => {}
            }
        }
        // Stop a writer still waiting for the window, and tell the room's
        // other receivers not to wait for posts that will not come.
        window.close();
        if out.disconnect.is_some() {
            shared.undeliverable[room_idx].fetch_add(m - resolved_own, Ordering::Relaxed);
        }
    };

    let run = async { tokio::join!(writer, reader).0 };
    let result = tokio::time::timeout_at(deadline, run).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            if out.disconnect.is_none() {
                out.disconnect = Some(format!("{e:#}"));
            }
        }
        Err(_) => out.timed_out = out.finished.is_none(),
    }
    out.sent = sent;
    if out.disconnect.is_none() {
        poster.close().await;
    }
    out
}

/// Keeps the first of several problems.
fn note(slot: &mut Option<String>, what: String) {
    if slot.is_none() {
        *slot = Some(what);
    }
}
