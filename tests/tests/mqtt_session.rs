//! MQTT connection lifecycle: wills, persistent sessions, keep-alive,
//! takeover of a duplicate client id.

mod mqtt_support;

use std::time::Duration;

use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};
use rumqttc::QoS;

/// A subscriber to `wills/#` (QoS 1).
async fn will_watcher(hub: &Hub, id: &str) -> Mq4 {
    let (mut w, _) = Mq4::connect(opts4(hub, id)).await;
    w.subscribe("wills/#", QoS::AtLeastOnce).await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_socket_dies() {
    let hub = Hub::start_default();
    let mut watcher = will_watcher(&hub, "will-watcher").await;

    // rumqttc 3.1.1: the task that owns the socket is aborted.
    let mut o = opts4(&hub, "will4");
    o.set_last_will(rumqttc::LastWill::new(
        "wills/will4",
        "will4 is gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (mut c, _) = Mq4::connect(o).await;
    c.subscribe("x/y", QoS::AtMostOnce).await;
    c.kill().await;
    let p = watcher.publish_on("wills/will4").await;
    assert_eq!(
        (&p.payload[..], p.qos),
        (&b"will4 is gone"[..], QoS::AtLeastOnce)
    );

    // Raw MQTT 5: the socket is dropped; a retained will stays for later
    // subscribers.
    let mut raw = Raw::tcp(hub.mqtt_addr()).await;
    let will = v5::LastWill::new("wills/will5", "will5 is gone", Q5::AtLeastOnce, true, None);
    let ack = raw
        .connect5(connect5("will5", true, 60), Some(will), None)
        .await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    raw.ping().await;
    drop(raw);
    let p = watcher.publish_on("wills/will5").await;
    assert_eq!(&p.payload[..], b"will5 is gone");
    let (mut late, _) = Mq4::connect(opts4(&hub, "will-late")).await;
    late.subscribe("wills/will5", QoS::AtLeastOnce).await;
    let p = late.publish_in().await;
    assert_eq!((&p.payload[..], p.retain), (&b"will5 is gone"[..], true));

    // mosquitto_sub killed (SIGKILL, by its pid): its will goes out.
    let mosq = MosquittoSub::start(
        &hub,
        &[
            "-i",
            "will-mosq",
            "-t",
            "x/z",
            "--will-topic",
            "wills/mosq",
            "--will-payload",
            "mosq is gone",
        ],
    )
    .await;
    drop(mosq);
    let p = watcher.publish_on("wills/mosq").await;
    assert_eq!(&p.payload[..], b"mosq is gone");
    watcher.expect_no_publish(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_will_after_a_clean_disconnect() {
    let hub = Hub::start_default();
    let mut watcher = will_watcher(&hub, "nowill-watcher").await;

    let mut o = opts4(&hub, "nowill4");
    o.set_last_will(rumqttc::LastWill::new(
        "wills/nowill4",
        "no!",
        QoS::AtLeastOnce,
        false,
    ));
    let (mut c, _) = Mq4::connect(o).await;
    c.disconnect().await;

    // mosquitto_pub sends DISCONNECT after its message.
    mosquitto_pub(
        &hub,
        &[
            "-t",
            "x/y",
            "-m",
            "hi",
            "-q",
            "1",
            "--will-topic",
            "wills/mosq",
            "--will-payload",
            "no!",
        ],
    )
    .await;

    // MQTT 5: DISCONNECT 0x00 drops the will; 0x04 asks for it. Each in
    // its full form and in the short forms MQTT 5 allows (no reason code
    // means 0x00; a reason code without a property length means none).
    let forms: [(&str, &[u8]); 5] = [
        ("nowill5-short", &[0xE0, 0x00]),
        ("nowill5-reason", &[0xE0, 0x01, 0x00]),
        ("nowill5-full", &[0xE0, 0x02, 0x00, 0x00]),
        ("yeswill5-reason", &[0xE0, 0x01, 0x04]),
        ("yeswill5-full", &[0xE0, 0x02, 0x04, 0x00]),
    ];
    for (id, disconnect) in forms {
        let mut raw = Raw::tcp(hub.mqtt_addr()).await;
        let will = v5::LastWill::new(format!("wills/{id}"), id, Q5::AtLeastOnce, false, None);
        raw.connect5(connect5(id, true, 60), Some(will), None).await;
        raw.send_bytes(disconnect).await;
        let said = raw.expect_closed().await;
        assert!(said.is_empty(), "{id}: the hub just closes: {said:?}");
    }
    let mut wills = Vec::new();
    for _ in 0..2 {
        let p = watcher.publish_in().await;
        wills.push((p.topic.clone(), text(&p.payload)));
    }
    wills.sort();
    assert_eq!(
        wills,
        [
            (
                "wills/yeswill5-full".to_string(),
                "yeswill5-full".to_string()
            ),
            (
                "wills/yeswill5-reason".to_string(),
                "yeswill5-reason".to_string()
            ),
        ],
        "only the wills of DISCONNECT 0x04 are published"
    );
    watcher.expect_no_publish(QUIET).await;
}

/// 3.1.1 clean_session=false: the subscription and the QoS 1 messages
/// published while the client was away are there when it comes back, in
/// order; QoS 0 ones are not kept. clean_session=true then discards it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_v311_gets_what_it_missed() {
    let hub = Hub::start_default();
    let mut o = opts4(&hub, "persist4");
    o.set_clean_session(false);
    let (mut c, ack) = Mq4::connect(o.clone()).await;
    assert!(!ack.session_present);
    c.subscribe("inbox/persist4", QoS::AtLeastOnce).await;
    c.disconnect().await;

    // MQTT 5 publisher: PUBACK says there was a matching (absent) subscriber.
    let mut publ = raw5(&hub, "persist4-pub").await;
    for i in 1..=5u16 {
        publ.publish5(
            "inbox/persist4",
            Q5::AtLeastOnce,
            i,
            format!("m{i}").as_bytes(),
        )
        .await;
        match publ.recv5().await {
            v5::Packet::PubAck(a) => {
                assert_eq!((a.pkid, a.reason), (i, v5::PubAckReason::Success))
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    publ.publish5("inbox/persist4", Q5::AtMostOnce, 0, b"qos0 is not kept")
        .await;
    publ.publish5("inbox/persist4", Q5::ExactlyOnce, 6, b"m6 (QoS 2 -> 1)")
        .await;
    assert!(matches!(publ.recv5().await, v5::Packet::PubRec(_)));

    let (mut c, ack) = Mq4::connect(o).await;
    assert!(ack.session_present, "the session was kept: {ack:?}");
    for i in 1..=5 {
        let p = c.publish_in().await;
        assert_eq!(
            (p.topic.as_str(), &p.payload[..], p.qos),
            (
                "inbox/persist4",
                format!("m{i}").as_bytes(),
                QoS::AtLeastOnce
            )
        );
    }
    assert_eq!(&c.publish_in().await.payload[..], b"m6 (QoS 2 -> 1)");
    c.expect_no_publish(QUIET).await;
    c.disconnect().await;

    // clean_session=true: no session, no subscription.
    let mut o = opts4(&hub, "persist4");
    o.set_clean_session(true);
    let (mut c, ack) = Mq4::connect(o).await;
    assert!(!ack.session_present);
    publ.publish5("inbox/persist4", Q5::AtLeastOnce, 7, b"after clean")
        .await;
    match publ.recv5().await {
        v5::Packet::PubAck(a) => assert_eq!(a.reason, v5::PubAckReason::NoMatchingSubscribers),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    c.expect_no_publish(QUIET).await;
}

/// A QoS 1 message sent but not acknowledged before the connection died is
/// sent again, with DUP, when the session resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_message_is_resent_with_dup_on_resume() {
    let hub = Hub::start_default();
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let mut connect = v4::Connect::new("resend4");
    connect.clean_session = false;
    connect.keep_alive = 60;
    assert!(!c.connect4(connect.clone()).await.session_present);
    c.subscribe4(1, &[("resend/t", QoS::AtLeastOnce)]).await;
    let mut publ = raw4(&hub, "resend-pub").await;
    publ.publish4("resend/t", QoS::AtLeastOnce, 1, b"ack me")
        .await;
    let first = match c.recv4().await {
        v4::Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    };
    assert!(!first.dup);
    drop(c); // no PUBACK

    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let ack = c.connect4(connect).await;
    assert!(ack.session_present);
    let again = match c.recv4().await {
        v4::Packet::Publish(p) => p,
        other => panic!("expected the PUBLISH again, got {other:?}"),
    };
    assert_eq!(
        (again.pkid, &again.payload[..], again.dup),
        (first.pkid, &b"ack me"[..], true)
    );
    c.send4(v4::Packet::PubAck(v4::PubAck::new(again.pkid)))
        .await;
    c.expect_quiet(QUIET).await;
}

/// MQTT 5 sessions last as long as the client asks (capped by
/// mqtt.max_session_expiry_secs, which CONNACK then states); expiry 0, the
/// default, ends the session with the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_v5_follows_session_expiry() {
    let hub = Hub::with_config("[mqtt]\nmax_session_expiry_secs = 3600\n");
    let mut o = opts5(&hub, "persist5");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(1_000_000));
    let (mut c, ack) = Mq5::connect(o.clone()).await;
    assert!(!ack.session_present);
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(
        props.session_expiry_interval,
        Some(3600),
        "capped: {props:?}"
    );
    c.subscribe("inbox/persist5", Q5::AtLeastOnce).await;
    c.disconnect().await;

    let mut publ = raw4(&hub, "persist5-pub").await;
    publ.publish4("inbox/persist5", QoS::AtLeastOnce, 1, b"while away")
        .await;
    publ.recv4().await;
    let (mut c, ack) = Mq5::connect(o).await;
    assert!(ack.session_present);
    assert_eq!(&c.publish_in().await.payload[..], b"while away");
    c.disconnect().await;

    // No session expiry: nothing is kept.
    let mut o = opts5(&hub, "fleeting5");
    o.set_clean_start(false);
    let (mut c, _) = Mq5::connect(o.clone()).await;
    c.subscribe("inbox/fleeting5", Q5::AtLeastOnce).await;
    c.disconnect().await;
    let (_c, ack) = Mq5::connect(o).await;
    assert!(!ack.session_present);
}

/// A 3.1.1 persistent session expires after mqtt.max_session_expiry_secs,
/// even if the periodic sweep (every mqtt.sys_interval_secs) has not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_v311_expires_after_max_session_expiry() {
    let hub = Hub::with_config("[mqtt]\nmax_session_expiry_secs = 1\nsys_interval_secs = 3600\n");
    let mut o = opts4(&hub, "expire4");
    o.set_clean_session(false);
    let (mut c, _) = Mq4::connect(o.clone()).await;
    c.subscribe("inbox/expire4", QoS::AtLeastOnce).await;
    c.disconnect().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_c, ack) = Mq4::connect(o).await;
    assert!(
        !ack.session_present,
        "the session should have expired 1 s after the disconnect"
    );
}

/// Keep-alive 0 means no timeout; a client with keep-alive 1 s that stops
/// sending is closed (after 1.5 x keep-alive) and its will published; one
/// that keeps pinging stays. MQTT 5 is told why (DISCONNECT 0x8D).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_zero_and_keep_alive_timeout() {
    let hub = Hub::start_default();
    let mut watcher = will_watcher(&hub, "ka-watcher").await;

    let mut zero = Raw::tcp(hub.mqtt_addr()).await;
    let mut c = v4::Connect::new("ka-zero");
    c.keep_alive = 0;
    c.last_will = Some(v4::LastWill::new(
        "wills/ka-zero",
        "zero died",
        QoS::AtLeastOnce,
        false,
    ));
    zero.connect4(c).await;

    let mut pinger = Raw::tcp(hub.mqtt_addr()).await;
    let mut c = v4::Connect::new("ka-pinger");
    c.keep_alive = 2;
    c.last_will = Some(v4::LastWill::new(
        "wills/ka-pinger",
        "pinger died",
        QoS::AtLeastOnce,
        false,
    ));
    pinger.connect4(c).await;

    let mut silent4 = Raw::tcp(hub.mqtt_addr()).await;
    let mut c = v4::Connect::new("ka-silent4");
    c.keep_alive = 1;
    c.last_will = Some(v4::LastWill::new(
        "wills/ka-silent4",
        "silent4 timed out",
        QoS::AtLeastOnce,
        false,
    ));
    silent4.connect4(c).await;

    let mut silent5 = Raw::tcp(hub.mqtt_addr()).await;
    let will = v5::LastWill::new(
        "wills/ka-silent5",
        "silent5 timed out",
        Q5::AtLeastOnce,
        false,
        None,
    );
    silent5
        .connect5(connect5("ka-silent5", true, 1), Some(will), None)
        .await;

    // The pinger (keep-alive 2 s) pings every 500 ms while the silent ones
    // time out, then says goodbye properly.
    let pinging = tokio::spawn(async move {
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            pinger.ping().await;
        }
        pinger.send4(v4::Packet::Disconnect).await;
        pinger.expect_closed().await;
    });
    assert!(
        silent4.expect_closed().await.is_empty(),
        "3.1.1 is just closed"
    );
    let said = silent5.expect_closed().await;
    match said.as_slice() {
        [Pkt::V5(v5::Packet::Disconnect(d))] => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::KeepAliveTimeout)
        }
        other => panic!("MQTT 5 gets DISCONNECT 0x8D before the close, got {other:?}"),
    }
    let mut wills = Vec::new();
    for _ in 0..2 {
        wills.push(text(&watcher.publish_in().await.payload));
    }
    wills.sort();
    assert_eq!(wills, ["silent4 timed out", "silent5 timed out"]);

    pinging.await.expect("the pinger stayed connected");
    // Keep-alive 0 has now been idle well past any timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    zero.ping().await;
    watcher.expect_no_publish(QUIET).await;
}

