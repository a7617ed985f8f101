//! The scenario file (TOML): the broker, defaults, the flaky network and
//! the devices. Every key is checked; unknown keys are errors, and every
//! problem is reported with the key (and device) it concerns.
//!
//! ```toml
//! duration_secs = 60
//! [broker]
//! mqtt = "127.0.0.1:1883"
//! [defaults]
//! keep_alive_secs = 30
//! qos = 1
//! [[device]]
//! kind = "thermostat"
//! id = "thermostat-kitchen"
//! room = "kitchen"
//! interval_secs = 5
//! ```

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The longest time any setting may name: about three years.
pub const MAX_SECS: f64 = 1e8;

/// `s` seconds, if it is a number from 0 (or above it, if not `zero_ok`)
/// to [`MAX_SECS`].
pub fn duration_of(s: f64, zero_ok: bool) -> Option<Duration> {
    let low_ok = if zero_ok { s >= 0.0 } else { s > 0.0 };
    (s.is_finite() && low_ok && s <= MAX_SECS).then(|| Duration::from_secs_f64(s))
}
use serde::Deserialize;

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    duration_secs: Option<f64>,
    #[serde(default)]
    broker: BrokerFile,
    #[serde(default)]
    defaults: DefaultsFile,
    #[serde(default)]
    flaky: FlakyConfig,
    #[serde(default, rename = "device")]
    devices: Vec<DeviceFile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerFile {
    mqtt: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DefaultsFile {
    keep_alive_secs: u16,
    qos: u8,
    clean_session: bool,
    reconnect: ReconnectConfig,
}

impl Default for DefaultsFile {
    fn default() -> Self {
        Self {
            keep_alive_secs: 30,
            qos: 1,
            clean_session: true,
            reconnect: ReconnectConfig::default(),
        }
    }
}

/// Reconnecting: exponential backoff with jitter (`[defaults.reconnect]`
/// or a device's `reconnect`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconnectConfig {
    /// First delay, milliseconds.
    pub initial_ms: u64,
    /// Largest delay, milliseconds.
    pub max_ms: u64,
    /// Up to this fraction of each delay is taken off at random (0 to 1).
    pub jitter: f64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        Self {
            initial_ms: 500,
            max_ms: 30_000,
            jitter: 0.5,
        }
    }
}

/// The flaky network (`[flaky]`): random faults per device.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlakyConfig {
    /// On without `--flaky`.
    pub enabled: bool,
    /// Mean seconds between two faults of one device (exponentially distributed).
    pub mean_interval_secs: f64,
    /// Share of faults that drop the connection; the others stall it.
    pub disconnect_share: f64,
    /// Shortest stall (nothing read or written), milliseconds.
    pub stall_min_ms: u64,
    /// Longest stall, milliseconds.
    pub stall_max_ms: u64,
}

impl Default for FlakyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            mean_interval_secs: 20.0,
            disconnect_share: 0.5,
            stall_min_ms: 500,
            stall_max_ms: 5000,
        }
    }
}

/// A last will (`will` of a device).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WillConfig {
    /// Its topic (a plain topic, such as `devices/ID/status`).
    pub topic: String,
    /// What the broker publishes when the device vanishes.
    #[serde(default = "offline")]
    pub payload: String,
    /// Published by the device itself on every connect (a "birth" message),
    /// and `payload` on an orderly stop.
    #[serde(default)]
    pub online: Option<String>,
    /// Its QoS (0 or 1).
    #[serde(default = "one")]
    pub qos: u8,
    /// Whether it is retained.
    #[serde(default = "yes")]
    pub retain: bool,
}

fn offline() -> String {
    "offline".into()
}
fn one() -> u8 {
    1
}
fn yes() -> bool {
    true
}

