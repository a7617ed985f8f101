//! Who may see and use which room: the identities clients act as, and the
//! room rules every transport obeys. There is one set of rules; the room
//! service asks it on every list, join, history read and post, so no
//! transport can forget a check.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::room_name::RoomName;

/// The prefix every guest's name carries, so that no guest can pose as a
/// user (user names may not contain `:`).
pub const GUEST_PREFIX: &str = "guest:";

/// Who a client is, as far as the hub knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Accounts are off: a name the client chose. It proves nothing, so it
    /// is on no member list.
    Anonymous(Arc<str>),
    /// Accounts are on and the client did not log in: `guest:NAME`.
    Guest(Arc<str>),
    /// A logged-in user (people and devices alike).
    User {
        /// The user name.
        name: Arc<str>,
        /// May manage users and rooms.
        admin: bool,
    },
}

impl Identity {
    /// A guest named `guest:{nick}`.
    pub fn guest(nick: &str) -> Self {
        Identity::Guest(format!("{GUEST_PREFIX}{nick}").into())
    }

    /// The name messages and presence show.
    pub fn name(&self) -> &Arc<str> {
        match self {
            Identity::Anonymous(n) | Identity::Guest(n) | Identity::User { name: n, .. } => n,
        }
    }

    /// The user name, if logged in.
    pub fn user(&self) -> Option<&str> {
        match self {
            Identity::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether this is an administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, Identity::User { admin: true, .. })
    }

    /// What kind of identity this is, as clients are told it: `user`,
    /// `guest` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Anonymous(_) => "anonymous",
            Identity::Guest(_) => "guest",
            Identity::User { .. } => "user",
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One room's rules. A public room (the default) is seen and read by
/// everyone and written by everyone unless `writers` is set. A private room
/// is seen only by the users on its lists: invisible to everyone else on
/// every transport.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomAccess {
    /// Only the users listed here may see the room at all.
    pub private: bool,
    /// Users who may read and write.
    pub members: BTreeSet<String>,
    /// Users who may read only (matters for private rooms; a public room
    /// is readable by all).
    pub readers: BTreeSet<String>,
    /// Users who may write (and read). On a public room, setting it makes
    /// everyone else a reader.
    pub writers: BTreeSet<String>,
}

impl RoomAccess {
    fn listed(list: &BTreeSet<String>, who: &Identity) -> bool {
        who.user().is_some_and(|u| list.contains(u))
    }

    /// May `who` see this room and read its messages?
    pub fn can_read(&self, who: &Identity) -> bool {
        !self.private
            || Self::listed(&self.members, who)
            || Self::listed(&self.readers, who)
            || Self::listed(&self.writers, who)
    }

    /// May `who` post to this room?
    pub fn can_write(&self, who: &Identity) -> bool {
        let restricted = self.private || !self.writers.is_empty();
        !restricted || Self::listed(&self.members, who) || Self::listed(&self.writers, who)
    }

    /// Whether these are the default rules (public, no lists).
    pub fn is_open(&self) -> bool {
        self == &RoomAccess::default()
    }

    /// Every user name on any list.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.members
            .iter()
            .chain(&self.readers)
            .chain(&self.writers)
    }
}

/// Where a room's rules came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSource {
    /// No rules: public.
    Default,
    /// `[rooms.declare.NAME]` in the config file.
    Config,
    /// Set at run time (`hubbub room ...` or `/api/admin/rooms`); these win
    /// over the config file's.
    Admin,
}

/// The rules of every room: the config file's, overridden by those set at
/// run time. Shared by the room service and the admin commands.
pub struct Access {
    configured: BTreeMap<RoomName, RoomAccess>,
    set: RwLock<HashMap<RoomName, RoomAccess>>,
    watchers: RwLock<Vec<RulesChanged>>,
}

