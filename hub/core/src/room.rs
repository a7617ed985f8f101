//! One room's live state: its durable seq, its members and who is online.
//! Fan-out happens here, under the room's lock, and never waits on a reader.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::access::Identity;
use crate::inbox::{Event, PresenceState, SubscriberHandle};
use crate::message::{Published, Via};
use crate::metrics::Metrics;
use crate::room_name::RoomName;
use crate::store::RoomMeta;
use crate::subscription::{Receives, Role};
use crate::tap::Taps;

/// Identifies a subscriber within the hub.
pub(crate) type SubId = u64;

/// A room known to the hub.
pub(crate) struct Room {
    pub name: RoomName,
    pub title: Option<String>,
    pub meta: RoomMeta,
    taps: Arc<Taps>,
    live: Mutex<Live>,
}

struct Member {
    handle: SubscriberHandle,
    /// Who it acts as, to check again when the room's rules change.
    identity: Identity,
    /// Shown in presence; `None` for watchers.
    who: Option<Arc<str>>,
    receives: Receives,
}

#[derive(Default)]
struct Live {
    /// Highest durable seq; only the committer raises it.
    last_seq: u64,
    members: HashMap<SubId, Member>,
    /// Online names with how many memberships each has in the room.
    online: BTreeMap<Arc<str>, usize>,
}

/// What a subscriber sees at the moment it joins.
pub(crate) struct JoinSnapshot {
    pub last_seq: u64,
    pub online: Vec<String>,
}

impl Live {
    /// Removes a member; returns its name if that was its last membership.
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

    /// Queues an ephemeral event for every participant but `except`, and
    /// for the taps; a full participant queue skips it rather than dropping
    /// the reader.
    fn broadcast_ephemeral(
        &self,
        event: Event,
        except: Option<SubId>,
        taps: &Taps,
        metrics: &Metrics,
    ) {
        for (id, m) in &self.members {
            if Some(*id) == except || m.receives != Receives::Everything {
                continue;
            }
            if m.handle.try_send(event.clone()).is_err() {
                metrics.ephemeral_drops.inc();
            }
        }
        taps.send(&event);
    }
}

impl Room {
    pub fn new(
        name: RoomName,
        title: Option<String>,
        meta: RoomMeta,
        last_seq: u64,
        taps: Arc<Taps>,
    ) -> Self {
        Self {
            name,
            title,
            meta,
            taps,
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

    fn presence(
        &self,
        live: &Live,
        who: Arc<str>,
        state: PresenceState,
        except: SubId,
        metrics: &Metrics,
    ) {
        let event = Event::Presence {
            room: self.name.clone(),
            who,
            state,
        };
        live.broadcast_ephemeral(event, Some(except), &self.taps, metrics);
    }

    /// The highest durable seq.
    pub fn last_seq(&self) -> u64 {
        self.live().last_seq
    }

    /// The names online, sorted.
    pub fn online(&self) -> Vec<String> {
        self.live().online.keys().map(|n| n.to_string()).collect()
    }

    /// How many distinct names are online.
    pub fn online_count(&self) -> usize {
        self.live().online.len()
    }

    /// Adds a member (idempotent) and returns the seq it starts after:
    /// every message above it reaches its queue, none at or below.
    pub fn add(
        &self,
        id: SubId,
        handle: &SubscriberHandle,
        identity: &Identity,
        role: &Role,
        metrics: &Metrics,
    ) -> JoinSnapshot {
        let mut live = self.live();
        if !live.members.contains_key(&id) {
            let who = role.name().cloned();
            if let Some(name) = &who {
                let count = live.online.entry(name.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    self.presence(&live, name.clone(), PresenceState::Join, id, metrics);
                }
            }
            live.members.insert(
                id,
                Member {
                    handle: handle.clone(),
                    identity: identity.clone(),
                    who,
                    receives: role.receives(),
                },
            );
        }
        JoinSnapshot {
            last_seq: live.last_seq,
            online: live.online.keys().map(|n| n.to_string()).collect(),
        }
    }

    /// Removes a member; returns whether it was there.
    pub fn remove(&self, id: SubId, metrics: &Metrics) -> bool {
        let mut live = self.live();
        let was_member = live.members.contains_key(&id);
        if let Some(who) = live.remove(id) {
            self.presence(&live, who, PresenceState::Leave, id, metrics);
        }
        was_member
    }

    /// Removes every member `may_stay` refuses (after the room's rules
    /// changed) and returns their handles, for the caller to close.
    pub fn evict(
        &self,
        may_stay: impl Fn(&Identity) -> bool,
        metrics: &Metrics,
    ) -> Vec<SubscriberHandle> {
        let mut live = self.live();
        let leaving: Vec<SubId> = live
            .members
            .iter()
            .filter(|(_, m)| !may_stay(&m.identity))
            .map(|(id, _)| *id)
            .collect();
        let mut handles = Vec::with_capacity(leaving.len());
        for id in leaving {
            if let Some(m) = live.members.get(&id) {
                handles.push(m.handle.clone());
            }
            if let Some(who) = live.remove(id) {
                self.presence(&live, who, PresenceState::Leave, id, metrics);
            }
        }
        handles
    }

    /// Whether `id` is a member.
    pub fn has(&self, id: SubId) -> bool {
        self.live().members.contains_key(&id)
    }

    /// Tells the participants (but `except`) and the taps that `who` is typing.
    pub fn typing(&self, except: Option<SubId>, who: Arc<str>, via: Via, metrics: &Metrics) {
        let event = Event::Typing {
            room: self.name.clone(),
            who,
            via,
        };
        self.live()
            .broadcast_ephemeral(event, except, &self.taps, metrics);
    }

    /// Records a durable message and hands it to every member's queue and
    /// to the taps. A member whose queue is full is dropped from the room
    /// and told why; nobody else waits for it.
    pub fn publish(&self, message: &Arc<Published>, metrics: &Metrics) {
        let mut live = self.live();
        live.last_seq = message.message.seq;
        let mut dropped = Vec::new();
        for (id, m) in &live.members {
            if m.receives == Receives::Nothing {
                continue;
            }
            if m.handle.deliver(Event::Message(message.clone())) {
                metrics.deliveries.inc();
            } else {
                metrics.slow_consumer_drops.inc();
                dropped.push(*id);
            }
        }
        self.taps.send(&Event::Message(message.clone()));
        for id in dropped {
            if let Some(who) = live.remove(id) {
                self.presence(&live, who, PresenceState::Leave, id, metrics);
            }
        }
    }
}
