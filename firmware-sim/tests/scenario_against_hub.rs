//! `firmware-sim run` against the real hub: a few seconds of a scenario
//! leave the expected traffic in the rooms (and their history), on plain
//! topics and on the status topics; on a flaky network the devices
//! reconnect, their wills fire, and no reading is stored twice.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{history, post, Hub, SimChild, Subscriber};

/// The devices of both tests; `{extra}` goes into `[defaults]`.
fn scenario(defaults: &str, flaky: &str) -> String {
    format!(
        r#"
[defaults]
{defaults}

[defaults.reconnect]
initial_ms = 100
max_ms = 1000

{flaky}

[[device]]
kind = "thermostat"
id = "thermostat-kitchen"
room = "kitchen"
interval_secs = 0.5
will = {{ topic = "devices/thermostat-kitchen/status", online = "online" }}

[[device]]
kind = "doorbell"
id = "doorbell-front"
room = "hall"
at_secs = [0.5, 1.5]
text = "ding dong"
will = {{ topic = "devices/doorbell-front/status", online = "online" }}

[[device]]
kind = "bot"
id = "house-bot"
rooms = ["kitchen", "hall"]
username = "house-bot"
password = "secret"

[[device]]
kind = "sensor"
id = "hygrometer-garage"
topic = "sensors/garage/humidity"
interval_secs = 0.5
qos = 0
will = {{ topic = "devices/hygrometer-garage/status", online = "online" }}
"#
    )
}

/// Messages of `room`'s history sent by `from`.
fn by<'a>(history: &'a [Value], from: &str) -> Vec<&'a Value> {
    history.iter().filter(|m| m["from"] == from).collect()
}

/// Seqs rise by exactly one, and no sender's `ref` is stored twice (refs
/// are per sender).
fn assert_gapless_and_unique(room: &str, history: &[Value]) {
    let seqs: Vec<u64> = history.iter().filter_map(|m| m["seq"].as_u64()).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "{room}: seqs");
    let refs: Vec<(&str, &str)> = history
        .iter()
        .filter_map(|m| Some((m["from"].as_str()?, m["ref"].as_str()?)))
        .collect();
    let unique: HashSet<&(&str, &str)> = refs.iter().collect();
    assert_eq!(
        unique.len(),
        refs.len(),
        "{room}: a ref stored twice: {history:?}"
    );
}

