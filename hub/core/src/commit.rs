//! Group commit: one thread takes every queued post, assigns seqs, writes
//! them to the store in one batch, makes the batch durable with one sync,
//! and only then acknowledges and fans out. Because this thread alone
//! assigns seqs and a failed batch assigns nothing, seqs never have gaps.
//!
//! There is no timer: while one batch syncs, the next one gathers, so a
//! post waits for at most the sync in progress plus its own.
//!
//! The same batch carries the uplink's durable state: messages first posted
//! here that the [`OutboxRule`] selects go into the outbox, and messages
//! relayed from other hubs raise their origin marks, by which a repeat is
//! recognised and not stored twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::error::RoomError;
use crate::message::{Message, Published, Via};
use crate::metrics::Metrics;
use crate::room::Room;
use crate::room_name::RoomName;
use crate::store::{Batch, HistoryStore, OriginMark, OutboxItem, IDEMPOTENCY_WINDOW};
use crate::uplink::{OutboxRule, Relayed};

/// How often, at most, a full outbox is reported in the log.
const DROP_WARN_EVERY: Duration = Duration::from_secs(10);

/// The result of a post.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The durable message.
    pub message: Arc<Published>,
    /// True when the post repeated a `ref` and this is the original.
    pub duplicate: bool,
}

/// Where a relayed message comes from.
pub(crate) struct Foreign {
    /// The origin hub.
    pub hub: String,
    /// Its seq there.
    pub seq: u64,
    /// When the origin hub accepted it.
    pub ts: DateTime<Utc>,
    /// The room's epoch there.
    pub epoch: String,
}

/// Who waits for a post's outcome.
pub(crate) enum Reply {
    /// A client's post.
    Post(oneshot::Sender<Result<Posted, RoomError>>),
    /// A message relayed from another hub.
    Relay(oneshot::Sender<Result<Relayed, RoomError>>),
}

/// A validated post on its way to the committer.
pub(crate) struct PostRequest {
    pub room: Arc<Room>,
    pub from: String,
    pub text: String,
    pub via: Via,
    pub reference: Option<String>,
    /// Set for a message relayed from another hub.
    pub foreign: Option<Foreign>,
    pub reply: Reply,
}

pub(crate) enum Request {
    Post(PostRequest),
    /// Finish everything queued before this, then stop.
    Stop(oneshot::Sender<()>),
}

/// What one post in a batch turned out to be.
enum Outcome {
    /// Staged at this index of the batch.
    New(usize),
    /// Repeats a post staged earlier in this batch.
    RepeatInBatch(usize),
    /// Repeats a durable post.
    Repeat(Message),
    /// A relayed message this hub already has.
    Known,
    Failed(RoomError),
}

/// Identifies an origin mark: room, origin hub, origin room epoch.
type MarkKey = (RoomName, String, String);

pub(crate) struct Committer {
    pub store: Arc<dyn HistoryStore>,
    pub metrics: Arc<Metrics>,
    pub hub_id: String,
    pub max_batch: usize,
    /// Which messages go into the outbox; none without a rule.
    pub outbox: Option<OutboxRule>,
    /// Told after every batch that added to the outbox.
    pub outbox_changed: Arc<Notify>,
    /// Durable origin marks seen so far (the committer alone writes them).
    pub marks: HashMap<MarkKey, u64>,
    /// Outbox drops not yet reported in the log, and when it last was.
    pub unreported_drops: (u64, Option<Instant>),
}

