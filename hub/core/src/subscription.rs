//! A subscription: one client connection's membership in rooms, fed
//! through one bounded inbox.

use std::collections::HashMap;
use std::sync::Arc;

use crate::access::Identity;
use crate::error::RoomError;
use crate::inbox::{CloseReason, Event, Inbox, Next};
use crate::message::{Message, Via};
use crate::room::{Room, SubId};
use crate::room_name::RoomName;
use crate::rooms::Rooms;
use crate::store::HistoryQuery;

/// How a subscriber takes part.
#[derive(Debug, Clone)]
pub enum Role {
    /// Shown in presence under this name; gets messages, presence and typing.
    Participant(Arc<str>),
    /// Shown in presence under this name; gets nothing (for a bridge that
    /// delivers messages by other means, such as MQTT through a [`crate::Tap`]).
    Present(Arc<str>),
    /// Invisible; gets messages only (SSE streams).
    Watcher,
}

impl Role {
    /// The name shown in presence, if any.
    pub fn name(&self) -> Option<&Arc<str>> {
        match self {
            Role::Participant(n) | Role::Present(n) => Some(n),
            Role::Watcher => None,
        }
    }

    pub(crate) fn receives(&self) -> Receives {
        match self {
            Role::Participant(_) => Receives::Everything,
            Role::Present(_) => Receives::Nothing,
            Role::Watcher => Receives::Messages,
        }
    }
}

/// Which events a member's queue gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receives {
    Everything,
    Messages,
    Nothing,
}

/// What a transport gets back when its client joins a room.
#[derive(Debug)]
pub struct Joined {
    /// The room.
    pub room: RoomName,
    /// Its title, if declared.
    pub title: Option<String>,
    /// Its history epoch.
    pub epoch: String,
    /// Highest durable seq when the join took effect; every later message
    /// arrives through [`Subscription::next`].
    pub last_seq: u64,
    /// Names online in the room, this subscriber included.
    pub online: Vec<String>,
    /// The client's position was from another epoch (or beyond the end),
    /// so `replay` starts from the beginning of the retained history.
    pub reset: bool,
    /// Missed messages (`seq > since`, `seq <= last_seq`), oldest first.
    pub replay: Vec<Message>,
    /// Messages that were missed but not replayed because of the cap; the
    /// client pages for them with history queries.
    pub gap: Option<Gap>,
}

/// A range of seqs, inclusive at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// First missing seq.
    pub from_seq: u64,
    /// Last missing seq.
    pub to_seq: u64,
}

/// Where a joining client left off.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The last seq the client has.
    pub since: Option<u64>,
    /// The epoch that `since` belongs to, if the client knows it.
    pub epoch: Option<String>,
}

/// One client connection's membership in rooms. Dropping it leaves every
/// room it joined.
pub struct Subscription {
    id: SubId,
    rooms: Rooms,
    who: Identity,
    role: Role,
    inbox: Inbox,
    joined: HashMap<RoomName, Arc<Room>>,
}

impl Subscription {
    pub(crate) fn new(id: SubId, rooms: Rooms, who: Identity, role: Role, inbox: Inbox) -> Self {
        Self {
            id,
            rooms,
            who,
            role,
            inbox,
            joined: HashMap::new(),
        }
    }

    /// The name this subscriber shows in presence, if any.
    pub fn name(&self) -> Option<&str> {
        self.role.name().map(|n| &**n)
    }

    /// Who it acts as.
    pub fn who(&self) -> &Identity {
        &self.who
    }

    /// Changes who it acts as and how it takes part; only before it has
    /// joined any room.
    pub fn set_identity(&mut self, who: Identity, role: Role) -> bool {
        if self.joined.is_empty() {
            self.rooms.reidentify_subscriber(self.id, &who);
            self.who = who;
            self.role = role;
            true
        } else {
            false
        }
    }

    /// Whether `room` is joined.
    pub fn is_joined(&self, room: &RoomName) -> bool {
        self.joined.contains_key(room)
    }

    /// Joins a room (creating it if allowed) and returns what was missed
    /// since `resume`, up to the replay cap. Joining again re-sends the
    /// replay. A room this subscriber may not see is refused as if it did
    /// not exist.
    pub fn join(&mut self, room: &RoomName, resume: &Resume) -> Result<Joined, RoomError> {
        self.rooms.check_read(&self.who, room)?;
        let limit = self.rooms.limits().max_rooms_per_connection;
        if !self.joined.contains_key(room) && self.joined.len() >= limit {
            return Err(RoomError::TooManyRooms { limit });
        }
        let r = self.rooms.room(room, true)?;
        let snapshot = r.add(
            self.id,
            self.inbox.handle(),
            &self.who,
            &self.role,
            self.rooms.metrics(),
        );
        self.joined.insert(room.clone(), r.clone());

        let epoch_matches = resume.epoch.as_deref().is_none_or(|e| e == r.meta.epoch);
        let reset = resume.since.is_some()
            && (!epoch_matches || resume.since.unwrap_or(0) > snapshot.last_seq);
        let since = if reset { Some(0) } else { resume.since };
        let (replay, gap) = match since {
            Some(since) => self.replay(room, since, snapshot.last_seq)?,
            None => (Vec::new(), None),
        };
        Ok(Joined {
            room: room.clone(),
            title: r.title.clone(),
            epoch: r.meta.epoch.clone(),
            last_seq: snapshot.last_seq,
            online: snapshot.online,
            reset,
            replay,
            gap,
        })
    }

    fn replay(
        &self,
        room: &RoomName,
        since: u64,
        last_seq: u64,
    ) -> Result<(Vec<Message>, Option<Gap>), RoomError> {
        let cap = self.rooms.replay_max();
        let mut replay = self.rooms.history_of_any(
            room,
            HistoryQuery::After {
                seq: since,
                limit: cap,
            },
        )?;
        // Later messages come through the queue; never send one twice.
        replay.retain(|m| m.seq <= last_seq);
        let through = replay.last().map_or(since, |m| m.seq);
        let gap = (replay.len() >= cap && through < last_seq).then_some(Gap {
            from_seq: through + 1,
            to_seq: last_seq,
        });
        Ok((replay, gap))
    }

    /// Leaves a room.
    pub fn leave(&mut self, room: &RoomName) -> Result<(), RoomError> {
        match self.joined.remove(room) {
            Some(r) => {
                r.remove(self.id, self.rooms.metrics());
                Ok(())
            }
            None => Err(RoomError::NotJoined(room.to_string())),
        }
    }

    /// Tells the room this participant is typing (if it may post there).
    pub fn typing(&self, room: &RoomName, via: Via) -> Result<(), RoomError> {
        let r = self
            .joined
            .get(room)
            .filter(|r| r.has(self.id))
            .ok_or_else(|| RoomError::NotJoined(room.to_string()))?;
        // Only those who may post are typing something.
        self.rooms.check_post(&self.who, room)?;
        if let Some(who) = self.role.name() {
            r.typing(Some(self.id), who.clone(), via, self.rooms.metrics());
        }
        Ok(())
    }

    /// Resolves when the hub ends this subscription, with the reason.
    pub async fn closed(&self) -> CloseReason {
        self.inbox.closed().await
    }

    /// An event already queued, without waiting; lets a transport write
    /// several frames with one flush.
    pub fn try_next(&mut self) -> Option<Event> {
        self.inbox.try_next()
    }

    /// The next event, or the reason the hub ended this subscription.
    pub async fn next(&mut self) -> Next {
        self.inbox.next().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for r in self.joined.values() {
            r.remove(self.id, self.rooms.metrics());
        }
        self.rooms.forget_subscriber(self.id);
    }
}
