//! The Redis uplink (docs/uplink.md): hubs share rooms through a real
//! `redis-server` on loopback, with store-and-forward while it is down.
//!
//! Each test runs two edge hubs and a cloud hub (config/cloud.toml) or a
//! subset, with a `redis-server` of its own. The tests run one at a time
//! (they start up to four processes each) and each stays well under 60 s.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hubbub_tests::redis::RedisServer;
use hubbub_tests::*;
use serde_json::{json, Value};

/// One test at a time: each starts several hubs and a Redis.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long messages may take to cross hubs (after Redis is reachable).
const CONVERGE: Duration = Duration::from_secs(40);

/// How long to watch for a repeat that should not come.
const QUIET: Duration = Duration::from_millis(1500);

/// Starts a hub with `config` and no post rate limit: these tests post
/// fast from one address on purpose (the limit is tested in `access_*`).
fn start_hub(config: String) -> Hub {
    Hub::start(HubOptions::config(format!(
        "{config}\n[limits]\nmessages_per_second = 0\n"
    )))
}

/// An edge hub on `redis` with extra `[uplink]` keys.
fn edge(redis: &RedisServer, id: &str, uplink_extra: &str) -> Hub {
    start_hub(format!(
        "[hub]\nid = \"{id}\"\n[uplink]\nredis_url = \"{}\"\n{uplink_extra}\n",
        redis.url()
    ))
}

/// The cloud instance: the shipped config/cloud.toml, pointed at `redis`,
/// with its accounts off (these tests are about the uplink, and chat as
/// named guests; logging in is tested elsewhere).
fn cloud(redis: &RedisServer) -> Hub {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/cloud.toml");
    let text = std::fs::read_to_string(path).expect("config/cloud.toml");
    let shipped = "redis://127.0.0.1:6379/";
    assert!(text.contains(shipped), "cloud.toml points at {shipped}");
    let accounts_on = "accounts = true\nanonymous = false\n";
    assert!(text.contains(accounts_on), "cloud.toml turns accounts on");
    let text = text
        .replace(shipped, &redis.url())
        .replace(accounts_on, "accounts = false\nanonymous = true\n");
    start_hub(text)
}

/// An MQTT client subscribed to one topic; publishes arrive on `rx`.
struct MqttSub {
    rx: tokio::sync::mpsc::UnboundedReceiver<Value>,
    task: tokio::task::JoinHandle<()>,
}

impl MqttSub {
    async fn subscribe(addr: SocketAddr, id: &str, topic: &str) -> MqttSub {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 64);
        client
            .subscribe(topic, QoS::AtLeastOnce)
            .await
            .expect("MQTT subscribe");
        // Wait for the SUBACK, so nothing published later is missed.
        let subscribed = tokio::time::timeout(RECV_TIMEOUT, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => return,
                    Ok(_) => {}
                    Err(e) => panic!("MQTT connection to {addr} failed: {e}"),
                }
            }
        });
        subscribed.await.expect("no SUBACK in time");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let _client = client;
            while let Ok(event) = events.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = event {
                    let v: Value =
                        serde_json::from_slice(&p.payload).expect("MQTT payload is JSON");
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        MqttSub { rx, task }
    }

    async fn recv(&mut self) -> Value {
        tokio::time::timeout(RECV_TIMEOUT, self.rx.recv())
            .await
            .expect("no MQTT publish in time")
            .expect("the MQTT client ended")
    }

    async fn expect_quiet(&mut self) {
        if let Ok(Some(v)) = tokio::time::timeout(QUIET, self.rx.recv()).await {
            panic!("expected no more MQTT publishes, got {v}");
        }
    }
}