/// The device kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Posts its temperature to a room every `interval_secs`.
    Thermostat,
    /// Posts to a room at `at_secs` (repeated every `repeat_secs`).
    Doorbell,
    /// Answers `!temp` and `!uptime` in its rooms.
    Bot,
    /// Publishes a reading to a plain topic every `interval_secs`.
    Sensor,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFile {
    kind: Kind,
    id: String,
    username: Option<String>,
    password: Option<String>,
    keep_alive_secs: Option<u16>,
    qos: Option<u8>,
    clean_session: Option<bool>,
    reconnect: Option<ReconnectConfig>,
    will: Option<WillConfig>,
    flaky: Option<bool>,
    room: Option<String>,
    rooms: Option<Vec<String>>,
    topic: Option<String>,
    interval_secs: Option<f64>,
    at_secs: Option<Vec<f64>>,
    repeat_secs: Option<f64>,
    text: Option<String>,
    start: Option<f64>,
    quantity: Option<String>,
    unit: Option<String>,
    retain: Option<bool>,
}

/// How a device connects.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSpec {
    /// MQTT client id.
    pub client_id: String,
    /// User name and password, if it logs in.
    pub credentials: Option<(String, String)>,
    /// Keep-alive (zero: none).
    pub keep_alive: Duration,
    /// QoS of its publishes and subscriptions.
    pub qos: u8,
    /// Clean session (else the broker keeps it across connections).
    pub clean_session: bool,
    /// Its last will.
    pub will: Option<WillConfig>,
    /// Reconnect backoff.
    pub reconnect: ReconnectConfig,
}

/// What a device does.
#[derive(Debug, Clone, PartialEq)]
pub enum BehaviourSpec {
    /// A thermostat.
    Thermostat {
        /// Its room.
        room: String,
        /// Time between readings.
        interval: Duration,
        /// First reading, °C.
        start: f64,
    },
    /// A doorbell.
    Doorbell {
        /// Its room.
        room: String,
        /// When it rings, from the start.
        at: Vec<Duration>,
        /// Ring the schedule again this often.
        repeat: Option<Duration>,
        /// What it posts.
        text: String,
    },
    /// A bot.
    Bot {
        /// The rooms it listens and answers in.
        rooms: Vec<String>,
    },
    /// A sensor on a plain topic.
    Sensor {
        /// Its topic.
        topic: String,
        /// Time between readings.
        interval: Duration,
        /// First reading.
        start: f64,
        /// What it measures (`humidity`).
        quantity: String,
        /// Its unit (`%`).
        unit: String,
        /// Retain its readings.
        retain: bool,
    },
}

/// One device, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Its id (and client id).
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// How it connects.
    pub connection: ConnectionSpec,
    /// What it does.
    pub behaviour: BehaviourSpec,
    /// Whether the flaky network, when on, hits it.
    pub flaky: bool,
}

/// A checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The MQTT broker, `HOST:PORT`, if the file names one.
    pub broker: Option<String>,
    /// How long to run, if the file says.
    pub duration: Option<Duration>,
    /// The flaky network's settings.
    pub flaky: FlakyConfig,
    /// The devices.
    pub devices: Vec<DeviceSpec>,
}

/// Parses and checks a scenario file's text.
pub fn parse(text: &str) -> Result<Scenario> {
    let file: ScenarioFile = toml::from_str(text).context("the scenario is not valid TOML")?;
    let mut problems = Vec::new();
    let duration = match file.duration_secs.map(|d| duration_of(d, false)) {
        Some(None) => {
            problems.push("duration_secs: must be a positive number of seconds".to_string());
            None
        }
        d => d.flatten(),
    };
    check_reconnect(
        "defaults.reconnect",
        &file.defaults.reconnect,
        &mut problems,
    );
    if file.defaults.qos > 1 {
        problems.push("defaults.qos: must be 0 or 1".into());
    }
    check_flaky(&file.flaky, &mut problems);
    if file.devices.is_empty() {
        problems.push("device: no devices ([[device]] tables)".into());
    }
    let mut devices = Vec::new();
    for (i, d) in file.devices.iter().enumerate() {
        let at = format!("device[{i}] ({})", d.id);
        let before = problems.len();
        let spec = device(d, &file.defaults, &at, &mut problems);
        if problems.len() == before {
            if devices.iter().any(|o: &DeviceSpec| o.id == d.id) {
                problems.push(format!("{at}: id: another device has this id"));
            }
            devices.extend(spec);
        }
    }
    if !problems.is_empty() {
        bail!("the scenario has problems:\n  {}", problems.join("\n  "));
    }
    Ok(Scenario {
        broker: file.broker.mqtt,
        duration,
        flaky: file.flaky,
        devices,
    })
}

