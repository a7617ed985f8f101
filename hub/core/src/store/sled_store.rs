//! [`HistoryStore`] on sled 0.34.
//!
//! Layout (one sled database):
//! - tree `rooms`: room name -> JSON [`RoomRecord`] (epoch, created, seq floor);
//! - trees `h/{room}/{first_seq:020}`: one *bucket* of a room's history,
//!   key = seq (8 bytes big-endian), value = canonical message JSON. A room's
//!   buckets hold contiguous seq ranges; a new one starts when the newest is
//!   full or old. Retention drops whole buckets, because deleting keys in
//!   sled frees no disk space while dropping a tree does;
//! - trees `r/{window}`: idempotency keys of one time window,
//!   key = `room \0 from \0 ref` -> seq; whole windows are dropped likewise;
//! - the uplink's outbox, origin marks and stream positions (see
//!   `sled_uplink.rs`), written in the same group commit as the history;
//! - users, login sessions and run-time room rules (see `sled_accounts.rs`).
//!
//! Durability: sled's own `flush()` ends in `sync_file_range`, which is not
//! a barrier against power loss, so every flush here is followed by
//! `fdatasync` on sled's log file and on any blob file it has created.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sled_uplink::SledUplink;
use super::{
    Appended, Batch, HistoryQuery, HistoryStore, OutboxDepth, OutboxEntry, RetentionPolicy,
    RoomMeta, StoreError, StoredRoom, UplinkStore, IDEMPOTENCY_WINDOW,
};
use crate::message::Message;
use crate::room_name::RoomName;

const ROOMS_TREE: &str = "rooms";
const BUCKET_PREFIX: &str = "h/";
const REFS_PREFIX: &str = "r/";

/// Tunables of the sled engine.
#[derive(Debug, Clone)]
pub struct SledOptions {
    /// sled's page cache in bytes. Not a memory bound: RSS runs about
    /// four times this.
    pub cache_bytes: u64,
    /// A bucket holds at most this many messages.
    pub bucket_max_messages: u64,
    /// A bucket spans at most this much time from its first message.
    pub bucket_max_span: Duration,
    /// Writes are refused while the file system has less than this free.
    pub min_free_bytes: u64,
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 8 * 1024 * 1024,
            bucket_max_messages: 10_000,
            bucket_max_span: Duration::from_secs(24 * 3600),
            min_free_bytes: 0,
        }
    }
}

/// The durable part of a room's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomRecord {
    #[serde(flatten)]
    meta: RoomMeta,
    /// Highest seq of any bucket dropped by retention, so that the
    /// sequence never restarts even when every bucket is gone.
    #[serde(default)]
    seq_floor: u64,
}

/// One bucket tree and what is known of it without reading it.
#[derive(Clone)]
struct Bucket {
    tree: sled::Tree,
    first_seq: u64,
    last_seq: u64,
    first_ts_ms: i64,
    last_ts_ms: i64,
}

impl Bucket {
    fn count(&self) -> u64 {
        self.last_seq + 1 - self.first_seq
    }
}

#[derive(Default)]
struct RoomBuckets {
    /// Keyed by first seq.
    buckets: BTreeMap<u64, Bucket>,
    record: Option<RoomRecord>,
}

impl RoomBuckets {
    fn last_seq(&self) -> u64 {
        let floor = self.record.as_ref().map_or(0, |r| r.seq_floor);
        self.buckets
            .values()
            .next_back()
            .map_or(floor, |b| b.last_seq.max(floor))
    }
}

/// The sled-backed history store.
pub struct SledStore {
    db: sled::Db,
    rooms_tree: sled::Tree,
    rooms: Mutex<HashMap<RoomName, RoomBuckets>>,
    refs: Mutex<BTreeMap<i64, sled::Tree>>,
    options: SledOptions,
    syncer: Mutex<FileSyncer>,
    uplink: SledUplink,
    dir: PathBuf,
}

/// Makes sled's files durable after its flush.
struct FileSyncer {
    log: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<std::ffi::OsString>,
}

