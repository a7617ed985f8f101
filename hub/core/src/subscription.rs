//! A subscriber: one client connection's view of the rooms it has joined,
//! fed through one bounded queue.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use crate::error::RoomError;
use crate::message::{Message, Published};
use crate::room::{Room, SubId};
use crate::room_name::RoomName;
use crate::rooms::Rooms;
use crate::store::HistoryQuery;

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Event {
    /// A durable message, in seq order per room.
    Message(Arc<Published>),
    /// Someone came online in a room or left it.
    Presence {
        /// The room.
        room: RoomName,
        /// Who.
        who: Arc<str>,
        /// Joined or left.
        state: PresenceState,
    },
    /// Someone is typing.
    Typing {
        /// The room.
        room: RoomName,
        /// Who.
        who: Arc<str>,
    },
}

/// A presence change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceState {
    /// Came online in the room.
    Join,
    /// Left the room.
    Leave,
}

impl PresenceState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceState::Join => "join",
            PresenceState::Leave => "leave",
        }
    }
}

/// Why the hub ends a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue overflowed: it read too slowly. It should reconnect and
    /// resume from history with `since`.
    SlowConsumer,
    /// The hub is stopping.
    ShuttingDown,
}

impl CloseReason {
    /// A short code.
    pub fn code(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::ShuttingDown => "shutting_down",
        }
    }

    /// Words for a human.
    pub fn message(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => {
                "too slow: queue overflowed; reconnect and join with since to recover"
            }
            CloseReason::ShuttingDown => "hub shutting down",
        }
    }
}

/// How a subscriber takes part.
#[derive(Debug, Clone)]
pub enum Role {
    /// Shown in presence under this name; gets presence and typing events.
    Participant(Arc<str>),
    /// Invisible; gets messages only (SSE streams, bridges).
    Watcher,
}

/// The room side of a subscriber: its queue and its close signal.
#[derive(Clone)]
pub(crate) struct SubscriberHandle {
    tx: mpsc::Sender<Event>,
    state: Arc<CloseState>,
}

#[derive(Default)]
struct CloseState {
    reason: OnceLock<CloseReason>,
    closed: CancellationToken,
}

impl SubscriberHandle {
    pub fn try_send(&self, event: Event) -> Result<(), TrySendError<Event>> {
        self.tx.try_send(event)
    }

    /// Ends the subscription; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        if self.state.reason.set(reason).is_ok() {
            self.state.closed.cancel();
        }
    }
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

/// What [`Subscription::next`] yields.
#[derive(Debug)]
pub enum Next {
    /// An event to pass on.
    Event(Event),
    /// The hub ended the subscription.
    Closed(CloseReason),
}

/// One client connection's membership in rooms. Dropping it leaves every
/// room it joined.
pub struct Subscription {
    id: SubId,
    rooms: Rooms,
    role: Role,
    handle: SubscriberHandle,
    rx: mpsc::Receiver<Event>,
    joined: HashMap<RoomName, Arc<Room>>,
}

impl Subscription {
    pub(crate) fn new(
        id: SubId,
        rooms: Rooms,
        role: Role,
        queue: usize,
    ) -> (Self, SubscriberHandle) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let handle = SubscriberHandle {
            tx,
            state: Arc::default(),
        };
        let sub = Self {
            id,
            rooms,
            role,
            handle: handle.clone(),
            rx,
            joined: HashMap::new(),
        };
        (sub, handle)
    }

    /// The name this subscriber shows, if it is a participant.
    pub fn name(&self) -> Option<&str> {
        match &self.role {
            Role::Participant(n) => Some(n),
            Role::Watcher => None,
        }
    }

    /// Changes how it takes part; only before it has joined any room.
    pub fn set_role(&mut self, role: Role) -> bool {
        if self.joined.is_empty() {
            self.role = role;
            true
        } else {
            false
        }
    }

    /// The rooms joined so far.
    pub fn joined(&self) -> impl Iterator<Item = &RoomName> {
        self.joined.keys()
    }

    /// Joins a room (creating it if allowed) and returns what was missed
    /// since `resume`, up to the replay cap. Joining again re-sends the replay.
    pub fn join(&mut self, room: &RoomName, resume: &Resume) -> Result<Joined, RoomError> {
        let r = self.rooms.room(room, true)?;
        let who = match &self.role {
            Role::Participant(n) => Some(n.clone()),
            Role::Watcher => None,
        };
        let snapshot = r.add(self.id, &self.handle, who, self.rooms.metrics());
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
        let mut replay = self.rooms.history(
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

    /// Tells the room this participant is typing.
    pub fn typing(&self, room: &RoomName) -> Result<(), RoomError> {
        let r = self
            .joined
            .get(room)
            .filter(|r| r.has(self.id))
            .ok_or_else(|| RoomError::NotJoined(room.to_string()))?;
        if let Role::Participant(who) = &self.role {
            r.typing(self.id, who.clone(), self.rooms.metrics());
        }
        Ok(())
    }

    /// Whether `room` is joined.
    pub fn is_joined(&self, room: &RoomName) -> bool {
        self.joined.contains_key(room)
    }

    /// Resolves when the hub ends this subscription, with the reason.
    pub async fn closed(&self) -> CloseReason {
        self.handle.state.closed.cancelled().await;
        self.handle
            .state
            .reason
            .get()
            .copied()
            .unwrap_or(CloseReason::ShuttingDown)
    }

    /// The next event, or the reason the hub ended this subscription.
    pub async fn next(&mut self) -> Next {
        let state = &self.handle.state;
        tokio::select! {
            biased;
            () = state.closed.cancelled() => {
                Next::Closed(state.reason.get().copied().unwrap_or(CloseReason::ShuttingDown))
            }
            event = self.rx.recv() => match event {
                Some(e) => Next::Event(e),
                // We hold a sender ourselves, so this cannot happen.
                None => Next::Closed(CloseReason::ShuttingDown),
            },
        }
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
