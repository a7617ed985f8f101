//! The room service: the one API every transport speaks. It validates and
//! sequences posts, stores them durably (through the committer), fans them
//! out, and answers history and presence questions. It knows nothing of
//! MQTT, WebSocket or HTTP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::Utc;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::access::{Access, Identity};
use crate::commit::{Committer, Foreign, PostRequest, Posted, Reply, Request};
use crate::config::{LimitsConfig, RoomsConfig};
use crate::error::RoomError;
use crate::inbox::{CloseReason, Inbox, SubscriberHandle};
use crate::message::{Message, Via};
use crate::metrics::Metrics;
use crate::room::{Room, SubId};
use crate::room_name::RoomName;
use crate::store::{HistoryQuery, HistoryStore, RoomMeta, StoreError};
use crate::subscription::{Receives, Role, Subscription};
use crate::tap::{Tap, Taps};
use crate::uplink::{OutboxRule, PendingRelay, UplinkState};

/// The user a subscription acts for, if it logged in.
type UserName = Option<Arc<str>>;

/// Longest accepted `ref`, in characters.
pub const MAX_REF_CHARS: usize = 128;

/// A post as a transport hands it over.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// Target room.
    pub room: RoomName,
    /// Who posts; the message's `from` is its name.
    pub author: Identity,
    /// The text.
    pub text: String,
    /// The transport.
    pub via: Via,
    /// The client's idempotency key.
    pub reference: Option<String>,
}

/// A post queued for group commit.
pub struct PendingPost {
    answer: oneshot::Receiver<Result<Posted, RoomError>>,
}

impl PendingPost {
    /// Waits until the post is durable (or refused).
    pub async fn outcome(self) -> Result<Posted, RoomError> {
        self.answer.await.map_err(|_| RoomError::ShuttingDown)?
    }
}

/// A room as listed to clients.
#[derive(Debug, Clone, Serialize)]
pub struct RoomSummary {
    /// Name.
    pub name: RoomName,
    /// Title, if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// History epoch.
    pub epoch: String,
    /// Highest durable seq.
    pub last_seq: u64,
    /// Distinct names online.
    pub online: usize,
}

/// Everything the room service needs besides its store.
#[derive(Debug, Clone)]
pub struct RoomsOptions {
    /// This hub's id, the `origin` of what is posted here.
    pub hub_id: String,
    /// `[rooms]`.
    pub rooms: RoomsConfig,
    /// `[limits]`.
    pub limits: LimitsConfig,
    /// Most posts in one group commit.
    pub max_batch: usize,
    /// Which messages go into the uplink outbox; `None` when this hub has
    /// no uplink.
    pub outbox: Option<OutboxRule>,
    /// Who may see and post in which room.
    pub access: Arc<Access>,
}

/// The room service; cheap to clone, shared by every transport.
#[derive(Clone)]
pub struct Rooms {
    shared: Arc<Shared>,
}

struct Shared {
    options: RoomsOptions,
    store: Arc<dyn HistoryStore>,
    metrics: Arc<Metrics>,
    rooms: RwLock<HashMap<RoomName, Arc<Room>>>,
    /// Serializes room creation, which is rare and durable.
    creating: Mutex<()>,
    commits: mpsc::UnboundedSender<Request>,
    next_subscriber: AtomicU64,
    /// Every subscription's queue, with the user it acts for (if any).
    subscribers: Mutex<HashMap<SubId, (SubscriberHandle, UserName)>>,
    taps: Arc<Taps>,
    outbox_changed: Arc<Notify>,
}

