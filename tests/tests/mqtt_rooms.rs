//! Rooms as MQTT topics: `rooms/{room}` carries the canonical message JSON
//! both ways with the WebSocket chat and HTTP, publishes are stored and
//! acknowledged only once durable, presence and typing follow, and MQTT
//! over WebSocket at `GET /mqtt` does the same.

mod mqtt_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubbub_tests::*;
use mqtt_support::*;
use rand::Rng;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};
use rumqttc::QoS;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sub_on_rooms_sees_the_canonical_json_of_posts() {
    let hub = Hub::start_default();
    let mut all = MosquittoSub::start(&hub, &["-q", "1", "-t", "rooms/#"]).await;
    let mut q0 = MosquittoSub::start(&hub, &["-q", "0", "-t", "rooms/kitchen"]).await;
    let mut q2 = MosquittoSub::start(&hub, &["-q", "2", "-t", "rooms/kitchen"]).await;

    // The room does not exist yet; `rooms/#` sees it all the same.
    let posted = hub.http().post_text("kitchen", "hi").await;
    let line = all.line_on("rooms/kitchen").await;
    assert_eq!((line.qos, line.retained), (1, false), "{line:?}");
    let m = json(line.payload.as_bytes());
    assert_canonical(&m);
    assert_eq!(m, posted, "MQTT carries exactly the stored message");
    assert_eq!(
        (m["via"].as_str(), m["from"].as_str()),
        (Some("http"), Some("anonymous"))
    );
    let line = q0.line_on("rooms/kitchen").await;
    assert_eq!(line.qos, 0, "a QoS 0 subscription gets it at QoS 0");
    assert_eq!(json(line.payload.as_bytes()), posted);
    let line = q2.line_on("rooms/kitchen").await;
    assert_eq!(line.qos, 1, "the hub publishes room messages at QoS 1");
    assert_eq!(json(line.payload.as_bytes()), posted);

    // From the WebSocket chat, in another room.
    let mut ws = hub.ws_as("alice").await;
    ws.join("hall").await;
    let ack = ws.post("hall", "hello hall").await;
    let line = all.line_on("rooms/hall").await;
    let m = json(line.payload.as_bytes());
    assert_canonical(&m);
    assert_eq!(
        (
            m["text"].as_str(),
            m["from"].as_str(),
            m["via"].as_str(),
            m["seq"].as_u64()
        ),
        (
            Some("hello hall"),
            Some("alice"),
            Some("ws"),
            ack["seq"].as_u64()
        )
    );
    assert_eq!(m, canonical(&ws.recv_until("message").await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_to_a_room_reaches_websocket_and_history() {
    let hub = Hub::start_default();
    let mut ws = hub.ws_as("bob").await;
    ws.join("kitchen").await;
    let mut mosq = MosquittoSub::start(&hub, &["-q", "1", "-t", "rooms/kitchen"]).await;

    mosquitto_pub(&hub, &["-i", "sensor-7", "-t", "rooms/kitchen", "-m", "hi"]).await;
    let frame = ws.recv_until("message").await;
    let m = canonical(&frame);
    assert_canonical(&m);
    assert_eq!(
        (
            m["text"].as_str(),
            m["from"].as_str(),
            m["via"].as_str(),
            m["room"].as_str()
        ),
        (Some("hi"), Some("sensor-7"), Some("mqtt"), Some("kitchen"))
    );
    assert!(m.get("ref").is_none(), "{m}");
    // Subscribers of the room get the stored message, not the raw "hi".
    assert_eq!(
        json(mosq.line_on("rooms/kitchen").await.payload.as_bytes()),
        m
    );
    assert_eq!(hub.http().message_list("kitchen", "").await, vec![m]);

    // QoS 1 over MQTT 5, and a client id mosquitto makes up.
    mosquitto_pub(
        &hub,
        &[
            "-V",
            "5",
            "-q",
            "1",
            "-i",
            "sensor-8",
            "-t",
            "rooms/kitchen",
            "-m",
            "hello from v5",
        ],
    )
    .await;
    mosquitto_pub(&hub, &["-q", "2", "-t", "rooms/kitchen", "-m", "who am i"]).await;
    let a = canonical(&ws.recv_until("message").await);
    let b = canonical(&ws.recv_until("message").await);
    assert_eq!(
        (a["text"].as_str(), a["from"].as_str()),
        (Some("hello from v5"), Some("sensor-8"))
    );
    assert_eq!(b["text"].as_str(), Some("who am i"));
    assert!(
        b["from"].as_str().is_some_and(|f| !f.is_empty()),
        "from is mosquitto_pub's own client id: {b}"
    );
    let history = hub.http().message_list("kitchen", "").await;
    assert_eq!(history.len(), 3, "each once: {history:?}");
    assert_gap_free(&history);
    assert_eq!(history[1..], [a, b]);
    ws.expect_quiet(Duration::from_millis(500)).await;
}

/// A JSON payload `{"text","ref"}` is a post with an idempotency key: the
/// same ref from the same client id again stores nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_payload_with_ref_is_idempotent() {
    let hub = Hub::start_default();
    let mut ws = hub.ws_as("carol").await;
    ws.join("pantry").await;
    let (mut dev, _) = Mq5::connect(opts5(&hub, "dev-json")).await;
    for _ in 0..3 {
        dev.client
            .publish(
                "rooms/pantry",
                Q5::AtLeastOnce,
                false,
                r#"{"text":"yo","ref":"r-1"}"#,
            )
            .await
            .unwrap();
        let ack = dev
            .wait_for("PUBACK", |p| match p {
                v5::Packet::PubAck(a) => Some(a.clone()),
                _ => None,
            })
            .await;
        assert_eq!(
            ack.reason,
            v5::PubAckReason::Success,
            "a repeat is acknowledged too"
        );
    }
    let m = canonical(&ws.recv_until("message").await);
    assert_eq!(
        (
            m["text"].as_str(),
            m["ref"].as_str(),
            m["from"].as_str(),
            m["via"].as_str()
        ),
        (Some("yo"), Some("r-1"), Some("dev-json"), Some("mqtt"))
    );
    ws.expect_quiet(Duration::from_millis(500)).await;

    // Another client id has its own refs.
    mosquitto_pub(
        &hub,
        &[
            "-i",
            "dev-json-2",
            "-q",
            "1",
            "-t",
            "rooms/pantry",
            "-m",
            r#"{"text":"yo too","ref":"r-1"}"#,
        ],
    )
    .await;
    let m2 = canonical(&ws.recv_until("message").await);
    assert_eq!(
        (m2["text"].as_str(), m2["from"].as_str()),
        (Some("yo too"), Some("dev-json-2"))
    );
    // A JSON object without "text" is just text.
    mosquitto_pub(
        &hub,
        &[
            "-i",
            "dev-json",
            "-t",
            "rooms/pantry",
            "-m",
            r#"{"other":1}"#,
        ],
    )
    .await;
    let m3 = canonical(&ws.recv_until("message").await);
    assert_eq!(m3["text"].as_str(), Some(r#"{"other":1}"#));

    let history = hub.http().message_list("pantry", "").await;
    assert_eq!(history, vec![m, m2, m3], "each once");
    assert_eq!(hub.http().message_list("pantry", "").await.len(), 3);
}

/// A room publish is acknowledged (PUBACK, or PUBREC for QoS 2) only once
/// stored: history has it at that moment. Refused posts get a reason code
/// (MQTT 5) and a report on `$SYS/hubbub/errors/{client id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_publishes_are_acknowledged_once_stored() {
    let hub = Hub::start_default();
    let http = hub.http();

    let mut c4 = raw4(&hub, "acker4").await;
    c4.publish4("rooms/acks", QoS::AtLeastOnce, 1, b"acked 1")
        .await;
    assert_eq!(c4.recv4().await, v4::Packet::PubAck(v4::PubAck::new(1)));
    let h = http.message_list("acks", "").await;
    assert_eq!(h.len(), 1);
    assert_eq!(
        (
            h[0]["text"].as_str(),
            h[0]["from"].as_str(),
            h[0]["via"].as_str()
        ),
        (Some("acked 1"), Some("acker4"), Some("mqtt"))
    );

    // Pipelined: acknowledged in order, stored in order.
    for i in 2..=21u16 {
        c4.publish4(
            "rooms/acks",
            QoS::AtLeastOnce,
            i,
            format!("acked {i}").as_bytes(),
        )
        .await;
    }
    for i in 2..=21u16 {
        assert_eq!(c4.recv4().await, v4::Packet::PubAck(v4::PubAck::new(i)));
    }
    let h = http.message_list("acks", "limit=100").await;
    assert_gap_free(&h);
    let texts: Vec<String> = h.iter().map(|m| text_of(m).to_string()).collect();
    let expected: Vec<String> = (1..=21).map(|i| format!("acked {i}")).collect();
    assert_eq!(texts, expected);

    // MQTT 5, QoS 1 and QoS 2.
    let mut c5 = raw5(&hub, "acker5").await;
    c5.publish5("rooms/acks", Q5::AtLeastOnce, 1, b"acked v5")
        .await;
    match c5.recv5().await {
        v5::Packet::PubAck(a) => assert_eq!((a.pkid, a.reason), (1, v5::PubAckReason::Success)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    assert_eq!(
        text_of(http.message_list("acks", "limit=1").await.last().unwrap()),
        "acked v5"
    );
    c5.publish5("rooms/acks", Q5::ExactlyOnce, 2, b"exactly once")
        .await;
    match c5.recv5().await {
        v5::Packet::PubRec(r) => assert_eq!((r.pkid, r.reason), (2, v5::PubRecReason::Success)),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    assert_eq!(
        text_of(http.message_list("acks", "limit=1").await.last().unwrap()),
        "exactly once"
    );
    c5.send5(v5::Packet::PubRel(v5::PubRel::new(2, None))).await;
    assert!(matches!(c5.recv5().await, v5::Packet::PubComp(c) if c.pkid == 2));
    assert_eq!(http.message_list("acks", "limit=100").await.len(), 23);

    // Refused posts.
    c5.subscribe5(
        9,
        vec![v5::Filter::new("$SYS/hubbub/errors/acker5", Q5::AtMostOnce)],
    )
    .await;
    let too_long_ref = format!(r#"{{"text":"x","ref":"{}"}}"#, "r".repeat(129));
    let cases: Vec<(&str, Vec<u8>, v5::PubAckReason)> = vec![
        (
            "rooms/Bad_Room",
            b"x".to_vec(),
            v5::PubAckReason::TopicNameInvalid,
        ),
        (
            "rooms/acks/other",
            b"x".to_vec(),
            v5::PubAckReason::TopicNameInvalid,
        ),
        (
            "rooms/acks",
            Vec::new(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "rooms/acks",
            b"   ".to_vec(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "rooms/acks",
            vec![0xFF, 0xFE],
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "rooms/acks",
            vec![b'x'; 20_000],
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "rooms/acks",
            too_long_ref.into_bytes(),
            v5::PubAckReason::PayloadFormatInvalid,
        ),
        (
            "rooms/acks/presence",
            b"{}".to_vec(),
            v5::PubAckReason::NotAuthorized,
        ),
    ];
    for (i, (topic, payload, reason)) in cases.into_iter().enumerate() {
        let pkid = 10 + i as u16;
        c5.publish5(topic, Q5::AtLeastOnce, pkid, &payload).await;
        let mut acked = false;
        let mut reported = false;
        while !(acked && reported) {
            match c5.recv5().await {
                v5::Packet::PubAck(a) => {
                    assert_eq!((a.pkid, a.reason), (pkid, reason), "{topic}: {a:?}");
                    acked = true;
                }
                v5::Packet::Publish(p) => {
                    let r = json(&p.payload);
                    assert_eq!(r["topic"].as_str(), Some(topic), "{r}");
                    assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
                    reported = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(
        http.message_list("acks", "limit=100").await.len(),
        23,
        "nothing refused was stored"
    );
    c4.publish4("rooms/Bad_Room", QoS::AtLeastOnce, 99, b"x")
        .await;
    assert_eq!(
        c4.recv4().await,
        v4::Packet::PubAck(v4::PubAck::new(99)),
        "3.1.1 gets a plain PUBACK"
    );
}

/// kill -9 right after PUBACKs, many times: every message the hub
/// acknowledged over MQTT is in history after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_qos1_acks_survive_kill_9() {
    const ROUNDS: usize = 6;
    // The publishers post as fast as the hub acknowledges: no rate limit.
    let mut hub = Hub::with_config("[limits]\nmessages_per_second = 0\n");
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default(); // text -> room
    let mut rng = rand::thread_rng();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for p in 0..3 {
            let addr = hub.mqtt_addr();
            let acked = acked.clone();
            let v5 = p == 2;
            tasks.push(tokio::spawn(async move {
                let id = format!("crash-pub-{p}");
                let mut c = Raw::tcp(addr).await;
                if v5 {
                    c.connect5_ok(&id).await;
                } else {
                    c.connect4_ok(&id).await;
                }
                let room = if p == 1 { "crash-n" } else { "crash-m" };
                let mut pending: BTreeMap<u16, String> = BTreeMap::new();
                let mut n: u32 = 0;
                loop {
                    while pending.len() < 8 {
                        n += 1;
                        let pkid = (n % 60_000) as u16 + 1;
                        let text = format!("r{round}-{id}-{n}");
                        let bytes = if v5 {
                            let mut pb = v5::Publish::new(
                                format!("rooms/{room}"),
                                Q5::AtLeastOnce,
                                text.clone().into_bytes(),
                                None,
                            );
                            pb.pkid = pkid;
                            encode5(&v5::Packet::Publish(pb))
                        } else {
                            let mut pb = v4::Publish::new(
                                format!("rooms/{room}"),
                                QoS::AtLeastOnce,
                                text.clone().into_bytes(),
                            );
                            pb.pkid = pkid;
                            encode4(&v4::Packet::Publish(pb))
                        };
                        if !c.try_send_bytes(&bytes).await {
                            return;
                        }
                        pending.insert(pkid, text);
                    }
                    let pkid = match c.next(RECV_TIMEOUT).await {
                        Got::Packet(Pkt::V4(v4::Packet::PubAck(a))) => a.pkid,
                        Got::Packet(Pkt::V5(v5::Packet::PubAck(a))) => {
                            assert_eq!(a.reason, v5::PubAckReason::Success, "{a:?}");
                            a.pkid
                        }
                        Got::Packet(other) => panic!("unexpected {other:?}"),
                        Got::Closed(_) => return,
                        Got::Quiet => panic!("no PUBACK within {RECV_TIMEOUT:?}"),
                    };
                    let text = pending
                        .remove(&pkid)
                        .unwrap_or_else(|| panic!("PUBACK for a packet id not pending: {pkid}"));
                    acked.lock().unwrap().insert(text, room.to_string());
                }
            }));
        }
        // Let some acks happen, then pull the plug.
        let before = acked.lock().unwrap().len();
        let deadline = std::time::Instant::now() + RECV_TIMEOUT;
        while acked.lock().unwrap().len() < before + 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "no PUBACKs in round {round}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
        hub.kill9();
        for t in tasks {
            t.await.expect("publisher task");
        }
        hub.restart();
    }

    let http = hub.http();
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    for room in ["crash-m", "crash-n"] {
        let all = http.all_messages(room).await;
        assert_gap_free(&all);
        for m in &all {
            assert_eq!(m["via"].as_str(), Some("mqtt"));
            let prev = stored.insert(text_of(m).to_string(), room.to_string());
            assert!(prev.is_none(), "stored twice: {m}");
        }
    }
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 20 * ROUNDS);
    let lost: Vec<&String> = acked
        .iter()
        .filter(|(text, room)| stored.get(*text) != Some(room))
        .map(|(text, _)| text)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages are not in history after kill -9: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
}

/// Waits for a `rooms/{room}/presence` update whose `online` is `want`.
async fn presence_becomes(watcher: &mut Mq4, room: &str, want: &[&str]) -> rumqttc::Publish {
    let topic = format!("rooms/{room}/presence");
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let p = match watcher.next(left).await {
            Some(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) if p.topic == topic => {
                p
            }
            Some(Ok(_)) => continue,
            other => panic!("waiting for presence {want:?} on {topic}: {other:?}; seen {seen:?}"),
        };
        let v = json(&p.payload);
        assert_eq!(v["room"].as_str(), Some(room), "{v}");
        let online: BTreeSet<String> = v["online"]
            .as_array()
            .unwrap_or_else(|| panic!("no online list: {v}"))
            .iter()
            .map(|n| n.as_str().expect("names are strings").to_string())
            .collect();
        if online == want {
            return p;
        }
        seen.push(v);
    }
}

/// An exact subscription to `rooms/{room}` makes a device present in the
/// room: retained `rooms/{room}/presence` JSON follows, the WebSocket chat
/// and HTTP see it; unsubscribing or disconnecting (cleanly or not)
/// removes it. Wildcard subscriptions are not presence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_room_subscriptions_and_disconnects() {
    let hub = Hub::start_default();
    let (mut watcher, _) = Mq4::connect(opts4(&hub, "presence-watcher")).await;
    watcher
        .subscribe("rooms/lobby/presence", QoS::AtLeastOnce)
        .await;
    let mut ws = hub.ws_as("wendy").await;
    ws.join("lobby").await;
    presence_becomes(&mut watcher, "lobby", &["wendy"]).await;

    let (mut dev_a, _) = Mq4::connect(opts4(&hub, "dev-a")).await;
    dev_a.subscribe("rooms/lobby", QoS::AtLeastOnce).await;
    presence_becomes(&mut watcher, "lobby", &["dev-a", "wendy"]).await;
    let frame = ws.recv_until("presence").await;
    assert_eq!(
        (frame["who"].as_str(), frame["state"].as_str()),
        (Some("dev-a"), Some("join"))
    );
    let listed = hub.http().room("lobby").await.expect("lobby is listed");
    assert_eq!(listed["online"], json!(2), "wendy and dev-a: {listed}");

    // Wildcards are not presence.
    let (mut dev_w, _) = Mq4::connect(opts4(&hub, "dev-wild")).await;
    dev_w.subscribe("rooms/+", QoS::AtLeastOnce).await;
    dev_w.subscribe("rooms/#", QoS::AtLeastOnce).await;
    // A late subscriber to the presence topic gets the retained state.
    let (mut late, _) = Mq5::connect(opts5(&hub, "presence-late")).await;
    late.subscribe("rooms/lobby/presence", Q5::AtMostOnce).await;
    let p = late.publish_in().await;
    assert!(p.retain, "{p:?}");
    let v = json(&p.payload);
    let mut online: Vec<&str> = v["online"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    online.sort_unstable();
    assert_eq!(online, ["dev-a", "wendy"], "{v}");

    // A clean disconnect removes it.
    dev_a.disconnect().await;
    presence_becomes(&mut watcher, "lobby", &["wendy"]).await;
    let frame = ws.recv_until("presence").await;
    assert_eq!(
        (frame["who"].as_str(), frame["state"].as_str()),
        (Some("dev-a"), Some("leave"))
    );
    // A dead socket removes it.
    let mut dev_b = raw4(&hub, "dev-b").await;
    dev_b
        .subscribe4(1, &[("rooms/lobby", QoS::AtMostOnce)])
        .await;
    presence_becomes(&mut watcher, "lobby", &["dev-b", "wendy"]).await;
    drop(dev_b);
    presence_becomes(&mut watcher, "lobby", &["wendy"]).await;
    // Unsubscribing removes it.
    let mut dev_c = raw5(&hub, "dev-c").await;
    dev_c
        .subscribe5(1, vec![v5::Filter::new("rooms/lobby", Q5::AtMostOnce)])
        .await;
    presence_becomes(&mut watcher, "lobby", &["dev-c", "wendy"]).await;
    dev_c
        .send5(v5::Packet::Unsubscribe(v5::Unsubscribe {
            pkid: 2,
            filters: vec!["rooms/lobby".into()],
            properties: None,
        }))
        .await;
    assert!(matches!(dev_c.recv5().await, v5::Packet::UnsubAck(_)));
    presence_becomes(&mut watcher, "lobby", &["wendy"]).await;
    // The WebSocket user leaving shows too.
    ws.close().await;
    presence_becomes(&mut watcher, "lobby", &[]).await;
    assert_eq!(hub.http().room("lobby").await.unwrap()["online"], json!(0));
}

/// `rooms/{room}/typing` passes through: an MQTT device typing reaches a
/// WebSocket participant as a typing frame (and MQTT subscribers as is), a
/// WebSocket user typing reaches MQTT as `{"room","who"}`; none of it is
/// stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_passes_through_both_ways() {
    let hub = Hub::start_default();
    let mut bob = hub.ws_as("bob").await;
    bob.join("kitchen").await;
    let (mut listener, _) = Mq4::connect(opts4(&hub, "typing-listener")).await;
    listener
        .subscribe("rooms/kitchen/typing", QoS::AtMostOnce)
        .await;

    mosquitto_pub(
        &hub,
        &[
            "-i",
            "typing-dev",
            "-t",
            "rooms/kitchen/typing",
            "-m",
            "...",
        ],
    )
    .await;
    let frame = bob.recv_until("typing").await;
    assert_eq!(
        (frame["room"].as_str(), frame["who"].as_str()),
        (Some("kitchen"), Some("typing-dev"))
    );
    let p = listener.publish_in().await;
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("rooms/kitchen/typing", &b"..."[..])
    );

    bob.send_json(&json!({"op":"typing","room":"kitchen"}))
        .await;
    let p = listener.publish_in().await;
    assert_eq!(p.topic, "rooms/kitchen/typing");
    assert_eq!(json(&p.payload), json!({"room":"kitchen","who":"bob"}));
    listener.expect_no_publish(QUIET).await;

    assert!(
        hub.http().message_list("kitchen", "").await.is_empty(),
        "typing is never stored"
    );
}

/// MQTT over WebSocket at `GET /mqtt` (subprotocol `mqtt`): the same
/// broker and rooms, 3.1.1 and 5; a text frame ends only that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_websocket_at_slash_mqtt() {
    let hub = Hub::start_default();
    let mut w4 = Raw::ws(&hub.mqtt_ws_url()).await;
    w4.connect4_ok("ws-dev4").await;
    assert_eq!(
        w4.subscribe4(1, &[("rooms/porch", QoS::AtLeastOnce)]).await,
        vec![v4::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let posted = hub.http().post_text("porch", "from http").await;
    let p = w4.next_publish4().await;
    assert_eq!(p.topic, "rooms/porch");
    assert_eq!(json(&p.payload), posted);

    w4.publish4("rooms/porch", QoS::AtLeastOnce, 2, b"from mqtt over ws")
        .await;
    let mut acked = false;
    let mut echoed = None;
    while !acked || echoed.is_none() {
        match w4.recv4().await {
            v4::Packet::PubAck(a) => {
                assert_eq!(a.pkid, 2);
                acked = true;
            }
            v4::Packet::Publish(p) => {
                w4.send4(v4::Packet::PubAck(v4::PubAck::new(p.pkid))).await;
                echoed = Some(json(&p.payload));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let m = echoed.unwrap();
    assert_eq!(
        (m["text"].as_str(), m["from"].as_str(), m["via"].as_str()),
        (Some("from mqtt over ws"), Some("ws-dev4"), Some("mqtt"))
    );
    assert_eq!(hub.http().message_list("porch", "").await, vec![posted, m]);

    // MQTT 5 over WebSocket, talking to a TCP client.
    let mut w5 = Raw::ws(&hub.mqtt_ws_url()).await;
    w5.connect5_ok("ws-dev5").await;
    w5.subscribe5(1, vec![v5::Filter::new("plain/t", Q5::ExactlyOnce)])
        .await;
    let mut tcp = raw4(&hub, "tcp-dev").await;
    tcp.publish4("plain/t", QoS::ExactlyOnce, 1, b"tcp to ws")
        .await;
    let p = w5.next_publish5().await;
    assert_eq!(
        (&p.payload[..], p.qos),
        (&b"tcp to ws"[..], Q5::ExactlyOnce)
    );
    assert!(matches!(w5.recv5().await, v5::Packet::PubRel(_)));

    // A text frame is not MQTT: that connection ends, the others go on.
    let mut bad = Raw::ws(&hub.mqtt_ws_url()).await;
    bad.connect4_ok("ws-bad").await;
    bad.send_ws_text("hello?").await;
    bad.expect_closed().await;
    w4.ping().await;
    w5.ping().await;
}

/// What a WebSocket participant and an MQTT subscriber of the same room see
/// is the same list of canonical messages, and the same as history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_sees_the_same_messages() {
    let hub = Hub::start_default();
    let mut ws = hub.ws_as("dora").await;
    ws.join("mixed").await;
    let (mut dev, _) = Mq4::connect(opts4(&hub, "mixed-dev")).await;
    dev.subscribe("rooms/mixed", QoS::AtLeastOnce).await;
    let mut sse = hub.sse("mixed", None).await;

    ws.post("mixed", "from ws").await;
    hub.http().post_text("mixed", "from http").await;
    dev.client
        .publish("rooms/mixed", QoS::AtLeastOnce, false, "from mqtt")
        .await
        .unwrap();

    let from_ws: Vec<Value> = ws.messages(3).await.iter().map(canonical).collect();
    let mut from_mqtt = Vec::new();
    for _ in 0..3 {
        from_mqtt.push(json(&dev.publish_on("rooms/mixed").await.payload));
    }
    let from_sse: Vec<Value> = sse.messages(3).await.iter().map(|e| e.json()).collect();
    let history = hub.http().message_list("mixed", "").await;
    assert_gap_free(&history);
    assert_eq!(from_ws, history);
    assert_eq!(from_mqtt, history);
    assert_eq!(from_sse, history);
    dev.expect_no_publish(Duration::from_millis(500)).await;
}

/// With `mqtt.websocket = false`, `GET /mqtt` is a 404 (TCP MQTT still
/// works).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_websocket_can_be_turned_off() {
    let hub = Hub::with_config("[mqtt]\nwebsocket = false\n");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            hub.mqtt_ws_url(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
    match tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            assert_eq!(response.status().as_u16(), 404)
        }
        other => panic!("expected 404 for GET /mqtt, got {other:?}"),
    }
    raw4(&hub, "tcp-still").await.ping().await;
}
