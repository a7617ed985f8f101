//! The broker's shared state: sessions by client id, the subscription
//! tree, retained messages and pending wills; and routing between them.
//! The hub routes MQTT itself (rather than through rumqttd's router) so
//! that it can refuse publishes and subscriptions, deliver at
//! min(publish QoS, subscription QoS), and free every client's state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hubbub_core::limits::ConnectionLimiter;
use hubbub_core::{Identity, NewPost, PendingPost, RoomError, RoomName, Rooms, Via};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::packet::{Publish, Qos, Reason, SubscribeFilter, Will};
use super::policy::{ClientInfo, Policy, ERRORS_PREFIX};
use super::room_topics::{self, RoomTopic};
use super::session::{Enqueued, Queued, Session};
use super::topic::{check_topic_name, matches, SubscriptionTree};
use super::MqttConfig;

/// What became of a client's publish.
pub enum Accepted {
    /// Routed to this many sessions.
    Routed(usize),
    /// Posted to a room; durable when the post resolves.
    Room(PendingPost),
    /// Refused, with a reason and words.
    Refused(Reason, String),
}

/// Counters for `$SYS/hubbub/...`.
#[derive(Default)]
pub struct Stats {
    /// Connections now.
    pub connected: AtomicU64,
    /// PUBLISH packets received.
    pub received: AtomicU64,
    /// PUBLISH packets sent.
    pub sent: AtomicU64,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Arc<Session>>,
    tree: SubscriptionTree,
    retained: HashMap<String, Queued>,
    /// Delayed wills by client id, with the connection they came from.
    wills: HashMap<String, (u64, CancellationToken)>,
}

/// The MQTT broker.
pub struct Broker {
    pub(crate) config: MqttConfig,
    pub(crate) policy: Policy,
    pub(crate) rooms: Rooms,
    pub(crate) slots: Arc<Semaphore>,
    /// Client connections over every transport (`[limits]`).
    pub(crate) limiter: Arc<ConnectionLimiter>,
    pub(crate) stats: Stats,
    pub(crate) shutdown: CancellationToken,
    state: Mutex<State>,
    next_connection: AtomicU64,
    started: Instant,
}

