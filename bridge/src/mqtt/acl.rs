//! Who may publish and subscribe to plain MQTT topics (everything outside
//! `rooms/`, which follows the room rules, and `$SYS/`, which is the
//! hub's). The rules are written like Mosquitto's ACL file, one rule per
//! string of `[mqtt] acl`:
//!
//! - `topic [ACCESS] FILTER`: every client;
//! - `user NAME topic [ACCESS] FILTER`: the user `NAME`;
//! - `pattern [ACCESS] FILTER`: every client, with `%u` replaced by its
//!   user name and `%c` by its client id. A rule with `%u` never applies
//!   to a client that has not logged in.
//!
//! ACCESS is `read`, `write`, `readwrite` (the default) or `deny`. A
//! `deny` that matches wins over every grant; a topic no rule grants is
//! refused. The rules apply only when accounts are on: without them nobody
//! can prove who they are, and everything is allowed.

use std::borrow::Cow;

use hubbub_core::accounts::{valid_user_name, USER_NAME_RULE};

use super::room_topics::PREFIX as ROOMS_PREFIX;
use super::topic::{check_filter, covers, matches, overlaps};

/// What a rule allows (or forbids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permission {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Permission {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "read" => Permission::Read,
            "write" => Permission::Write,
            "readwrite" => Permission::ReadWrite,
            "deny" => Permission::Deny,
            _ => return None,
        })
    }

    fn grants(self, need: Need) -> bool {
        matches!(
            (self, need),
            (Permission::ReadWrite, _)
                | (Permission::Read, Need::Read)
                | (Permission::Write, Need::Write)
        )
    }
}

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Receive messages on it (subscribe, delivery).
    Read,
    /// Publish to it.
    Write,
}

/// Whom a rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Everyone,
    User(String),
    /// Everyone, with `%u` and `%c` substituted.
    Pattern,
}

#[derive(Debug, Clone)]
struct Rule {
    scope: Scope,
    permission: Permission,
    filter: String,
}

/// The client a rule is checked for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its user name, if it logged in.
    pub user: Option<&'a str>,
    /// Its client id.
    pub client_id: &'a str,
}

/// A rule's filter for one client.
enum Resolved<'r> {
    /// The rule is not about this client.
    Skip,
    /// The filter, substituted.
    Filter(Cow<'r, str>),
    /// A substituted value would change the filter's levels (it holds
    /// `/`, `+`, `#` or NUL, or is empty). Grants then do not apply and a
    /// `deny` applies to everything: a value can only ever narrow access.
    Unsafe,
}

impl Rule {
    fn resolve(&self, who: Subject<'_>) -> Resolved<'_> {
        match &self.scope {
            Scope::Everyone => Resolved::Filter(Cow::Borrowed(&self.filter)),
            Scope::User(name) if who.user == Some(name.as_str()) => {
                Resolved::Filter(Cow::Borrowed(&self.filter))
            }
            Scope::User(_) => Resolved::Skip,
            Scope::Pattern => substitute(&self.filter, who),
        }
    }
}

/// Replaces `%u` and `%c` in one pass (a value that itself holds `%u` is
/// not substituted again).
fn substitute<'r>(filter: &'r str, who: Subject<'_>) -> Resolved<'r> {
    if !filter.contains('%') {
        return Resolved::Filter(Cow::Borrowed(filter));
    }
    let safe = |v: &str| !v.is_empty() && !v.contains(['/', '+', '#', '\0']);
    let mut out = String::with_capacity(filter.len() + 16);
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        let value = match (c, chars.peek()) {
            ('%', Some('u')) => match who.user {
                Some(user) => user,
                None => return Resolved::Skip,
            },
            ('%', Some('c')) => who.client_id,
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        if !safe(value) {
            return Resolved::Unsafe;
        }
        out.push_str(value);
    }
    Resolved::Filter(Cow::Owned(out))
}

/// The parsed `[mqtt] acl`.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    rules: Vec<Rule>,
}