/// Checks one device and builds its spec (`None` if it has problems).
fn device(
    d: &DeviceFile,
    defaults: &DefaultsFile,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<DeviceSpec> {
    let mut bad = |what: String| problems.push(format!("{at}: {what}"));
    if d.id.is_empty()
        || d.id.len() > 128
        || d.id
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '+' | '#'))
    {
        bad("id: 1 to 128 characters, no control characters, '/', '+' or '#'".into());
    }
    let qos = d.qos.unwrap_or(defaults.qos);
    if qos > 1 {
        bad("qos: must be 0 or 1".into());
    }
    let reconnect = d.reconnect.unwrap_or(defaults.reconnect);
    let mut sub = Vec::new();
    check_reconnect("reconnect", &reconnect, &mut sub);
    if let Some(w) = &d.will {
        if let Err(e) = plain_topic(&w.topic) {
            sub.push(format!("will.topic: {e}"));
        }
        if w.qos > 1 {
            sub.push("will.qos: must be 0 or 1".into());
        }
    }
    let credentials = match (&d.username, &d.password) {
        (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
        (None, Some(_)) => {
            sub.push("password: needs a username (MQTT 3.1.1)".into());
            None
        }
        (None, None) => None,
    };
    for s in sub {
        bad(s);
    }
    let behaviour = behaviour(d, &mut bad)?;
    Some(DeviceSpec {
        id: d.id.clone(),
        kind: d.kind,
        connection: ConnectionSpec {
            client_id: d.id.clone(),
            credentials,
            keep_alive: Duration::from_secs(u64::from(
                d.keep_alive_secs.unwrap_or(defaults.keep_alive_secs),
            )),
            qos,
            clean_session: d.clean_session.unwrap_or(defaults.clean_session),
            will: d.will.clone(),
            reconnect,
        },
        behaviour,
        flaky: d.flaky.unwrap_or(true),
    })
}

