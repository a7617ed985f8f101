//! Topic names, topic filters, and the subscription tree that matches one
//! against the other.

use std::collections::HashMap;

use super::packet::SubscribeFilter;

/// Longest topic or filter, in bytes (the MQTT limit).
const MAX_TOPIC_BYTES: usize = 65_535;

/// Checks a topic name a client publishes to.
pub fn check_topic_name(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() {
        Err("the topic is empty")
    } else if topic.len() > MAX_TOPIC_BYTES {
        Err("the topic is longer than 65535 bytes")
    } else if topic.contains(['+', '#']) {
        Err("a topic name may not contain the wildcards + or #")
    } else if topic.contains('\0') {
        Err("a topic may not contain NUL")
    } else {
        Ok(())
    }
}

/// Checks a topic filter a client subscribes to.
pub fn check_filter(filter: &str) -> Result<(), &'static str> {
    if filter.is_empty() {
        return Err("the filter is empty");
    }
    if filter.len() > MAX_TOPIC_BYTES {
        return Err("the filter is longer than 65535 bytes");
    }
    if filter.contains('\0') {
        return Err("a filter may not contain NUL");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i != levels.len() - 1) {
            return Err("# must be a whole level and the last one");
        }
        if level.contains('+') && *level != "+" {
            return Err("+ must be a whole level");
        }
    }
    Ok(())
}

/// Whether a filter is a shared subscription (`$share/group/filter`).
pub fn is_shared(filter: &str) -> bool {
    filter.starts_with("$share/")
}

/// Whether a filter has a wildcard.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

/// Whether `filter` matches `topic`. Wildcards at the first level do not
/// match topics starting with `$`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether some topic matches both filters (a subscription that could
/// receive something an ACL rule allows).
pub fn overlaps(a: &str, b: &str) -> bool {
    if first_level_excludes(a, b) || first_level_excludes(b, a) {
        return false;
    }
    let (mut x, mut y) = (a.split('/'), b.split('/'));
    loop {
        match (x.next(), y.next()) {
            (Some("#"), _) | (_, Some("#")) | (None, None) => return true,
            (Some("+"), Some(_)) | (Some(_), Some("+")) => {}
            (Some(p), Some(q)) if p == q => {}
            _ => return false,
        }
    }
}

/// Whether every topic `specific` matches is matched by `general` too (a
/// subscription that an ACL `deny` leaves nothing of).
pub fn covers(general: &str, specific: &str) -> bool {
    if first_level_excludes(general, specific) {
        return false;
    }
    let (mut g, mut s) = (general.split('/'), specific.split('/'));
    let mut first = true;
    loop {
        match (g.next(), s.next()) {
            (Some("#"), _) | (None, None) => return true,
            // A whole `#` matches topics of one level or more, as `+/#` does.
            (Some("+"), Some("#")) if first => return g.next() == Some("#"),
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(gl), Some(sl)) if gl == sl && sl != "+" => {}
            _ => return false,
        }
        first = false;
    }
}

/// A filter with a wildcard first level matches no `$` topic, so it has
/// none in common with a filter whose first level starts with `$`.
fn first_level_excludes(wild: &str, dollar: &str) -> bool {
    wild.starts_with(['+', '#']) && dollar.starts_with('$')
}

/// Subscriptions indexed by filter level, so that routing a topic costs
/// its number of levels, not the number of subscriptions.
#[derive(Default)]
pub struct SubscriptionTree {
    root: Node,
}

#[derive(Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    /// Client id -> its subscription ending at this node.
    subscribers: HashMap<Box<str>, SubscribeFilter>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subscribers.is_empty()
    }
}

impl SubscriptionTree {
    /// Adds or replaces a client's subscription; returns true if it is new.
    pub fn insert(&mut self, client: &str, sub: SubscribeFilter) -> bool {
        let mut node = &mut self.root;
        for level in sub.filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        node.subscribers.insert(client.into(), sub).is_none()
    }

    /// Removes a client's subscription; returns true if it existed.
    pub fn remove(&mut self, client: &str, filter: &str) -> bool {
        fn walk(node: &mut Node, levels: &[&str], client: &str) -> bool {
            let Some((first, rest)) = levels.split_first() else {
                return node.subscribers.remove(client).is_some();
            };
            let Some(child) = node.children.get_mut(*first) else {
                return false;
            };
            let removed = walk(child, rest, client);
            if child.is_empty() {
                node.children.remove(*first);
            }
            removed
        }
        let levels: Vec<&str> = filter.split('/').collect();
        walk(&mut self.root, &levels, client)
    }

    /// Every client whose subscriptions match `topic`, each with the
    /// matching subscription of the highest QoS.
    pub fn matching(&self, topic: &str) -> HashMap<Box<str>, SubscribeFilter> {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut out: HashMap<Box<str>, SubscribeFilter> = HashMap::new();
        let dollar = topic.starts_with('$');
        collect(&self.root, &levels, 0, dollar, &mut out);
        out
    }
}

