//! The uplink's state in sled, beside the history (see `sled_store.rs`).
//!
//! Layout:
//! - trees `o/{first_id:020}`: one *bucket* of the outbox, key = entry id
//!   (8 bytes big-endian), value = JSON [`OutboxEntry`]. Ids rise by one
//!   across buckets. A bucket is dropped whole once every entry in it is
//!   sent or dropped, because deleting keys in sled frees no disk space;
//! - tree `u/meta`: `outbox.done` = the id up to which every entry is sent
//!   or dropped (8 bytes big-endian);
//! - tree `u/marks`: `room \0 origin \0 epoch` -> highest origin seq stored;
//! - tree `u/pos`: room -> inbound stream position.
//!
//! Outbox entries and marks are written inside the history store's group
//! commit ([`SledUplink::stage`]), before its sync, so they are durable
//! exactly when the messages are.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::sled_store::engine;
use super::{OriginMark, OutboxDepth, OutboxEntry, OutboxItem, OutboxLimits, RoomName, StoreError};

const OUTBOX_PREFIX: &str = "o/";
const META_TREE: &str = "u/meta";
const MARKS_TREE: &str = "u/marks";
const POSITIONS_TREE: &str = "u/pos";
const DONE_KEY: &str = "outbox.done";
/// Entries per outbox bucket.
const BUCKET_ENTRIES: u64 = 4096;

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn key_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("uplink key or value of {} bytes", bytes.len())))
}

fn mark_key(room: &RoomName, origin: &str, epoch: &str) -> Vec<u8> {
    [room.as_str(), origin, epoch].join("\0").into_bytes()
}

fn bucket_name(first_id: u64) -> String {
    format!("{OUTBOX_PREFIX}{first_id:020}")
}

#[derive(Clone)]
struct OutboxBucket {
    tree: sled::Tree,
    last_id: u64,
}

/// The outbox's bookkeeping, guarded by one mutex.
pub(super) struct OutboxState {
    /// Keyed by first id.
    buckets: BTreeMap<u64, OutboxBucket>,
    /// The id the next entry gets.
    next_id: u64,
    /// Every id up to this one is sent or dropped.
    done: u64,
    /// Size of the unsent entries.
    pending_bytes: u64,
}

impl OutboxState {
    fn pending(&self) -> u64 {
        self.next_id - 1 - self.done
    }

    /// The stored size of entry `id`, 0 if it is not there.
    fn entry_len(&self, id: u64) -> Result<u64, StoreError> {
        let Some((_, bucket)) = self.buckets.range(..=id).next_back() else {
            return Ok(0);
        };
        Ok(bucket
            .tree
            .get(id_key(id))
            .map_err(engine)?
            .map_or(0, |v| v.len() as u64))
    }

    /// The stored size of entries `from..=to`.
    fn range_len(&self, from: u64, to: u64) -> Result<u64, StoreError> {
        let mut total = 0;
        for bucket in self.buckets.values().filter(|b| b.last_id >= from) {
            for item in bucket.tree.range(id_key(from)..=id_key(to)) {
                total += item.map_err(engine)?.1.len() as u64;
            }
        }
        Ok(total)
    }
}

/// What [`SledUplink::stage`] wrote, to finish or undo it.
pub(super) struct Staged {
    first_id: u64,
    bytes: u64,
    done_before: u64,
    marks_before: Vec<(Vec<u8>, Option<sled::IVec>)>,
    dropped: u64,
}

/// The uplink's state in one sled database.
pub(super) struct SledUplink {
    db: sled::Db,
    meta: sled::Tree,
    marks: sled::Tree,
    positions: sled::Tree,
    outbox: Mutex<OutboxState>,
    depth_messages: AtomicU64,
    depth_bytes: AtomicU64,
    dropped: AtomicU64,
}

