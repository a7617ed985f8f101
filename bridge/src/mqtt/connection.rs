//! One MQTT connection, from CONNECT to its end: the handshake (with a
//! timeout, so an idle socket holds nothing), keep-alive, QoS flows,
//! subscriptions, and delivery from its session.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use hubbub_core::limits::{Crowded, TokenBucket};
use hubbub_core::{Identity, Resume, Role, RoomError, Subscription};
use tokio_util::sync::CancellationToken;

use super::broker::{Accepted, Broker};
use super::codec::{sniff_version, Codec, DecodeError};
use super::link::Link;
use super::packet::{
    ConnAckInfo, Connect, Inbound, Outbound, Publish, Qos, Reason, RetainHandling, SubscribeFilter,
    SubscribeOutcome, Version,
};
use super::policy::{ClientInfo, Refusal};
use super::room_topics;
use super::session::{Inflight, Session};
use super::topic::{check_filter, has_wildcard, is_shared};

/// Publishes written with one flush, at most.
const WRITE_BATCH: usize = 64;
/// Longest client id accepted, in characters.
const MAX_CLIENT_ID_CHARS: usize = 128;

type AckFuture = Pin<Box<dyn Future<Output = Outbound> + Send>>;

/// How a connection ended.
enum End {
    /// The client sent DISCONNECT.
    Clean {
        /// MQTT 5 "disconnect with will message".
        with_will: bool,
    },
    /// Anything else: the will is due.
    Abrupt,
}

/// Checks a client id: 1 to 128 characters, none of them a control
/// character, `/`, `+` or `#` (ids appear in topics such as
/// `$SYS/hubbub/errors/{id}` and in ACL patterns).
fn check_client_id(id: &str) -> Result<(), String> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_CLIENT_ID_CHARS {
        return Err(format!(
            "client id must be 1 to {MAX_CLIENT_ID_CHARS} characters"
        ));
    }
    if id
        .chars()
        .any(|c| c.is_control() || matches!(c, '/' | '+' | '#'))
    {
        return Err("client id may not contain control characters, '/', '+' or '#'".into());
    }
    Ok(())
}