impl FileSyncer {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        let log = File::open(dir.join("db"))?;
        // The directory entries of sled's files must survive power loss too.
        File::open(dir)?.sync_all()?;
        Ok(Self {
            log,
            blobs_dir: dir.join("blobs"),
            synced_blobs: HashSet::new(),
        })
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.log.sync_data()?;
        // Large pages go to blob files, which sled writes without syncing.
        let Ok(entries) = std::fs::read_dir(&self.blobs_dir) else {
            return Ok(());
        };
        let mut new_blob = false;
        let mut present = HashSet::new();
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced_blobs.contains(&name) {
                File::open(self.blobs_dir.join(&name))?.sync_data()?;
                new_blob = true;
            }
            present.insert(name);
        }
        if new_blob {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        self.synced_blobs = present;
        Ok(())
    }
}

/// A sled error as a store error.
/// Bytes available to this process on the file system holding `dir`.
fn available_bytes(dir: &Path) -> Result<u64, StoreError> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| StoreError::Io(std::io::Error::other("a NUL byte in the store's path")))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs
    // before it is read, only on success.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return Err(StoreError::Io(std::io::Error::last_os_error()));
        }
        stats.assume_init()
    };
    #[allow(clippy::useless_conversion)] // the field types differ by platform
    Ok(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}

pub(super) fn engine(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Engine(other.to_string()),
    }
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn key_seq(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("history key of {} bytes", key.len())))
}

fn decode(value: &[u8]) -> Result<Message, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn bucket_tree_name(room: &RoomName, first_seq: u64) -> String {
    format!("{BUCKET_PREFIX}{room}/{first_seq:020}")
}

fn parse_bucket_tree_name(name: &[u8]) -> Option<(RoomName, u64)> {
    let rest = std::str::from_utf8(name)
        .ok()?
        .strip_prefix(BUCKET_PREFIX)?;
    let (room, first) = rest.rsplit_once('/')?;
    Some((RoomName::new(room).ok()?, first.parse().ok()?))
}

fn ref_key(room: &RoomName, from: &str, reference: &str) -> Vec<u8> {
    [room.as_str(), from, reference].join("\0").into_bytes()
}