/// A second connection with the same client id takes over: the first is
/// closed (MQTT 5 is told: DISCONNECT 0x8E), the second works, everyone
/// else carries on; with clean_session=false it takes the session too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_id_takes_over() {
    let hub = Hub::start_default();
    let (mut bystander, _) = Mq4::connect(opts4(&hub, "take-bystander")).await;
    bystander.subscribe("take/#", QoS::AtLeastOnce).await;

    // 3.1.1: the old rumqttc connection just ends.
    let (mut old, _) = Mq4::connect(opts4(&hub, "take4")).await;
    old.subscribe("take/old", QoS::AtLeastOnce).await;
    let mut new = raw4(&hub, "take4").await;
    old.expect_end().await;
    new.subscribe4(1, &[("take/new", QoS::AtLeastOnce)]).await;
    new.publish4("take/new", QoS::AtLeastOnce, 2, b"from the new one")
        .await;
    let mut got_ack = false;
    let mut got_msg = false;
    while !(got_ack && got_msg) {
        match new.recv4().await {
            v4::Packet::PubAck(_) => got_ack = true,
            v4::Packet::Publish(p) => {
                assert_eq!(&p.payload[..], b"from the new one");
                new.send4(v4::Packet::PubAck(v4::PubAck::new(p.pkid))).await;
                got_msg = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        &bystander.publish_in().await.payload[..],
        b"from the new one"
    );

    // MQTT 5: DISCONNECT with 0x8E (Session taken over), then the close.
    let mut old5 = raw5(&hub, "take5").await;
    let (mut new5, ack) = Mq5::connect(opts5(&hub, "take5")).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    let said = old5.expect_closed().await;
    match said.as_slice() {
        [Pkt::V5(v5::Packet::Disconnect(d))] => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::SessionTakenOver)
        }
        other => panic!("expected DISCONNECT 0x8E, got {other:?}"),
    }
    new5.subscribe("take/five", Q5::AtLeastOnce).await;

    // clean_session=false both times: the new connection has the old
    // one's subscription.
    let mut o = opts4(&hub, "take-persist");
    o.set_clean_session(false);
    let (mut first, _) = Mq4::connect(o.clone()).await;
    first.subscribe("take/persist", QoS::AtLeastOnce).await;
    let (mut second, ack) = Mq4::connect(o).await;
    assert!(ack.session_present);
    first.expect_end().await;
    let mut publ = raw4(&hub, "take-pub").await;
    publ.publish4("take/persist", QoS::AtLeastOnce, 1, b"to the session")
        .await;
    assert_eq!(&second.publish_in().await.payload[..], b"to the session");
    second.expect_no_publish(Duration::from_millis(300)).await;
    assert_eq!(
        &bystander.publish_on("take/persist").await.payload[..],
        b"to the session"
    );
    new.ping().await;
}