impl Rooms {
    /// Loads every room from the store, creates the declared ones, and
    /// starts the committer thread.
    pub fn start(
        store: Arc<dyn HistoryStore>,
        metrics: Arc<Metrics>,
        options: RoomsOptions,
    ) -> Result<Self, StoreError> {
        let taps = Arc::new(Taps::default());
        let mut rooms = HashMap::new();
        for stored in store.load_rooms()? {
            let title = Self::declared_title(&options, &stored.name);
            let room = Room::new(
                stored.name.clone(),
                title,
                stored.meta,
                stored.last_seq,
                taps.clone(),
            );
            rooms.insert(stored.name, Arc::new(room));
        }
        // Unbounded, so that submitting is synchronous and keeps a client's
        // order; each transport bounds the posts it has in flight.
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox_changed = Arc::new(Notify::new());
        let committer = Committer {
            store: store.clone(),
            metrics: metrics.clone(),
            hub_id: options.hub_id.clone(),
            max_batch: options.max_batch.max(1),
            outbox: options.outbox.clone(),
            outbox_changed: outbox_changed.clone(),
            marks: HashMap::new(),
            unreported_drops: (0, None),
        };
        std::thread::Builder::new()
            .name("hubbub-commit".into())
            .spawn(move || committer.run(rx))?;
        let declared: Vec<RoomName> = options.rooms.declare.keys().cloned().collect();
        let access = options.access.clone();
        let this = Self {
            shared: Arc::new(Shared {
                options,
                store,
                metrics,
                rooms: RwLock::new(rooms),
                creating: Mutex::new(()),
                commits: tx,
                next_subscriber: AtomicU64::new(1),
                subscribers: Mutex::new(HashMap::new()),
                taps,
                outbox_changed,
            }),
        };
        for name in declared {
            this.create(&name)?;
        }
        let rooms = Arc::downgrade(&this.shared);
        access.watch(Box::new(move |room| {
            if let Some(shared) = rooms.upgrade() {
                Rooms { shared }.recheck(room);
            }
        }));
        Ok(this)
    }

    fn declared_title(options: &RoomsOptions, name: &RoomName) -> Option<String> {
        options
            .rooms
            .declare
            .get(name)
            .and_then(|d| d.title.clone())
    }

    /// This hub's id.
    pub fn hub_id(&self) -> &str {
        &self.shared.options.hub_id
    }

    /// The limits in force.
    pub fn limits(&self) -> &LimitsConfig {
        &self.shared.options.limits
    }

