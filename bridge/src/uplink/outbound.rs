//! The outbound side: sends the outbox to the rooms' streams, oldest first,
//! and marks what Redis has taken as sent. It wakes when the group commit
//! adds to the outbox, and while Redis is unreachable it retries on its
//! own, so a backlog drains as soon as Redis is back, without new traffic.

use std::collections::HashSet;
use std::time::Duration;

use hubbub_core::store::OutboxEntry;
use hubbub_core::uplink::UplinkState;
use hubbub_core::RoomName;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;

use super::keys::{stream_key, ROOMS_KEY};
use super::status::{Side, UplinkStatus};
use super::{blocking, Backoff, UplinkError};

/// Most outbox entries sent in one round trip.
const BATCH: usize = 512;

/// How often an idle drainer checks a link that failed.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Appends one room's entries in order. A Lua script runs atomically and
/// stops at its first error, so the stream never holds an entry without
/// the ones before it (receivers keep only the highest origin seq, so a
/// later entry ahead of a missing one would hide it). Fields `e` and `m`
/// are `wire::EPOCH` and `wire::MESSAGE`.
const APPEND_SCRIPT: &str = "\
for i = 2, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i], 'm', ARGV[i + 1])
end
return #ARGV";

/// Sends the outbox until `shutdown`.
pub(crate) struct Outbound {
    pub conn: ConnectionManager,
    pub state: UplinkState,
    pub status: UplinkStatus,
    pub stream_maxlen: u64,
    pub shutdown: CancellationToken,
}

impl Outbound {
    /// Runs until `shutdown` is cancelled.
    pub async fn run(mut self) {
        let shutdown = self.shutdown.clone();
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = self.drain() => {}
        }
    }

    async fn drain(&mut self) {
        // Rooms added to the registry on this connection (cleared on error,
        // as the server may be a new one).
        let mut registered: HashSet<RoomName> = HashSet::new();
        let mut backoff = Backoff::default();
        let mut healthy = false;
        loop {
            let state = self.state.clone();
            let batch = match blocking(move || state.pending(BATCH)).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "uplink: cannot read the outbox; retrying");
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            if batch.is_empty() {
                if healthy {
                    self.state.changed().await;
                } else {
                    tokio::select! {
                        () = self.state.changed() => {}
                        () = tokio::time::sleep(IDLE_CHECK) => {}
                    }
                    healthy = self.check().await;
                }
                continue;
            }
            match self.send(&batch, &mut registered).await {
                Ok(()) => {
                    let through = batch.last().map_or(0, |e| e.id);
                    let state = self.state.clone();
                    if let Err(e) = blocking(move || state.mark_sent(through)).await {
                        tracing::error!(error = %e, "uplink: cannot mark outbox entries sent; they will be sent again");
                    }
                    self.status.sent(batch.len() as u64);
                    self.status.ok(Side::Outbound);
                    healthy = true;
                    backoff.reset();
                }
                Err(e) => {
                    self.status.failed(Side::Outbound, &e.to_string());
                    registered.clear();
                    healthy = false;
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }

    /// Whether Redis answers; records the outcome.
    async fn check(&mut self) -> bool {
        match redis::cmd("PING").query_async::<()>(&mut self.conn).await {
            Ok(()) => {
                self.status.ok(Side::Outbound);
                true
            }
            Err(e) => {
                self.status.failed(Side::Outbound, &e.to_string());
                false
            }
        }
    }

    /// Sends a batch in one round trip: per room, one script that appends
    /// its entries in order. All or nothing as far as the caller knows: on
    /// any error the whole batch is sent again, and receivers drop repeats.
    async fn send(
        &mut self,
        batch: &[OutboxEntry],
        registered: &mut HashSet<RoomName>,
    ) -> Result<(), UplinkError> {
        let mut pipe = redis::pipe();
        let mut rooms: Vec<&RoomName> = Vec::new();
        for entry in batch {
            if !rooms.contains(&&entry.message.room) {
                rooms.push(&entry.message.room);
            }
        }
        for room in rooms {
            if !registered.contains(room) {
                pipe.sadd(ROOMS_KEY, room.as_str());
            }
            let script = pipe
                .cmd("EVAL")
                .arg(APPEND_SCRIPT)
                .arg(1)
                .arg(stream_key(room))
                .arg(self.stream_maxlen);
            for entry in batch.iter().filter(|e| &e.message.room == room) {
                script.arg(&entry.epoch).arg(entry.message.to_json());
            }
        }
        pipe.query_async::<Vec<redis::Value>>(&mut self.conn)
            .await?;
        registered.extend(batch.iter().map(|e| e.message.room.clone()));
        Ok(())
    }
}