impl Drop for MqttSub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `GET /api/uplink`.
async fn uplink_status(hub: &Hub) -> Value {
    let reply = hub.http().get("/api/uplink").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

/// Waits until `room` on `hub` holds at least `n` messages; returns them all.
async fn wait_for(hub: &Hub, room: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let all = if hub.http().room(room).await.is_some() {
            hub.http().all_messages(room).await
        } else {
            Vec::new()
        };
        if all.len() >= n {
            return all;
        }
        if Instant::now() > deadline {
            panic!(
                "room {room} on {} holds {} messages, not {n}, after {CONVERGE:?}; uplink: {}",
                hub.http_base(),
                all.len(),
                uplink_status(hub).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Posts `per_poster * posters` messages to `room` over HTTP, `posters` at a
/// time; texts are `{prefix}-{poster}-{i}`.
async fn post_many(hub: &Hub, room: &str, prefix: &str, posters: usize, per_poster: usize) {
    let mut tasks = Vec::new();
    for p in 0..posters {
        let http = hub.http();
        let room = room.to_string();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_poster {
                let reply = http
                    .post_json(&room, &json!({"text": format!("{prefix}-{p}-{i}")}))
                    .await;
                assert_eq!(reply.status, 201, "{reply:?}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("a poster panicked");
    }
}

/// The texts of the messages first posted on `origin`, in local seq order.
fn texts_from(messages: &[Value], origin: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["origin"] == json!(origin))
        .map(|m| text_of(m).to_string())
        .collect()
}

/// Every hub holds exactly the messages of `origins` (each once), in each
/// origin's own order, with gap-free local seqs and consistent origin fields.
fn assert_same_history(histories: &[(&str, Vec<Value>)], origins: &[&str]) {
    // Each origin's own order, as the origin stored it.
    let mut order: HashMap<&str, Vec<String>> = HashMap::new();
    for (hub, messages) in histories {
        if origins.contains(hub) {
            order.insert(hub, texts_from(messages, hub));
        }
    }
    for (hub, messages) in histories {
        assert_gap_free(messages);
        let mut seen = HashSet::new();
        for m in messages {
            assert_canonical(m);
            assert!(seen.insert(text_of(m).to_string()), "{hub} holds {m} twice");
            let local = m["origin"] == json!(hub);
            assert_eq!(m["via"] == json!("uplink"), !local, "{hub}: {m}");
            assert_eq!(m.get("origin_seq").is_some(), !local, "{hub}: {m}");
        }
        for origin in origins {
            let got = texts_from(messages, origin);
            let want = &order[origin];
            if &got != want {
                let missing = want.iter().filter(|t| !got.contains(t)).count();
                panic!(
                    "{hub} holds {} messages from {origin}, which has {} ({missing} missing), \
                     or in another order",
                    got.len(),
                    want.len()
                );
            }
            // Origin seqs rise with local seqs.
            let origin_seqs: Vec<u64> = messages
                .iter()
                .filter(|m| m["origin"] == json!(origin) && m["origin"] != json!(hub))
                .map(|m| m["origin_seq"].as_u64().expect("origin_seq"))
                .collect();
            assert!(
                origin_seqs.windows(2).all(|w| w[0] < w[1]),
                "{hub}: origin seqs from {origin} out of order"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_every_other_hub_exactly_once() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let a = edge(&redis, "edge-a", "");
    let b = edge(&redis, "edge-b", "");
    let c = cloud(&redis);

    let mut alice = a.ws_as("alice").await;
    alice.join("lobby").await;
    let mut bob = b.ws_as("bob").await;
    bob.join("lobby").await;
    let mut carol = c.ws_as("carol").await;
    carol.join("lobby").await;
    let mut mqtt_b = MqttSub::subscribe(b.mqtt_addr(), "sub-b", "rooms/lobby").await;
    let mut mqtt_c = MqttSub::subscribe(c.mqtt_addr(), "sub-c", "rooms/lobby").await;

    let ack = alice.post_ref("lobby", "hello from a", "a-1").await;
    assert_eq!(ack["seq"], 1, "{ack}");
    let own = alice.recv_until("message").await;
    assert_eq!(
        (own["via"].clone(), own["origin"].clone()),
        (json!("ws"), json!("edge-a"))
    );

    for (client, hub) in [(&mut bob, "edge-b"), (&mut carol, "cloud")] {
        let m = canonical(&client.recv_until("message").await);
        assert_canonical(&m);
        assert_eq!(m["text"], "hello from a", "{hub}: {m}");
        assert_eq!(m["origin"], "edge-a", "{hub}: {m}");
        assert_eq!(m["via"], "uplink", "{hub}: {m}");
        assert_eq!(m["origin_seq"], 1, "{hub}: {m}");
        assert_eq!(m["origin_ts"], own["ts"], "{hub}: {m}");
        assert_eq!(m["seq"], 1, "{hub}: {m}");
        assert!(m.get("ref").is_none(), "a relayed message has no ref: {m}");
    }
    for mqtt in [&mut mqtt_b, &mut mqtt_c] {
        let m = mqtt.recv().await;
        assert_eq!(
            (m["text"].clone(), m["via"].clone()),
            (json!("hello from a"), json!("uplink"))
        );
    }

    // And from the cloud to both edges.
    carol.post("lobby", "hello from the cloud").await;
    let own = carol.recv_until("message").await;
    assert_eq!(
        (own["via"].clone(), own["seq"].clone()),
        (json!("ws"), json!(2))
    );
    for client in [&mut alice, &mut bob] {
        let m = client.recv_until("message").await;
        assert_eq!(
            (m["text"].clone(), m["origin"].clone()),
            (json!("hello from the cloud"), json!("cloud"))
        );
        assert_eq!(m["seq"], 2, "{m}");
    }
    for mqtt in [&mut mqtt_b, &mut mqtt_c] {
        let m = mqtt.recv().await;
        assert_eq!(m["text"], "hello from the cloud", "{m}");
    }

    // Nothing arrives twice, and no hub echoes its own message back.
    for client in [&mut alice, &mut bob, &mut carol] {
        client.expect_quiet(QUIET).await;
    }
    mqtt_b.expect_quiet().await;
    mqtt_c.expect_quiet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing_and_repeats_nothing() {
    let _serial = SERIAL.lock().await;
    let mut redis = RedisServer::start();
    let a = edge(&redis, "edge-a", "");
    let b = edge(&redis, "edge-b", "");
    let c = cloud(&redis);
    // Every hub knows the room before the outage.
    a.http().post_text("outage", "before").await;
    wait_for(&b, "outage", 1).await;
    wait_for(&c, "outage", 1).await;

    redis.kill();
    let posting_a = post_many(&a, "outage", "a", 4, 250);
    let posting_b = post_many(&b, "outage", "b", 4, 250);
    tokio::join!(posting_a, posting_b);
    // Everything waits in the outboxes; the hubs work on locally.
    let status = uplink_status(&a).await;
    assert_eq!(status["connected"], false, "{status}");
    assert_eq!(status["outbox"]["messages"], 1000, "{status}");
    assert!(status["last_error"]["message"].is_string(), "{status}");
    assert_eq!(a.http().all_messages("outage").await.len(), 1001);

    // Redis comes back empty; the outboxes drain without new traffic.
    redis.restart();
    let mut histories = Vec::new();
    for (name, hub) in [("edge-a", &a), ("edge-b", &b), ("cloud", &c)] {
        histories.push((name, wait_for(hub, "outage", 2001).await));
    }
    assert_same_history(&histories, &["edge-a", "edge-b"]);
    for hub in [&a, &b, &c] {
        let status = uplink_status(hub).await;
        assert_eq!(status["outbox"]["messages"], 0, "{status}");
        assert_eq!(status["outbox"]["dropped"], 0, "{status}");
    }
    // Nothing more arrives later.
    tokio::time::sleep(QUIET).await;
    for hub in [&a, &b, &c] {
        assert_eq!(hub.http().all_messages("outage").await.len(), 2001);
    }
    let status = uplink_status(&c).await;
    assert_eq!(status["connected"], true, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_hub_resumes_without_loss_or_repeats() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let a = edge(&redis, "edge-a", "");
    let mut b = edge(&redis, "edge-b", "");
    let mut c = cloud(&redis);
    a.http().post_text("stream", "first").await;
    wait_for(&b, "stream", 1).await;
    wait_for(&c, "stream", 1).await;

    // A posts steadily while B is killed and C is stopped and started.
    let http = a.http();
    let posting = tokio::spawn(async move {
        for i in 0..600 {
            let reply = http
                .post_json("stream", &json!({"text": format!("s-{i}")}))
                .await;
            assert_eq!(reply.status, 201, "{reply:?}");
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    wait_for(&b, "stream", 150).await;
    b.kill9();
    let status = c.terminate();
    assert!(
        status.success(),
        "the cloud hub exits 0 on SIGTERM: {status}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.restart();
    c.restart();
    posting.await.expect("the poster panicked");

    let mut histories = vec![("edge-a", wait_for(&a, "stream", 601).await)];
    histories.push(("edge-b", wait_for(&b, "stream", 601).await));
    histories.push(("cloud", wait_for(&c, "stream", 601).await));
    assert_same_history(&histories, &["edge-a"]);
    tokio::time::sleep(QUIET).await;
    assert_eq!(b.http().all_messages("stream").await.len(), 601);
    assert_eq!(c.http().all_messages("stream").await.len(), 601);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_drops_its_oldest_messages_and_says_so() {
    let _serial = SERIAL.lock().await;
    let mut redis = RedisServer::start();
    redis.kill();
    let a = edge(&redis, "edge-a", "outbox_max_messages = 100");
    post_many(&a, "full", "f", 1, 150).await;

    let status = uplink_status(&a).await;
    assert_eq!(status["connected"], false, "{status}");
    assert_eq!(status["outbox"]["messages"], 100, "{status}");
    assert_eq!(status["outbox"]["dropped"], 50, "{status}");
    let metrics = a.http().metrics().await;
    assert!(
        metrics.contains("hubbub_uplink_outbox_dropped_total 50"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hubbub_uplink_outbox_messages 100"),
        "{metrics}"
    );
    assert!(metrics.contains("hubbub_uplink_connected 0"), "{metrics}");
    let log = a.log();
    assert!(
        log.contains("WARN") && log.contains("uplink outbox full"),
        "a full outbox is logged at warn:\n{log}"
    );
    // Every message stays in the local history.
    assert_eq!(a.http().all_messages("full").await.len(), 150);

    // Once Redis is back, the newest 100 reach another hub, in order. (A
    // batch already on its way when the limit dropped some of it may still
    // arrive: then a few older ones come first, never a gap.)
    redis.restart();
    let b = edge(&redis, "edge-b", "");
    wait_for(&b, "full", 100).await;
    let deadline = Instant::now() + CONVERGE;
    let origin_seqs = loop {
        let got = b.http().all_messages("full").await;
        let seqs: Vec<u64> = got
            .iter()
            .map(|m| m["origin_seq"].as_u64().expect("origin_seq"))
            .collect();
        if seqs.last() == Some(&150) || Instant::now() > deadline {
            break seqs;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let first = origin_seqs[0];
    assert!(first <= 51, "the newest 100 all arrive: {origin_seqs:?}");
    assert_eq!(origin_seqs, (first..=150).collect::<Vec<u64>>());
    tokio::time::sleep(QUIET).await;
    assert_eq!(b.http().all_messages("full").await.len(), origin_seqs.len());
    let status = uplink_status(&a).await;
    assert_eq!(status["outbox"]["messages"], 0, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_not_shared_never_leaves_its_hub() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let a = edge(&redis, "edge-a", "rooms = [\"kitchen\"]");
    let b = edge(&redis, "edge-b", "");

    let http_a = a.http();
    http_a.post_text("garage", "secret").await;
    http_a.post_text("kitchen", "hello").await;
    let http_b = b.http();
    http_b.post_text("garage", "b-garage").await;
    http_b.post_text("kitchen", "b-kitchen").await;
    // The outboxes are sent in commit order, so once the kitchen messages
    // have crossed, the garage ones would have too.
    let kitchen_b = wait_for(&b, "kitchen", 2).await;
    let kitchen_a = wait_for(&a, "kitchen", 2).await;
    tokio::time::sleep(QUIET).await;

    let texts = |ms: &[Value]| {
        ms.iter()
            .map(|m| text_of(m).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&kitchen_a), vec!["hello", "b-kitchen"]);
    assert_eq!(texts(&kitchen_b), vec!["b-kitchen", "hello"]);
    assert_eq!(
        texts(&http_b.all_messages("garage").await),
        vec!["b-garage"]
    );
    assert_eq!(texts(&http_a.all_messages("garage").await), vec!["secret"]);
    let status = uplink_status(&a).await;
    assert_eq!(
        status["outbox"]["sent"], 1,
        "only the kitchen message left A: {status}"
    );
    assert!(
        status["rooms"].get("garage").is_none(),
        "A reads no garage stream: {status}"
    );
}

#[test]
fn check_config_names_the_uplink_keys() {
    let out = check_config(
        "[uplink]\nredis_url = \"rediss://cloud:6380/\"\nrooms = [\"Bad Room\"]\noutbox_max_messages = 0\n",
    );
    assert!(!out.status.success(), "{out:?}");
    for key in [
        "uplink.redis_url",
        "uplink.rooms",
        "uplink.outbox_max_messages",
        "uplink.hub_id",
    ] {
        assert!(out.output.contains(key), "{key} not named:\n{}", out.output);
    }
    let cloud = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/cloud.toml");
    let text = std::fs::read_to_string(cloud).expect("config/cloud.toml");
    let out = check_config(&text);
    assert!(out.status.success(), "config/cloud.toml is valid: {out:?}");
}