/// The kind-specific keys: required ones present, foreign ones absent.
fn behaviour(d: &DeviceFile, bad: &mut impl FnMut(String)) -> Option<BehaviourSpec> {
    let kind = format!("{:?}", d.kind).to_lowercase();
    let allowed: &[&str] = match d.kind {
        Kind::Thermostat => &["room", "interval_secs", "start"],
        Kind::Doorbell => &["room", "at_secs", "repeat_secs", "text"],
        Kind::Bot => &["room", "rooms"],
        Kind::Sensor => &[
            "topic",
            "interval_secs",
            "start",
            "quantity",
            "unit",
            "retain",
        ],
    };
    let present = [
        ("room", d.room.is_some()),
        ("rooms", d.rooms.is_some()),
        ("topic", d.topic.is_some()),
        ("interval_secs", d.interval_secs.is_some()),
        ("at_secs", d.at_secs.is_some()),
        ("repeat_secs", d.repeat_secs.is_some()),
        ("text", d.text.is_some()),
        ("start", d.start.is_some()),
        ("quantity", d.quantity.is_some()),
        ("unit", d.unit.is_some()),
        ("retain", d.retain.is_some()),
    ];
    let mut ok = true;
    for (key, _) in present.iter().filter(|(k, p)| *p && !allowed.contains(k)) {
        bad(format!("{key}: not a key of a {kind}"));
        ok = false;
    }
    let mut need = |key: &str, v: bool| {
        if !v {
            bad(format!("{key}: required for a {kind}"));
        }
        v
    };
    let spec = match d.kind {
        Kind::Thermostat => {
            let room = need("room", d.room.is_some()).then(|| d.room.clone())??;
            let interval =
                need("interval_secs", d.interval_secs.is_some()).then_some(d.interval_secs)??;
            BehaviourSpec::Thermostat {
                room,
                interval: seconds(interval, "interval_secs", bad)?,
                start: d.start.unwrap_or(21.0),
            }
        }
        Kind::Doorbell => {
            let room = need("room", d.room.is_some()).then(|| d.room.clone())??;
            let at_secs = need("at_secs", d.at_secs.is_some()).then(|| d.at_secs.clone())??;
            let mut at = Vec::new();
            for s in at_secs {
                match duration_of(s, true) {
                    Some(d) => at.push(d),
                    None => {
                        bad("at_secs: every entry must be a number of seconds, 0 or more".into());
                        return None;
                    }
                }
            }
            if at.is_empty() {
                bad("at_secs: needs at least one time".into());
            }
            at.sort();
            let repeat = match d.repeat_secs {
                Some(r) => Some(seconds(r, "repeat_secs", bad)?),
                None => None,
            };
            if let (Some(r), Some(last)) = (repeat, at.last()) {
                if *last >= r {
                    bad("repeat_secs: must be longer than the last of at_secs".into());
                }
            }
            BehaviourSpec::Doorbell {
                room,
                at,
                repeat,
                text: d
                    .text
                    .clone()
                    .unwrap_or_else(|| "ding dong: someone is at the door".into()),
            }
        }
        Kind::Bot => {
            let mut rooms: Vec<String> = d.rooms.clone().unwrap_or_default();
            rooms.extend(d.room.clone());
            if rooms.is_empty() {
                bad("rooms: required for a bot (or room)".into());
            }
            BehaviourSpec::Bot { rooms }
        }
        Kind::Sensor => {
            let topic = need("topic", d.topic.is_some()).then(|| d.topic.clone())??;
            let interval =
                need("interval_secs", d.interval_secs.is_some()).then_some(d.interval_secs)??;
            if let Err(e) = plain_topic(&topic) {
                bad(format!("topic: {e}"));
                ok = false;
            }
            BehaviourSpec::Sensor {
                topic,
                interval: seconds(interval, "interval_secs", bad)?,
                start: d.start.unwrap_or(50.0),
                quantity: d.quantity.clone().unwrap_or_else(|| "humidity".into()),
                unit: d.unit.clone().unwrap_or_else(|| "%".into()),
                retain: d.retain.unwrap_or(false),
            }
        }
    };
    let rooms: Vec<&String> = match &spec {
        BehaviourSpec::Thermostat { room, .. } | BehaviourSpec::Doorbell { room, .. } => {
            vec![room]
        }
        BehaviourSpec::Bot { rooms } => rooms.iter().collect(),
        BehaviourSpec::Sensor { .. } => vec![],
    };
    for room in rooms {
        if !room_name_ok(room) {
            bad(format!(
                "room {room:?}: room names are [a-z0-9_-], 1 to 64 characters"
            ));
            ok = false;
        }
    }
    ok.then_some(spec)
}

/// A positive number of seconds.
fn seconds(s: f64, key: &str, bad: &mut impl FnMut(String)) -> Option<Duration> {
    let d = duration_of(s, false);
    if d.is_none() {
        bad(format!(
            "{key}: must be a positive number of seconds (at most {MAX_SECS})"
        ));
    }
    d
}

/// The hub's room name rule.
fn room_name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A topic a device may publish plain readings or wills to.
fn plain_topic(topic: &str) -> std::result::Result<(), &'static str> {
    if topic.is_empty() {
        Err("must not be empty")
    } else if topic.contains(['+', '#']) {
        Err("must not hold wildcards")
    } else if topic.starts_with('$') {
        Err("must not start with '$'")
    } else if topic.starts_with("rooms/") {
        Err("must not be under rooms/ (those are chat rooms)")
    } else {
        Ok(())
    }
}

fn check_reconnect(key: &str, r: &ReconnectConfig, problems: &mut Vec<String>) {
    if r.initial_ms < 10 {
        problems.push(format!("{key}.initial_ms: must be at least 10"));
    }
    if r.max_ms < r.initial_ms {
        problems.push(format!("{key}.max_ms: must be at least initial_ms"));
    }
    if !(0.0..=1.0).contains(&r.jitter) {
        problems.push(format!("{key}.jitter: must be from 0 to 1"));
    }
}

