//! Taps: inboxes that see every room's events, for bridges that route by
//! topic patterns spanning rooms (MQTT's `rooms/#`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::inbox::{CloseReason, Event, Inbox, Next, SubscriberHandle};

/// Every open tap.
#[derive(Default)]
pub(crate) struct Taps {
    open: Mutex<HashMap<u64, SubscriberHandle>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Taps {
    /// Hands an event to every tap; a tap whose queue is full is closed as
    /// too slow (its owner repairs from history and opens a new one).
    pub fn send(&self, event: &Event) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.is_empty() {
            return;
        }
        open.retain(|_, handle| handle.deliver(event.clone()));
    }

    /// Closes every tap.
    pub fn close_all(&self, reason: CloseReason) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for handle in open.values() {
            handle.close(reason);
        }
    }
}

/// A stream of every room's messages, presence changes and typing, in seq
/// order per room. Closed with [`CloseReason::SlowConsumer`] if its owner
/// falls `queue` events behind.
pub struct Tap {
    id: u64,
    taps: Arc<Taps>,
    inbox: Inbox,
}

impl Tap {
    pub(crate) fn open(taps: &Arc<Taps>, queue: usize) -> Self {
        let id = taps
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inbox = Inbox::new(queue);
        taps.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, inbox.handle().clone());
        Self {
            id,
            taps: taps.clone(),
            inbox,
        }
    }

    /// The next event, or why the tap was closed.
    pub async fn next(&mut self) -> Next {
        self.inbox.next().await
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.taps
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