/// Rules of `[mqtt] acl` that cannot be used, each as `mqtt.acl[i]: why`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct AclProblems(pub Vec<String>);

impl Acl {
    /// Parses the rules; every bad one is named by its index (from 0).
    pub fn parse(rules: &[String]) -> Result<Self, AclProblems> {
        let mut parsed = Vec::with_capacity(rules.len());
        let mut problems = Vec::new();
        for (i, text) in rules.iter().enumerate() {
            match parse_rule(text) {
                Ok(rule) => parsed.push(rule),
                Err(why) => problems.push(format!("mqtt.acl[{i}]: {why}")),
            }
        }
        if problems.is_empty() {
            Ok(Self { rules: parsed })
        } else {
            Err(AclProblems(problems))
        }
    }

    /// The rules that apply to `who`, in order, each with its filter for
    /// `who`; `None` for a `deny` that applies to everything (see
    /// [`Resolved::Unsafe`]).
    fn applying<'a>(
        &'a self,
        who: Subject<'a>,
    ) -> impl Iterator<Item = Option<(Permission, Cow<'a, str>)>> + 'a {
        self.rules
            .iter()
            .filter_map(move |rule| match rule.resolve(who) {
                Resolved::Skip => None,
                Resolved::Unsafe if rule.permission == Permission::Deny => Some(None),
                Resolved::Unsafe => None,
                Resolved::Filter(f) => Some(Some((rule.permission, f))),
            })
    }

    /// May `who` read or write `topic` (a topic name, no wildcards)?
    pub fn allows(&self, who: Subject<'_>, topic: &str, need: Need) -> bool {
        let mut granted = false;
        for rule in self.applying(who) {
            let Some((permission, filter)) = rule else {
                return false;
            };
            if !matches(&filter, topic) {
                continue;
            }
            if permission == Permission::Deny {
                return false;
            }
            granted |= permission.grants(need);
        }
        granted
    }

    /// May `who` subscribe to `filter`? Yes if some read rule could match
    /// a topic `filter` matches, unless a `deny` matches every such topic.
    /// Each message is checked again on delivery ([`Acl::allows`]), so a
    /// wide filter such as `#` only ever delivers what `who` may read.
    pub fn allows_subscription(&self, who: Subject<'_>, filter: &str) -> bool {
        let mut granted = false;
        for rule in self.applying(who) {
            let Some((permission, rule)) = rule else {
                return false;
            };
            if permission == Permission::Deny {
                if covers(&rule, filter) {
                    return false;
                }
            } else if permission.grants(Need::Read) && overlaps(&rule, filter) {
                granted = true;
            }
        }
        granted
    }
}

/// Splits off the first word of `rest`.
fn next_word<'t>(rest: &mut &'t str) -> &'t str {
    let text = rest.trim_start();
    let (word, tail) = text.split_at(text.find(char::is_whitespace).unwrap_or(text.len()));
    *rest = tail;
    word
}

const SHAPES: &str =
    "`topic [ACCESS] FILTER`, `user NAME topic [ACCESS] FILTER` or `pattern [ACCESS] FILTER`";