/// A session's queue holds at most mqtt.max_queued_messages; past it the
/// oldest are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_session_keeps_the_newest_max_queued_messages() {
    let hub = Hub::with_config("[mqtt]\nmax_queued_messages = 3\n");
    let mut o = opts4(&hub, "queue4");
    o.set_clean_session(false);
    let (mut c, _) = Mq4::connect(o.clone()).await;
    c.subscribe("inbox/queue4", QoS::AtLeastOnce).await;
    c.disconnect().await;
    let mut publ = raw4(&hub, "queue4-pub").await;
    for i in 1..=5u16 {
        publ.publish4(
            "inbox/queue4",
            QoS::AtLeastOnce,
            i,
            format!("m{i}").as_bytes(),
        )
        .await;
        publ.recv4().await;
    }
    let (mut c, ack) = Mq4::connect(o).await;
    assert!(ack.session_present);
    for i in 3..=5 {
        assert_eq!(
            text(&c.publish_in().await.payload),
            format!("m{i}"),
            "the oldest two were dropped"
        );
    }
    c.expect_no_publish(QUIET).await;
}

/// Sessions live in memory: after a restart there is none to resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_do_not_survive_a_restart() {
    let mut hub = Hub::start_default();
    let mut o = opts4(&hub, "restart4");
    o.set_clean_session(false);
    let (mut c, _) = Mq4::connect(o).await;
    c.subscribe("inbox/restart4", QoS::AtLeastOnce).await;
    c.disconnect().await;
    hub.restart();
    let mut o = opts4(&hub, "restart4");
    o.set_clean_session(false);
    let (_c, ack) = Mq4::connect(o).await;
    assert!(!ack.session_present);
}

