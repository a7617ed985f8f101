//! The inbound side: reads the shared rooms' streams from the saved
//! positions with one blocking `XREAD`, skips this hub's own messages, and
//! relays the others into the local rooms in stream order. Repeats (after a
//! restart, or an entry sent twice) are recognised by the room service's
//! origin marks, so the positions need not be exact, only never ahead of
//! what is stored.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use hubbub_core::uplink::{PendingRelay, Relayed, RoomSelection, UplinkState};
use hubbub_core::{RoomError, RoomName, Rooms};
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

use super::keys::{stream_key, ROOMS_KEY};
use super::status::{Side, UplinkStatus};
use super::wire;
use super::{blocking, Backoff, UplinkError};

/// Most entries read per stream and round.
const COUNT: usize = 512;
/// How long one `XREAD` waits for new entries.
const BLOCK: Duration = Duration::from_secs(1);
/// How often `rooms = ["*"]` looks for rooms first posted elsewhere.
const DISCOVER_EVERY: Duration = Duration::from_secs(1);
/// Where a stream is read from the first time: its oldest entry.
const START: &str = "0-0";

/// Why a round stopped early.
enum Stop {
    /// The hub is stopping.
    ShuttingDown,
    /// Try again after a pause.
    Retry(String),
}

/// Reads other hubs' messages until `shutdown`.
pub(crate) struct Inbound {
    pub conn: ConnectionManager,
    pub rooms: Rooms,
    pub state: UplinkState,
    pub status: UplinkStatus,
    pub hub_id: String,
    pub selection: RoomSelection,
    pub shutdown: CancellationToken,
}

