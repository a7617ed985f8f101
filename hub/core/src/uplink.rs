//! What the room service offers a bridge that links this hub to others
//! (the Redis uplink in `hubbub-bridge`), and nothing of Redis itself:
//!
//! - an [`OutboxRule`], given at start: the committer puts every message
//!   first posted here in a room the rule selects into the durable outbox,
//!   in the same group commit that stores it;
//! - [`crate::Rooms::relay`]: posts a message read from another hub, which
//!   keeps its `origin`, gets `via` = uplink and a local seq, and is stored
//!   once only, however often it is read;
//! - [`UplinkState`]: the outbox to send from, and the inbound stream
//!   positions.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::{oneshot, Notify};

use crate::error::RoomError;
use crate::message::Published;
use crate::room_name::RoomName;
use crate::store::{HistoryStore, OutboxDepth, OutboxEntry, OutboxLimits, StoreError};

/// Which rooms link to other hubs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomSelection {
    /// Every room.
    All,
    /// Only these.
    Only(BTreeSet<RoomName>),
}

impl RoomSelection {
    /// Whether `room` is selected.
    pub fn includes(&self, room: &RoomName) -> bool {
        match self {
            RoomSelection::All => true,
            RoomSelection::Only(rooms) => rooms.contains(room),
        }
    }
}

/// Which messages go into the outbox, and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRule {
    /// Messages first posted here in these rooms go into the outbox.
    pub rooms: RoomSelection,
    /// Past these the oldest unsent messages are dropped.
    pub limits: OutboxLimits,
}

/// What became of a relayed message.
#[derive(Debug, Clone)]
pub enum Relayed {
    /// Stored with a local seq and delivered to the room.
    Stored(Arc<Published>),
    /// This hub already had it (same origin, origin epoch and origin seq,
    /// or an earlier one from there); nothing was stored.
    Known,
}

/// A relayed message queued for group commit.
pub struct PendingRelay {
    pub(crate) answer: oneshot::Receiver<Result<Relayed, RoomError>>,
}

impl PendingRelay {
    /// Waits until the message is durable (or known, or refused).
    pub async fn outcome(self) -> Result<Relayed, RoomError> {
        self.answer.await.map_err(|_| RoomError::ShuttingDown)?
    }
}

/// The uplink's durable state: the outbox and the inbound stream
/// positions. Every call may touch the disk: call it off the async
/// threads (`spawn_blocking`), except [`UplinkState::depth`] and
/// [`UplinkState::changed`].
#[derive(Clone)]
pub struct UplinkState {
    pub(crate) store: Arc<dyn HistoryStore>,
    pub(crate) changed: Arc<Notify>,
}