impl SledUplink {
    /// Opens the uplink's trees and reads the outbox's bounds.
    pub fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let meta = db.open_tree(META_TREE).map_err(engine)?;
        let done = match meta.get(DONE_KEY).map_err(engine)? {
            Some(v) => key_u64(&v)?,
            None => 0,
        };
        let mut buckets = BTreeMap::new();
        for name in db.tree_names() {
            let Some(first_id) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(OUTBOX_PREFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let tree = db.open_tree(&name).map_err(engine)?;
            match tree.last().map_err(engine)? {
                Some((last, _)) if key_u64(&last)? > done => {
                    let last_id = key_u64(&last)?;
                    buckets.insert(first_id, OutboxBucket { tree, last_id });
                }
                // Empty, or wholly sent before a drop could finish.
                _ => {
                    db.drop_tree(&name).map_err(engine)?;
                }
            }
        }
        let next_id = buckets
            .values()
            .map(|b| b.last_id)
            .max()
            .unwrap_or(done)
            .max(done)
            + 1;
        let mut state = OutboxState {
            buckets,
            next_id,
            done,
            pending_bytes: 0,
        };
        state.pending_bytes = state.range_len(done + 1, next_id)?;
        let this = Self {
            db: db.clone(),
            meta,
            marks: db.open_tree(MARKS_TREE).map_err(engine)?,
            positions: db.open_tree(POSITIONS_TREE).map_err(engine)?,
            outbox: Mutex::new(state),
            depth_messages: AtomicU64::new(0),
            depth_bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        };
        this.publish_depth(&this.lock());
        Ok(this)
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish_depth(&self, state: &OutboxState) {
        self.depth_messages
            .store(state.pending(), Ordering::Relaxed);
        self.depth_bytes
            .store(state.pending_bytes, Ordering::Relaxed);
    }

    /// Writes outbox entries and marks without making them durable, and
    /// drops the oldest unsent entries past `limits`. The caller syncs,
    /// then calls [`Self::finish`] or [`Self::undo`]; the outbox stays
    /// locked in between so that nothing else sees a half-done batch.
    pub fn stage(
        &self,
        items: &[OutboxItem<'_>],
        limits: OutboxLimits,
        marks: &[OriginMark],
    ) -> Result<(MutexGuard<'_, OutboxState>, Staged), StoreError> {
        let mut state = self.lock();
        let mut staged = Staged {
            first_id: state.next_id,
            bytes: 0,
            done_before: state.done,
            marks_before: Vec::with_capacity(marks.len()),
            dropped: 0,
        };
        let written = self.write(&mut state, &mut staged, items, limits, marks);
        match written {
            Ok(()) => Ok((state, staged)),
            Err(e) => {
                self.undo(state, staged);
                Err(e)
            }
        }
    }

    fn write(
        &self,
        state: &mut OutboxState,
        staged: &mut Staged,
        items: &[OutboxItem<'_>],
        limits: OutboxLimits,
        marks: &[OriginMark],
    ) -> Result<(), StoreError> {
        for mark in marks {
            let key = mark_key(&mark.room, &mark.origin, &mark.epoch);
            let before = self
                .marks
                .insert(key.clone(), &id_key(mark.seq))
                .map_err(engine)?;
            staged.marks_before.push((key, before));
        }
        for item in items {
            let id = state.next_id;
            let value = serde_json::to_vec(&OutboxRecord {
                epoch: item.epoch,
                message: item.message,
            })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let newest = state
                .buckets
                .iter_mut()
                .next_back()
                .filter(|(first, b)| b.last_id + 1 == id && id - **first < BUCKET_ENTRIES);
            let tree = if let Some((_, b)) = newest {
                b.last_id = id;
                b.tree.clone()
            } else {
                let tree = self.db.open_tree(bucket_name(id)).map_err(engine)?;
                state.buckets.insert(
                    id,
                    OutboxBucket {
                        tree: tree.clone(),
                        last_id: id,
                    },
                );
                tree
            };
            // Counted before the insert, so that an undo subtracts it even
            // if the insert half-happened.
            state.next_id += 1;
            state.pending_bytes += value.len() as u64;
            staged.bytes += value.len() as u64;
            tree.insert(id_key(id), value).map_err(engine)?;
        }
        while state.pending() > 0
            && (state.pending() > limits.max_messages || state.pending_bytes > limits.max_bytes)
        {
            let id = state.done + 1;
            let len = state.entry_len(id)?;
            state.pending_bytes = state.pending_bytes.saturating_sub(len);
            state.done = id;
            staged.dropped += 1;
        }
        if staged.dropped > 0 {
            self.meta
                .insert(DONE_KEY, &id_key(state.done))
                .map_err(engine)?;
        }
        Ok(())
    }

    /// After the sync: frees buckets that are wholly done.
    pub fn finish(&self, mut state: MutexGuard<'_, OutboxState>, staged: Staged) -> u64 {
        self.dropped.fetch_add(staged.dropped, Ordering::Relaxed);
        if staged.dropped > 0 {
            self.release(&mut state);
        }
        self.publish_depth(&state);
        staged.dropped
    }

    /// After a failed write or sync: removes what the batch wrote.
    pub fn undo(&self, mut state: MutexGuard<'_, OutboxState>, staged: Staged) {
        for id in staged.first_id..state.next_id {
            if let Some((_, b)) = state.buckets.range(..=id).next_back() {
                let _ = b.tree.remove(id_key(id));
            }
        }
        for b in state.buckets.values_mut() {
            b.last_id = b.last_id.min(staged.first_id.saturating_sub(1));
        }
        state.buckets.retain(|first, _| *first < staged.first_id);
        state.next_id = staged.first_id;
        state.pending_bytes = state.pending_bytes.saturating_sub(staged.bytes);
        if state.done != staged.done_before {
            // The dropped entries come back: add their size again.
            let restored = state
                .range_len(staged.done_before + 1, state.done)
                .unwrap_or(0);
            state.pending_bytes += restored;
            state.done = staged.done_before;
            let _ = self.meta.insert(DONE_KEY, &id_key(state.done));
        }
        for (key, before) in staged.marks_before.into_iter().rev() {
            let _ = match before {
                Some(v) => self.marks.insert(key, v).map(|_| ()),
                None => self.marks.remove(key).map(|_| ()),
            };
        }
        self.publish_depth(&state);
    }

    /// Drops every bucket whose entries are all done.
    fn release(&self, state: &mut OutboxState) {
        let done = state.done;
        let finished: Vec<u64> = state
            .buckets
            .iter()
            .filter(|(_, b)| b.last_id <= done)
            .map(|(first, _)| *first)
            .collect();
        for first in finished {
            match self.db.drop_tree(bucket_name(first)) {
                Ok(_) => {
                    state.buckets.remove(&first);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not drop a sent outbox bucket; will retry");
                    return;
                }
            }
        }
    }

    pub fn origin_mark(
        &self,
        room: &RoomName,
        origin: &str,
        epoch: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.marks
            .get(mark_key(room, origin, epoch))
            .map_err(engine)?
            .map(|v| key_u64(&v))
            .transpose()
    }

    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let state = self.lock();
        let from = state.done + 1;
        let mut out = Vec::new();
        for bucket in state.buckets.values().filter(|b| b.last_id >= from) {
            for item in bucket.tree.range(id_key(from)..) {
                if out.len() >= limit {
                    return Ok(out);
                }
                let (key, value) = item.map_err(engine)?;
                let mut entry: OutboxEntry = serde_json::from_slice(&value)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                entry.id = key_u64(&key)?;
                out.push(entry);
            }
        }
        Ok(out)
    }

    pub fn outbox_sent(&self, through: u64) -> Result<OutboxDepth, StoreError> {
        let mut state = self.lock();
        let through = through.min(state.next_id - 1);
        if through > state.done {
            let sent = state.range_len(state.done + 1, through)?;
            self.meta
                .insert(DONE_KEY, &id_key(through))
                .map_err(engine)?;
            state.pending_bytes = state.pending_bytes.saturating_sub(sent);
            state.done = through;
            self.release(&mut state);
            self.publish_depth(&state);
        }
        Ok(self.outbox_depth())
    }

    pub fn outbox_depth(&self) -> OutboxDepth {
        OutboxDepth {
            messages: self.depth_messages.load(Ordering::Relaxed),
            bytes: self.depth_bytes.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    pub fn stream_positions(&self) -> Result<Vec<(RoomName, String)>, StoreError> {
        let mut out = Vec::new();
        for item in self.positions.iter() {
            let (key, value) = item.map_err(engine)?;
            let room = std::str::from_utf8(&key)
                .ok()
                .and_then(|s| RoomName::new(s).ok())
                .ok_or_else(|| StoreError::Corrupt("stream position with a bad room".into()))?;
            let position = String::from_utf8(value.to_vec())
                .map_err(|_| StoreError::Corrupt("stream position is not UTF-8".into()))?;
            out.push((room, position));
        }
        Ok(out)
    }

    pub fn save_stream_positions(
        &self,
        positions: &[(RoomName, String)],
    ) -> Result<(), StoreError> {
        for (room, position) in positions {
            self.positions
                .insert(room.as_str(), position.as_str())
                .map_err(engine)?;
        }
        Ok(())
    }
}

/// How an outbox entry is written (the read side is [`OutboxEntry`]).
#[derive(serde::Serialize)]
struct OutboxRecord<'a> {
    epoch: &'a str,
    message: &'a crate::message::Message,
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::{Batch, HistoryStore, SledOptions, SledStore, UplinkStore};
    use super::*;
    use crate::message::{Message, Via};

    fn msg(seq: u64) -> Message {
        Message {
            room: RoomName::new("r").unwrap(),
            seq,
            from: "alice".into(),
            text: format!("m{seq}"),
            ts: Utc::now(),
            origin: "me".into(),
            via: Via::Http,
            reference: None,
            origin_seq: None,
            origin_ts: None,
        }
    }

    fn append(store: &SledStore, messages: &[Message], limits: OutboxLimits) -> u64 {
        let outbox = messages
            .iter()
            .map(|message| OutboxItem {
                message,
                epoch: "e1",
            })
            .collect();
        store
            .append(&Batch {
                messages,
                outbox,
                outbox_limits: limits,
                marks: Vec::new(),
            })
            .unwrap()
            .outbox_dropped
    }

    fn pending_seqs(store: &SledStore) -> Vec<u64> {
        store
            .outbox_pending(usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.message.seq)
            .collect()
    }

    fn outbox_trees(dir: &std::path::Path) -> usize {
        let store = crate::store::open_when_free(|| SledStore::open(dir, SledOptions::default()));
        drop(store);
        let db = crate::store::open_when_free(|| sled::open(dir));
        db.tree_names()
            .iter()
            .filter(|n| n.starts_with(OUTBOX_PREFIX.as_bytes()))
            .count()
    }

    #[test]
    fn the_outbox_keeps_order_across_buckets_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let total = BUCKET_ENTRIES + 10;
        {
            let store = crate::store::open_when_free(|| {
                SledStore::open(dir.path(), SledOptions::default())
            });
            let batch: Vec<Message> = (1..=total).map(msg).collect();
            assert_eq!(append(&store, &batch, OutboxLimits::default()), 0);
            let first = store.outbox_pending(3).unwrap();
            assert_eq!(
                first.iter().map(|e| e.id).collect::<Vec<_>>(),
                vec![1, 2, 3]
            );
            assert_eq!(first[0].epoch, "e1");
            assert_eq!(first[0].message.text, batch[0].text);
            let depth = store.outbox_sent(BUCKET_ENTRIES + 2).unwrap();
            assert_eq!(depth.messages, 8);
        }
        let store =
            crate::store::open_when_free(|| SledStore::open(dir.path(), SledOptions::default()));
        assert_eq!(
            pending_seqs(&store),
            (BUCKET_ENTRIES + 3..=total).collect::<Vec<_>>()
        );
        let depth = store.outbox_depth();
        assert_eq!(depth.messages, 8);
        assert!(depth.bytes > 8 * 50, "{depth:?}");
        // New entries continue the ids.
        append(&store, &[msg(total + 1)], OutboxLimits::default());
        let last = store.outbox_pending(100).unwrap();
        assert_eq!(last.last().map(|e| e.id), Some(total + 1));
        store.outbox_sent(total + 1).unwrap();
        assert_eq!(store.outbox_depth().messages, 0);
        assert_eq!(store.outbox_depth().bytes, 0);
        drop(store);
        // Wholly sent buckets are gone from disk.
        assert_eq!(outbox_trees(dir.path()), 0);
    }

    #[test]
    fn a_full_outbox_drops_its_oldest_unsent_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::open_when_free(|| SledStore::open(dir.path(), SledOptions::default()));
        let limits = OutboxLimits {
            max_messages: 5,
            max_bytes: u64::MAX,
        };
        let batch: Vec<Message> = (1..=8).map(msg).collect();
        assert_eq!(append(&store, &batch, limits), 3);
        assert_eq!(pending_seqs(&store), vec![4, 5, 6, 7, 8]);
        assert_eq!(append(&store, &[msg(9)], limits), 1);
        assert_eq!(pending_seqs(&store), vec![5, 6, 7, 8, 9]);
        assert_eq!(store.outbox_depth().dropped, 4);

        let one = store.outbox_pending(1).unwrap()[0].clone();
        let size = serde_json::to_vec(&OutboxRecord {
            epoch: "e1",
            message: &one.message,
        })
        .unwrap()
        .len() as u64;
        // Entry 10 is two bytes longer ("seq":10 and "m10").
        let by_bytes = OutboxLimits {
            max_messages: u64::MAX,
            max_bytes: 2 * size + 2,
        };
        assert_eq!(append(&store, &[msg(10)], by_bytes), 4);
        assert_eq!(pending_seqs(&store), vec![9, 10]);
        assert_eq!(store.outbox_depth().bytes, 2 * size + 2);
    }

    #[test]
    fn marks_and_positions_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let room = RoomName::new("r").unwrap();
        {
            let store = crate::store::open_when_free(|| {
                SledStore::open(dir.path(), SledOptions::default())
            });
            let mut relayed = msg(1);
            relayed.origin = "other".into();
            relayed.origin_seq = Some(41);
            store
                .append(&Batch {
                    messages: &[relayed],
                    marks: vec![OriginMark {
                        room: room.clone(),
                        origin: "other".into(),
                        epoch: "e9".into(),
                        seq: 41,
                    }],
                    ..Batch::default()
                })
                .unwrap();
            store
                .save_stream_positions(&[(room.clone(), "1700000000000-3".into())])
                .unwrap();
        }
        let store =
            crate::store::open_when_free(|| SledStore::open(dir.path(), SledOptions::default()));
        assert_eq!(store.origin_mark(&room, "other", "e9").unwrap(), Some(41));
        assert_eq!(store.origin_mark(&room, "other", "e8").unwrap(), None);
        assert_eq!(store.origin_mark(&room, "third", "e9").unwrap(), None);
        assert_eq!(
            store.stream_positions().unwrap(),
            vec![(room, "1700000000000-3".to_string())]
        );
    }
}
