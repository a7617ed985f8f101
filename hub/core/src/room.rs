//! One room's live state: its durable seq, its subscribers and who is online.
//! Fan-out happens here, under the room's lock, and never waits on a reader.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::error::TrySendError;

use crate::message::Published;
use crate::metrics::Metrics;
use crate::room_name::RoomName;
use crate::store::RoomMeta;
use crate::subscription::{CloseReason, Event, PresenceState, SubscriberHandle};

/// Identifies a subscriber within the hub.
pub(crate) type SubId = u64;

/// A room known to the hub.
pub(crate) struct Room {
    pub name: RoomName,
    pub title: Option<String>,
    pub meta: RoomMeta,
    live: Mutex<Live>,
}

struct Member {
    handle: SubscriberHandle,
    /// Shown in presence; `None` for watchers.
    who: Option<Arc<str>>,
}

#[derive(Default)]
struct Live {
    /// Highest durable seq; only the committer raises it.
    last_seq: u64,
    members: HashMap<SubId, Member>,
    /// Online names with how many connections each has in the room.
    online: BTreeMap<Arc<str>, usize>,
}

/// What a subscriber sees at the moment it joins.
pub(crate) struct JoinSnapshot {
    pub last_seq: u64,
    pub online: Vec<String>,
}

impl Live {
    /// Removes a member; returns its name if that was its last connection.
    fn remove(&mut self, id: SubId) -> Option<Arc<str>> {
        let who = self.members.remove(&id)?.who?;
        let count = self.online.get_mut(&who)?;
        *count -= 1;
        if *count == 0 {
            self.online.remove(&who);
            Some(who)
        } else {
            None
        }
    }

    /// Queues an ephemeral event for every participant but `except`;
    /// a full queue skips it rather than dropping the reader.
    fn broadcast_ephemeral(&self, event: &Event, except: SubId, metrics: &Metrics) {
        for (id, m) in &self.members {
            if *id == except || m.who.is_none() {
                continue;
            }
            if m.handle.try_send(event.clone()).is_err() {
                metrics.ephemeral_drops.inc();
            }
        }
    }

    fn presence(
        &self,
        room: &RoomName,
        who: Arc<str>,
        state: PresenceState,
        except: SubId,
        metrics: &Metrics,
    ) {
        let event = Event::Presence {
            room: room.clone(),
            who,
            state,
        };
        self.broadcast_ephemeral(&event, except, metrics);
    }
}

impl Room {
    pub fn new(name: RoomName, title: Option<String>, meta: RoomMeta, last_seq: u64) -> Self {
        Self {
            name,
            title,
            meta,
            live: Mutex::new(Live {
                last_seq,
                ..Live::default()
            }),
        }
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        // A panic elsewhere must not wedge the room: the state stays usable.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The highest durable seq.
    pub fn last_seq(&self) -> u64 {
        self.live().last_seq
    }

    /// How many distinct names are online.
    pub fn online_count(&self) -> usize {
        self.live().online.len()
    }

    /// Adds a subscriber (idempotent) and returns the seq it starts after:
    /// every message above it reaches its queue, none at or below.
    pub fn add(
        &self,
        id: SubId,
        handle: &SubscriberHandle,
        who: Option<Arc<str>>,
        metrics: &Metrics,
    ) -> JoinSnapshot {
        let mut live = self.live();
        if !live.members.contains_key(&id) {
            if let Some(name) = &who {
                let count = live.online.entry(name.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    live.presence(&self.name, name.clone(), PresenceState::Join, id, metrics);
                }
            }
            live.members.insert(
                id,
                Member {
                    handle: handle.clone(),
                    who,
                },
            );
        }
        JoinSnapshot {
            last_seq: live.last_seq,
            online: live.online.keys().map(|n| n.to_string()).collect(),
        }
    }

    /// Removes a subscriber; returns whether it was there.
    pub fn remove(&self, id: SubId, metrics: &Metrics) -> bool {
        let mut live = self.live();
        let was_member = live.members.contains_key(&id);
        if let Some(who) = live.remove(id) {
            live.presence(&self.name, who, PresenceState::Leave, id, metrics);
        }
        was_member
    }

    /// Whether `id` is subscribed.
    pub fn has(&self, id: SubId) -> bool {
        self.live().members.contains_key(&id)
    }

    /// Tells the other participants that `who` is typing.
    pub fn typing(&self, id: SubId, who: Arc<str>, metrics: &Metrics) {
        let event = Event::Typing {
            room: self.name.clone(),
            who,
        };
        self.live().broadcast_ephemeral(&event, id, metrics);
    }

    /// Records a durable message and hands it to every subscriber's queue.
    /// A subscriber whose queue is full is dropped from the room and told
    /// why; nobody else waits for it.
    pub fn publish(&self, message: &Arc<Published>, metrics: &Metrics) {
        let mut live = self.live();
        live.last_seq = message.message.seq;
        let mut overflowed = Vec::new();
        for (id, m) in &live.members {
            match m.handle.try_send(Event::Message(message.clone())) {
                Ok(()) => {
                    metrics.deliveries.inc();
                }
                Err(TrySendError::Full(_)) => {
                    m.handle.close(CloseReason::SlowConsumer);
                    metrics.slow_consumer_drops.inc();
                    overflowed.push(*id);
                }
                Err(TrySendError::Closed(_)) => overflowed.push(*id),
            }
        }
        for id in overflowed {
            if let Some(who) = live.remove(id) {
                live.presence(&self.name, who, PresenceState::Leave, id, metrics);
            }
        }
    }
}