fn parse_rule(text: &str) -> Result<Rule, String> {
    let mut rest = text;
    let scope = match next_word(&mut rest) {
        "topic" => Scope::Everyone,
        "pattern" => Scope::Pattern,
        "user" => {
            let name = next_word(&mut rest);
            if name.is_empty() {
                return Err(format!("no user name; a rule is {SHAPES}"));
            }
            if !valid_user_name(name) {
                return Err(format!("{name:?} is not a user name ({USER_NAME_RULE})"));
            }
            if next_word(&mut rest) != "topic" {
                return Err(format!(
                    "expected `topic` after the user name; a rule is {SHAPES}"
                ));
            }
            Scope::User(name.to_owned())
        }
        "" => return Err(format!("empty rule; a rule is {SHAPES}")),
        other => return Err(format!("unknown rule {other:?}; a rule is {SHAPES}")),
    };
    // As in Mosquitto, the access word may be left out (readwrite), and
    // the filter is the rest of the line.
    let mut after_access = rest;
    let permission = match Permission::from_word(next_word(&mut after_access)) {
        Some(p) => {
            rest = after_access;
            p
        }
        None => Permission::ReadWrite,
    };
    let filter = rest.trim();
    if filter.is_empty() {
        return Err(format!(
            "no topic filter; a rule is {SHAPES}, ACCESS one of read, write, readwrite, deny"
        ));
    }
    let substituted = filter.contains("%u") || filter.contains("%c");
    if substituted && scope != Scope::Pattern {
        return Err(format!(
            "{filter:?}: %u and %c are replaced only in `pattern` rules"
        ));
    }
    let shape = if substituted {
        Cow::Owned(filter.replace("%u", "u").replace("%c", "c"))
    } else {
        Cow::Borrowed(filter)
    };
    check_filter(&shape).map_err(|why| format!("{filter:?}: {why}"))?;
    if filter.starts_with('$') {
        return Err(format!(
            "{filter:?}: $ topics are the hub's; rules cover plain topics ($SYS/hubbub/... is \
             readable by every client)"
        ));
    }
    if filter.starts_with(ROOMS_PREFIX) {
        return Err(format!(
            "{filter:?}: topics under rooms/ follow the room rules ([rooms.declare], \
             `hubbub room ...`), not the ACL"
        ));
    }
    Ok(Rule {
        scope,
        permission,
        filter: filter.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(rules: &[&str]) -> Acl {
        let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        Acl::parse(&rules).unwrap_or_else(|e| panic!("{e}"))
    }

    fn user<'a>(name: &'a str, client_id: &'a str) -> Subject<'a> {
        Subject {
            user: Some(name),
            client_id,
        }
    }

    fn guest(client_id: &str) -> Subject<'_> {
        Subject {
            user: None,
            client_id,
        }
    }

    #[test]
    fn parses_the_three_shapes() {
        let a = acl(&[
            "topic read sensors/#",
            "user alice topic write cmd/+",
            "pattern readwrite devices/%u/#",
            "topic  deny   sensors/secret",
            "topic logs/#",
            "topic read with space/x",
        ]);
        let kinds: Vec<(Scope, Permission, &str)> = a
            .rules
            .iter()
            .map(|r| (r.scope.clone(), r.permission, r.filter.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Scope::Everyone, Permission::Read, "sensors/#"),
                (Scope::User("alice".into()), Permission::Write, "cmd/+"),
                (Scope::Pattern, Permission::ReadWrite, "devices/%u/#"),
                (Scope::Everyone, Permission::Deny, "sensors/secret"),
                (Scope::Everyone, Permission::ReadWrite, "logs/#"),
                (Scope::Everyone, Permission::Read, "with space/x"),
            ]
        );
    }

    #[test]
    fn bad_rules_are_named_by_index() {
        let rules: Vec<String> = [
            "topic read ok/#",
            "topics read x",
            "user Alice topic read x",
            "user bob read x",
            "topic read a/#/b",
            "topic read devices/%u",
            "pattern write",
            "topic read $SYS/#",
            "topic write rooms/kitchen",
            "",
        ]
        .iter()
        .map(|r| r.to_string())
        .collect();
        let AclProblems(problems) = Acl::parse(&rules).unwrap_err();
        let indexes: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            indexes,
            [
                "mqtt.acl[1]",
                "mqtt.acl[2]",
                "mqtt.acl[3]",
                "mqtt.acl[4]",
                "mqtt.acl[5]",
                "mqtt.acl[6]",
                "mqtt.acl[7]",
                "mqtt.acl[8]",
                "mqtt.acl[9]",
            ],
            "{problems:#?}"
        );
        assert!(
            problems[0].contains("unknown rule \"topics\""),
            "{}",
            problems[0]
        );
        assert!(problems[3].contains("# must be"), "{}", problems[3]);
        assert!(problems[4].contains("only in `pattern`"), "{}", problems[4]);
    }

    #[test]
    fn default_deny_grants_and_deny_wins() {
        let a = acl(&[
            "topic read sensors/#",
            "topic deny sensors/secret/#",
            "user alice topic write sensors/alice",
        ]);
        let alice = user("alice", "a1");
        assert!(a.allows(alice, "sensors/t", Need::Read));
        assert!(!a.allows(alice, "sensors/t", Need::Write));
        assert!(a.allows(alice, "sensors/alice", Need::Write));
        assert!(!a.allows(user("bob", "b1"), "sensors/alice", Need::Write));
        assert!(!a.allows(alice, "sensors/secret/x", Need::Read));
        assert!(!a.allows(alice, "sensors/secret", Need::Read));
        assert!(!a.allows(alice, "other", Need::Read), "no rule: refused");
        assert!(a.allows(guest("g"), "sensors/t", Need::Read));
        assert!(!Acl::default().allows(alice, "anything", Need::Read));
    }

    #[test]
    fn patterns_substitute_user_and_client() {
        let a = acl(&[
            "pattern readwrite devices/%u/#",
            "pattern write clients/%c/status",
        ]);
        let alice = user("alice", "phone");
        assert!(a.allows(alice, "devices/alice/t", Need::Write));
        assert!(a.allows(alice, "devices/alice", Need::Read));
        assert!(!a.allows(alice, "devices/bob/t", Need::Read));
        assert!(a.allows(alice, "clients/phone/status", Need::Write));
        assert!(!a.allows(alice, "clients/other/status", Need::Write));
        // %u never matches a client that has not logged in; %c does.
        let g = guest("phone");
        assert!(!a.allows(g, "devices/phone/t", Need::Read));
        assert!(!a.allows(g, "devices/%u/t", Need::Read));
        assert!(a.allows(g, "clients/phone/status", Need::Write));
        // A value holding %u is not substituted again.
        let tricky = guest("%u");
        assert!(a.allows(tricky, "clients/%u/status", Need::Write));
    }

    #[test]
    fn substituted_values_never_widen_a_match() {
        let a = acl(&[
            "pattern read devices/%c/#",
            "pattern deny devices/%c/private",
        ]);
        for id in ["+", "#", "a/b", ""] {
            let who = guest(id);
            assert!(!a.allows(who, "devices/x/y", Need::Read), "{id:?}");
            assert!(!a.allows(who, "devices/a/b/c", Need::Read), "{id:?}");
            assert!(!a.allows_subscription(who, "devices/#"), "{id:?}");
        }
        // An unsafe value makes a deny pattern refuse everything.
        let b = acl(&["topic read open/#", "pattern deny devices/%c/#"]);
        assert!(b.allows(guest("ok"), "open/x", Need::Read));
        assert!(!b.allows(guest("a/b"), "open/x", Need::Read));
    }

    #[test]
    fn subscriptions_need_an_overlapping_read_rule() {
        let a = acl(&[
            "topic read sensors/+/temp",
            "topic write cmd/#",
            "topic deny sensors/secret/#",
            "pattern read devices/%u/#",
        ]);
        let alice = user("alice", "c");
        assert!(a.allows_subscription(alice, "sensors/+/temp"));
        assert!(a.allows_subscription(alice, "sensors/kitchen/temp"));
        assert!(a.allows_subscription(alice, "sensors/#"));
        assert!(a.allows_subscription(alice, "#"));
        assert!(a.allows_subscription(alice, "+/+/temp"));
        assert!(!a.allows_subscription(alice, "sensors/kitchen/hum"));
        assert!(!a.allows_subscription(alice, "cmd/#"), "write only");
        assert!(
            !a.allows_subscription(alice, "sensors/secret/temp"),
            "every topic it matches is denied"
        );
        assert!(!a.allows_subscription(alice, "sensors/secret/#"));
        assert!(a.allows_subscription(alice, "devices/alice/x"));
        assert!(a.allows_subscription(alice, "devices/+/x"));
        assert!(!a.allows_subscription(alice, "devices/bob/x"));
        assert!(!a.allows_subscription(guest("c"), "devices/+/x"));
    }
}