    /// The metrics registry, shared with transports.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    pub(crate) fn store(&self) -> &Arc<dyn HistoryStore> {
        &self.shared.store
    }

    pub(crate) fn replay_max(&self) -> usize {
        self.shared.options.rooms.replay_max.max(1)
    }

    /// The room rules in force.
    pub fn access(&self) -> &Arc<Access> {
        &self.shared.options.access
    }

    /// May `who` see and read `room`?
    pub fn can_read(&self, who: &Identity, room: &RoomName) -> bool {
        self.shared.options.access.can_read(who, room)
    }

    /// Refuses a room `who` may not post to: as if it did not exist if it
    /// may not see it either, else as read-only.
    pub(crate) fn check_post(&self, who: &Identity, room: &RoomName) -> Result<(), RoomError> {
        match self.shared.options.access.can_post(who, room) {
            (_, true) => Ok(()),
            (true, false) => Err(RoomError::ReadOnly(room.to_string())),
            (false, false) => Err(RoomError::NoSuchRoom(room.to_string())),
        }
    }

    /// Refuses, as if it did not exist, a room `who` may not see.
    pub(crate) fn check_read(&self, who: &Identity, room: &RoomName) -> Result<(), RoomError> {
        if self.can_read(who, room) {
            Ok(())
        } else {
            Err(RoomError::NoSuchRoom(room.to_string()))
        }
    }

    /// Closes the connections of members of `room` that may no longer
    /// read it (its rules changed): a private room is invisible to them
    /// from the next moment on, live streams included.
    fn recheck(&self, room: &RoomName) {
        let Some(r) = self.existing(room) else {
            return;
        };
        let access = &self.shared.options.access;
        let evicted = r.evict(|who| access.can_read(who, room), &self.shared.metrics);
        if !evicted.is_empty() {
            tracing::info!(room = %room, connections = evicted.len(), "room rules changed: closing connections that may no longer read it");
        }
        for handle in evicted {
            handle.close(CloseReason::AccessChanged);
        }
    }

    /// Every room `who` may see, sorted by name.
    pub fn list(&self, who: &Identity) -> Vec<RoomSummary> {
        self.list_where(|r| self.can_read(who, r))
    }

    /// Every room, private ones included, sorted by name: for
    /// administrators only.
    pub fn list_all(&self) -> Vec<RoomSummary> {
        self.list_where(|_| true)
    }

    fn list_where(&self, keep: impl Fn(&RoomName) -> bool) -> Vec<RoomSummary> {
        let rooms = self.shared.rooms.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<RoomSummary> = rooms
            .values()
            .filter(|r| keep(&r.name))
            .map(|r| Self::summarize(r))
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// One room, if it exists.
    pub fn summary(&self, room: &RoomName) -> Option<RoomSummary> {
        self.room(room, false).ok().map(|r| Self::summarize(&r))
    }

    fn summarize(r: &Room) -> RoomSummary {
        RoomSummary {
            name: r.name.clone(),
            title: r.title.clone(),
            epoch: r.meta.epoch.clone(),
            last_seq: r.last_seq(),
            online: r.online_count(),
        }
    }

    fn existing(&self, name: &RoomName) -> Option<Arc<Room>> {
        self.shared
            .rooms
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Finds a room; creates it if `create` and the config allows.
    pub(crate) fn room(&self, name: &RoomName, create: bool) -> Result<Arc<Room>, RoomError> {
        if let Some(r) = self.existing(name) {
            return Ok(r);
        }
        if create && self.shared.options.rooms.auto_create {
            self.create(name)
                .map_err(|e| RoomError::StoreUnavailable(e.to_string()))
        } else {
            Err(RoomError::NoSuchRoom(name.to_string()))
        }
    }

    fn create(&self, name: &RoomName) -> Result<Arc<Room>, StoreError> {
        let _creating = self
            .shared
            .creating
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(r) = self.existing(name) {
            return Ok(r);
        }
        let meta = RoomMeta {
            epoch: format!("{:016x}", rand::random::<u64>()),
            created: Utc::now(),
        };
        self.shared.store.create_room(name, &meta)?;
        tracing::info!(room = %name, "room created");
        let title = Self::declared_title(&self.shared.options, name);
        let room = Arc::new(Room::new(
            name.clone(),
            title,
            meta,
            0,
            self.shared.taps.clone(),
        ));
        self.shared
            .rooms
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), room.clone());
        Ok(room)
    }

    /// Checks a message text against the limits.
    fn validate_text(&self, text: &str) -> Result<(), RoomError> {
        if text.trim().is_empty() {
            return Err(RoomError::EmptyText);
        }
        let limit = self.shared.options.limits.max_message_bytes;
        if text.len() > limit {
            return Err(RoomError::TooLarge {
                size: text.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Checks a post against the limits.
    fn validate(&self, post: &NewPost) -> Result<(), RoomError> {
        self.validate_text(&post.text)?;
        if let Some(r) = &post.reference {
            let chars = r.chars().count();
            if chars == 0 || chars > MAX_REF_CHARS || r.chars().any(char::is_control) {
                return Err(RoomError::BadRef { max: MAX_REF_CHARS });
            }
        }
        Ok(())
    }

    /// Validates a post (and that its author may post there) and queues it
    /// for the next group commit, in call order; await the returned
    /// [`PendingPost`] for the outcome.
    pub fn submit(&self, post: NewPost) -> Result<PendingPost, RoomError> {
        self.validate(&post)?;
        self.check_post(&post.author, &post.room)?;
        let room = self.room(&post.room, true)?;
        let (reply, answer) = oneshot::channel();
        let request = Request::Post(PostRequest {
            room,
            from: post.author.name().to_string(),
            text: post.text,
            via: post.via,
            reference: post.reference,
            foreign: None,
            reply: Reply::Post(reply),
        });
        self.shared
            .commits
            .send(request)
            .map_err(|_| RoomError::ShuttingDown)?;
        Ok(PendingPost { answer })
    }

    /// Queues a message read from another hub for the next group commit,
    /// in call order. `message` is as stored on its origin hub (its `seq`
    /// is the origin seq) and `epoch` is its room's epoch there. It is
    /// stored with `via` = uplink, a local seq and no `ref`, unless this
    /// hub already has it (then the outcome is [`crate::uplink::Relayed::Known`]).
    /// Relayed messages never enter the outbox.
    pub fn relay(&self, message: Message, epoch: String) -> Result<PendingRelay, RoomError> {
        self.validate_text(&message.text)?;
        let room = self.room(&message.room, true)?;
        let (reply, answer) = oneshot::channel();
        let request = Request::Post(PostRequest {
            room,
            from: message.from,
            text: message.text,
            via: Via::Uplink,
            reference: None,
            foreign: Some(Foreign {
                hub: message.origin,
                seq: message.seq,
                ts: message.ts,
                epoch,
            }),
            reply: Reply::Relay(reply),
        });
        self.shared
            .commits
            .send(request)
            .map_err(|_| RoomError::ShuttingDown)?;
        Ok(PendingRelay { answer })
    }

    /// The uplink's durable state (outbox, stream positions).
    pub fn uplink_state(&self) -> UplinkState {
        UplinkState {
            store: self.shared.store.clone(),
            changed: self.shared.outbox_changed.clone(),
        }
    }

    /// Validates, stores durably, fans out, and returns the stored message
    /// (or the original, if the `ref` repeats one from the last 10 minutes).
    /// When this returns `Ok`, the message is on stable storage.
    pub async fn post(&self, post: NewPost) -> Result<Posted, RoomError> {
        self.submit(post)?.outcome().await
    }

    /// Reads a slice of the history of a room `who` may see.
    pub fn history(
        &self,
        who: &Identity,
        room: &RoomName,
        query: HistoryQuery,
    ) -> Result<Vec<Message>, RoomError> {
        self.check_read(who, room)?;
        self.history_of_any(room, query)
    }

    /// Reads a slice of any room's history, for the hub's own use (the
    /// MQTT feed repairing a gap, which then delivers only to subscribers
    /// who may read the room).
    pub fn history_of_any(
        &self,
        room: &RoomName,
        query: HistoryQuery,
    ) -> Result<Vec<Message>, RoomError> {
        self.room(room, false)?;
        self.shared
            .store
            .query(room, query)
            .map_err(|e| RoomError::StoreUnavailable(e.to_string()))
    }

    /// A new subscriber for one client connection, acting as `who`.
    pub fn subscribe(&self, who: Identity, role: Role) -> Subscription {
        let id = self.shared.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let queue = self.shared.options.limits.subscriber_queue;
        let inbox = match role.receives() {
            Receives::Nothing => Inbox::silent(),
            Receives::Everything | Receives::Messages => Inbox::new(queue),
        };
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (inbox.handle().clone(), Self::user_of(&who)));
        Subscription::new(id, self.clone(), who, role, inbox)
    }

    /// A tap on every room: all messages, presence changes and typing,
    /// through a queue of `queue` events (closed as too slow if it fills).
    pub fn tap(&self, queue: usize) -> Tap {
        Tap::open(&self.shared.taps, queue)
    }

    /// The names online in a room, if it exists.
    pub fn online(&self, room: &RoomName) -> Option<Vec<String>> {
        self.room(room, false).ok().map(|r| r.online())
    }

    /// Tells a room's participants that `who` is typing, for clients that
    /// are not members (an MQTT device publishing to `rooms/{room}/typing`).
    pub fn typing(&self, room: &RoomName, who: &Identity, via: Via) -> Result<(), RoomError> {
        self.check_post(who, room)?;
        let r = self.room(room, false)?;
        r.typing(None, who.name().clone(), via, &self.shared.metrics);
        Ok(())
    }

    fn user_of(who: &Identity) -> UserName {
        who.user().map(Arc::from)
    }

    /// Records that subscription `id` now acts as `who`.
    pub(crate) fn reidentify_subscriber(&self, id: SubId, who: &Identity) {
        if let Some(entry) = self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&id)
        {
            entry.1 = Self::user_of(who);
        }
    }

    /// Closes every subscription acting for `user` (its login was ended:
    /// sessions revoked, password changed, user deleted); returns how many.
    pub fn end_sessions_of(&self, user: &str) -> usize {
        let subscribers = self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut ended = 0;
        for (handle, _) in subscribers
            .values()
            .filter(|(_, u)| u.as_deref() == Some(user))
        {
            handle.close(CloseReason::SessionEnded);
            ended += 1;
        }
        ended
    }

    pub(crate) fn forget_subscriber(&self, id: SubId) {
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Ends every subscription with a reason, then stores everything
    /// already queued and stops taking posts.
    pub async fn shutdown(&self) {
        for (handle, _) in self
            .shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            handle.close(CloseReason::ShuttingDown);
        }
        self.shared.taps.close_all(CloseReason::ShuttingDown);
        let (done, finished) = oneshot::channel();
        if self.shared.commits.send(Request::Stop(done)).is_ok() {
            let _ = finished.await;
        }
    }
}