impl Inbound {
    /// Runs until `shutdown` is cancelled or the room service stops.
    pub async fn run(mut self) {
        let shutdown = self.shutdown.clone();
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = self.read() => {}
        }
    }

    async fn read(&mut self) {
        let mut positions = self.initial_positions().await;
        let mut backoff = Backoff::default();
        let mut discovered: Option<Instant> = None;
        loop {
            if self.selection == RoomSelection::All
                && discovered.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY)
            {
                match self.discover(&mut positions).await {
                    Ok(()) => discovered = Some(Instant::now()),
                    Err(e) => {
                        self.status.failed(Side::Inbound, &e.to_string());
                        tokio::time::sleep(backoff.next()).await;
                        continue;
                    }
                }
            }
            if positions.is_empty() {
                self.status.ok(Side::Inbound);
                tokio::time::sleep(BLOCK).await;
                continue;
            }
            match self.round(&mut positions).await {
                Ok(()) => backoff.reset(),
                Err(Stop::ShuttingDown) => return,
                Err(Stop::Retry(e)) => {
                    self.status.failed(Side::Inbound, &e);
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }

    /// The saved positions of the selected rooms; listed rooms not read yet
    /// start at their stream's oldest entry.
    async fn initial_positions(&self) -> BTreeMap<RoomName, String> {
        let state = self.state.clone();
        let saved = match blocking(move || state.positions()).await {
            Ok(saved) => saved,
            Err(e) => {
                tracing::error!(error = %e, "uplink: cannot read the saved stream positions; reading every stream from its start (repeats are dropped)");
                Vec::new()
            }
        };
        let mut positions: BTreeMap<RoomName, String> = saved
            .into_iter()
            .filter(|(room, _)| self.selection.includes(room))
            .collect();
        if let RoomSelection::Only(rooms) = &self.selection {
            for room in rooms {
                positions
                    .entry(room.clone())
                    .or_insert_with(|| START.into());
            }
        }
        for (room, position) in &positions {
            self.status.read(room, position);
        }
        positions
    }

    /// Adds every room in the registry not read yet.
    async fn discover(
        &mut self,
        positions: &mut BTreeMap<RoomName, String>,
    ) -> Result<(), UplinkError> {
        let names: Vec<String> = self.conn.smembers(ROOMS_KEY).await?;
        for name in names {
            match RoomName::new(&name) {
                Ok(room) => {
                    if let std::collections::btree_map::Entry::Vacant(new) = positions.entry(room) {
                        tracing::info!(room = %new.key(), "uplink: reading a room shared by another hub");
                        self.status.read(new.key(), START);
                        new.insert(START.into());
                    }
                }
                Err(_) => tracing::debug!(
                    name,
                    "uplink: skipping a registry entry that is not a room name"
                ),
            }
        }
        Ok(())
    }

    /// One `XREAD` over every stream, relayed and stored, then the new
    /// positions saved.
    async fn round(&mut self, positions: &mut BTreeMap<RoomName, String>) -> Result<(), Stop> {
        let keys: Vec<String> = positions.keys().map(stream_key).collect();
        let ids: Vec<&str> = positions.values().map(String::as_str).collect();
        let options = StreamReadOptions::default()
            .count(COUNT)
            .block(BLOCK.as_millis() as usize);
        let reply: Option<StreamReadReply> = self
            .conn
            .xread_options(&keys, &ids, &options)
            .await
            .map_err(|e| Stop::Retry(e.to_string()))?;
        self.status.ok(Side::Inbound);
        let Some(reply) = reply else {
            return Ok(());
        };
        let by_key: HashMap<String, RoomName> = positions
            .keys()
            .map(|room| (stream_key(room), room.clone()))
            .collect();
        let mut pending: Vec<PendingRelay> = Vec::new();
        let mut advanced: Vec<(RoomName, String)> = Vec::new();
        for stream in reply.keys {
            let Some(room) = by_key.get(&stream.key) else {
                continue;
            };
            for entry in &stream.ids {
                if let Some(relay) = self.relay(room, entry)? {
                    pending.push(relay);
                }
            }
            if let Some(last) = stream.ids.last() {
                advanced.push((room.clone(), last.id.clone()));
            }
        }
        for relay in pending {
            match relay.outcome().await {
                Ok(Relayed::Stored(published)) => self.status.received(&published.message),
                Ok(Relayed::Known) => {}
                Err(RoomError::ShuttingDown) => return Err(Stop::ShuttingDown),
                // Not stored: read again from the old positions later.
                Err(e) => return Err(Stop::Retry(format!("cannot store relayed messages: {e}"))),
            }
        }
        for (room, position) in &advanced {
            self.status.read(room, position);
            positions.insert(room.clone(), position.clone());
        }
        let state = self.state.clone();
        if let Err(e) = blocking(move || state.save_positions(&advanced)).await {
            tracing::warn!(error = %e, "uplink: cannot save stream positions; a restart reads again from older ones");
        }
        Ok(())
    }

    /// Queues one entry for the room service, unless it is this hub's own
    /// or cannot be relayed (counted, logged, skipped).
    fn relay(
        &self,
        room: &RoomName,
        entry: &redis::streams::StreamId,
    ) -> Result<Option<PendingRelay>, Stop> {
        let decoded = match wire::decode(room, entry) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.rooms.metrics().uplink.rejected.inc();
                tracing::warn!(error = %e, "uplink: skipping a stream entry");
                return Ok(None);
            }
        };
        if decoded.message.origin == self.hub_id {
            return Ok(None);
        }
        match self.rooms.relay(decoded.message, decoded.epoch) {
            Ok(pending) => Ok(Some(pending)),
            Err(RoomError::ShuttingDown) => Err(Stop::ShuttingDown),
            Err(e @ RoomError::StoreUnavailable(_)) => Err(Stop::Retry(e.to_string())),
            Err(e) => {
                self.rooms.metrics().uplink.rejected.inc();
                tracing::warn!(room = %room, entry = entry.id, code = e.code(), error = %e, "uplink: this hub refuses a message from another hub; skipping it");
                Ok(None)
            }
        }
    }
}