fn device<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"] == id))
        .unwrap_or_else(|| panic!("no device {id} in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_fills_rooms_history_and_topics() {
    let hub = Hub::start_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("home.toml");
    std::fs::write(&path, scenario("keep_alive_secs = 30", "")).expect("scenario file");
    let watch = Subscriber::start(
        hub.mqtt_addr(),
        "watcher",
        &["sensors/#", "devices/+/status"],
    )
    .await;
    let mqtt = hub.mqtt_addr().to_string();
    let started = Instant::now();
    let sim = SimChild::spawn(
        dir.path(),
        &[
            "run",
            path.to_str().expect("utf-8 path"),
            "--mqtt",
            &mqtt,
            "--duration-secs",
            "4",
            "--seed",
            "1",
        ],
    );
    // Someone in the browser asks the bot, once the thermostat has spoken.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let ask_temp = post(&hub, "kitchen", "alice", "!temp").await;
    let ask_uptime = post(&hub, "hall", "alice", "!uptime").await;
    let (status, report, log) = sim.finish(Duration::from_secs(30)).await;
    assert!(status.success(), "exit {status}; report {report}\n{log}");
    assert_eq!(report["ok"], true, "{report}");
    let ran = started.elapsed().as_secs_f64();

    // The thermostat posted a reading every half second, all stored once.
    let kitchen = history(&hub, "kitchen").await;
    assert_gapless_and_unique("kitchen", &kitchen);
    let readings = by(&kitchen, "thermostat-kitchen");
    assert!(
        (5..=9).contains(&readings.len()),
        "{} readings in about {ran:.1} s: {kitchen:?}",
        readings.len()
    );
    for r in &readings {
        assert_eq!(r["via"], "mqtt", "{r}");
        let text = r["text"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("temperature ") && text.ends_with(" °C"),
            "{r}"
        );
    }
    // The bot answered both questions, after them, in their rooms.
    let answer = by(&kitchen, "house-bot");
    assert_eq!(answer.len(), 1, "{kitchen:?}");
    assert!(answer[0]["seq"].as_u64() > ask_temp["seq"].as_u64());
    let text = answer[0]["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("kitchen: ") && text.contains("°C (from thermostat-kitchen"),
        "{text}"
    );
    let hall = history(&hub, "hall").await;
    assert_gapless_and_unique("hall", &hall);
    let uptime = by(&hall, "house-bot");
    assert_eq!(uptime.len(), 1, "{hall:?}");
    assert!(uptime[0]["seq"].as_u64() > ask_uptime["seq"].as_u64());
    assert!(
        uptime[0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("house-bot up 0h 00m 0")),
        "{hall:?}"
    );
    // The doorbell rang twice, on schedule.
    let rings = by(&hall, "doorbell-front");
    assert_eq!(rings.len(), 2, "{hall:?}");
    assert!(rings.iter().all(|m| m["text"] == "ding dong"));

    // The sensor published on its plain topic, counting up; not a room.
    let seen = watch.seen();
    let sensor: Vec<Value> = seen
        .iter()
        .filter(|s| s.topic == "sensors/garage/humidity")
        .filter_map(|s| serde_json::from_str(&s.payload).ok())
        .collect();
    assert!((5..=9).contains(&sensor.len()), "{sensor:?}");
    let seqs: Vec<u64> = sensor.iter().filter_map(|v| v["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(sensor.iter().all(|v| v["sensor"] == "hygrometer-garage"));
    // Status: online on connect, offline on the orderly stop.
    let status_of = |id: &str| -> Vec<String> {
        seen.iter()
            .filter(|s| s.topic == format!("devices/{id}/status") && !s.retained)
            .map(|s| s.payload.clone())
            .collect()
    };
    assert_eq!(status_of("thermostat-kitchen"), ["online", "offline"]);
    assert_eq!(status_of("doorbell-front"), ["online", "offline"]);

    // The report agrees.
    let t = device(&report, "thermostat-kitchen");
    assert_eq!(t["connects"], 1, "{report}");
    // Readings plus the two status messages.
    assert_eq!(
        t["published"].as_u64(),
        Some(readings.len() as u64 + 2),
        "{report}"
    );
    let bot = device(&report, "house-bot");
    assert_eq!(bot["replies"], 2, "{report}");
    assert!(
        bot["received"].as_u64().unwrap_or(0) >= readings.len() as u64,
        "{report}"
    );
    assert!(log.contains("reply: kitchen: "), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_flaky_network_devices_reconnect_and_wills_fire() {
    let hub = Hub::start_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flaky.toml");
    // Keep-alive 1 s: a stall past 1.5 s makes the hub drop the device too.
    let flaky = "[flaky]\nenabled = true\nmean_interval_secs = 0.8\ndisconnect_share = 0.6\nstall_min_ms = 200\nstall_max_ms = 2500";
    std::fs::write(
        &path,
        scenario("keep_alive_secs = 1\nclean_session = false", flaky),
    )
    .expect("scenario file");
    let watch = Subscriber::start(hub.mqtt_addr(), "watcher", &["devices/+/status"]).await;
    let mqtt = hub.mqtt_addr().to_string();
    let run_secs = 6.0;
    let started = Instant::now();
    let sim = SimChild::spawn(
        dir.path(),
        &[
            "run",
            path.to_str().expect("utf-8 path"),
            "--mqtt",
            &mqtt,
            "--duration-secs",
            "6",
            "--seed",
            "42",
        ],
    );
    let (status, report, log) = sim.finish(Duration::from_secs(40)).await;
    assert!(status.success(), "exit {status}; report {report}\n{log}");
    assert_eq!(report["flaky"], true);

    let devices = report["devices"].as_array().cloned().unwrap_or_default();
    let sum = |key: &str| devices.iter().filter_map(|d| d[key].as_u64()).sum::<u64>();
    let faults = sum("faults_dropped") + sum("faults_stalled");
    assert!(faults >= 4, "faults: {report}");
    assert!(sum("faults_dropped") >= 1, "{report}");
    assert!(
        sum("connects") > devices.len() as u64,
        "nobody reconnected: {report}"
    );
    assert!(log.contains("reconnecting after a backoff"), "{log}");

    // Wills: the hub published "offline" for devices that vanished while
    // the run was going on (the orderly "offline" comes only at its end).
    let stop_at = started + Duration::from_secs_f64(run_secs - 0.3);
    let wills = watch
        .seen()
        .into_iter()
        .filter(|s| !s.retained && s.payload == "offline" && s.at < stop_at)
        .count();
    assert!(wills >= 1, "no will seen: {:?}\n{log}", watch.seen());

    // Through it all, the rooms' history has no gap and no reading twice
    // (held posts are sent again after a reconnect, with the same ref).
    let kitchen = history(&hub, "kitchen").await;
    assert_gapless_and_unique("kitchen", &kitchen);
    let readings = by(&kitchen, "thermostat-kitchen").len() as u64;
    let t = device(&report, "thermostat-kitchen");
    let handed = t["published"].as_u64().unwrap_or(0);
    assert!(readings >= 4, "{readings} readings stored: {report}");
    assert!(readings <= handed, "more stored than published: {report}");
    let hall = history(&hub, "hall").await;
    assert_gapless_and_unique("hall", &hall);
}
