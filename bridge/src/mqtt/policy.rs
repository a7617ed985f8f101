//! Who an MQTT client is and what it may do: the CONNECT login, the room
//! rules for `rooms/...` (asked of the room service, so they are the same
//! on every transport), the ACL for plain topics, and the check every
//! message passes on its way to each subscriber.
//!
//! Delivery is checked message by message, against the subscriber's
//! identity and the rules in force at that moment: a wildcard such as
//! `rooms/#` or `#` is granted, but never brings a message of a room (or a
//! plain topic) its subscriber may not read, and a room made private takes
//! effect at once for subscriptions made before.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hubbub_core::accounts::AccountError;
use hubbub_core::auth::Auth;
use hubbub_core::{Identity, RoomName, Rooms};

use super::acl::{Acl, Need, Subject};
use super::packet::Reason;
use super::room_topics::{self, RoomTopic};
use super::topic::{has_wildcard, overlaps};

/// Where clients' refused publishes are reported, followed by the client id.
pub const ERRORS_PREFIX: &str = "$SYS/hubbub/errors/";
/// Every room topic (`rooms/{room}` and what is under it).
const ROOM_TOPICS: &str = "rooms/+/#";
/// Every topic of the hub's own.
const HUB_TOPICS: &str = "$SYS/#";

/// Who a connected client is.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Its client id.
    pub client_id: String,
    /// Who it acts as.
    pub who: Identity,
}

/// A refused CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The CONNACK reason.
    pub reason: Reason,
    /// Why, for the log and MQTT 5's reason string.
    pub words: String,
    /// How long to hold the answer back (repeated failed logins from one
    /// address are slowed down).
    pub delay: Option<Duration>,
}

impl Refusal {
    /// A refusal answered at once.
    pub(crate) fn now(reason: Reason, words: impl Into<String>) -> Self {
        Self {
            reason,
            words: words.into(),
            delay: None,
        }
    }
}

/// Whom a message on one topic may be delivered to, worked out once per
/// message and asked per subscriber.
pub enum Audience<'t> {
    /// Those who may read the room.
    Room(RoomName),
    /// Only the client whose errors these are.
    Client(&'t str),
    /// Everyone.
    Everyone,
    /// Those the ACL lets read this topic.
    Acl(&'t str),
    /// No one (a topic no message is ever published on).
    Nobody,
}

/// The rules.
pub struct Policy {
    auth: Arc<Auth>,
    acl: Acl,
    rooms: Rooms,
}

impl Policy {
    /// Rules from the accounts (`auth`), the room rules (`rooms`) and the
    /// plain-topic ACL.
    pub fn new(auth: Arc<Auth>, acl: Acl, rooms: Rooms) -> Self {
        Self { auth, acl, rooms }
    }

    /// Whether clients prove who they are; without accounts everything
    /// outside private rooms is allowed.
    fn accounts_on(&self) -> bool {
        self.auth.accounts().is_some()
    }

    /// Decides a CONNECT. With accounts off everyone is anonymous under
    /// its client id (a user name proves nothing there); with accounts on a
    /// user name must come with its password, and a client without one is
    /// `guest:{client id}` where guests are allowed.
    pub async fn login(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        from: Option<IpAddr>,
    ) -> Result<Identity, Refusal> {
        if !self.accounts_on() {
            return Ok(Identity::Anonymous(client_id.into()));
        }
        let Some(name) = username else {
            return self.auth.visitor(client_id).ok_or_else(|| {
                Refusal::now(
                    Reason::NotAuthorized,
                    "only users may connect (auth.anonymous = false): \
                     log in with a user name and password",
                )
            });
        };
        let password = password.unwrap_or_default();
        match self.auth.authenticate(name, password, from).await {
            Ok(who) => Ok(who),
            Err(AccountError::Throttled(wait)) => Err(Refusal {
                reason: Reason::BadUserNameOrPassword,
                words: "too many failed logins from this address; wait before trying again".into(),
                delay: Some(wait),
            }),
            Err(AccountError::BadCredentials) => Err(Refusal::now(
                Reason::BadUserNameOrPassword,
                "wrong user name or password",
            )),
            Err(e) => {
                tracing::warn!(error = %e, "MQTT login could not be checked");
                Err(Refusal::now(
                    Reason::ServerBusy,
                    "the login could not be checked",
                ))
            }
        }
    }

    fn subject<'a>(who: &'a Identity, client_id: &'a str) -> Subject<'a> {
        Subject {
            user: who.user(),
            client_id,
        }
    }

    /// May `client` publish to the plain topic `topic` (not under
    /// `rooms/`, not `$`)?
    pub fn may_publish(&self, client: &ClientInfo, topic: &str) -> bool {
        !self.accounts_on()
            || self.acl.allows(
                Self::subject(&client.who, &client.client_id),
                topic,
                Need::Write,
            )
    }

    /// May `client` subscribe to `filter` (a valid filter, not shared)?
    /// An exact room topic needs the room readable; a filter that could
    /// match room topics is granted (delivery is filtered); `$SYS/...` is
    /// readable, but another client's errors are not; plain filters need an
    /// ACL read rule that overlaps them.
    pub fn may_subscribe(&self, client: &ClientInfo, filter: &str) -> bool {
        if !has_wildcard(filter) {
            return self
                .audience(filter)
                .admits(self, &client.who, &client.client_id);
        }
        if !self.accounts_on() || overlaps(filter, ROOM_TOPICS) || overlaps(filter, HUB_TOPICS) {
            return true;
        }
        self.acl
            .allows_subscription(Self::subject(&client.who, &client.client_id), filter)
    }

    /// Whom a message on `topic` may go to.
    pub fn audience<'t>(&self, topic: &'t str) -> Audience<'t> {
        if let Some(t) = room_topics::classify(topic) {
            return match t {
                RoomTopic::Post(room) | RoomTopic::Typing(room) | RoomTopic::Presence(room) => {
                    Audience::Room(room)
                }
                RoomTopic::Invalid(_) => Audience::Nobody,
            };
        }
        if !self.accounts_on() {
            return Audience::Everyone;
        }
        if let Some(client) = topic.strip_prefix(ERRORS_PREFIX) {
            return Audience::Client(client);
        }
        if topic.starts_with('$') {
            return Audience::Everyone;
        }
        Audience::Acl(topic)
    }
}

impl Audience<'_> {
    /// May a session of `who` under `client_id` receive it?
    pub fn admits(&self, policy: &Policy, who: &Identity, client_id: &str) -> bool {
        match self {
            Audience::Room(room) => policy.rooms.can_read(who, room),
            Audience::Client(id) => *id == client_id,
            Audience::Everyone => true,
            Audience::Nobody => false,
            Audience::Acl(topic) => {
                policy
                    .acl
                    .allows(Policy::subject(who, client_id), topic, Need::Read)
            }
        }
    }
}