fn ref_window(ts: DateTime<Utc>) -> i64 {
    let window_ms = IDEMPOTENCY_WINDOW.as_millis() as i64;
    ts.timestamp_millis().div_euclid(window_ms)
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, options: SledOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .mode(sled::Mode::LowSpace)
            // Flushing is ours, once per group commit; no timer-driven
            // writes to wear an SD card.
            .flush_every_ms(None)
            .open()
            .map_err(engine)?;
        let rooms_tree = db.open_tree(ROOMS_TREE).map_err(engine)?;
        let syncer = FileSyncer::open(dir)?;
        let uplink = SledUplink::open(&db)?;
        let store = Self {
            db,
            rooms_tree,
            rooms: Mutex::new(HashMap::new()),
            refs: Mutex::new(BTreeMap::new()),
            options,
            syncer: Mutex::new(syncer),
            uplink,
            dir: dir.to_path_buf(),
        };
        store.load_index()?;
        Ok(store)
    }

    /// The sled database, for the other records kept beside the history.
    pub(super) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Reads every room record and bucket boundary (not the messages).
    fn load_index(&self) -> Result<(), StoreError> {
        let mut rooms: HashMap<RoomName, RoomBuckets> = HashMap::new();
        for item in self.rooms_tree.iter() {
            let (key, value) = item.map_err(engine)?;
            let name = std::str::from_utf8(&key)
                .ok()
                .and_then(|s| RoomName::new(s).ok())
                .ok_or_else(|| StoreError::Corrupt("room record with a bad name".into()))?;
            let record: RoomRecord =
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            rooms.entry(name).or_default().record = Some(record);
        }
        let mut refs = BTreeMap::new();
        for name in self.db.tree_names() {
            if let Some((room, first_seq)) = parse_bucket_tree_name(&name) {
                let tree = self.db.open_tree(&name).map_err(engine)?;
                match Self::bucket_bounds(&tree, first_seq)? {
                    Some(bucket) => {
                        rooms
                            .entry(room)
                            .or_default()
                            .buckets
                            .insert(first_seq, bucket);
                    }
                    None => {
                        self.db.drop_tree(&name).map_err(engine)?;
                    }
                }
            } else if let Some(window) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(REFS_PREFIX))
                .and_then(|w| w.parse::<i64>().ok())
            {
                refs.insert(window, self.db.open_tree(&name).map_err(engine)?);
            }
        }
        *self.rooms.lock().unwrap_or_else(|p| p.into_inner()) = rooms;
        *self.refs.lock().unwrap_or_else(|p| p.into_inner()) = refs;
        Ok(())
    }

    /// The bounds of a non-empty bucket tree, or `None` if it is empty.
    fn bucket_bounds(tree: &sled::Tree, first_seq: u64) -> Result<Option<Bucket>, StoreError> {
        let (Some((_, first)), Some((last_key, last))) =
            (tree.first().map_err(engine)?, tree.last().map_err(engine)?)
        else {
            return Ok(None);
        };
        Ok(Some(Bucket {
            tree: tree.clone(),
            first_seq,
            last_seq: key_seq(&last_key)?,
            first_ts_ms: decode(&first)?.ts.timestamp_millis(),
            last_ts_ms: decode(&last)?.ts.timestamp_millis(),
        }))
    }

    /// Refuses to write while the file system is nearly full. sled 0.34
    /// fails for good (reads included) once a write of its own fails, so
    /// it must never be the one to find the disk full.
    pub(super) fn check_free_space(&self) -> Result<(), StoreError> {
        let min = self.options.min_free_bytes;
        if min == 0 {
            return Ok(());
        }
        let free = available_bytes(&self.dir)?;
        if free < min {
            return Err(StoreError::DiskFull { free, min });
        }
        Ok(())
    }

    /// Flushes sled and then forces its files to stable storage.
    pub(super) fn make_durable(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(engine)?;
        self.syncer.lock().unwrap_or_else(|p| p.into_inner()).sync()
    }

    /// The bucket that message `m` goes into, opening a new one if the
    /// newest is full or too old.
    fn bucket_for(&self, room: &mut RoomBuckets, m: &Message) -> Result<Bucket, StoreError> {
        let ts_ms = m.ts.timestamp_millis();
        let span_ms = self.options.bucket_max_span.as_millis() as i64;
        if let Some(newest) = room.buckets.values_mut().next_back() {
            let full = newest.count() >= self.options.bucket_max_messages
                || ts_ms - newest.first_ts_ms >= span_ms;
            if !full && m.seq == newest.last_seq + 1 {
                newest.last_seq = m.seq;
                newest.last_ts_ms = ts_ms;
                return Ok(newest.clone());
            }
        }
        let tree = self
            .db
            .open_tree(bucket_tree_name(&m.room, m.seq))
            .map_err(engine)?;
        let bucket = Bucket {
            tree,
            first_seq: m.seq,
            last_seq: m.seq,
            first_ts_ms: ts_ms,
            last_ts_ms: ts_ms,
        };
        room.buckets.insert(m.seq, bucket.clone());
        Ok(bucket)
    }

    fn refs_tree(&self, window: i64) -> Result<sled::Tree, StoreError> {
        let mut refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tree) = refs.get(&window) {
            return Ok(tree.clone());
        }
        let tree = self
            .db
            .open_tree(format!("{REFS_PREFIX}{window}"))
            .map_err(engine)?;
        refs.insert(window, tree.clone());
        Ok(tree)
    }

    /// Writes the batch without making it durable.
    fn write_batch(&self, batch: &[Message]) -> Result<(), StoreError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        for m in batch {
            let room = rooms.entry(m.room.clone()).or_default();
            let bucket = self.bucket_for(room, m)?;
            let value = serde_json::to_vec(m).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            bucket.tree.insert(seq_key(m.seq), value).map_err(engine)?;
            if let Some(reference) = &m.reference {
                self.refs_tree(ref_window(m.ts))?
                    .insert(ref_key(&m.room, &m.from, reference), &seq_key(m.seq))
                    .map_err(engine)?;
            }
        }
        Ok(())
    }

    /// Best effort: removes what a failed batch may have left behind, and
    /// reloads the bucket index so that it matches what is stored.
    fn undo_batch(&self, batch: &[Message]) {
        for m in batch {
            let bucket = self
                .room_buckets(&m.room)
                .into_iter()
                .rev()
                .find(|b| b.first_seq <= m.seq);
            if let Some(b) = bucket {
                let _ = b.tree.remove(seq_key(m.seq));
            }
            if let Some(reference) = &m.reference {
                if let Ok(t) = self.refs_tree(ref_window(m.ts)) {
                    let _ = t.remove(ref_key(&m.room, &m.from, reference));
                }
            }
        }
        if let Err(e) = self.load_index() {
            tracing::error!(error = %e, "could not reload the history index after a failed write");
        }
    }

    fn room_buckets(&self, room: &RoomName) -> Vec<Bucket> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .get(room)
            .map(|r| r.buckets.values().cloned().collect())
            .unwrap_or_default()
    }

    fn get(&self, room: &RoomName, seq: u64) -> Result<Option<Message>, StoreError> {
        let buckets = self.room_buckets(room);
        let Some(bucket) = buckets.iter().rev().find(|b| b.first_seq <= seq) else {
            return Ok(None);
        };
        match bucket.tree.get(seq_key(seq)).map_err(engine)? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Persists a room's seq floor before its buckets are dropped.
    fn raise_seq_floor(&self, room: &RoomName, floor: u64) -> Result<(), StoreError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let Some(record) = rooms.get_mut(room).and_then(|r| r.record.as_mut()) else {
            return Ok(());
        };
        record.seq_floor = record.seq_floor.max(floor);
        let value = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.rooms_tree
            .insert(room.as_str(), value)
            .map_err(engine)?;
        Ok(())
    }

    /// The buckets that retention drops in one room, oldest first.
    fn expired_buckets(buckets: &[Bucket], policy: &RetentionPolicy, now_ms: i64) -> Vec<Bucket> {
        let mut total: u64 = buckets.iter().map(Bucket::count).sum();
        let mut expired = Vec::new();
        for b in buckets {
            let too_old = policy
                .max_age
                .is_some_and(|age| b.last_ts_ms < now_ms - age.as_millis() as i64);
            let too_many = policy
                .max_messages
                .is_some_and(|max| total - b.count() >= max);
            if !(too_old || too_many) {
                break;
            }
            total -= b.count();
            expired.push(b.clone());
        }
        expired
    }
}