/// MQTT 5 message expiry: a message that expires while its subscriber is
/// away is not delivered; one that has not is delivered with the time it
/// has left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_not_delivered() {
    let hub = Hub::start_default();
    let mut o = opts5(&hub, "expiry5");
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(600));
    let (mut c, _) = Mq5::connect(o.clone()).await;
    c.subscribe("inbox/expiry5", Q5::AtLeastOnce).await;
    c.disconnect().await;

    let (publ, _) = Mq5::connect(opts5(&hub, "expiry5-pub")).await;
    for (text, expiry) in [("short", Some(1)), ("long", Some(3600)), ("forever", None)] {
        let props = v5::PublishProperties {
            message_expiry_interval: expiry,
            ..Default::default()
        };
        publ.client
            .publish_with_properties("inbox/expiry5", Q5::AtLeastOnce, false, text, props)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut c, ack) = Mq5::connect(o).await;
    assert!(ack.session_present);
    let long = c.publish_in().await;
    assert_eq!(&long.payload[..], b"long", "\"short\" expired while away");
    let left = long
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("the expiry is passed on");
    assert!((1..3600).contains(&left), "counted down: {left}");
    let forever = c.publish_in().await;
    assert_eq!(&forever.payload[..], b"forever");
    assert!(forever
        .properties
        .is_none_or(|p| p.message_expiry_interval.is_none()));
    c.expect_no_publish(QUIET).await;
}