fn check_flaky(f: &FlakyConfig, problems: &mut Vec<String>) {
    if !(f.mean_interval_secs.is_finite() && f.mean_interval_secs > 0.0) {
        problems.push("flaky.mean_interval_secs: must be a positive number".into());
    }
    if !(0.0..=1.0).contains(&f.disconnect_share) {
        problems.push("flaky.disconnect_share: must be from 0 to 1".into());
    }
    if f.stall_max_ms < f.stall_min_ms {
        problems.push("flaky.stall_max_ms: must be at least stall_min_ms".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
duration_secs = 30
[broker]
mqtt = "127.0.0.1:1883"
[defaults]
keep_alive_secs = 10
[defaults.reconnect]
initial_ms = 100
max_ms = 2000
[flaky]
mean_interval_secs = 5
[[device]]
kind = "thermostat"
id = "thermo"
room = "kitchen"
interval_secs = 2.5
username = "t"
password = "p"
will = { topic = "devices/thermo/status", online = "online" }
[[device]]
kind = "doorbell"
id = "bell"
room = "hall"
at_secs = [3, 1]
repeat_secs = 10
qos = 0
[[device]]
kind = "bot"
id = "bot"
rooms = ["kitchen", "hall"]
flaky = false
[[device]]
kind = "sensor"
id = "hygro"
topic = "sensors/garage/humidity"
interval_secs = 1
retain = true
"#;

    #[test]
    fn parses_every_kind() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.broker.as_deref(), Some("127.0.0.1:1883"));
        assert_eq!(s.duration, Some(Duration::from_secs(30)));
        assert_eq!(s.devices.len(), 4);
        let t = &s.devices[0];
        assert_eq!(
            t.connection.credentials,
            Some(("t".to_string(), "p".to_string()))
        );
        assert_eq!(t.connection.keep_alive, Duration::from_secs(10));
        assert_eq!(t.connection.reconnect.initial_ms, 100);
        let w = t.connection.will.as_ref().unwrap();
        assert_eq!((w.payload.as_str(), w.qos, w.retain), ("offline", 1, true));
        match &s.devices[1].behaviour {
            BehaviourSpec::Doorbell { at, repeat, .. } => {
                assert_eq!(at[0], Duration::from_secs(1));
                assert_eq!(*repeat, Some(Duration::from_secs(10)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.devices[1].connection.qos, 0);
        assert!(!s.devices[2].flaky);
        assert!(matches!(
            s.devices[3].behaviour,
            BehaviourSpec::Sensor { retain: true, .. }
        ));
    }

    #[test]
    fn names_every_problem() {
        let text = r#"
[[device]]
kind = "thermostat"
id = "a/b"
room = "Kitchen"
[[device]]
kind = "sensor"
id = "s"
topic = "rooms/x"
interval_secs = 1
room = "x"
[[device]]
kind = "bot"
id = "bot"
password = "p"
"#;
        let e = format!("{:#}", parse(text).unwrap_err());
        for needle in [
            "device[0] (a/b): id:",
            "device[0] (a/b): interval_secs: required for a thermostat",
            "device[1] (s): room: not a key of a sensor",
            "device[1] (s): topic: must not be under rooms/",
            "device[2] (bot): password: needs a username",
            "device[2] (bot): rooms: required",
        ] {
            assert!(e.contains(needle), "{needle} missing from:\n{e}");
        }
    }

    #[test]
    fn refuses_absurd_times() {
        let bell = "[[device]]\nkind = \"doorbell\"\nid = \"d\"\nroom = \"r\"\n";
        assert!(parse(&format!("{bell}at_secs = [1e300]\n")).is_err());
        assert!(parse(&format!("{bell}at_secs = [-1]\n")).is_err());
        assert!(parse(&format!("duration_secs = inf\n{bell}at_secs = [1]\n")).is_err());
        assert!(parse(&format!("{bell}at_secs = [0]\n")).is_ok());
        assert_eq!(duration_of(0.0, false), None);
        assert_eq!(duration_of(2.5, false), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn refuses_unknown_keys_and_duplicates() {
        assert!(
            parse("[[device]]\nkind = \"bot\"\nid = \"b\"\nroom = \"r\"\ncolour = 1\n").is_err()
        );
        let dup = "[[device]]\nkind = \"bot\"\nid = \"b\"\nroom = \"r\"\n[[device]]\nkind = \"bot\"\nid = \"b\"\nroom = \"r\"\n";
        assert!(format!("{:#}", parse(dup).unwrap_err()).contains("another device has this id"));
        assert!(parse("").is_err());
    }
}