impl HistoryStore for SledStore {
    fn load_rooms(&self) -> Result<Vec<StoredRoom>, StoreError> {
        let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rooms
            .iter()
            .filter_map(|(name, r)| {
                r.record.as_ref().map(|rec| StoredRoom {
                    name: name.clone(),
                    meta: rec.meta.clone(),
                    last_seq: r.last_seq(),
                })
            })
            .collect())
    }

    fn create_room(&self, name: &RoomName, meta: &RoomMeta) -> Result<(), StoreError> {
        let record = RoomRecord {
            meta: meta.clone(),
            seq_floor: 0,
        };
        let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.rooms_tree
            .insert(name.as_str(), value)
            .map_err(engine)?;
        self.make_durable()?;
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_default()
            .record = Some(record);
        Ok(())
    }

    fn append(&self, batch: &Batch<'_>) -> Result<Appended, StoreError> {
        self.check_free_space()?;
        let written = self.write_batch(batch.messages).and_then(|()| {
            self.uplink
                .stage(&batch.outbox, batch.outbox_limits, &batch.marks)
        });
        let (outbox, staged) = match written {
            Ok(staged) => staged,
            Err(e) => {
                self.undo_batch(batch.messages);
                return Err(e);
            }
        };
        match self.make_durable() {
            Ok(()) => Ok(Appended {
                outbox_dropped: self.uplink.finish(outbox, staged),
            }),
            Err(e) => {
                self.uplink.undo(outbox, staged);
                self.undo_batch(batch.messages);
                Err(e)
            }
        }
    }

    fn find_by_ref(
        &self,
        room: &RoomName,
        from: &str,
        reference: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let key = ref_key(room, from, reference);
        let windows: Vec<sled::Tree> = {
            let refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
            refs.range(ref_window(since)..)
                .rev()
                .map(|(_, t)| t.clone())
                .collect()
        };
        for tree in windows {
            let Some(seq) = tree.get(&key).map_err(engine)? else {
                continue;
            };
            let original = self.get(room, key_seq(&seq)?)?;
            return Ok(original.filter(|m| {
                m.ts >= since && m.from == from && m.reference.as_deref() == Some(reference)
            }));
        }
        Ok(None)
    }

    fn query(&self, room: &RoomName, query: HistoryQuery) -> Result<Vec<Message>, StoreError> {
        let buckets = self.room_buckets(room);
        let mut out = Vec::new();
        match query {
            HistoryQuery::Latest { limit } | HistoryQuery::Before { limit, .. } => {
                let below = match query {
                    HistoryQuery::Before { seq, .. } => seq,
                    _ => u64::MAX,
                };
                for b in buckets.iter().rev().filter(|b| b.first_seq < below) {
                    for item in b.tree.range(..seq_key(below)).rev() {
                        if out.len() >= limit {
                            break;
                        }
                        out.push(decode(&item.map_err(engine)?.1)?);
                    }
                }
                out.reverse();
            }
            HistoryQuery::After { seq, limit } => {
                let from = seq.saturating_add(1);
                for b in buckets.iter().filter(|b| b.last_seq >= from) {
                    for item in b.tree.range(seq_key(from)..) {
                        if out.len() >= limit {
                            break;
                        }
                        out.push(decode(&item.map_err(engine)?.1)?);
                    }
                }
            }
        }
        Ok(out)
    }

    fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let now_ms = now.timestamp_millis();
        let per_room: Vec<(RoomName, Vec<Bucket>)> = {
            let rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms
                .iter()
                .map(|(name, r)| {
                    let buckets: Vec<Bucket> = r.buckets.values().cloned().collect();
                    (
                        name.clone(),
                        Self::expired_buckets(&buckets, policy, now_ms),
                    )
                })
                .filter(|(_, expired)| !expired.is_empty())
                .collect()
        };
        let mut dropped = 0;
        for (room, expired) in per_room {
            let floor = expired.iter().map(|b| b.last_seq).max().unwrap_or(0);
            self.raise_seq_floor(&room, floor)?;
            // The floor must be durable before the buckets disappear.
            self.make_durable()?;
            for b in expired {
                {
                    let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(r) = rooms.get_mut(&room) {
                        r.buckets.remove(&b.first_seq);
                    }
                }
                self.db
                    .drop_tree(bucket_tree_name(&room, b.first_seq))
                    .map_err(engine)?;
                dropped += b.count();
            }
        }
        // Keep the idempotency windows that a lookup may still ask for.
        let oldest_kept = ref_window(now) - 2;
        let old_windows: Vec<i64> = {
            let mut refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
            let kept = refs.split_off(&oldest_kept);
            let old = std::mem::replace(&mut *refs, kept);
            old.into_keys().collect()
        };
        for w in old_windows {
            self.db
                .drop_tree(format!("{REFS_PREFIX}{w}"))
                .map_err(engine)?;
        }
        self.make_durable()?;
        Ok(dropped)
    }
}

