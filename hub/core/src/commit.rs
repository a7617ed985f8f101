//! Group commit: one thread takes every queued post, assigns seqs, writes
//! them to the store in one batch, makes the batch durable with one sync,
//! and only then acknowledges and fans out. Because this thread alone
//! assigns seqs and a failed batch assigns nothing, seqs never have gaps.
//!
//! There is no timer: while one batch syncs, the next one gathers, so a
//! post waits for at most the sync in progress plus its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::error::RoomError;
use crate::message::{Message, Published, Via};
use crate::metrics::Metrics;
use crate::room::Room;
use crate::room_name::RoomName;
use crate::store::{HistoryStore, IDEMPOTENCY_WINDOW};

/// The result of a post.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The durable message.
    pub message: Arc<Published>,
    /// True when the post repeated a `ref` and this is the original.
    pub duplicate: bool,
}

/// A validated post on its way to the committer.
pub(crate) struct PostRequest {
    pub room: Arc<Room>,
    pub from: String,
    pub text: String,
    pub via: Via,
    pub reference: Option<String>,
    pub reply: oneshot::Sender<Result<Posted, RoomError>>,
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
    Failed(RoomError),
}

pub(crate) struct Committer {
    pub store: Arc<dyn HistoryStore>,
    pub metrics: Arc<Metrics>,
    pub hub_id: String,
    pub max_batch: usize,
}

impl Committer {
    /// Runs until a `Stop` request or until every sender is gone.
    pub fn run(self, mut rx: mpsc::UnboundedReceiver<Request>) {
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
                        let _ = p.reply.send(Err(RoomError::ShuttingDown));
                    }
                }
                let _ = done.send(());
                return;
            }
        }
    }

    fn commit(&self, requests: Vec<PostRequest>) {
        if requests.is_empty() {
            return;
        }
        let now = Utc::now();
        let dedup_since = now - IDEMPOTENCY_WINDOW;
        let mut staged: Vec<Message> = Vec::with_capacity(requests.len());
        let mut rooms: Vec<Arc<Room>> = Vec::with_capacity(requests.len());
        let mut next_seq: HashMap<RoomName, u64> = HashMap::new();
        let mut refs_in_batch: HashMap<(RoomName, String, String), usize> = HashMap::new();
        let mut outcomes = Vec::with_capacity(requests.len());

        for req in &requests {
            let name = &req.room.name;
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
                origin: self.hub_id.clone(),
                via: req.via,
                reference: req.reference.clone(),
            });
            rooms.push(req.room.clone());
        }

        let started = Instant::now();
        let written = if staged.is_empty() {
            Ok(())
        } else {
            self.store.append(&staged)
        };
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_messages.observe(staged.len() as f64);

        let published: Vec<Arc<Published>> = match &written {
            Ok(()) => staged
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
            // The client may have gone; its message is stored regardless.
            let _ = req.reply.send(result);
        }
    }
}