impl Broker {
    /// A broker over `rooms`, with these rules, counting its connections
    /// in `limiter` too.
    pub(crate) fn new(
        config: MqttConfig,
        policy: Policy,
        limiter: Arc<ConnectionLimiter>,
        rooms: Rooms,
    ) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(config.max_connections)),
            config,
            policy,
            limiter,
            rooms,
            stats: Stats::default(),
            shutdown: CancellationToken::new(),
            state: Mutex::new(State::default()),
            next_connection: AtomicU64::new(1),
            started: Instant::now(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh connection id.
    pub(crate) fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Gives connection `conn` the session of `client_id`, taking it over
    /// from any other connection. Returns the session and whether it was
    /// resumed. A session is resumed only by the identity it belongs to:
    /// its subscriptions and queue may hold what another may not read.
    pub(crate) fn attach(
        &self,
        client_id: &str,
        who: &Identity,
        clean_start: bool,
        expiry_secs: u32,
        conn: u64,
        token: CancellationToken,
    ) -> (Arc<Session>, bool) {
        let mut state = self.state();
        if let Some((_, will)) = state.wills.remove(client_id) {
            // Back before its will delay ran out: no will.
            will.cancel();
        }
        let existing = state.sessions.get(client_id).cloned();
        if let Some(old) = &existing {
            old.kick();
        }
        // A session past its expiry is gone, even if the periodic sweep
        // has not freed it yet.
        let expired = existing
            .as_ref()
            .is_some_and(|old| old.state().expired(Instant::now()));
        let (session, present) = match existing {
            Some(old) if !clean_start && !expired && old.who == *who => (old, true),
            Some(old) => {
                // Its connection (if any) no longer has a session: when it
                // ends it must neither free this client id's new
                // subscriptions nor leave a delayed will behind.
                old.state().attached = None;
                Self::forget(&mut state, &old);
                let new = self.new_session(&mut state, client_id, who, expiry_secs);
                (new, false)
            }
            None => (
                self.new_session(&mut state, client_id, who, expiry_secs),
                false,
            ),
        };
        {
            let mut s = session.state();
            s.attached = Some((conn, token));
            s.detached_at = None;
            s.login_ended = false;
            s.expiry_secs = expiry_secs;
        }
        (session, present)
    }

    fn new_session(
        &self,
        state: &mut State,
        client_id: &str,
        who: &Identity,
        expiry_secs: u32,
    ) -> Arc<Session> {
        let session = Session::new(
            client_id.to_owned(),
            who.clone(),
            expiry_secs,
            self.config.max_queued_messages,
        );
        state.sessions.insert(client_id.to_owned(), session.clone());
        session
    }

    /// Removes a session and its subscriptions.
    fn forget(state: &mut State, session: &Session) {
        let filters: Vec<String> = session.state().subscriptions.keys().cloned().collect();
        for f in filters {
            state.tree.remove(&session.client_id, &f);
        }
        if let Some(current) = state.sessions.get(&session.client_id) {
            if std::ptr::eq(Arc::as_ptr(current), session) {
                state.sessions.remove(&session.client_id);
            }
        }
    }

    /// Connection `conn` has ended. Frees the session if it does not
    /// outlive its connection, and publishes the will if one is due.
    pub(crate) fn detach(
        self: &Arc<Self>,
        session: &Arc<Session>,
        conn: u64,
        will: Option<Will>,
        client: &ClientInfo,
    ) {
        let was_attached = session.detach(conn);
        let expiry = session.state().expiry_secs;
        if was_attached && expiry == 0 {
            Self::forget(&mut self.state(), session);
        }
        let Some(will) = will else {
            return;
        };
        if !was_attached && will.delay_secs > 0 {
            // Another connection has taken the client id over: a new
            // connection within the will delay means no will (MQTT 5
            // 3.1.3.2.2), even if this one is only now seen to end.
            return;
        }
        // The will waits for its delay or for the end of the session,
        // whichever comes first (MQTT 5 3.1.3.2.2).
        let delay = will.delay_secs.min(expiry);
        self.schedule_will(will, delay, conn, client);
    }

    fn schedule_will(self: &Arc<Self>, will: Will, delay: u32, conn: u64, client: &ClientInfo) {
        let delay = delay.min(self.config.max_session_expiry_secs);
        if delay == 0 {
            self.accept(client, will.message);
            return;
        }
        let token = CancellationToken::new();
        self.state()
            .wills
            .insert(client.client_id.clone(), (conn, token.clone()));
        let broker = self.clone();
        let client = client.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = tokio::time::sleep(Duration::from_secs(u64::from(delay))) => {
                    let mine = {
                        let mut state = broker.state();
                        match state.wills.get(&client.client_id) {
                            Some((c, _)) if *c == conn => state.wills.remove(&client.client_id).is_some(),
                            _ => false,
                        }
                    };
                    if mine {
                        broker.accept(&client, will.message);
                    }
                }
            }
        });
    }

    /// Adds a subscription; returns true if it is new for the session.
    pub(crate) fn subscribe(&self, session: &Session, sub: SubscribeFilter) -> bool {
        let mut state = self.state();
        session
            .state()
            .subscriptions
            .insert(sub.filter.clone(), sub.clone());
        state.tree.insert(&session.client_id, sub)
    }

    /// Removes a subscription; returns true if it existed.
    pub(crate) fn unsubscribe(&self, session: &Session, filter: &str) -> bool {
        let mut state = self.state();
        session.state().subscriptions.remove(filter);
        state.tree.remove(&session.client_id, filter)
    }

    /// Retained messages matching `filter` that `client` may read, as
    /// they should go out now.
    pub(crate) fn retained_for(&self, filter: &str, client: &ClientInfo) -> Vec<Publish> {
        let now = Instant::now();
        let matching: Vec<Queued> = {
            let mut state = self.state();
            state
                .retained
                .retain(|_, q| q.expires.is_none_or(|e| e > now));
            state
                .retained
                .iter()
                .filter(|(topic, _)| matches(filter, topic))
                .map(|(_, q)| q.clone())
                .collect()
        };
        matching
            .into_iter()
            .filter(|q| {
                self.policy.audience(&q.publish.topic).admits(
                    &self.policy,
                    &client.who,
                    &client.client_id,
                )
            })
            .filter_map(|q| q.fresh(now))
            .collect()
    }

    /// Handles an application message from a client (or its will): checks
    /// it, then posts it to a room or routes it.
    pub(crate) fn accept(&self, client: &ClientInfo, publish: Publish) -> Accepted {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        if let Err(why) = check_topic_name(&publish.topic) {
            return Accepted::Refused(Reason::TopicNameInvalid, why.into());
        }
        if publish.topic.starts_with('$') {
            return Accepted::Refused(
                Reason::TopicNameInvalid,
                "topics starting with $ belong to the hub".into(),
            );
        }
        match room_topics::classify(&publish.topic) {
            None if !self.policy.may_publish(client, &publish.topic) => Accepted::Refused(
                Reason::NotAuthorized,
                format!("not allowed to publish to {} (mqtt.acl)", publish.topic),
            ),
            None => Accepted::Routed(self.route(&publish, Some(&client.client_id))),
            Some(RoomTopic::Post(room)) => {
                let body = match room_topics::post_body(&publish.payload) {
                    Ok(b) => b,
                    Err(e) => return Accepted::Refused(room_topics::reason_for(&e), e.to_string()),
                };
                let post = NewPost {
                    room: room.clone(),
                    author: client.who.clone(),
                    text: body.text,
                    via: Via::Mqtt,
                    reference: body.reference,
                };
                match self.rooms.submit(post) {
                    Ok(pending) => Accepted::Room(pending),
                    Err(e) => self.refused_in_room(client, &room, &e),
                }
            }
            Some(RoomTopic::Typing(room)) => {
                // Tell the room's other participants too. The room's rules
                // may refuse it; a room that does not exist merely has no
                // one to tell, and its topic is passed on all the same.
                match self.rooms.typing(&room, &client.who, Via::Mqtt) {
                    Err(e)
                        if matches!(e, RoomError::ReadOnly(_))
                            || !self.rooms.can_read(&client.who, &room) =>
                    {
                        self.refused_in_room(client, &room, &e)
                    }
                    _ => Accepted::Routed(self.route(&publish, Some(&client.client_id))),
                }
            }
            Some(RoomTopic::Presence(_)) => Accepted::Refused(
                Reason::NotAuthorized,
                "rooms/{room}/presence is published by the hub".into(),
            ),
            Some(RoomTopic::Invalid(why)) => Accepted::Refused(Reason::TopicNameInvalid, why),
        }
    }

    /// A room refused a post or typing: a room `client` may not see is
    /// "not authorized" on MQTT (as a subscription to it is), not "topic
    /// name invalid".
    fn refused_in_room(&self, client: &ClientInfo, room: &RoomName, e: &RoomError) -> Accepted {
        let reason = match e {
            RoomError::NoSuchRoom(_) if !self.rooms.can_read(&client.who, room) => {
                Reason::NotAuthorized
            }
            _ => room_topics::reason_for(e),
        };
        Accepted::Refused(reason, e.to_string())
    }

    /// Routes a message to every matching session that may read it, at
    /// min(publish QoS, subscription QoS); keeps it if retained. Returns how
    /// many sessions it went to.
    pub(crate) fn route(&self, publish: &Publish, publisher: Option<&str>) -> usize {
        let targets: Vec<(Arc<Session>, SubscribeFilter)> = {
            let mut state = self.state();
            if publish.retain {
                if publish.payload.is_empty() {
                    state.retained.remove(&publish.topic);
                } else if state.retained.len() < self.config.max_retained
                    || state.retained.contains_key(&publish.topic)
                {
                    let mut kept = publish.clone();
                    kept.dup = false;
                    kept.pkid = 0;
                    state
                        .retained
                        .insert(publish.topic.clone(), Queued::new(kept));
                } else {
                    tracing::warn!(topic = %publish.topic, max = self.config.max_retained, "retained message not kept: mqtt.max_retained reached");
                }
            }
            state
                .tree
                .matching(&publish.topic)
                .into_iter()
                .filter_map(|(client, sub)| state.sessions.get(&*client).map(|s| (s.clone(), sub)))
                .collect()
        };
        let audience = self.policy.audience(&publish.topic);
        let mut delivered = 0;
        for (session, sub) in targets {
            if sub.no_local && publisher == Some(session.client_id.as_str()) {
                continue;
            }
            // Asked now, not at subscribe time: a wildcard never brings
            // what its subscriber may not read, and a rule changed at run
            // time applies to the next message.
            if !audience.admits(&self.policy, &session.who, &session.client_id) {
                continue;
            }
            let mut out = publish.clone();
            out.qos = out.qos.min(sub.qos);
            out.retain = sub.retain_as_published && publish.retain;
            out.dup = false;
            out.pkid = 0;
            if session.deliver(out) == Enqueued::DroppedOldest {
                self.rooms.metrics().slow_consumer_drops.inc();
                tracing::debug!(client = %session.client_id, "mqtt session queue full: oldest message dropped");
            }
            delivered += 1;
        }
        delivered
    }

    /// Publishes a message from the hub itself.
    pub(crate) fn publish_from_hub(
        &self,
        topic: String,
        payload: Bytes,
        qos: Qos,
        retain: bool,
    ) -> usize {
        let publish = Publish {
            topic,
            payload,
            qos,
            retain,
            dup: false,
            pkid: 0,
            expiry_secs: None,
            props: None,
        };
        self.route(&publish, None)
    }

    /// Tells a client, on `$SYS/hubbub/errors/{client id}`, why its
    /// publish was refused (MQTT 3.1.1 has no other way to say it).
    pub(crate) fn report_refusal(
        &self,
        client: &ClientInfo,
        topic: &str,
        reason: Reason,
        why: &str,
    ) {
        tracing::info!(client = %client.client_id, topic, ?reason, why, "mqtt publish refused");
        let payload =
            json!({"topic": topic, "reason": format!("{reason:?}"), "message": why}).to_string();
        self.publish_from_hub(
            format!("{ERRORS_PREFIX}{}", client.client_id),
            Bytes::from(payload),
            Qos::AtMostOnce,
            false,
        );
    }

    /// Frees sessions that outlived their expiry.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut state = self.state();
        let expired: Vec<Arc<Session>> = state
            .sessions
            .values()
            .filter(|s| s.state().expired(now))
            .cloned()
            .collect();
        for s in expired {
            Self::forget(&mut state, &s);
        }
    }

    /// Ends the connections of every session of `user` (its login was
    /// ended: sessions revoked, password changed, user deleted).
    pub fn end_sessions_of(&self, user: &str) {
        for session in self
            .state()
            .sessions
            .values()
            .filter(|s| s.who.user() == Some(user))
        {
            session.end_login();
        }
    }

    /// How many sessions exist (connected or not).
    pub(crate) fn session_count(&self) -> usize {
        self.state().sessions.len()
    }

    /// Seconds since the broker started.
    pub(crate) fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Ends every connection (they say "server shutting down").
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}