/// Called with a room whose rules changed at run time.
pub type RulesChanged = Box<dyn Fn(&RoomName) + Send + Sync>;

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("configured", &self.configured.len())
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Rules from the config file, with those set at run time (as stored).
    pub fn new(
        configured: BTreeMap<RoomName, RoomAccess>,
        set: impl IntoIterator<Item = (RoomName, RoomAccess)>,
    ) -> Self {
        Self {
            configured,
            set: RwLock::new(set.into_iter().collect()),
            watchers: RwLock::new(Vec::new()),
        }
    }

    /// Everything public (tests, and hubs without rules).
    pub fn open() -> Self {
        Self::new(BTreeMap::new(), [])
    }

    /// The rules of `room` in force, and where they came from.
    pub fn rules(&self, room: &RoomName) -> (RoomAccess, RuleSource) {
        self.with_rules(room, |a, source| (a.clone(), source))
    }

    fn with_rules<T>(&self, room: &RoomName, f: impl FnOnce(&RoomAccess, RuleSource) -> T) -> T {
        if let Some(a) = self.set.read().unwrap_or_else(|p| p.into_inner()).get(room) {
            return f(a, RuleSource::Admin);
        }
        match self.configured.get(room) {
            Some(a) => f(a, RuleSource::Config),
            None => f(&RoomAccess::default(), RuleSource::Default),
        }
    }

    /// May `who` see and read `room`?
    pub fn can_read(&self, who: &Identity, room: &RoomName) -> bool {
        self.with_rules(room, |a, _| a.can_read(who))
    }

    /// May `who` post to `room`? Looks the rules up once for both
    /// questions: `(may see it, may post)`.
    pub fn can_post(&self, who: &Identity, room: &RoomName) -> (bool, bool) {
        self.with_rules(room, |a, _| (a.can_read(who), a.can_write(who)))
    }

    /// Sets a room's rules at run time (`None` returns it to the config
    /// file's rules), then tells the watchers. The caller stores the change
    /// first.
    pub fn set(&self, room: &RoomName, access: Option<RoomAccess>) {
        {
            let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
            match access {
                Some(a) => set.insert(room.clone(), a),
                None => set.remove(room),
            };
        }
        for watcher in self
            .watchers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            watcher(room);
        }
    }

    /// Calls `watcher` whenever a room's rules change at run time.
    pub fn watch(&self, watcher: RulesChanged) {
        self.watchers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(watcher);
    }

    /// Every room that has rules, from either source.
    pub fn ruled_rooms(&self) -> BTreeSet<RoomName> {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        self.configured.keys().chain(set.keys()).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Identity {
        Identity::User {
            name: name.into(),
            admin: false,
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn public_rooms_are_open_unless_writers_are_set() {
        let open = RoomAccess::default();
        assert!(open.can_read(&Identity::guest("x")) && open.can_write(&Identity::guest("x")));
        let announce = RoomAccess {
            writers: set(&["bot"]),
            ..RoomAccess::default()
        };
        assert!(announce.can_read(&user("alice")));
        assert!(!announce.can_write(&user("alice")));
        assert!(announce.can_write(&user("bot")));
    }

    #[test]
    fn private_rooms_are_for_their_lists_only() {
        let private = RoomAccess {
            private: true,
            members: set(&["alice"]),
            readers: set(&["auditor"]),
            writers: set(&["sensor"]),
        };
        assert!(private.can_read(&user("alice")) && private.can_write(&user("alice")));
        assert!(private.can_read(&user("auditor")) && !private.can_write(&user("auditor")));
        assert!(private.can_read(&user("sensor")) && private.can_write(&user("sensor")));
        assert!(!private.can_read(&user("bob")));
        // Names that are not logged in are on no list, whatever they say.
        assert!(!private.can_read(&Identity::Anonymous("alice".into())));
        assert!(!private.can_read(&Identity::guest("alice")));
        assert_eq!(Identity::guest("alice").name().as_ref(), "guest:alice");
    }

    #[test]
    fn rules_set_at_run_time_win_over_the_config() {
        let room = RoomName::new("ops").unwrap();
        let configured = RoomAccess {
            private: true,
            members: set(&["alice"]),
            ..RoomAccess::default()
        };
        let access = Access::new([(room.clone(), configured)].into(), []);
        assert!(!access.can_read(&user("bob"), &room));
        assert_eq!(access.rules(&room).1, RuleSource::Config);
        access.set(
            &room,
            Some(RoomAccess {
                private: true,
                members: set(&["bob"]),
                ..RoomAccess::default()
            }),
        );
        assert!(access.can_read(&user("bob"), &room));
        assert!(!access.can_read(&user("alice"), &room));
        access.set(&room, None);
        assert!(access.can_read(&user("alice"), &room));
    }
}