/// MQTT 5 will delay: the will waits for the delay, is dropped if the
/// client id connects again meanwhile (even by taking over a connection the
/// hub has not yet seen die), and goes out at once if the session ends
/// first (session expiry 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_delay_is_honoured() {
    let hub = Hub::start_default();
    let mut watcher = will_watcher(&hub, "delay-watcher").await;

    let delayed_will = |id: &str, delay: u32| {
        let props = v5::LastWillProperties {
            delay_interval: Some(delay),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: Vec::new(),
        };
        v5::LastWill::new(
            format!("wills/{id}"),
            id,
            Q5::AtLeastOnce,
            false,
            Some(props),
        )
    };
    let with_expiry = |id: &str, expiry: u32| {
        let mut c = connect5(id, true, 60);
        let mut props = v5::ConnectProperties::new();
        props.session_expiry_interval = Some(expiry);
        c.properties = Some(props);
        c
    };

    // Comes back within the delay (dropping the old socket, or taking over
    // a live one, resuming the session or starting clean): no will.
    for (id, takeover, clean_start) in [
        ("back-again", false, false),
        ("back-takeover", true, false),
        ("back-clean", true, true),
    ] {
        let mut first = Raw::tcp(hub.mqtt_addr()).await;
        first
            .connect5(with_expiry(id, 60), Some(delayed_will(id, 3)), None)
            .await;
        if !takeover {
            drop(first);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut again = Raw::tcp(hub.mqtt_addr()).await;
        let mut c = with_expiry(id, 60);
        c.clean_start = clean_start;
        again.connect5(c, None, None).await;
        again.ping().await;
        // Leave for good without a will this time.
        again
            .send5(v5::Packet::Disconnect(v5::Disconnect::new(
                v5::DisconnectReasonCode::NormalDisconnection,
            )))
            .await;
        again.expect_closed().await;
    }
    // Gone for good: the will comes after its delay.
    let mut gone = Raw::tcp(hub.mqtt_addr()).await;
    gone.connect5(with_expiry("gone", 60), Some(delayed_will("gone", 1)), None)
        .await;
    drop(gone);
    // The session ends before the (long) delay: the will goes at once.
    let mut ends = Raw::tcp(hub.mqtt_addr()).await;
    ends.connect5(
        with_expiry("ends", 0),
        Some(delayed_will("ends", 3600)),
        None,
    )
    .await;
    drop(ends);

    let mut wills = Vec::new();
    for _ in 0..2 {
        wills.push(watcher.publish_in().await.topic);
    }
    wills.sort();
    assert_eq!(wills, ["wills/ends", "wills/gone"]);
    // Past the 3 s delays of the two that came back.
    watcher.expect_no_publish(Duration::from_secs(4)).await;
}