impl Committer {
    /// Runs until a `Stop` request or until every sender is gone.
    pub fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = rx.blocking_recv() {
            let mut stop = None;
            for request in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match request {
                    Request::Post(p) => batch.push(p),
                    Request::Stop(done) => {
                        stop = Some(done);
                        break;
                    }
                }
                if batch.len() >= self.max_batch {
                    break;
                }
            }
            self.commit(std::mem::take(&mut batch));
            if let Some(done) = stop {
                rx.close();
                // Posts that raced with the stop are refused, not lost silently.
                while let Ok(request) = rx.try_recv() {
                    if let Request::Post(p) = request {
                        p.reply.refuse(RoomError::ShuttingDown);
                    }
                }
                let _ = done.send(());
                return;
            }
        }
    }

    /// Whether a relayed message is already stored (or staged in this
    /// batch); if not, raises its mark in `marks_in_batch`.
    fn known(
        &mut self,
        room: &RoomName,
        foreign: &Foreign,
        marks_in_batch: &mut HashMap<MarkKey, u64>,
    ) -> Result<bool, RoomError> {
        let key = (room.clone(), foreign.hub.clone(), foreign.epoch.clone());
        let mark = match marks_in_batch.get(&key) {
            Some(&seq) => Some(seq),
            None => match self.marks.get(&key) {
                Some(&seq) => Some(seq),
                None => {
                    let stored = self
                        .store
                        .origin_mark(room, &foreign.hub, &foreign.epoch)
                        .map_err(|e| RoomError::StoreUnavailable(e.to_string()))?;
                    if let Some(seq) = stored {
                        self.marks.insert(key.clone(), seq);
                    }
                    stored
                }
            },
        };
        if mark.is_some_and(|seq| seq >= foreign.seq) {
            return Ok(true);
        }
        marks_in_batch.insert(key, foreign.seq);
        Ok(false)
    }

    fn commit(&mut self, requests: Vec<PostRequest>) {
        if requests.is_empty() {
            return;
        }
        let now = Utc::now();
        let dedup_since = now - IDEMPOTENCY_WINDOW;
        let mut staged: Vec<Message> = Vec::with_capacity(requests.len());
        let mut rooms: Vec<Arc<Room>> = Vec::with_capacity(requests.len());
        let mut next_seq: HashMap<RoomName, u64> = HashMap::new();
        let mut refs_in_batch: HashMap<(RoomName, String, String), usize> = HashMap::new();
        let mut marks_in_batch: HashMap<MarkKey, u64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(requests.len());

        for req in &requests {
            let name = &req.room.name;
            if let Some(foreign) = &req.foreign {
                match self.known(name, foreign, &mut marks_in_batch) {
                    Ok(false) => {}
                    Ok(true) => {
                        outcomes.push(Outcome::Known);
                        continue;
                    }
                    Err(e) => {
                        outcomes.push(Outcome::Failed(e));
                        continue;
                    }
                }
            }
            if let Some(reference) = &req.reference {
                let key = (name.clone(), req.from.clone(), reference.clone());
                if let Some(&i) = refs_in_batch.get(&key) {
                    outcomes.push(Outcome::RepeatInBatch(i));
                    continue;
                }
                match self
                    .store
                    .find_by_ref(name, &req.from, reference, dedup_since)
                {
                    Ok(Some(original)) => {
                        outcomes.push(Outcome::Repeat(original));
                        continue;
                    }
                    Ok(None) => {
                        refs_in_batch.insert(key, staged.len());
                    }
                    Err(e) => {
                        outcomes.push(Outcome::Failed(RoomError::StoreUnavailable(e.to_string())));
                        continue;
                    }
                }
            }
            let seq = next_seq
                .entry(name.clone())
                .or_insert_with(|| req.room.last_seq());
            *seq += 1;
            outcomes.push(Outcome::New(staged.len()));
            staged.push(Message {
                room: name.clone(),
                seq: *seq,
                from: req.from.clone(),
                text: req.text.clone(),
                ts: now,
                origin: req
                    .foreign
                    .as_ref()
                    .map_or_else(|| self.hub_id.clone(), |f| f.hub.clone()),
                via: req.via,
                reference: req.reference.clone(),
                origin_seq: req.foreign.as_ref().map(|f| f.seq),
                origin_ts: req.foreign.as_ref().map(|f| f.ts),
            });
            rooms.push(req.room.clone());
        }

        let started = Instant::now();
        let outbox: Vec<OutboxItem<'_>> = match &self.outbox {
            Some(rule) => staged
                .iter()
                .zip(&rooms)
                .filter(|(m, _)| m.origin_seq.is_none() && rule.rooms.includes(&m.room))
                .map(|(message, room)| OutboxItem {
                    message,
                    epoch: &room.meta.epoch,
                })
                .collect(),
            None => Vec::new(),
        };
        let outboxed = outbox.len();
        let written = if staged.is_empty() {
            Ok(Default::default())
        } else {
            let marks = marks_in_batch
                .iter()
                .map(|((room, origin, epoch), seq)| OriginMark {
                    room: room.clone(),
                    origin: origin.clone(),
                    epoch: epoch.clone(),
                    seq: *seq,
                })
                .collect();
            self.store.append(&Batch {
                messages: &staged,
                outbox,
                outbox_limits: self.outbox.as_ref().map(|r| r.limits).unwrap_or_default(),
                marks,
            })
        };
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_messages.observe(staged.len() as f64);
        if let Ok(appended) = &written {
            self.marks.extend(marks_in_batch);
            if outboxed > 0 {
                self.outbox_changed.notify_one();
                self.report_outbox(appended.outbox_dropped);
            }
        }

        let published: Vec<Arc<Published>> = match &written {
            Ok(_) => staged
                .into_iter()
                .zip(&rooms)
                .map(|(m, room)| {
                    self.metrics.messages_in(m.via).inc();
                    let p = Published::new(m);
                    room.publish(&p, &self.metrics);
                    p
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, messages = staged.len(), "group commit failed; nothing of it was stored");
                Vec::new()
            }
        };
        let failure = written.err().map(|e| e.to_string());

        for (req, outcome) in requests.into_iter().zip(outcomes) {
            let result = match (outcome, &failure) {
                (Outcome::Failed(e), _) => Err(e),
                (Outcome::Known, _) => {
                    self.metrics.uplink.repeats.inc();
                    if let Reply::Relay(tx) = req.reply {
                        let _ = tx.send(Ok(Relayed::Known));
                    }
                    continue;
                }
                (Outcome::Repeat(original), _) => {
                    self.metrics.duplicates.inc();
                    Ok(Posted {
                        message: Published::new(original),
                        duplicate: true,
                    })
                }
                (Outcome::New(_) | Outcome::RepeatInBatch(_), Some(e)) => {
                    Err(RoomError::StoreUnavailable(e.clone()))
                }
                (Outcome::New(i), None) => Ok(Posted {
                    message: published[i].clone(),
                    duplicate: false,
                }),
                (Outcome::RepeatInBatch(i), None) => {
                    self.metrics.duplicates.inc();
                    Ok(Posted {
                        message: published[i].clone(),
                        duplicate: true,
                    })
                }
            };
            req.reply.send(result);
        }
    }

    /// Updates the outbox gauges; counts and (at most every 10 s) logs
    /// messages dropped because the outbox was full.
    fn report_outbox(&mut self, dropped: u64) {
        let depth = self.store.outbox_depth();
        let metrics = &self.metrics.uplink;
        metrics.outbox_messages.set(depth.messages as i64);
        metrics.outbox_bytes.set(depth.bytes as i64);
        if dropped == 0 {
            return;
        }
        metrics.outbox_dropped.inc_by(dropped);
        let (unreported, last) = &mut self.unreported_drops;
        *unreported += dropped;
        if last.is_none_or(|t| t.elapsed() >= DROP_WARN_EVERY) {
            tracing::warn!(
                dropped = *unreported,
                dropped_since_start = depth.dropped,
                outbox_messages = depth.messages,
                outbox_bytes = depth.bytes,
                "uplink outbox full (uplink.outbox_max_messages / uplink.outbox_max_bytes): \
                 dropped the oldest unsent messages; they will not reach other hubs"
            );
            *unreported = 0;
            *last = Some(Instant::now());
        }
    }
}

impl Reply {
    /// Answers a post; a relayed message is answered with what was stored.
    fn send(self, result: Result<Posted, RoomError>) {
        // The client may have gone; its message is stored regardless.
        match self {
            Reply::Post(tx) => {
                let _ = tx.send(result);
            }
            Reply::Relay(tx) => {
                let _ = tx.send(result.map(|p| Relayed::Stored(p.message)));
            }
        }
    }

    /// Refuses a post.
    fn refuse(self, e: RoomError) {
        self.send(Err(e));
    }
}
