//! MQTT pub/sub on plain topics: QoS 0/1/2 flows in 3.1.1 and 5, the QoS
//! delivered (min of publish and subscription QoS), retained messages,
//! refused publishes (wildcard and `$` topics), shared subscriptions,
//! no-local, `$SYS`.

mod mqtt_support;

use std::collections::BTreeMap;

use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};
use rumqttc::QoS;
use serde_json::json;

fn q4(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn q5(n: u8) -> Q5 {
    match n {
        0 => Q5::AtMostOnce,
        1 => Q5::AtLeastOnce,
        _ => Q5::ExactlyOnce,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_flows_v311() {
    let hub = Hub::start_default();
    let (mut sub, _) = Mq4::connect(opts4(&hub, "flows4-sub")).await;
    let ack = sub.subscribe("flows/v311", QoS::ExactlyOnce).await;
    assert_eq!(
        ack.return_codes,
        vec![v4::SubscribeReasonCode::Success(QoS::ExactlyOnce)]
    );
    let (mut publ, ack) = Mq4::connect(opts4(&hub, "flows4-pub")).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    assert!(!ack.session_present);
    for n in 0..3u8 {
        publ.client
            .publish("flows/v311", q4(n), false, format!("q{n}"))
            .await
            .expect("publish request");
    }
    // The publisher's side: PUBACK for QoS 1; PUBREC, then (after rumqttc's
    // PUBREL) PUBCOMP for QoS 2.
    let mut acks = Vec::new();
    publ.wait_for("PUBCOMP", |p| {
        acks.push(format!("{p:?}"));
        matches!(p, rumqttc::Packet::PubComp(_)).then_some(())
    })
    .await;
    let kinds: Vec<&str> = acks
        .iter()
        .map(|a| a.split('(').next().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["PubAck", "PubRec", "PubComp"], "acks: {acks:?}");

    // The subscriber's side: each once, in order, at the publish's QoS.
    for n in 0..3u8 {
        let p = sub.publish_in().await;
        assert_eq!(
            (p.topic.as_str(), &p.payload[..]),
            ("flows/v311", format!("q{n}").as_bytes())
        );
        assert_eq!(p.qos, q4(n), "{p:?}");
        assert!(!p.retain && !p.dup, "{p:?}");
    }
    sub.expect_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_flows_v5() {
    let hub = Hub::start_default();
    let (mut sub, ack) = Mq5::connect(opts5(&hub, "flows5-sub")).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    let props = ack.properties.expect("an MQTT 5 CONNACK has properties");
    assert_eq!(props.max_packet_size, Some(256 * 1024), "{props:?}");
    assert!(props.receive_max.is_some(), "{props:?}");
    assert_eq!(props.shared_subscription_available, Some(0), "{props:?}");
    let ack = sub.subscribe("flows/v5", Q5::ExactlyOnce).await;
    assert_eq!(
        ack.return_codes,
        vec![v5::SubscribeReasonCode::Success(Q5::ExactlyOnce)]
    );
    let (mut publ, _) = Mq5::connect(opts5(&hub, "flows5-pub")).await;
    for n in 0..3u8 {
        publ.client
            .publish("flows/v5", q5(n), false, format!("q{n}"))
            .await
            .expect("publish request");
    }
    let puback = publ
        .wait_for("PUBACK", |p| match p {
            v5::Packet::PubAck(a) => Some(a.clone()),
            _ => None,
        })
        .await;
    assert_eq!(puback.reason, v5::PubAckReason::Success);
    let pubrec = publ
        .wait_for("PUBREC", |p| match p {
            v5::Packet::PubRec(a) => Some(a.clone()),
            _ => None,
        })
        .await;
    assert_eq!(pubrec.reason, v5::PubRecReason::Success);
    let pubcomp = publ
        .wait_for("PUBCOMP", |p| match p {
            v5::Packet::PubComp(a) => Some(a.clone()),
            _ => None,
        })
        .await;
    assert_eq!(pubcomp.reason, v5::PubCompReason::Success);
    assert_eq!(pubcomp.pkid, pubrec.pkid);

    for n in 0..3u8 {
        let p = sub.publish_in().await;
        assert_eq!(&p.topic[..], b"flows/v5");
        assert_eq!(&p.payload[..], format!("q{n}").as_bytes());
        assert_eq!(p.qos, q5(n), "{p:?}");
    }
    sub.expect_no_publish(QUIET).await;

    // MQTT 5 says when nobody was listening.
    publ.client
        .publish("flows/nobody-here", Q5::AtLeastOnce, false, "x")
        .await
        .expect("publish request");
    let puback = publ
        .wait_for("PUBACK", |p| match p {
            v5::Packet::PubAck(a) => Some(a.clone()),
            _ => None,
        })
        .await;
    assert_eq!(puback.reason, v5::PubAckReason::NoMatchingSubscribers);
}

/// The exact QoS 2 packet exchange, both ways, on the wire; a QoS 2
/// publish resent (DUP) before PUBREL is acknowledged but not delivered
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_exchange_on_the_wire_and_no_duplicate_on_resend() {
    let hub = Hub::start_default();
    let mut sub = raw4(&hub, "wire-sub").await;
    assert_eq!(
        sub.subscribe4(1, &[("wire/q2", QoS::ExactlyOnce)]).await,
        vec![v4::SubscribeReasonCode::Success(QoS::ExactlyOnce)]
    );
    let mut publ = raw4(&hub, "wire-pub").await;
    publ.publish4("wire/q2", QoS::ExactlyOnce, 7, b"once").await;
    assert_eq!(publ.recv4().await, v4::Packet::PubRec(v4::PubRec::new(7)));
    // The same packet again, as a client that lost the PUBREC would.
    let mut again = v4::Publish::new("wire/q2", QoS::ExactlyOnce, b"once".to_vec());
    again.pkid = 7;
    again.dup = true;
    publ.send4(v4::Packet::Publish(again)).await;
    assert_eq!(publ.recv4().await, v4::Packet::PubRec(v4::PubRec::new(7)));
    publ.send4(v4::Packet::PubRel(v4::PubRel::new(7))).await;
    assert_eq!(publ.recv4().await, v4::Packet::PubComp(v4::PubComp::new(7)));

    // To the subscriber: PUBLISH (QoS 2) -> PUBREC -> PUBREL -> PUBCOMP.
    let p = match sub.recv4().await {
        v4::Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert_eq!((p.qos, &p.payload[..]), (QoS::ExactlyOnce, &b"once"[..]));
    assert!(p.pkid != 0);
    sub.send4(v4::Packet::PubRec(v4::PubRec::new(p.pkid))).await;
    assert_eq!(
        sub.recv4().await,
        v4::Packet::PubRel(v4::PubRel::new(p.pkid))
    );
    sub.send4(v4::Packet::PubComp(v4::PubComp::new(p.pkid)))
        .await;
    sub.expect_quiet(QUIET).await;
    sub.ping().await;
}

/// Every (publish QoS, subscription QoS) pair delivers at the minimum of
/// the two, to 3.1.1 and MQTT 5 subscribers and to mosquitto_sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_qos_is_min_of_publish_and_subscription() {
    let hub = Hub::start_default();
    let mut subs4 = Vec::new();
    let mut subs5 = Vec::new();
    for s in 0..3u8 {
        let (mut c, _) = Mq4::connect(opts4(&hub, &format!("min4-sub{s}"))).await;
        c.subscribe("min/t", q4(s)).await;
        subs4.push(c);
        let (mut c, _) = Mq5::connect(opts5(&hub, &format!("min5-sub{s}"))).await;
        c.subscribe("min/t", q5(s)).await;
        subs5.push(c);
    }
    let mut mosq = MosquittoSub::start(&hub, &["-q", "1", "-t", "min/t"]).await;
    // A client with two overlapping subscriptions gets one copy, at the
    // higher of their QoS.
    let (mut both, _) = Mq4::connect(opts4(&hub, "min-both")).await;
    both.subscribe("min/#", QoS::AtMostOnce).await;
    both.subscribe("min/t", QoS::ExactlyOnce).await;

    let mut publ = raw5(&hub, "min-pub").await;
    for p in 0..3u8 {
        publ.publish5("min/t", q5(p), u16::from(p) + 1, format!("p{p}").as_bytes())
            .await;
    }
    for s in 0..3u8 {
        for p in 0..3u8 {
            let got = subs4[usize::from(s)].publish_in().await;
            assert_eq!(&got.payload[..], format!("p{p}").as_bytes());
            assert_eq!(got.qos, q4(p.min(s)), "3.1.1 sub QoS {s}, publish QoS {p}");
            let got = subs5[usize::from(s)].publish_in().await;
            assert_eq!(&got.payload[..], format!("p{p}").as_bytes());
            assert_eq!(got.qos, q5(p.min(s)), "MQTT 5 sub QoS {s}, publish QoS {p}");
        }
    }
    for p in 0..3u8 {
        let line = mosq.line_on("min/t").await;
        assert_eq!(line.payload, format!("p{p}"));
        assert_eq!(line.qos, p.min(1), "mosquitto_sub -q 1, publish QoS {p}");
        let got = both.publish_in().await;
        assert_eq!(&got.payload[..], format!("p{p}").as_bytes());
        assert_eq!(got.qos, q4(p), "overlapping subscriptions, publish QoS {p}");
    }
    both.expect_no_publish(QUIET).await;
    for c in &mut subs4 {
        c.expect_no_publish(std::time::Duration::from_millis(100))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_set_received_on_subscribe_and_cleared() {
    let hub = Hub::start_default();
    let (mut live, _) = Mq4::connect(opts4(&hub, "ret-live")).await;
    live.subscribe("home/#", QoS::AtLeastOnce).await;

    mosquitto_pub(
        &hub,
        &["-t", "home/kitchen/temp", "-q", "1", "-r", "-m", "21.5"],
    )
    .await;
    mosquitto_pub(&hub, &["-t", "home/hall/temp", "-q", "2", "-r", "-m", "19"]).await;
    // A live subscriber gets them as ordinary messages (3.1.1: retain 0).
    let a = live.publish_in().await;
    let b = live.publish_in().await;
    assert_eq!(
        [
            (&a.topic[..], &a.payload[..], a.retain),
            (&b.topic[..], &b.payload[..], b.retain)
        ],
        [
            ("home/kitchen/temp", &b"21.5"[..], false),
            ("home/hall/temp", &b"19"[..], false)
        ]
    );

    // A new subscriber gets the retained ones at once, flagged retained,
    // at min(retained QoS, subscription QoS).
    let mut mosq = MosquittoSub::start(&hub, &["-q", "1", "-t", "home/#"]).await;
    let mut got = BTreeMap::new();
    for _ in 0..2 {
        let l = mosq.line().await;
        assert!(l.retained, "{l:?}");
        assert_eq!(l.qos, 1, "{l:?}");
        got.insert(l.topic, l.payload);
    }
    assert_eq!(
        got,
        BTreeMap::from([
            ("home/hall/temp".to_string(), "19".to_string()),
            ("home/kitchen/temp".to_string(), "21.5".to_string()),
        ])
    );
    drop(mosq);
    let (mut exact, _) = Mq5::connect(opts5(&hub, "ret-exact")).await;
    exact.subscribe("home/kitchen/temp", Q5::AtMostOnce).await;
    let p = exact.publish_in().await;
    assert_eq!(
        (&p.payload[..], p.retain, p.qos),
        (&b"21.5"[..], true, Q5::AtMostOnce)
    );

    // Replace it.
    mosquitto_pub(&hub, &["-t", "home/kitchen/temp", "-r", "-m", "22"]).await;
    assert_eq!(
        &live.publish_on("home/kitchen/temp").await.payload[..],
        b"22"
    );
    assert_eq!(&exact.publish_in().await.payload[..], b"22");
    let (mut late, _) = Mq4::connect(opts4(&hub, "ret-late")).await;
    late.subscribe("home/kitchen/temp", QoS::AtLeastOnce).await;
    let p = late.publish_in().await;
    assert_eq!((&p.payload[..], p.retain), (&b"22"[..], true));
    late.expect_no_publish(QUIET).await;

    // Clear it with an empty retained message: passed on to those
    // subscribed, and no longer given to new subscribers.
    mosquitto_pub(&hub, &["-t", "home/kitchen/temp", "-r", "-n"]).await;
    let p = live.publish_on("home/kitchen/temp").await;
    assert!(p.payload.is_empty(), "{p:?}");
    let (mut after, _) = Mq4::connect(opts4(&hub, "ret-after")).await;
    after.subscribe("home/#", QoS::AtLeastOnce).await;
    let p = after.publish_in().await;
    assert_eq!(
        (&p.topic[..], &p.payload[..], p.retain),
        ("home/hall/temp", &b"19"[..], true)
    );
    after.expect_no_publish(QUIET).await;
}

/// A PUBLISH to a topic with a wildcard is refused: acknowledged (with
/// reason 0x90 in MQTT 5, plainly in 3.1.1), reported as JSON on
/// `$SYS/hubbub/errors/{client id}`, delivered to nobody; the connection
/// goes on. Topics under `$` are refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_to_a_wildcard_topic_is_refused() {
    let hub = Hub::start_default();
    let (mut watcher, _) = Mq4::connect(opts4(&hub, "wild-watcher")).await;
    watcher.subscribe("wild/#", QoS::ExactlyOnce).await;

    // 3.1.1, QoS 1.
    let mut c4 = raw4(&hub, "wild4").await;
    c4.subscribe4(1, &[("$SYS/hubbub/errors/wild4", QoS::AtMostOnce)])
        .await;
    c4.publish4("wild/+", QoS::AtLeastOnce, 9, b"nope").await;
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(c4.recv4().await);
    }
    assert!(
        got.contains(&v4::Packet::PubAck(v4::PubAck::new(9))),
        "3.1.1 gets a plain PUBACK: {got:?}"
    );
    let report = got
        .iter()
        .find_map(|p| match p {
            v4::Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no report on $SYS/hubbub/errors/wild4: {got:?}"));
    assert_eq!(report.topic, "$SYS/hubbub/errors/wild4");
    let report = json(&report.payload);
    assert_eq!(report["topic"], json!("wild/+"), "{report}");
    assert!(report["reason"].is_string(), "{report}");
    assert!(
        report["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{report}"
    );
    // QoS 2 and QoS 0 too.
    c4.publish4("wild/#", QoS::ExactlyOnce, 10, b"nope").await;
    let mut reports = 0;
    loop {
        match c4.recv4().await {
            v4::Packet::PubRec(r) => {
                assert_eq!(r.pkid, 10);
                break;
            }
            v4::Packet::Publish(_) => reports += 1,
            other => panic!("expected PUBREC, got {other:?}"),
        }
    }
    c4.publish4("wild/a/+/b", QoS::AtMostOnce, 0, b"nope").await;
    while reports < 2 {
        let p = c4.next_publish4().await;
        assert_eq!(p.topic, "$SYS/hubbub/errors/wild4");
        reports += 1;
    }
    // A topic under $ is the hub's.
    c4.publish4("$SYS/hubbub/fake", QoS::AtLeastOnce, 11, b"nope")
        .await;
    let mut acked = false;
    let mut reported = false;
    while !(acked && reported) {
        match c4.recv4().await {
            v4::Packet::PubAck(a) if a.pkid == 11 => acked = true,
            v4::Packet::Publish(p) if p.topic == "$SYS/hubbub/errors/wild4" => {
                assert_eq!(json(&p.payload)["topic"], json!("$SYS/hubbub/fake"));
                reported = true;
            }
            v4::Packet::PubRec(_) | v4::Packet::PubComp(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    // MQTT 5: the reason code says it.
    let mut c5 = raw5(&hub, "wild5").await;
    c5.subscribe5(
        1,
        vec![v5::Filter::new("$SYS/hubbub/errors/wild5", Q5::AtMostOnce)],
    )
    .await;
    c5.publish5("wild/+/x", Q5::AtLeastOnce, 3, b"nope").await;
    let mut acked = false;
    let mut reported = false;
    while !(acked && reported) {
        match c5.recv5().await {
            v5::Packet::PubAck(a) => {
                assert_eq!(a.pkid, 3);
                assert_eq!(a.reason, v5::PubAckReason::TopicNameInvalid, "{a:?}");
                acked = true;
            }
            v5::Packet::Publish(p) => {
                assert_eq!(&p.topic[..], b"$SYS/hubbub/errors/wild5");
                assert_eq!(json(&p.payload)["topic"], json!("wild/+/x"));
                reported = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Nobody got anything; both connections still work.
    watcher.expect_no_publish(QUIET).await;
    c4.ping().await;
    c5.ping().await;
    c4.publish4("wild/ok", QoS::AtLeastOnce, 12, b"fine").await;
    let p = watcher.publish_in().await;
    assert_eq!((&p.topic[..], &p.payload[..]), ("wild/ok", &b"fine"[..]));
}

/// `$share/...` is refused per filter (SUBACK 0x80 in 3.1.1, 0x9E in 5);
/// the other filters of the same SUBSCRIBE are granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscriptions_are_refused() {
    let hub = Hub::start_default();
    let (mut c4, _) = Mq4::connect(opts4(&hub, "share4")).await;
    c4.client
        .subscribe_many([
            v4::SubscribeFilter::new("$share/group/share/t".into(), QoS::AtLeastOnce),
            v4::SubscribeFilter::new("share/t".into(), QoS::AtLeastOnce),
        ])
        .await
        .expect("subscribe request");
    let ack = c4
        .wait_for("SUBACK", |p| match p {
            rumqttc::Packet::SubAck(a) => Some(a.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        ack.return_codes,
        vec![
            v4::SubscribeReasonCode::Failure,
            v4::SubscribeReasonCode::Success(QoS::AtLeastOnce)
        ]
    );
    // The raw byte for 3.1.1 is 0x80.
    let mut raw = raw4(&hub, "share4-raw").await;
    raw.send_bytes(&encode4(&v4::Packet::Subscribe(v4::Subscribe {
        pkid: 5,
        filters: vec![v4::SubscribeFilter::new(
            "$share/g/x".into(),
            QoS::AtMostOnce,
        )],
    })))
    .await;
    match raw.recv4().await {
        v4::Packet::SubAck(a) => {
            assert_eq!(a.return_codes, vec![v4::SubscribeReasonCode::Failure])
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }

    let (mut c5, _) = Mq5::connect(opts5(&hub, "share5")).await;
    let ack = c5
        .subscribe_filters(vec![
            v5::Filter::new("$share/group/share/t", Q5::AtLeastOnce),
            v5::Filter::new("share/t", Q5::AtLeastOnce),
        ])
        .await;
    assert_eq!(
        ack.return_codes,
        vec![
            v5::SubscribeReasonCode::SharedSubscriptionsNotSupported,
            v5::SubscribeReasonCode::Success(Q5::AtLeastOnce)
        ]
    );
    // The granted filters work; each subscriber gets its own copy.
    let mut publ = raw4(&hub, "share-pub").await;
    publ.publish4("share/t", QoS::AtLeastOnce, 1, b"both").await;
    assert_eq!(&c4.publish_in().await.payload[..], b"both");
    assert_eq!(&c5.publish_in().await.payload[..], b"both");
}

/// MQTT 5 no-local: a subscriber with it does not get its own publishes on
/// a plain topic, but gets everyone else's. On `rooms/{room}` the hub is
/// the publisher, so the sender gets the canonical message all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_is_honoured_on_plain_topics_only() {
    let hub = Hub::start_default();
    let (mut a, _) = Mq5::connect(opts5(&hub, "nl-a")).await;
    let mut f = v5::Filter::new("nl/t", Q5::AtLeastOnce);
    f.nolocal = true;
    let mut r = v5::Filter::new("rooms/nolocal", Q5::AtLeastOnce);
    r.nolocal = true;
    a.subscribe_filters(vec![f, r]).await;
    let (mut b, _) = Mq5::connect(opts5(&hub, "nl-b")).await;
    b.subscribe("nl/t", Q5::AtLeastOnce).await;

    a.client
        .publish("nl/t", Q5::AtLeastOnce, false, "from a")
        .await
        .unwrap();
    assert_eq!(&b.publish_in().await.payload[..], b"from a");
    b.client
        .publish("nl/t", Q5::AtLeastOnce, false, "from b")
        .await
        .unwrap();
    assert_eq!(
        &a.publish_on("nl/t").await.payload[..],
        b"from b",
        "a gets others' messages but not its own"
    );

    a.client
        .publish("rooms/nolocal", Q5::AtLeastOnce, false, "to the room")
        .await
        .unwrap();
    let m = json(&a.publish_on("rooms/nolocal").await.payload);
    assert_eq!(
        (m["text"].as_str(), m["from"].as_str(), m["via"].as_str()),
        (Some("to the room"), Some("nl-a"), Some("mqtt")),
        "{m}"
    );
    a.expect_no_publish(QUIET).await;
}

/// `$SYS/hubbub/...` carries the broker's statistics, retained; `#` does
/// not match it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_topics_are_published_and_not_matched_by_hash() {
    let hub = Hub::start_default();
    let (mut all, _) = Mq4::connect(opts4(&hub, "sys-all")).await;
    all.subscribe("#", QoS::AtMostOnce).await;
    let (mut sys, _) = Mq4::connect(opts4(&hub, "sys-sys")).await;
    sys.subscribe("$SYS/hubbub/#", QoS::AtMostOnce).await;
    let mut seen = BTreeMap::new();
    while !seen.contains_key("$SYS/hubbub/clients/connected")
        || !seen.contains_key("$SYS/hubbub/uptime")
    {
        let p = sys.publish_in().await;
        assert!(p.topic.starts_with("$SYS/hubbub/"), "{p:?}");
        seen.insert(p.topic.clone(), text(&p.payload));
    }
    assert!(
        seen["$SYS/hubbub/clients/connected"].parse::<u64>().is_ok(),
        "{seen:?}"
    );
    all.expect_no_publish(QUIET).await;
}

/// The hub has at most min(client's receive maximum, mqtt.max_inflight)
/// QoS 1/2 messages unacknowledged at a client; the rest wait their turn,
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_deliveries_are_capped_by_receive_maximum_and_max_inflight() {
    let hub = Hub::with_config("[mqtt]\nmax_inflight = 3\n");
    // MQTT 5 asks for 2; 3.1.1 gets mqtt.max_inflight = 3.
    let mut c5 = Raw::tcp(hub.mqtt_addr()).await;
    let mut connect = connect5("flow5", true, 60);
    let mut props = v5::ConnectProperties::new();
    props.receive_maximum = Some(2);
    connect.properties = Some(props);
    c5.connect5(connect, None, None).await;
    c5.subscribe5(1, vec![v5::Filter::new("flow/t", Q5::AtLeastOnce)])
        .await;
    let mut c4 = raw4(&hub, "flow4").await;
    c4.subscribe4(1, &[("flow/t", QoS::ExactlyOnce)]).await;

    let mut publ = raw4(&hub, "flow-pub").await;
    for i in 1..=6u16 {
        publ.publish4("flow/t", QoS::ExactlyOnce, i, format!("m{i}").as_bytes())
            .await;
        assert!(matches!(publ.recv4().await, v4::Packet::PubRec(_)));
        publ.send4(v4::Packet::PubRel(v4::PubRel::new(i))).await;
        assert!(matches!(publ.recv4().await, v4::Packet::PubComp(_)));
    }

    // MQTT 5 client: two, then nothing until it acknowledges.
    let mut got5 = Vec::new();
    for _ in 0..2 {
        match c5.recv5().await {
            v5::Packet::Publish(p) => got5.push(p),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    c5.expect_quiet(std::time::Duration::from_millis(700)).await;
    // 3.1.1 client at QoS 2: three PUBLISHes in flight, then nothing.
    let mut got4 = Vec::new();
    for _ in 0..3 {
        match c4.recv4().await {
            v4::Packet::Publish(p) => got4.push(p),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    c4.expect_quiet(std::time::Duration::from_millis(700)).await;

    // Each acknowledgement lets one more through; all arrive, in order.
    let mut texts5 = Vec::new();
    while texts5.len() < 6 {
        let p = got5.remove(0);
        texts5.push(text(&p.payload));
        c5.send5(v5::Packet::PubAck(v5::PubAck::new(p.pkid, None)))
            .await;
        if texts5.len() + got5.len() < 6 {
            match c5.recv5().await {
                v5::Packet::Publish(p) => got5.push(p),
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }
    assert_eq!(texts5, ["m1", "m2", "m3", "m4", "m5", "m6"]);
    let mut texts4 = Vec::new();
    while texts4.len() < 6 {
        let p = got4.remove(0);
        texts4.push(text(&p.payload));
        // A QoS 2 delivery stays in flight until PUBCOMP.
        c4.send4(v4::Packet::PubRec(v4::PubRec::new(p.pkid))).await;
        match c4.recv4().await {
            v4::Packet::PubRel(r) => assert_eq!(r.pkid, p.pkid),
            v4::Packet::Publish(_) => panic!("a slot was freed before PUBCOMP"),
            other => panic!("expected PUBREL, got {other:?}"),
        }
        c4.send4(v4::Packet::PubComp(v4::PubComp::new(p.pkid)))
            .await;
        if texts4.len() + got4.len() < 6 {
            match c4.recv4().await {
                v4::Packet::Publish(p) => got4.push(p),
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }
    assert_eq!(texts4, ["m1", "m2", "m3", "m4", "m5", "m6"]);
    c4.expect_quiet(std::time::Duration::from_millis(300)).await;
}

/// MQTT 5 pass-through: user properties, content type, response topic and
/// correlation data reach subscribers unchanged; a message larger than the
/// subscriber's maximum packet size is not sent to it; retain-as-published
/// keeps the retain flag on live delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_properties_max_packet_size_and_retain_as_published() {
    let hub = Hub::start_default();
    let mut small = opts5(&hub, "props-small");
    small.set_max_packet_size(Some(200));
    let (mut small, _) = Mq5::connect(small).await;
    let mut keep = v5::Filter::new("props/#", Q5::AtLeastOnce);
    keep.preserve_retain = true;
    small.subscribe_filters(vec![keep]).await;
    let (mut plain, _) = Mq5::connect(opts5(&hub, "props-plain")).await;
    plain.subscribe("props/#", Q5::AtLeastOnce).await;

    let (publ, _) = Mq5::connect(opts5(&hub, "props-pub")).await;
    let properties = v5::PublishProperties {
        user_properties: vec![
            ("unit".into(), "celsius".into()),
            ("unit".into(), "again".into()),
        ],
        content_type: Some("text/plain".into()),
        response_topic: Some("props/replies".into()),
        correlation_data: Some(bytes::Bytes::from_static(b"corr-1")),
        payload_format_indicator: Some(1),
        ..Default::default()
    };
    publ.client
        .publish_with_properties(
            "props/temp",
            Q5::AtLeastOnce,
            false,
            "21.5",
            properties.clone(),
        )
        .await
        .unwrap();
    for c in [&mut small, &mut plain] {
        let p = c.publish_in().await;
        let got = p.properties.expect("properties are passed on");
        assert_eq!(got.user_properties, properties.user_properties);
        assert_eq!(got.content_type, properties.content_type);
        assert_eq!(got.response_topic, properties.response_topic);
        assert_eq!(got.correlation_data, properties.correlation_data);
        assert_eq!(got.payload_format_indicator, Some(1));
    }

    // Too big for "props-small" (max 200 bytes): only "props-plain" gets it.
    publ.client
        .publish("props/big", Q5::AtLeastOnce, false, vec![b'b'; 500])
        .await
        .unwrap();
    publ.client
        .publish("props/retained", Q5::AtLeastOnce, true, "r")
        .await
        .unwrap();
    assert_eq!(plain.publish_in().await.payload.len(), 500);
    let p = plain.publish_in().await;
    assert_eq!((&p.topic[..], p.retain), (&b"props/retained"[..], false));
    let p = small.publish_in().await;
    assert_eq!(
        (&p.topic[..], p.retain),
        (&b"props/retained"[..], true),
        "the big one is skipped; retain-as-published keeps the flag"
    );
    small.expect_no_publish(QUIET).await;
}