/// Reads until a whole CONNECT is decoded.
async fn read_connect(
    link: &mut Link,
    buf: &mut BytesMut,
    max: usize,
) -> Result<(Codec, Connect), HandshakeError> {
    loop {
        if let Some(version) = sniff_version(buf, max)? {
            let codec = Codec::new(version, max);
            match codec.decode(buf)? {
                Some(Inbound::Connect(c)) => return Ok((codec, c)),
                Some(_) => return Err(DecodeError::NotConnect.into()),
                None => {}
            }
        }
        match link.read(buf).await {
            Ok(0) | Err(_) => return Err(HandshakeError::Gone),
            Ok(_) => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("connection closed before CONNECT")]
    Gone,
}

/// Serves one connection to its end.
pub(crate) async fn serve(broker: Arc<Broker>, mut link: Link, peer: Option<SocketAddr>) {
    let max = broker.config.max_packet_bytes;
    let mut buf = BytesMut::with_capacity(256);
    let timeout = Duration::from_secs(broker.config.connect_timeout_secs.max(1));
    let handshake = tokio::select! {
        r = tokio::time::timeout(timeout, read_connect(&mut link, &mut buf, max)) => r,
        () = broker.shutdown.cancelled() => return,
    };
    let (codec, connect) = match handshake {
        Err(_) => {
            tracing::debug!(?peer, "no CONNECT in time; closing");
            return;
        }
        Ok(Err(HandshakeError::Decode(DecodeError::UnsupportedVersion(level)))) => {
            tracing::info!(?peer, level, "unsupported MQTT protocol level");
            let codec = Codec::new(Version::V311, max);
            refuse(&mut link, codec, Reason::UnsupportedProtocolVersion, None).await;
            return;
        }
        Ok(Err(e)) => {
            tracing::info!(?peer, error = %e, "bad MQTT handshake; closing");
            link.close().await;
            return;
        }
        Ok(Ok(c)) => c,
    };
    let Ok(permit) = broker.slots.clone().try_acquire_owned() else {
        tracing::warn!(
            ?peer,
            max = broker.config.max_connections,
            "MQTT connection refused: mqtt.max_connections reached"
        );
        refuse(
            &mut link,
            codec,
            Reason::ServerBusy,
            Some("too many connections".into()),
        )
        .await;
        return;
    };
    // Counted over every transport until this connection ends.
    let _counted = match broker.limiter.admit(peer.map(|p| p.ip())) {
        Ok(permit) => permit,
        Err(crowded) => {
            tracing::warn!(?peer, why = %crowded, "MQTT connection refused");
            let reason = match crowded {
                Crowded::Total(_) => Reason::ServerBusy,
                Crowded::PerAddress(_) => Reason::QuotaExceeded,
            };
            refuse(&mut link, codec, reason, Some(crowded.to_string())).await;
            return;
        }
    };
    let v5 = codec.version() == Version::V5;
    let (client_id, assigned) = if connect.client_id.is_empty() {
        if !connect.clean_start && !v5 {
            refuse(&mut link, codec, Reason::ClientIdNotValid, None).await;
            return;
        }
        (format!("auto-{:016x}", rand_id()), true)
    } else {
        (connect.client_id.clone(), false)
    };
    if let Err(why) = check_client_id(&client_id) {
        tracing::info!(?peer, why, "MQTT client id refused");
        refuse(&mut link, codec, Reason::ClientIdNotValid, Some(why)).await;
        return;
    }
    let who = match log_in(&broker, &client_id, &connect, peer, timeout).await {
        None => {
            link.close().await;
            return;
        }
        Some(Ok(who)) => who,
        Some(Err(refusal)) => {
            tracing::info!(?peer, client = %client_id, reason = ?refusal.reason, why = %refusal.words, "MQTT login refused");
            refuse(&mut link, codec, refusal.reason, Some(refusal.words)).await;
            return;
        }
    };
    if let Some(will) = &connect.will {
        if let Err(why) = super::topic::check_topic_name(&will.message.topic) {
            refuse(
                &mut link,
                codec,
                Reason::TopicNameInvalid,
                Some(format!("will topic: {why}")),
            )
            .await;
            return;
        }
    }
    let max_expiry = broker.config.max_session_expiry_secs;
    let requested = match (v5, connect.clean_start) {
        (true, _) => connect.session_expiry.unwrap_or(0),
        (false, true) => 0,
        (false, false) => max_expiry,
    };
    let expiry = requested.min(max_expiry);

    let conn_id = broker.connection_id();
    let token = CancellationToken::new();
    let (session, present) = broker.attach(
        &client_id,
        &who,
        connect.clean_start,
        expiry,
        conn_id,
        token.clone(),
    );
    let client = ClientInfo { client_id, who };
    let info = ConnAckInfo {
        session_present: present,
        assigned_client_id: assigned.then(|| client.client_id.clone()),
        receive_maximum: Some(broker.config.receive_maximum),
        max_packet_size: Some(u32::try_from(max).unwrap_or(u32::MAX)),
        session_expiry: (v5 && expiry != requested).then_some(expiry),
        server_keep_alive: None,
        reason_string: None,
    };
    let mut out = BytesMut::new();
    codec.encode(&Outbound::ConnAck(Reason::Success, info), &mut out);
    if link.write(out.split().freeze()).await.is_err() {
        broker.detach(&session, conn_id, connect.will, &client);
        return;
    }
    tracing::debug!(client = %client.client_id, who = %client.who, ?peer, present, "mqtt client connected");
    broker
        .stats
        .connected
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    let window = connect
        .receive_maximum
        .unwrap_or(u16::MAX)
        .min(broker.config.max_inflight)
        .max(1);
    let limits = broker.rooms.limits();
    let mut conn = Connection {
        bucket: TokenBucket::new(limits.messages_per_second, limits.message_burst),
        broker: broker.clone(),
        session: session.clone(),
        codec,
        client,
        link,
        buf,
        out,
        acks: FuturesOrdered::new(),
        presence: None,
        keep_alive: Duration::from_millis(u64::from(connect.keep_alive) * 1500),
        last_seen: Instant::now(),
        window: usize::from(window),
        client_max_packet: connect.max_packet_size.map(|m| m as usize),
        token,
    };
    let end = Box::pin(conn.run(present)).await;
    let will = match end {
        End::Clean { with_will: false } => None,
        End::Clean { with_will: true } | End::Abrupt => connect.will,
    };
    broker
        .stats
        .connected
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let Connection {
        client, mut link, ..
    } = conn;
    link.close().await;
    broker.detach(&session, conn_id, will, &client);
    drop(permit);
}

/// Decides who the client is (see [`super::policy::Policy::login`]) within
/// `timeout`. A refusal that asks to be held back (the address failed too
/// often) is answered only after that wait, at most `timeout`: a client
/// that is slowed down gets one answer per wait, and only an attempt made
/// after the wait is checked. `None` if the hub stops meanwhile.
async fn log_in(
    broker: &Broker,
    client_id: &str,
    connect: &Connect,
    peer: Option<SocketAddr>,
    timeout: Duration,
) -> Option<Result<Identity, Refusal>> {
    let check = broker.policy.login(
        client_id,
        connect.username.as_deref(),
        connect.password.as_deref(),
        peer.map(|p| p.ip()),
    );
    let outcome = tokio::select! {
        checked = tokio::time::timeout(timeout, check) => checked.unwrap_or_else(|_| {
            Err(Refusal::now(Reason::ServerBusy, "the login could not be checked in time"))
        }),
        () = broker.shutdown.cancelled() => return None,
    };
    if let Err(Refusal {
        delay: Some(wait), ..
    }) = &outcome
    {
        tokio::select! {
            () = tokio::time::sleep((*wait).min(timeout)) => {}
            () = broker.shutdown.cancelled() => return None,
        }
    }
    Some(outcome)
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// Answers a CONNECT with a refusal and closes.
async fn refuse(link: &mut Link, codec: Codec, reason: Reason, words: Option<String>) {
    let info = ConnAckInfo {
        reason_string: words,
        ..ConnAckInfo::default()
    };
    let mut out = BytesMut::new();
    codec.encode(&Outbound::ConnAck(reason, info), &mut out);
    let _ = link.write(out.freeze()).await;
    link.close().await;
}

struct Connection {
    broker: Arc<Broker>,
    /// `limits.messages_per_second` for this connection's PUBLISHes.
    bucket: TokenBucket,
    session: Arc<Session>,
    codec: Codec,
    client: ClientInfo,
    link: Link,
    buf: BytesMut,
    out: BytesMut,
    /// Acknowledgements of QoS 1 and 2 publishes, in the order received.
    acks: FuturesOrdered<AckFuture>,
    /// Presence in the rooms this client subscribes to exactly.
    presence: Option<Subscription>,
    keep_alive: Duration,
    last_seen: Instant,
    window: usize,
    client_max_packet: Option<usize>,
    token: CancellationToken,
}

/// A stop decided while handling a packet.
struct Stop(End);

impl Connection {
    /// Serves the connection until it ends. Every handler is boxed so that
    /// this loop's state, held by each idle connection for its whole life,
    /// stays small: the handlers' deeper futures exist only while they run.
    async fn run(&mut self, resumed: bool) -> End {
        if resumed {
            self.rejoin_presence();
            if let Err(Stop(end)) = Box::pin(self.resend_inflight()).await {
                return end;
            }
        }
        if let Err(Stop(end)) = Box::pin(self.flush_queue()).await {
            return end;
        }
        loop {
            let keep_alive_on = !self.keep_alive.is_zero();
            let deadline = tokio::time::Instant::from_std(self.last_seen + self.keep_alive);
            let step = tokio::select! {
                biased;
                () = self.token.cancelled() => {
                    let (reason, words) = if self.session.state().login_ended {
                        (Reason::NotAuthorized, "your login was ended; connect again with a valid password")
                    } else {
                        (Reason::SessionTakenOver, "another connection took this client id")
                    };
                    Box::pin(self.disconnect(reason, words)).await;
                    return End::Abrupt;
                }
                () = self.broker.shutdown.cancelled() => {
                    Box::pin(self.drain_acks()).await;
                    Box::pin(self.disconnect(Reason::ServerShuttingDown, "hub shutting down")).await;
                    return End::Abrupt;
                }
                read = self.link.read(&mut self.buf) => match read {
                    Ok(0) | Err(_) => return End::Abrupt,
                    Ok(_) => {
                        self.last_seen = Instant::now();
                        Box::pin(self.handle_input()).await
                    }
                },
                Some(ack) = self.acks.next(), if !self.acks.is_empty() => Box::pin(self.send(vec![ack])).await,
                () = self.session.wake.notified() => Box::pin(self.flush_queue()).await,
                () = tokio::time::sleep_until(deadline), if keep_alive_on => {
                    tracing::debug!(client = %self.client.client_id, "keep-alive timeout");
                    Box::pin(self.disconnect(Reason::KeepAliveTimeout, "keep-alive timeout")).await;
                    return End::Abrupt;
                }
            };
            if let Err(Stop(end)) = step {
                return end;
            }
        }
    }

    /// Decodes and handles every whole packet in the read buffer.
    async fn handle_input(&mut self) -> Result<(), Stop> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(packet)) => self.handle(packet).await?,
                Ok(None) => break,
                Err(DecodeError::TooLarge { size, max }) => {
                    tracing::info!(client = %self.client.client_id, size, max, "mqtt packet too large");
                    self.disconnect(Reason::PacketTooLarge, "packet over mqtt.max_packet_bytes")
                        .await;
                    return Err(Stop(End::Abrupt));
                }
                Err(e) => {
                    tracing::info!(client = %self.client.client_id, error = %e, "malformed mqtt packet");
                    self.disconnect(Reason::MalformedPacket, "malformed packet")
                        .await;
                    return Err(Stop(End::Abrupt));
                }
            }
        }
        if self.buf.is_empty() {
            // An idle device should hold no read buffer; the next read
            // takes a fresh one.
            self.buf = BytesMut::new();
        }
        Ok(())
    }

    async fn handle(&mut self, packet: Inbound) -> Result<(), Stop> {
        match packet {
            Inbound::Connect(_) => {
                self.disconnect(Reason::ProtocolError, "a second CONNECT")
                    .await;
                Err(Stop(End::Abrupt))
            }
            Inbound::Publish(p) => {
                if !self.bucket.take(Instant::now()) {
                    return Err(self.too_fast().await);
                }
                self.publish(p);
                Ok(())
            }
            Inbound::PubAck(pkid) | Inbound::PubComp(pkid) => {
                self.session.state().inflight.remove(&pkid);
                self.flush_queue().await
            }
            Inbound::PubRec(pkid) => {
                self.session
                    .state()
                    .inflight
                    .insert(pkid, Inflight::Released);
                self.send(vec![Outbound::PubRel(pkid)]).await
            }
            Inbound::PubRel(pkid) => {
                self.session.state().awaiting_release.remove(&pkid);
                self.acks
                    .push_back(Box::pin(async move { Outbound::PubComp(pkid) }));
                Ok(())
            }
            Inbound::Subscribe { pkid, filters } => self.subscribe(pkid, filters).await,
            Inbound::Unsubscribe { pkid, filters } => {
                for f in &filters {
                    self.broker.unsubscribe(&self.session, f);
                    if let (Some(room), Some(p)) =
                        (room_topics::subscribed_room(f), self.presence.as_mut())
                    {
                        let _ = p.leave(&room);
                    }
                }
                self.send(vec![Outbound::UnsubAck(pkid, filters.len())])
                    .await
            }
            Inbound::PingReq => self.send(vec![Outbound::PingResp]).await,
            Inbound::Disconnect {
                reason,
                session_expiry,
            } => {
                if let Some(expiry) = session_expiry {
                    let mut s = self.session.state();
                    if s.expiry_secs > 0 {
                        s.expiry_secs = expiry.min(self.broker.config.max_session_expiry_secs);
                    }
                }
                Err(Stop(End::Clean {
                    with_will: reason == 0x04,
                }))
            }
        }
    }

    /// An incoming PUBLISH: accepted by the broker, acknowledged in order
    /// (for a room, only once the message is durable).
    fn publish(&mut self, p: Publish) {
        let (pkid, qos, topic) = (p.pkid, p.qos, p.topic.clone());
        if qos == Qos::ExactlyOnce && !self.session.state().awaiting_release.insert(pkid) {
            // A resent QoS 2 publish already taken: acknowledge, don't repeat it.
            self.acks.push_back(Box::pin(async move {
                Outbound::PubRec(pkid, Reason::Success, None)
            }));
            return;
        }
        let accepted = self.broker.accept(&self.client, p);
        if let Accepted::Refused(reason, why) = &accepted {
            self.broker
                .report_refusal(&self.client, &topic, *reason, why);
            if qos == Qos::ExactlyOnce {
                self.session.state().awaiting_release.remove(&pkid);
            }
        }
        let outcome: Pin<Box<dyn Future<Output = (Reason, Option<String>)> + Send>> = match accepted
        {
            Accepted::Routed(0) => Box::pin(async { (Reason::NoMatchingSubscribers, None) }),
            Accepted::Routed(_) => Box::pin(async { (Reason::Success, None) }),
            Accepted::Refused(reason, why) => Box::pin(async move { (reason, Some(why)) }),
            Accepted::Room(pending) => Box::pin(async move {
                match pending.outcome().await {
                    Ok(_) => (Reason::Success, None),
                    Err(e) => (room_topics::reason_for(&e), Some(e.to_string())),
                }
            }),
        };
        match qos {
            Qos::AtMostOnce => {
                // Nothing to acknowledge; a room post goes on being stored.
                drop(outcome);
            }
            Qos::AtLeastOnce => self.acks.push_back(Box::pin(async move {
                let (reason, why) = outcome.await;
                Outbound::PubAck(pkid, reason, why)
            })),
            Qos::ExactlyOnce => self.acks.push_back(Box::pin(async move {
                let (reason, why) = outcome.await;
                Outbound::PubRec(pkid, reason, why)
            })),
        }
    }

    /// Over `limits.messages_per_second`: acknowledges everything already
    /// taken (so nothing accepted is lost, and nothing acknowledged is sent
    /// again), says why (MQTT 5; 3.1.1 just closes) and ends the
    /// connection. The PUBLISH over the limit is not taken; the client
    /// sends it again when it reconnects.
    async fn too_fast(&mut self) -> Stop {
        tracing::info!(client = %self.client.client_id, "MQTT client over limits.messages_per_second; disconnecting");
        self.drain_acks().await;
        self.disconnect(
            Reason::MessageRateTooHigh,
            "over the message rate (limits.messages_per_second)",
        )
        .await;
        Stop(End::Abrupt)
    }

    async fn subscribe(&mut self, pkid: u16, filters: Vec<SubscribeFilter>) -> Result<(), Stop> {
        let mut outcomes = Vec::with_capacity(filters.len());
        let mut retained = Vec::new();
        for mut f in filters {
            let outcome = self.check_subscription(&f);
            if let SubscribeOutcome::Granted(q) = outcome {
                f.qos = q;
                let new = self.broker.subscribe(&self.session, f.clone());
                let send_retained = match f.retain_handling {
                    RetainHandling::OnSubscribe => true,
                    RetainHandling::OnNewSubscribe => new,
                    RetainHandling::Never => false,
                };
                if send_retained {
                    for mut r in self.broker.retained_for(&f.filter, &self.client) {
                        r.qos = r.qos.min(q);
                        r.retain = true;
                        retained.push(r);
                    }
                }
            }
            outcomes.push(outcome);
        }
        self.send(vec![Outbound::SubAck(pkid, outcomes)]).await?;
        for r in retained {
            self.session.deliver(r);
        }
        self.flush_queue().await
    }

    fn check_subscription(&mut self, f: &SubscribeFilter) -> SubscribeOutcome {
        if is_shared(&f.filter) {
            return SubscribeOutcome::Refused(Reason::SharedSubscriptionsNotSupported);
        }
        if check_filter(&f.filter).is_err() {
            return SubscribeOutcome::Refused(Reason::TopicFilterInvalid);
        }
        if !has_wildcard(&f.filter) {
            if let Some(room_topics::RoomTopic::Invalid(_)) = room_topics::classify(&f.filter) {
                return SubscribeOutcome::Refused(Reason::TopicFilterInvalid);
            }
        }
        if !self.broker.policy.may_subscribe(&self.client, &f.filter) {
            tracing::debug!(client = %self.client.client_id, filter = %f.filter, "mqtt subscription not authorized");
            return SubscribeOutcome::Refused(Reason::NotAuthorized);
        }
        let full = {
            let state = self.session.state();
            !state.subscriptions.contains_key(&f.filter)
                && state.subscriptions.len() >= self.broker.config.max_subscriptions
        };
        if full {
            return SubscribeOutcome::Refused(Reason::QuotaExceeded);
        }
        if let Some(room) = room_topics::subscribed_room(&f.filter) {
            match self.presence().join(&room, &Resume::default()) {
                Ok(_) => {}
                Err(RoomError::TooManyRooms { .. }) => {
                    return SubscribeOutcome::Refused(Reason::QuotaExceeded)
                }
                Err(_) => return SubscribeOutcome::Refused(Reason::TopicFilterInvalid),
            }
        }
        SubscribeOutcome::Granted(f.qos)
    }

    fn presence(&mut self) -> &mut Subscription {
        let who = self.client.who.clone();
        let rooms = &self.broker.rooms;
        self.presence
            .get_or_insert_with(|| rooms.subscribe(who.clone(), Role::Present(who.name().clone())))
    }

    /// A resumed session shows up again in the rooms it subscribes to.
    fn rejoin_presence(&mut self) {
        let filters: Vec<String> = self.session.state().subscriptions.keys().cloned().collect();
        for room in filters
            .iter()
            .filter_map(|f| room_topics::subscribed_room(f))
        {
            let _ = self.presence().join(&room, &Resume::default());
        }
    }

    /// Sends again what a resumed session had in flight.
    async fn resend_inflight(&mut self) -> Result<(), Stop> {
        let packets: Vec<Outbound> = self
            .session
            .state()
            .inflight
            .iter()
            .map(|(pkid, inflight)| match inflight {
                Inflight::Sent(p) => {
                    let mut p = p.clone();
                    p.dup = true;
                    Outbound::Publish(p)
                }
                Inflight::Released => Outbound::PubRel(*pkid),
            })
            .collect();
        self.send(packets).await
    }

    /// Sends queued messages while the client's window allows.
    async fn flush_queue(&mut self) -> Result<(), Stop> {
        loop {
            let batch = self.take_batch();
            if batch.is_empty() {
                return Ok(());
            }
            let sent = batch.len() as u64;
            self.send(batch).await?;
            self.broker
                .stats
                .sent
                .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn take_batch(&mut self) -> Vec<Outbound> {
        let now = Instant::now();
        let mut state = self.session.state();
        let mut batch = Vec::new();
        while batch.len() < WRITE_BATCH {
            let needs_slot = state
                .queue
                .front()
                .is_some_and(|q| q.publish.qos != Qos::AtMostOnce);
            if needs_slot && state.inflight.len() >= self.window {
                break;
            }
            let Some(queued) = state.queue.pop_front() else {
                break;
            };
            let Some(mut p) = queued.fresh(now) else {
                continue;
            };
            if let Some(max) = self.client_max_packet {
                // The client said it cannot take it; MQTT 5 says drop it.
                if p.payload.len() + p.topic.len() + 16 > max {
                    continue;
                }
            }
            if p.qos != Qos::AtMostOnce {
                p.pkid = state.next_pkid();
                state.inflight.insert(p.pkid, Inflight::Sent(p.clone()));
            }
            batch.push(Outbound::Publish(p));
        }
        batch
    }

    /// Writes packets with one flush, unless the connection is ended first.
    async fn send(&mut self, packets: Vec<Outbound>) -> Result<(), Stop> {
        for p in &packets {
            self.codec.encode(p, &mut self.out);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let data = self.out.split().freeze();
        tokio::select! {
            written = self.link.write(data) => written.map_err(|_| Stop(End::Abrupt)),
            () = self.token.cancelled() => Err(Stop(End::Abrupt)),
            () = self.broker.shutdown.cancelled() => Err(Stop(End::Abrupt)),
        }
    }

    /// Sends the acknowledgements still pending (their posts were stored
    /// before the hub stopped taking posts), for a bounded time.
    async fn drain_acks(&mut self) {
        let mut acks = Vec::new();
        let collect = async {
            while let Some(ack) = self.acks.next().await {
                acks.push(ack);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), collect).await;
        for ack in &acks {
            self.codec.encode(ack, &mut self.out);
        }
        if !self.out.is_empty() {
            let data = self.out.split().freeze();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.link.write(data)).await;
        }
    }

    /// Says why the hub ends the connection (MQTT 5; 3.1.1 just closes).
    async fn disconnect(&mut self, reason: Reason, words: &str) {
        if self.codec.version() == Version::V5 {
            let mut out = BytesMut::new();
            self.codec.encode(
                &Outbound::Disconnect(reason, Some(words.to_owned())),
                &mut out,
            );
            let _ =
                tokio::time::timeout(Duration::from_secs(1), self.link.write(out.freeze())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(check_client_id("sensor-1").is_ok());
        assert!(check_client_id("a/b").is_err());
        assert!(check_client_id("a+b").is_err());
        assert!(check_client_id("").is_err());
        assert!(check_client_id(&"x".repeat(129)).is_err());
    }
}