impl UplinkState {
    /// Up to `limit` unsent outbox entries, oldest first.
    pub fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.store.outbox_pending(limit)
    }

    /// Marks every outbox entry up to id `through` as sent.
    pub fn mark_sent(&self, through: u64) -> Result<OutboxDepth, StoreError> {
        self.store.outbox_sent(through)
    }

    /// How much the outbox holds now.
    pub fn depth(&self) -> OutboxDepth {
        self.store.outbox_depth()
    }

    /// Resolves when messages were added to the outbox since the last
    /// call (at once if some were added before it).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Every saved inbound stream position.
    pub fn positions(&self) -> Result<Vec<(RoomName, String)>, StoreError> {
        self.store.stream_positions()
    }

    /// Saves inbound stream positions (not synced; see
    /// [`crate::store::UplinkStore::save_stream_positions`]).
    pub fn save_positions(&self, positions: &[(RoomName, String)]) -> Result<(), StoreError> {
        self.store.save_stream_positions(positions)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::config::{LimitsConfig, RoomsConfig};
    use crate::message::{Message, Via};
    use crate::metrics::Metrics;
    use crate::rooms::{NewPost, Rooms, RoomsOptions};
    use crate::store::{SledOptions, SledStore};

    fn start(dir: &std::path::Path) -> Rooms {
        // The committer thread of a stopped instance may still hold the
        // database for a moment.
        let store = crate::store::open_when_free(|| SledStore::open(dir, SledOptions::default()));
        let kitchen = RoomName::new("kitchen").unwrap();
        Rooms::start(
            Arc::new(store),
            Arc::new(Metrics::new()),
            RoomsOptions {
                hub_id: "here".into(),
                rooms: RoomsConfig::default(),
                limits: LimitsConfig::default(),
                max_batch: 64,
                outbox: Some(OutboxRule {
                    rooms: RoomSelection::Only([kitchen].into()),
                    limits: OutboxLimits::default(),
                }),
                access: Arc::new(crate::access::Access::open()),
            },
        )
        .unwrap()
    }

    fn post(room: &str, text: &str) -> NewPost {
        NewPost {
            room: RoomName::new(room).unwrap(),
            author: crate::Identity::Anonymous("alice".into()),
            text: text.into(),
            via: Via::Http,
            reference: Some(format!("ref-{text}")),
        }
    }

    fn foreign(origin: &str, seq: u64, text: &str) -> Message {
        Message {
            room: RoomName::new("kitchen").unwrap(),
            seq,
            from: "bob".into(),
            text: text.into(),
            ts: Utc::now(),
            origin: origin.into(),
            via: Via::Ws,
            reference: Some("c-1".into()),
            origin_seq: None,
            origin_ts: None,
        }
    }

    async fn relay(rooms: &Rooms, m: Message, epoch: &str) -> Relayed {
        rooms
            .relay(m, epoch.into())
            .unwrap()
            .outcome()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn only_local_posts_in_selected_rooms_enter_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let rooms = start(dir.path());
        rooms.post(post("kitchen", "k1")).await.unwrap();
        rooms.post(post("garage", "g1")).await.unwrap();
        relay(&rooms, foreign("there", 1, "f1"), "e").await;
        let state = rooms.uplink_state();
        tokio::time::timeout(std::time::Duration::from_secs(1), state.changed())
            .await
            .unwrap();
        let pending = state.pending(10).unwrap();
        let texts: Vec<&str> = pending.iter().map(|e| e.message.text.as_str()).collect();
        assert_eq!(texts, vec!["k1"]);
        let kitchen = rooms.summary(&RoomName::new("kitchen").unwrap()).unwrap();
        assert_eq!(pending[0].epoch, kitchen.epoch);
        assert_eq!(pending[0].message.origin, "here");
        assert_eq!(state.depth().messages, 1);
        state.mark_sent(pending[0].id).unwrap();
        assert_eq!(state.depth().messages, 0);
        rooms.shutdown().await;
    }

    #[tokio::test]
    async fn relayed_messages_are_stored_once_with_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let rooms = start(dir.path());
        let Relayed::Stored(first) = relay(&rooms, foreign("there", 5, "a"), "e1").await else {
            panic!("a new message is stored");
        };
        let m = &first.message;
        assert_eq!((m.origin.as_str(), m.via), ("there", Via::Uplink));
        assert_eq!(
            (m.seq, m.origin_seq, m.reference.as_deref()),
            (1, Some(5), None)
        );
        assert!(m.origin_ts.is_some());
        // Repeats and older ones are known, also within one batch.
        let again = rooms.relay(foreign("there", 5, "a"), "e1".into()).unwrap();
        let older = rooms.relay(foreign("there", 4, "x"), "e1".into()).unwrap();
        let next = rooms.relay(foreign("there", 7, "b"), "e1".into()).unwrap();
        let next_again = rooms.relay(foreign("there", 7, "b"), "e1".into()).unwrap();
        assert!(matches!(again.outcome().await.unwrap(), Relayed::Known));
        assert!(matches!(older.outcome().await.unwrap(), Relayed::Known));
        assert!(matches!(next.outcome().await.unwrap(), Relayed::Stored(_)));
        assert!(matches!(
            next_again.outcome().await.unwrap(),
            Relayed::Known
        ));
        // Another origin, or the same origin's room started anew, is new.
        assert!(matches!(
            relay(&rooms, foreign("third", 5, "c"), "e1").await,
            Relayed::Stored(_)
        ));
        assert!(matches!(
            relay(&rooms, foreign("there", 1, "d"), "e2").await,
            Relayed::Stored(_)
        ));
        rooms.shutdown().await;
        drop(rooms);

        // The marks are durable with the messages.
        let rooms = start(dir.path());
        assert!(matches!(
            relay(&rooms, foreign("there", 7, "b"), "e1").await,
            Relayed::Known
        ));
        let kitchen = RoomName::new("kitchen").unwrap();
        assert_eq!(rooms.summary(&kitchen).unwrap().last_seq, 4);
        assert_eq!(rooms.uplink_state().depth().messages, 0);
        rooms.shutdown().await;
    }
}
