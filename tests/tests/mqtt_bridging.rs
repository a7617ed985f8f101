//! The bridging guarantee: messages posted on any transport reach every
//! subscriber on every transport exactly once, in the room's seq order,
//! and are in history once.

mod mqtt_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};
use rumqttc::QoS;
use serde_json::{json, Value};
use tokio::sync::Barrier;

const ROOM: &str = "bridge";
const WS_CLIENTS: usize = 10;
const MQTT_CLIENTS: usize = 10;
const PER_CLIENT: usize = 50;
const TOTAL: usize = (WS_CLIENTS + MQTT_CLIENTS) * PER_CLIENT;

/// What one client saw: the messages (canonical JSON) and its acks.
struct Seen {
    who: String,
    messages: Vec<Value>,
    acks: usize,
}

async fn ws_client(url: String, c: usize, barrier: Arc<Barrier>) -> Seen {
    let who = format!("ws-{c}");
    let mut ws = WsClient::connect(&url).await;
    ws.hello(&who).await;
    ws.join(ROOM).await;
    barrier.wait().await;
    for i in 0..PER_CLIENT {
        let text = format!("{who} says {i}");
        ws.send_post(ROOM, &text, Some(&text)).await;
    }
    let mut seen = Seen {
        who,
        messages: Vec::with_capacity(TOTAL),
        acks: 0,
    };
    while seen.messages.len() < TOTAL || seen.acks < PER_CLIENT {
        match ws.recv_frame().await {
            Frame::Json(v) => match frame_type(&v) {
                "message" => seen.messages.push(canonical(&v)),
                "ack" => {
                    assert_eq!(v["duplicate"], json!(false), "{v}");
                    seen.acks += 1;
                }
                "presence" | "typing" => {}
                _ => panic!("{}: unexpected frame {v}", seen.who),
            },
            Frame::Close(c) => panic!(
                "{} was closed ({c:?}) after {} messages and {} acks",
                seen.who,
                seen.messages.len(),
                seen.acks
            ),
        }
    }
    seen
}

/// Half the MQTT clients speak 3.1.1, half MQTT 5; half the posts are
/// plain text, half JSON with a ref.
async fn mqtt_client(options: Hub4or5, c: usize, barrier: Arc<Barrier>) -> Seen {
    let who = format!("mq-{c}");
    let topic = format!("rooms/{ROOM}");
    let body = |i: usize| {
        let text = format!("{who} says {i}");
        if i % 2 == 1 {
            json!({"text": text, "ref": text}).to_string()
        } else {
            text
        }
    };
    let mut seen = Seen {
        who: who.clone(),
        messages: Vec::with_capacity(TOTAL),
        acks: 0,
    };
    match options {
        Hub4or5::V4(options) => {
            let (mut m, _) = Mq4::connect(options).await;
            m.subscribe(&topic, QoS::AtLeastOnce).await;
            barrier.wait().await;
            for i in 0..PER_CLIENT {
                m.client
                    .publish(&topic, QoS::AtLeastOnce, false, body(i))
                    .await
                    .expect("publish request");
            }
            while seen.messages.len() < TOTAL || seen.acks < PER_CLIENT {
                match m.next(RECV_TIMEOUT).await {
                    Some(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                        assert_eq!(p.topic, topic);
                        seen.messages.push(json(&p.payload));
                    }
                    Some(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) => {
                        seen.acks += 1
                    }
                    Some(Ok(_)) => {}
                    other => panic!(
                        "{who}: {other:?} after {} messages and {} acks",
                        seen.messages.len(),
                        seen.acks
                    ),
                }
            }
        }
        Hub4or5::V5(options) => {
            let (mut m, _) = Mq5::connect(options).await;
            m.subscribe(&topic, Q5::AtLeastOnce).await;
            barrier.wait().await;
            for i in 0..PER_CLIENT {
                m.client
                    .publish(&topic, Q5::AtLeastOnce, false, body(i))
                    .await
                    .expect("publish request");
            }
            while seen.messages.len() < TOTAL || seen.acks < PER_CLIENT {
                match m.next(RECV_TIMEOUT).await {
                    Some(Ok(rumqttc::v5::Event::Incoming(v5::Packet::Publish(p)))) => {
                        assert_eq!(&p.topic[..], topic.as_bytes());
                        seen.messages.push(json(&p.payload));
                    }
                    Some(Ok(rumqttc::v5::Event::Incoming(v5::Packet::PubAck(a)))) => {
                        assert_eq!(a.reason, v5::PubAckReason::Success, "{a:?}");
                        seen.acks += 1
                    }
                    Some(Ok(_)) => {}
                    other => panic!(
                        "{who}: {other:?} after {} messages and {} acks",
                        seen.messages.len(),
                        seen.acks
                    ),
                }
            }
        }
    }
    seen
}

/// Options for a 3.1.1 or an MQTT 5 client.
#[allow(clippy::large_enum_variant)] // a handful, moved once
enum Hub4or5 {
    V4(rumqttc::MqttOptions),
    V5(rumqttc::v5::MqttOptions),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_from_mqtt_and_websocket_reach_all_twenty_in_one_order() {
    let hub = Hub::start_default();
    let barrier = Arc::new(Barrier::new(WS_CLIENTS + MQTT_CLIENTS));
    let mut tasks = Vec::new();
    for c in 0..WS_CLIENTS {
        tasks.push(tokio::spawn(ws_client(hub.ws_url(), c, barrier.clone())));
    }
    for c in 0..MQTT_CLIENTS {
        let id = format!("mq-{c}");
        let options = if c % 2 == 1 {
            Hub4or5::V5(opts5(&hub, &id))
        } else {
            Hub4or5::V4(opts4(&hub, &id))
        };
        tasks.push(tokio::spawn(mqtt_client(options, c, barrier.clone())));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.expect("client task"));
    }

    let history = hub.http().all_messages(ROOM).await;
    assert_eq!(history.len(), TOTAL, "history holds each message once");
    assert_gap_free(&history);
    let texts: BTreeSet<&str> = history.iter().map(text_of).collect();
    assert_eq!(texts.len(), TOTAL, "no text stored twice");
    for who in (0..WS_CLIENTS)
        .map(|c| format!("ws-{c}"))
        .chain((0..MQTT_CLIENTS).map(|c| format!("mq-{c}")))
    {
        for i in 0..PER_CLIENT {
            assert!(
                texts.contains(format!("{who} says {i}").as_str()),
                "{who} says {i} is missing from history"
            );
        }
        let from: Vec<&Value> = history.iter().filter(|m| m["from"] == json!(who)).collect();
        assert_eq!(from.len(), PER_CLIENT, "{who}'s messages carry its name");
        let via = if who.starts_with("ws-") { "ws" } else { "mqtt" };
        assert!(
            from.iter().all(|m| m["via"] == json!(via)),
            "{who} posted via {via}"
        );
    }
    for seen in &all {
        assert_eq!(
            seen.acks, PER_CLIENT,
            "{}: every post acknowledged",
            seen.who
        );
        assert_eq!(
            seen.messages.len(),
            TOTAL,
            "{}: every message, exactly once",
            seen.who
        );
        if seen.messages != history {
            let first = seen
                .messages
                .iter()
                .zip(&history)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{} saw the messages differently from history, first at position {first}: \
                 {} vs {}",
                seen.who, seen.messages[first], history[first]
            );
        }
    }
}