impl UplinkStore for SledStore {
    fn origin_mark(
        &self,
        room: &RoomName,
        origin: &str,
        epoch: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.uplink.origin_mark(room, origin, epoch)
    }

    fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.uplink.outbox_pending(limit)
    }

    fn outbox_sent(&self, through: u64) -> Result<OutboxDepth, StoreError> {
        self.uplink.outbox_sent(through)
    }

    fn outbox_depth(&self) -> OutboxDepth {
        self.uplink.outbox_depth()
    }

    fn stream_positions(&self) -> Result<Vec<(RoomName, String)>, StoreError> {
        self.uplink.stream_positions()
    }

    fn save_stream_positions(&self, positions: &[(RoomName, String)]) -> Result<(), StoreError> {
        self.uplink.save_stream_positions(positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Via;
    use chrono::TimeZone;

    fn msg(room: &str, seq: u64, ts_ms: i64, reference: Option<&str>) -> Message {
        Message {
            room: RoomName::new(room).unwrap(),
            seq,
            from: "alice".into(),
            text: format!("m{seq}"),
            ts: Utc.timestamp_millis_opt(ts_ms).unwrap(),
            origin: "test".into(),
            via: Via::Http,
            reference: reference.map(String::from),
            origin_seq: None,
            origin_ts: None,
        }
    }

    fn meta() -> RoomMeta {
        RoomMeta {
            epoch: "e1".into(),
            created: Utc::now(),
        }
    }

    fn small_buckets() -> SledOptions {
        SledOptions {
            bucket_max_messages: 10,
            ..SledOptions::default()
        }
    }

    fn seqs(v: &[Message]) -> Vec<u64> {
        v.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn queries_span_buckets_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let room = RoomName::new("kitchen").unwrap();
        {
            let store =
                crate::store::open_when_free(|| SledStore::open(dir.path(), small_buckets()));
            store.create_room(&room, &meta()).unwrap();
            let batch: Vec<_> = (1..=35)
                .map(|s| msg("kitchen", s, 1000 + s as i64, None))
                .collect();
            store.append(&Batch::messages(&batch)).unwrap();
        }
        let store = crate::store::open_when_free(|| SledStore::open(dir.path(), small_buckets()));
        let rooms = store.load_rooms().unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].last_seq, 35);
        let q = |q| seqs(&store.query(&room, q).unwrap());
        assert_eq!(q(HistoryQuery::Latest { limit: 3 }), vec![33, 34, 35]);
        assert_eq!(
            q(HistoryQuery::Before { seq: 12, limit: 4 }),
            vec![8, 9, 10, 11]
        );
        assert_eq!(
            q(HistoryQuery::After { seq: 8, limit: 5 }),
            vec![9, 10, 11, 12, 13]
        );
        assert_eq!(
            q(HistoryQuery::After { seq: 35, limit: 5 }),
            Vec::<u64>::new()
        );
        assert_eq!(q(HistoryQuery::Latest { limit: 100 }).len(), 35);
    }

    #[test]
    fn retention_drops_whole_buckets_and_keeps_the_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let room = RoomName::new("r").unwrap();
        let store = crate::store::open_when_free(|| SledStore::open(dir.path(), small_buckets()));
        store.create_room(&room, &meta()).unwrap();
        let batch: Vec<_> = (1..=35).map(|s| msg("r", s, 1000, None)).collect();
        store.append(&Batch::messages(&batch)).unwrap();
        let policy = RetentionPolicy {
            max_messages: Some(12),
            max_age: None,
        };
        let dropped = store.apply_retention(&policy, Utc::now()).unwrap();
        assert_eq!(dropped, 20);
        let kept = store
            .query(&room, HistoryQuery::Latest { limit: 100 })
            .unwrap();
        assert_eq!(kept.first().map(|m| m.seq), Some(21));

        let by_age = RetentionPolicy {
            max_messages: None,
            max_age: Some(Duration::from_secs(60)),
        };
        store.apply_retention(&by_age, Utc::now()).unwrap();
        assert!(store
            .query(&room, HistoryQuery::Latest { limit: 10 })
            .unwrap()
            .is_empty());
        drop(store);
        let store = crate::store::open_when_free(|| SledStore::open(dir.path(), small_buckets()));
        assert_eq!(store.load_rooms().unwrap()[0].last_seq, 35);
    }

    #[test]
    fn refs_are_found_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let room = RoomName::new("r").unwrap();
        let store = crate::store::open_when_free(|| SledStore::open(dir.path(), small_buckets()));
        store.create_room(&room, &meta()).unwrap();
        let now = Utc::now().timestamp_millis();
        store
            .append(&Batch::messages(&[msg("r", 1, now, Some("c-1"))]))
            .unwrap();
        let since = Utc::now() - IDEMPOTENCY_WINDOW;
        let found = store.find_by_ref(&room, "alice", "c-1", since).unwrap();
        assert_eq!(found.map(|m| m.seq), Some(1));
        assert!(store
            .find_by_ref(&room, "bob", "c-1", since)
            .unwrap()
            .is_none());
        assert!(store
            .find_by_ref(&room, "alice", "c-2", since)
            .unwrap()
            .is_none());
    }
}
