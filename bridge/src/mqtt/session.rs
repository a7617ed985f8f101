//! A client's session: its subscriptions and the messages on their way to
//! it, kept across connections when the client asks for that.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hubbub_core::Identity;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::packet::{Publish, Qos, SubscribeFilter};

/// A message waiting to be sent, with when it stops being worth sending.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The message, at the QoS it is delivered with.
    pub publish: Publish,
    /// MQTT 5 message expiry.
    pub expires: Option<Instant>,
}

impl Queued {
    /// Wraps a message, turning its expiry interval into a deadline.
    pub fn new(publish: Publish) -> Self {
        let expires = publish
            .expiry_secs
            .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
        Self { publish, expires }
    }

    /// The message as it should go out now (expiry interval counted down),
    /// or `None` if it has expired.
    pub fn fresh(mut self, now: Instant) -> Option<Publish> {
        match self.expires {
            Some(deadline) if deadline <= now => None,
            Some(deadline) => {
                let left = deadline.duration_since(now).as_secs().max(1);
                self.publish.expiry_secs = Some(u32::try_from(left).unwrap_or(u32::MAX));
                Some(self.publish)
            }
            None => Some(self.publish),
        }
    }
}

/// Where an outgoing QoS 1 or 2 message stands.
#[derive(Debug, Clone)]
pub enum Inflight {
    /// Sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Sent(Publish),
    /// PUBREL sent; waiting for PUBCOMP.
    Released,
}

/// The state of a session.
pub struct SessionState {
    /// The connection that has it now, and the token that ends it.
    pub attached: Option<(u64, CancellationToken)>,
    /// Messages not yet sent.
    pub queue: VecDeque<Queued>,
    /// Sent messages awaiting their acknowledgement, by packet id.
    pub inflight: BTreeMap<u16, Inflight>,
    /// Incoming QoS 2 packet ids received and not yet released.
    pub awaiting_release: HashSet<u16>,
    /// Subscriptions by filter.
    pub subscriptions: HashMap<String, SubscribeFilter>,
    /// Seconds the session outlives its connection (0: ends with it).
    pub expiry_secs: u32,
    /// When its last connection ended, if none is attached.
    pub detached_at: Option<Instant>,
    next_pkid: u16,
    max_queue: usize,
    /// Messages dropped because the queue was full.
    pub dropped: u64,
    /// The attached connection was ended because its user's login was
    /// (rather than taken over by another connection).
    pub login_ended: bool,
}

/// What [`SessionState::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued.
    Queued,
    /// Not kept (QoS 0 for an absent client).
    Skipped,
    /// Queued, and the oldest message dropped to make room.
    DroppedOldest,
}

impl SessionState {
    /// A free packet id.
    pub fn next_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1).max(1);
            if !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }

    /// Queues a message. QoS 0 messages are not kept for an absent
    /// client. A full queue drops its oldest message: MQTT has no way for
    /// a client to fetch what it missed, so cutting it off would lose the
    /// whole queue instead of its oldest part. Room messages carry their
    /// seq, so a device sees the gap and can read it from history.
    pub fn enqueue(&mut self, publish: Publish) -> Enqueued {
        if self.attached.is_none() && publish.qos == Qos::AtMostOnce {
            return Enqueued::Skipped;
        }
        let mut outcome = Enqueued::Queued;
        if self.queue.len() >= self.max_queue {
            self.queue.pop_front();
            self.dropped += 1;
            outcome = Enqueued::DroppedOldest;
        }
        self.queue.push_back(Queued::new(publish));
        outcome
    }

    /// Whether the session has outlived its expiry.
    pub fn expired(&self, now: Instant) -> bool {
        match self.detached_at {
            Some(at) => now.duration_since(at) >= Duration::from_secs(u64::from(self.expiry_secs)),
            None => false,
        }
    }
}

/// A client's session, shared by the broker (which queues into it) and the
/// connection that has it (which sends from it).
pub struct Session {
    /// The client id it belongs to.
    pub client_id: String,
    /// Who it belongs to: what it may receive is decided by this identity,
    /// and only this identity resumes it.
    pub who: Identity,
    state: Mutex<SessionState>,
    /// Woken when something is queued.
    pub wake: Notify,
}

impl Session {
    /// A new, empty session.
    pub fn new(client_id: String, who: Identity, expiry_secs: u32, max_queue: usize) -> Arc<Self> {
        Arc::new(Self {
            client_id,
            who,
            state: Mutex::new(SessionState {
                attached: None,
                queue: VecDeque::new(),
                inflight: BTreeMap::new(),
                awaiting_release: HashSet::new(),
                subscriptions: HashMap::new(),
                expiry_secs,
                detached_at: None,
                next_pkid: 0,
                max_queue: max_queue.max(1),
                dropped: 0,
                login_ended: false,
            }),
            wake: Notify::new(),
        })
    }

    /// Locks its state.
    pub fn state(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message and wakes the connection.
    pub fn deliver(&self, publish: Publish) -> Enqueued {
        let outcome = self.state().enqueue(publish);
        if outcome != Enqueued::Skipped {
            self.wake.notify_one();
        }
        outcome
    }

    /// Ends the connection that has this session, if any.
    pub fn kick(&self) {
        if let Some((_, token)) = &self.state().attached {
            token.cancel();
        }
    }

    /// Ends the connection that has this session because its user's login
    /// was ended.
    pub fn end_login(&self) {
        let mut state = self.state();
        if let Some((_, token)) = &state.attached {
            token.cancel();
            state.login_ended = true;
        }
    }

    /// Detaches connection `id`, if it still has the session.
    pub fn detach(&self, id: u64) -> bool {
        let mut state = self.state();
        match &state.attached {
            Some((current, _)) if *current == id => {
                state.attached = None;
                state.detached_at = Some(Instant::now());
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn publish(qos: Qos) -> Publish {
        Publish {
            topic: "t".into(),
            payload: Bytes::from_static(b"x"),
            qos,
            retain: false,
            dup: false,
            pkid: 0,
            expiry_secs: None,
            props: None,
        }
    }

    #[test]
    fn a_full_queue_drops_its_oldest() {
        let s = Session::new("c".into(), Identity::Anonymous("c".into()), 60, 2);
        let mut st = s.state();
        st.attached = Some((1, CancellationToken::new()));
        let outcomes: Vec<Enqueued> = (0..3)
            .map(|_| st.enqueue(publish(Qos::AtLeastOnce)))
            .collect();
        assert_eq!(
            outcomes,
            [Enqueued::Queued, Enqueued::Queued, Enqueued::DroppedOldest]
        );
        assert_eq!((st.queue.len(), st.dropped), (2, 1));
        st.attached = None;
        assert_eq!(st.enqueue(publish(Qos::AtMostOnce)), Enqueued::Skipped);
    }

    #[test]
    fn expiry_counts_down_and_ends() {
        let mut p = publish(Qos::AtLeastOnce);
        p.expiry_secs = Some(10);
        let q = Queued::new(p);
        let later = Instant::now() + Duration::from_secs(4);
        assert!(q.clone().fresh(later).unwrap().expiry_secs.unwrap() <= 6);
        assert!(q.fresh(Instant::now() + Duration::from_secs(11)).is_none());
    }

    #[test]
    fn packet_ids_skip_those_in_flight() {
        let s = Session::new("c".into(), Identity::Anonymous("c".into()), 0, 10);
        let mut st = s.state();
        st.inflight.insert(1, Inflight::Released);
        assert_eq!(st.next_pkid(), 2);
    }
}
