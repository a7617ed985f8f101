//! One simulated client during a load run: posts (paced) and receives
//! (checked), until everything it posted is resolved and everything
//! expected in its room has arrived (then lingers briefly to catch late
//! duplicates), or its room has gone quiet after every sender finished,
//! or the deadline passes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, TryAcquireError};
use tokio::time::{Instant, MissedTickBehavior};

use super::own_posts::OwnPosts;
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
    /// Per room: senders done posting (every post resolved, or gone).
    pub writers_done: Vec<AtomicU64>,
}

impl Shared {
    /// Counters for `rooms` rooms.
    pub fn new(rooms: usize) -> Self {
        Self {
            undeliverable: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            writers_done: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
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
    /// Which of its posts were acknowledged (without acks: which were sent).
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
    /// Times the connection was lost and made again (a deliberate flap).
    pub reconnects: u64,
    /// Posts let out of the window without settling (never came back).
    pub given_up: u64,
    /// Why the connection ended early, if it did.
    pub disconnect: Option<String>,
    /// Whether the deadline passed before the client was done.
    pub timed_out: bool,
    /// When the client was done (all resolved and delivered).
    pub finished: Option<Instant>,
}

/// Runs client `client` on its joined connection until done or `deadline`.
/// `room_last_seq` is the room's last seq at the join, if known.
pub async fn drive(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    client: usize,
    room_last_seq: Option<u64>,
    conn: Connection,
    deadline: Instant,
) -> ClientOutcome {
    let room_idx = plan.room_of(client);
    let room = plan.room_name(room_idx);
    let m = plan.messages;
    let senders = plan.members(room_idx);
    let (mut poster, mut events) = conn.split();
    let mut own = OwnPosts::new(m, poster.acknowledges(), poster.paced_by_echo());

    let send_ns: Vec<AtomicU64> = (0..m).map(|_| AtomicU64::new(0)).collect();
    let sent = AtomicU64::new(0);
    let window = Semaphore::new(match plan.pacing {
        Pacing::Window(w) => w as usize,
        Pacing::Rate { .. } => 0,
    });
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
        reconnects: 0,
        given_up: 0,
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
            sent.fetch_add(1, Ordering::Relaxed);
            if ticker.is_some() {
                poster.flush().await?;
            }
        }
        poster.flush().await?;
        Ok::<(), anyhow::Error>(())
    };

    let reader = async {
        let own_position = plan.position(client);
        // The seq of each own post, from whichever of ack and delivery came first.
        let mut own_seq = vec![0u64; m as usize];
        let mut check_seq = |n: u64, seq: Option<u64>, out: &mut ClientOutcome| {
            let Some(seq) = seq else { return };
            let slot = &mut own_seq[n as usize];
            if *slot == 0 {
                *slot = seq;
            } else if *slot != seq {
                out.seq_mismatches += 1;
            }
        };
        let expected = senders as u64 * m;
        let mut counted_done = false;
        let mut last_heard = Instant::now();
        let mut last_progress = Instant::now();
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if let Some(done) = out.finished {
                if done.elapsed() >= plan.linger {
                    break;
                }
            } else {
                let resolved = own.resolved() >= m;
                if resolved && !counted_done {
                    counted_done = true;
                    shared.writers_done[room_idx].fetch_add(1, Ordering::Relaxed);
                }
                let all_here = out.tracker.delivered
                    + shared.undeliverable[room_idx].load(Ordering::Relaxed)
                    >= expected;
                let quiet = shared.writers_done[room_idx].load(Ordering::Relaxed) >= senders as u64
                    && last_heard.elapsed() >= plan.settle;
                if resolved && (all_here || quiet) {
                    out.finished = Some(Instant::now());
                    continue;
                }
                let so_far = sent.load(Ordering::Relaxed);
                if own.outstanding(so_far) > 0 && last_progress.elapsed() >= plan.settle {
                    let freed = own.give_up(so_far);
                    out.given_up += freed;
                    window.add_permits(freed as usize);
                    last_progress = Instant::now();
                }
            }
            let event = tokio::select! {
                e = events.next() => e,
                _ = recheck.tick() => continue,
            };
            last_heard = Instant::now();
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
                        let (first, release) = own.ack(n);
                        if first {
                            check_seq(n, seq, &mut out);
                            let sent_at = send_ns[n as usize].load(Ordering::Relaxed);
                            out.ack_latency.record_us(
                                payload::now_unix_nanos().saturating_sub(sent_at) / 1000,
                            );
                            last_progress = Instant::now();
                        } else {
                            out.repeated_acks += 1;
                        }
                        if release {
                            window.add_permits(1);
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
                            if own.echo(n) {
                                window.add_permits(1);
                            }
                            last_progress = Instant::now();
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
                        Some((c, n)) if c == client && !own.is_acked(n) => {
                            out.post_errors += 1;
                            shared.undeliverable[room_idx].fetch_add(1, Ordering::Relaxed);
                            if own.refuse(n) {
                                window.add_permits(1);
                            }
                        }
                        _ => out.other_errors += 1,
                    }
                }
                HubEvent::Malformed(why) => {
                    out.malformed += 1;
                    note(&mut out.first_error, why);
                }
                HubEvent::Reconnected => out.reconnects += 1,
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
            // Acking transports: what was never acked; else what was never sent.
            let never = if own.acknowledged() {
                m.saturating_sub(own.resolved())
            } else {
                m.saturating_sub(sent.load(Ordering::Relaxed))
            };
            shared.undeliverable[room_idx].fetch_add(never, Ordering::Relaxed);
            if !counted_done {
                shared.writers_done[room_idx].fetch_add(1, Ordering::Relaxed);
            }
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
    out.sent = sent.load(Ordering::Relaxed);
    out.acked = if own.acknowledged() {
        own.acked
    } else {
        // Without acks, every post sent is owed to every member.
        let mut all = BitSet::new(m);
        (0..out.sent).for_each(|n| {
            all.insert(n);
        });
        all
    };
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