fn add_all(node: &Node, out: &mut HashMap<Box<str>, SubscribeFilter>) {
    for (client, sub) in &node.subscribers {
        match out.get(client) {
            Some(existing) if existing.qos >= sub.qos => {}
            _ => {
                out.insert(client.clone(), sub.clone());
            }
        }
    }
}

fn collect(
    node: &Node,
    levels: &[&str],
    depth: usize,
    dollar: bool,
    out: &mut HashMap<Box<str>, SubscribeFilter>,
) {
    let wildcards_allowed = !(dollar && depth == 0);
    if wildcards_allowed {
        if let Some(hash) = node.children.get("#") {
            add_all(hash, out);
        }
    }
    let Some((level, rest)) = levels.split_first() else {
        add_all(node, out);
        return;
    };
    if let Some(child) = node.children.get(*level) {
        collect(child, rest, depth + 1, dollar, out);
    }
    if wildcards_allowed {
        if let Some(plus) = node.children.get("+") {
            collect(plus, rest, depth + 1, dollar, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::packet::{Qos, RetainHandling};

    fn sub(filter: &str, qos: Qos) -> SubscribeFilter {
        SubscribeFilter {
            filter: filter.into(),
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::OnSubscribe,
        }
    }

    #[test]
    fn names_and_filters() {
        assert!(check_topic_name("rooms/kitchen").is_ok());
        assert!(check_topic_name("a/+/b").is_err());
        assert!(check_topic_name("a/#").is_err());
        assert!(check_topic_name("").is_err());
        assert!(check_filter("a/+/b/#").is_ok());
        assert!(check_filter("#").is_ok());
        assert!(check_filter("a/#/b").is_err());
        assert!(check_filter("a/b#").is_err());
        assert!(check_filter("a+/b").is_err());
    }

    #[test]
    fn matching_follows_the_spec() {
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/#", "sport/tennis/player1"));
        assert!(matches("sport/+/player1", "sport/tennis/player1"));
        assert!(!matches("sport/+", "sport/tennis/player1"));
        assert!(matches("+/+", "/finance"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
    }

    /// Every filter of up to three levels over a small alphabet, checked
    /// against every topic of up to four levels: `overlaps` and `covers`
    /// agree with `matches`.
    #[test]
    fn overlap_and_cover_agree_with_matches() {
        let topic_levels = ["a", "b", "$s", ""];
        let mut topics: Vec<String> = topic_levels.iter().map(|l| l.to_string()).collect();
        let mut deepest = topics.clone();
        for _ in 0..3 {
            deepest = deepest
                .iter()
                .flat_map(|t| topic_levels.iter().map(move |l| format!("{t}/{l}")))
                .collect();
            topics.extend(deepest.iter().cloned());
        }
        topics.retain(|t| check_topic_name(t).is_ok());
        let filter_levels = ["a", "b", "$s", "+", "#"];
        let mut filters: Vec<String> = filter_levels.iter().map(|l| l.to_string()).collect();
        for _ in 0..2 {
            let longer: Vec<String> = filters
                .iter()
                .flat_map(|f| filter_levels.iter().map(move |l| format!("{f}/{l}")))
                .collect();
            filters.extend(longer);
        }
        filters.sort();
        filters.dedup();
        filters.retain(|f| check_filter(f).is_ok());
        let matched: Vec<Vec<bool>> = filters
            .iter()
            .map(|f| topics.iter().map(|t| matches(f, t)).collect())
            .collect();
        for (i, a) in filters.iter().enumerate() {
            for (j, b) in filters.iter().enumerate() {
                let both = (0..topics.len()).any(|k| matched[i][k] && matched[j][k]);
                assert_eq!(overlaps(a, b), both, "overlaps({a}, {b})");
                let all = (0..topics.len()).all(|k| !matched[j][k] || matched[i][k]);
                assert_eq!(covers(a, b), all, "covers({a}, {b})");
            }
        }
    }

    #[test]
    fn the_tree_agrees_with_matches_and_keeps_the_highest_qos() {
        let filters = [
            "rooms/#",
            "rooms/+",
            "rooms/kitchen",
            "+/kitchen",
            "#",
            "$SYS/#",
            "a/b",
        ];
        let mut tree = SubscriptionTree::default();
        for (i, f) in filters.iter().enumerate() {
            tree.insert(&format!("c{i}"), sub(f, Qos::AtMostOnce));
        }
        for topic in [
            "rooms/kitchen",
            "rooms/kitchen/typing",
            "$SYS/hubbub/x",
            "a/b",
            "rooms",
        ] {
            let got = tree.matching(topic);
            for (i, f) in filters.iter().enumerate() {
                assert_eq!(
                    got.contains_key(format!("c{i}").as_str()),
                    matches(f, topic),
                    "{f} vs {topic}"
                );
            }
        }
        tree.insert("c0", sub("rooms/kitchen", Qos::ExactlyOnce));
        assert_eq!(tree.matching("rooms/kitchen")["c0"].qos, Qos::ExactlyOnce);
        assert!(tree.remove("c0", "rooms/kitchen"));
        assert_eq!(tree.matching("rooms/kitchen")["c0"].qos, Qos::AtMostOnce);
        assert!(!tree.remove("c0", "nope"));
    }
}
