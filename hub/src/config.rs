//! The configuration file: every section with its defaults, loading, and
//! checks that name the key at fault.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use hubbub_bridge::mqtt::MqttConfig;
use hubbub_bridge::uplink::UplinkConfig;
use hubbub_core::config::{LimitsConfig, RetentionConfig, RoomsConfig, StoreConfig};
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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
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
        if self.rooms.replay_max == 0 {
            out.push("rooms.replay_max: must be at least 1".into());
        }
        if self.store.max_batch == 0 {
            out.push("store.max_batch: must be at least 1".into());
        }
        if self.retention.interval_secs == 0 {
            out.push("retention.interval_secs: must be at least 1".into());
        }
        out.extend(self.mqtt.problems());
        if let Some(uplink) = &self.uplink {
            out.extend(uplink.problems());
            out.extend(self.uplink_hub_id_problem(uplink.hub_id.as_deref()));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            out.push(format!("log.level: {e}"));
        }
        out
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
