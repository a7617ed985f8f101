//! The configuration file: every section with its defaults, loading, and
//! checks that name the key at fault.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use hubbub_bridge::mqtt::MqttConfig;
use hubbub_bridge::tls::TlsConfig;
use hubbub_bridge::uplink::UplinkConfig;
use hubbub_core::accounts::{valid_user_name, USER_NAME_RULE};
use hubbub_core::config::{AuthConfig, LimitsConfig, RetentionConfig, RoomsConfig, StoreConfig};
use serde::Deserialize;

/// The whole configuration. Every key has a default, so an empty file (or
/// none at all) is a working hub on loopback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[hub]`
    pub hub: HubConfig,
    /// `[http]`
    pub http: HttpConfig,
    /// `[mqtt]`
    pub mqtt: MqttConfig,
    /// `[auth]`
    pub auth: AuthConfig,
    /// `[rooms]`
    pub rooms: RoomsConfig,
    /// `[limits]`
    pub limits: LimitsConfig,
    /// `[retention]`
    pub retention: RetentionConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[uplink]`: absent unless this hub links to others through Redis.
    pub uplink: Option<UplinkConfig>,
}

/// `[hub]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// This hub's id, the `origin` of messages posted here. Defaults to the
    /// host name.
    pub id: Option<String>,
    /// Where history lives.
    pub data_dir: PathBuf,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            id: None,
            data_dir: PathBuf::from("./hubbub-data"),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the HTTP listener (REST, SSE, WebSocket, the page).
    pub listen: SocketAddr,
    /// `[http.tls]`: serve HTTPS (and `wss://`) instead of HTTP. Absent:
    /// plain HTTP.
    pub tls: Option<TlsConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `hubbub=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// The rule for hub ids, in the words errors use.
const HUB_ID_RULE: &str = "1 to 64 characters, each an ASCII letter, digit, '.', '_' or '-'";

fn valid_hub_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses config text and checks every value, naming the key of each
    /// problem.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let deserializer = toml::de::Deserializer::parse(text).map_err(|e| anyhow!("{e}"))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            anyhow!("key `{key}`: {}", e.into_inner())
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            let mut all = String::new();
            for p in &problems {
                let _ = writeln!(all, "  {p}");
            }
            Err(anyhow!(
                "{} problem(s):\n{}",
                problems.len(),
                all.trim_end()
            ))
        }
    }

    /// Every value that parses but cannot work, as `key: why`.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(id) = &self.hub.id {
            if !valid_hub_id(id) {
                out.push(format!("hub.id: {id:?} is not {HUB_ID_RULE}"));
            }
        }
        if !(1..=1024 * 1024).contains(&self.limits.max_message_bytes) {
            out.push("limits.max_message_bytes: must be 1 to 1048576".into());
        }
        if self.limits.subscriber_queue == 0 {
            out.push("limits.subscriber_queue: must be at least 1".into());
        }
        if self.limits.max_rooms_per_connection == 0 {
            out.push("limits.max_rooms_per_connection: must be at least 1".into());
        }
        if self.limits.max_connections == 0 || self.limits.max_connections_per_address == 0 {
            out.push(
                "limits.max_connections, limits.max_connections_per_address: must be at least 1"
                    .into(),
            );
        }
        if self.limits.messages_per_second > 0 && self.limits.message_burst == 0 {
            out.push("limits.message_burst: must be at least 1".into());
        }
        if self.auth.session_hours == Some(0) {
            out.push("auth.session_hours: must be at least 1".into());
        }
        out.extend(self.room_rule_problems());
        if self.rooms.replay_max == 0 {
            out.push("rooms.replay_max: must be at least 1".into());
        }
        if self.store.max_batch == 0 {
            out.push("store.max_batch: must be at least 1".into());
        }
        if self.retention.interval_secs == 0 {
            out.push("retention.interval_secs: must be at least 1".into());
        }
        if let Some(tls) = &self.http.tls {
            out.extend(tls.problems("http.tls"));
        }
        out.extend(self.mqtt.problems());
        if !self.mqtt.acl.is_empty() && !self.auth.accounts {
            out.push(
                "mqtt.acl: the rules apply only with auth.accounts = true (without accounts \
                 nobody can prove who they are, and every topic is open)"
                    .into(),
            );
        }
        if let Some(uplink) = &self.uplink {
            out.extend(uplink.problems());
            out.extend(self.uplink_hub_id_problem(uplink.hub_id.as_deref()));
        }
        if let Err(e) = crate::logging::filter(&self.log.level) {
            out.push(format!("log.level: {e}"));
        }
        out
    }

    /// Room rules name users, so they need accounts, and valid names.
    fn room_rule_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (room, declared) in &self.rooms.declare {
            let rules = declared.access();
            for name in rules.names().filter(|n| !valid_user_name(n)) {
                out.push(format!(
                    "rooms.declare.{room}: {name:?} is not a user name ({USER_NAME_RULE})"
                ));
            }
            if !rules.is_open() && !self.auth.accounts {
                out.push(format!(
                    "rooms.declare.{room}: private rooms and member lists need auth.accounts = true \
                     (without accounts nobody can prove who they are)"
                ));
            }
        }
        out
    }

    /// Refuses to listen beyond loopback while clients that do not log in
    /// may post, unless the config says so in as many words
    /// (`auth.anonymous = true`). Checked after command-line overrides.
    pub fn exposure_problem(&self) -> Option<String> {
        if !self.auth.anonymous_allowed() || self.auth.anonymous == Some(true) {
            return None;
        }
        let mut exposed = Vec::new();
        if !self.http.listen.ip().is_loopback() {
            exposed.push(format!("http.listen = {}", self.http.listen));
        }
        if self.mqtt.enabled && !self.mqtt.listen.ip().is_loopback() {
            exposed.push(format!("mqtt.listen = {}", self.mqtt.listen));
        }
        if exposed.is_empty() {
            return None;
        }
        Some(format!(
            "{} reaches beyond loopback, and anyone there could post and publish without \
             logging in. Turn accounts on (auth.accounts = true, then `hubbub user add NAME`), \
             or allow it in as many words: auth.anonymous = true",
            exposed.join(" and ")
        ))
    }

    /// `uplink.hub_id` defaults to `hub.id`; one of them must be set (host
    /// names repeat across boxes, and two hubs with one id would skip each
    /// other's messages as their own), and they may not differ.
    fn uplink_hub_id_problem(&self, uplink_id: Option<&str>) -> Option<String> {
        match (self.hub.id.as_deref(), uplink_id) {
            (_, Some(id)) if !valid_hub_id(id) => {
                Some(format!("uplink.hub_id: {id:?} is not {HUB_ID_RULE}"))
            }
            (Some(hub), Some(id)) if hub != id => Some(format!(
                "uplink.hub_id: {id:?} differs from hub.id {hub:?}; a hub has one id, the \
                 `origin` of its messages: set only one of them"
            )),
            (None, None) => Some(
                "uplink.hub_id: required with [uplink] (or set hub.id): every hub on one Redis \
                 needs its own id, and host names repeat (\"raspberrypi\")"
                    .into(),
            ),
            _ => None,
        }
    }

    /// The hub id in force: the configured one (`hub.id`, else
    /// `uplink.hub_id`), else the host name made to fit the rule.
    pub fn hub_id(&self) -> String {
        let uplink_id = self.uplink.as_ref().and_then(|u| u.hub_id.as_ref());
        if let Some(id) = self.hub.id.as_ref().or(uplink_id) {
            return id.clone();
        }
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let id: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        if id.is_empty() {
            "hubbub".into()
        } else {
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_the_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
        assert!(c.rooms.auto_create);
        assert_eq!(c.limits.max_message_bytes, 16384);
    }

    #[test]
    fn errors_name_their_key() {
        let e = Config::parse("[limits]\nmax_message_bytes = \"big\"\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("limits.max_message_bytes"),
            "{e:#}"
        );
        let e = Config::parse("[rooms.declare.\"Bad Room\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("rooms.declare"), "{e:#}");
        let e = Config::parse("[limits]\nsubscriber_queue = 0\n[hub]\nid = \"a b\"\n").unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("limits.subscriber_queue") && text.contains("hub.id"),
            "{text}"
        );
        let e = Config::parse("[http]\nbogus = 1\n").unwrap_err();
        assert!(format!("{e:#}").contains("bogus"), "{e:#}");
    }

    #[test]
    fn room_rules_need_accounts_and_user_names() {
        let private = "[rooms.declare.ops]\nprivate = true\nmembers = [\"alice\"]\n";
        let e = Config::parse(private).unwrap_err();
        assert!(
            format!("{e:#}").contains("rooms.declare.ops: private rooms"),
            "{e:#}"
        );
        let c = Config::parse(&format!("[auth]\naccounts = true\n{private}")).unwrap();
        assert_eq!(c.rooms.access_rules().len(), 1);
        let e = Config::parse(
            "[auth]\naccounts = true\n[rooms.declare.ops]\nmembers = [\"guest:x\"]\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("not a user name"), "{e:#}");
    }

    #[test]
    fn anonymous_posting_beyond_loopback_must_be_explicit() {
        let lan = "[http]\nlisten = \"0.0.0.0:8080\"\n";
        // The default: loopback only, anonymous, fine.
        assert_eq!(Config::default().exposure_problem(), None);
        let problem = Config::parse(lan).unwrap().exposure_problem().unwrap();
        assert!(problem.contains("http.listen = 0.0.0.0:8080"), "{problem}");
        let mqtt = Config::parse("[mqtt]\nlisten = \"0.0.0.0:1883\"\n").unwrap();
        assert!(mqtt.exposure_problem().unwrap().contains("mqtt.listen"));
        // Said in as many words, or with accounts and no guests, it starts.
        let explicit = Config::parse(&format!("{lan}[auth]\nanonymous = true\n")).unwrap();
        assert_eq!(explicit.exposure_problem(), None);
        let accounts = Config::parse(&format!("{lan}[auth]\naccounts = true\n")).unwrap();
        assert_eq!(accounts.exposure_problem(), None);
        // The shipped Pi config listens on the LAN with guests off.
        let pi = Config::parse(include_str!("../../config/pi.toml")).unwrap();
        assert!(!pi.http.listen.ip().is_loopback());
        assert!(pi.auth.accounts && !pi.auth.anonymous_allowed());
        assert_eq!(pi.exposure_problem(), None);
    }

    #[test]
    fn the_uplink_needs_an_id_and_names_its_keys() {
        let c = Config::parse("[hub]\nid = \"edge-a\"\n").unwrap();
        assert!(c.uplink.is_none());
        let url = "redis_url = \"redis://127.0.0.1:6379/\"";
        let c = Config::parse(&format!("[uplink]\n{url}\nhub_id = \"edge-b\"\n")).unwrap();
        assert_eq!(c.hub_id(), "edge-b");
        let e = Config::parse(&format!("[uplink]\n{url}\n")).unwrap_err();
        assert!(
            format!("{e:#}").contains("uplink.hub_id: required"),
            "{e:#}"
        );
        let e = Config::parse(&format!(
            "[hub]\nid = \"a\"\n[uplink]\n{url}\nhub_id = \"b\"\nrooms = []\n"
        ))
        .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("uplink.hub_id") && text.contains("uplink.rooms"),
            "{text}"
        );
        let e = Config::parse("[uplink]\nhub_id = \"a\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("redis_url"), "{e:#}");
    }
}
