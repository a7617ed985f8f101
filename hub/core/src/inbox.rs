//! A subscriber's inbox: one bounded queue of events and a close signal.
//! The room side holds a [`SubscriberHandle`] and never waits on it.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use crate::message::{Published, Via};
use crate::room_name::RoomName;

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
        /// The transport of the typist, so a bridge can skip its own.
        via: Via,
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
    /// A room it was in is no longer open to it (its rules changed). It
    /// may reconnect; that room will be refused.
    AccessChanged,
    /// Its user's login was ended (sessions revoked, password changed, or
    /// the user deleted).
    SessionEnded,
}

impl CloseReason {
    /// A short code.
    pub fn code(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::ShuttingDown => "shutting_down",
            CloseReason::AccessChanged => "access_changed",
            CloseReason::SessionEnded => "session_ended",
        }
    }

    /// Words for a human.
    pub fn message(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => {
                "too slow: queue overflowed; reconnect and join with since to recover"
            }
            CloseReason::ShuttingDown => "hub shutting down",
            CloseReason::AccessChanged => {
                "a room you were in is no longer open to you; reconnect to go on in the others"
            }
            CloseReason::SessionEnded => "your login was ended; log in again",
        }
    }
}

/// What [`Inbox::next`] yields.
#[derive(Debug)]
pub enum Next {
    /// An event to pass on.
    Event(Event),
    /// The hub ended the subscription.
    Closed(CloseReason),
}

/// The room side of an inbox: its queue (none for a member that receives
/// nothing) and its close signal.
#[derive(Clone)]
pub(crate) struct SubscriberHandle {
    tx: Option<mpsc::Sender<Event>>,
    state: Arc<CloseState>,
}

#[derive(Default)]
struct CloseState {
    reason: OnceLock<CloseReason>,
    closed: CancellationToken,
}

impl CloseState {
    fn reason(&self) -> CloseReason {
        self.reason
            .get()
            .copied()
            .unwrap_or(CloseReason::ShuttingDown)
    }
}

impl SubscriberHandle {
    pub fn try_send(&self, event: Event) -> Result<(), TrySendError<Event>> {
        match &self.tx {
            Some(tx) => tx.try_send(event),
            None => Err(TrySendError::Closed(event)),
        }
    }

    /// Queues an event; a full queue closes the inbox as too slow.
    /// Returns false if the inbox is gone or was just closed.
    pub fn deliver(&self, event: Event) -> bool {
        match self.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.close(CloseReason::SlowConsumer);
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Ends the subscription; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        if self.state.reason.set(reason).is_ok() {
            self.state.closed.cancel();
        }
    }
}

/// The client side: where a transport takes its events from.
pub(crate) struct Inbox {
    rx: Option<mpsc::Receiver<Event>>,
    handle: SubscriberHandle,
}

impl Inbox {
    /// An inbox holding up to `queue` events.
    pub fn new(queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        Self {
            rx: Some(rx),
            handle: SubscriberHandle {
                tx: Some(tx),
                state: Arc::default(),
            },
        }
    }

    /// An inbox that never receives events, only its close signal: no
    /// queue is allocated (presence-only members, one per MQTT device).
    pub fn silent() -> Self {
        Self {
            rx: None,
            handle: SubscriberHandle {
                tx: None,
                state: Arc::default(),
            },
        }
    }

    pub fn handle(&self) -> &SubscriberHandle {
        &self.handle
    }

    /// Resolves when the hub ends this inbox, with the reason.
    pub async fn closed(&self) -> CloseReason {
        self.handle.state.closed.cancelled().await;
        self.handle.state.reason()
    }

    /// An event already queued, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.as_mut()?.try_recv().ok()
    }

    /// The next event, or the reason the hub ended this inbox.
    pub async fn next(&mut self) -> Next {
        let state = &self.handle.state;
        let Some(rx) = self.rx.as_mut() else {
            state.closed.cancelled().await;
            return Next::Closed(state.reason());
        };
        tokio::select! {
            biased;
            () = state.closed.cancelled() => Next::Closed(state.reason()),
            event = rx.recv() => match event {
                Some(e) => Next::Event(e),
                // We hold a sender ourselves, so this cannot happen.
                None => Next::Closed(CloseReason::ShuttingDown),
            },
        }
    }
}
