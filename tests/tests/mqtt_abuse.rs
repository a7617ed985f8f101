//! Hostile and broken MQTT input: oversized and malformed packets close
//! only the connection that sent them; CONNACK refusals carry the right
//! code; a socket that never sends CONNECT is closed and blocks nobody.

mod mqtt_support;

use std::time::Duration;

use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};
use rumqttc::QoS;

/// A client subscribed to `bystander/#` that must keep working while
/// others misbehave.
struct Bystander {
    sub: Mq4,
    publ: Raw,
    n: u16,
}

impl Bystander {
    async fn new(hub: &Hub) -> Bystander {
        let (mut sub, _) = Mq4::connect(opts4(hub, &unique("bystander-sub"))).await;
        sub.subscribe("bystander/#", QoS::AtLeastOnce).await;
        let publ = raw4(hub, &unique("bystander-pub")).await;
        Bystander { sub, publ, n: 0 }
    }

    /// A message goes from the publisher to the subscriber, both still
    /// connected, and nothing else arrived meanwhile.
    async fn still_works(&mut self) {
        self.n += 1;
        let text = format!("still here {}", self.n);
        self.publ
            .publish4("bystander/t", QoS::AtLeastOnce, self.n, text.as_bytes())
            .await;
        assert_eq!(
            self.publ.recv4().await,
            v4::Packet::PubAck(v4::PubAck::new(self.n))
        );
        let p = self.sub.publish_in().await;
        assert_eq!(&p.payload[..], text.as_bytes());
    }
}

/// A 3.1.1 CONNECT's bytes.
fn connect4_bytes(id: &str) -> Vec<u8> {
    let mut c = v4::Connect::new(id);
    c.keep_alive = 60;
    encode4(&v4::Packet::Connect(c))
}

/// A CONNECT with any protocol name and level (and client id "x").
fn connect_with_protocol(name: &[u8], level: u8) -> Vec<u8> {
    let mut body = vec![0, name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&[level, 0b10, 0, 60, 0, 1, b'x']);
    let mut out = vec![0x10, body.len() as u8];
    out.extend(body);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_packet_closes_that_connection() {
    let hub = Hub::with_config("[mqtt]\nmax_packet_bytes = 1024\n");
    let mut bystander = Bystander::new(&hub).await;
    bystander.still_works().await;

    // MQTT 5 is told the limit in CONNACK, and why it is closed.
    let mut c5 = Raw::tcp(hub.mqtt_addr()).await;
    let ack = c5.connect5(connect5("big5", true, 60), None, None).await;
    assert_eq!(ack.properties.and_then(|p| p.max_packet_size), Some(1024));
    c5.publish5("bystander/t", Q5::AtLeastOnce, 1, &[b'x'; 2000])
        .await;
    match c5.expect_closed().await.as_slice() {
        [Pkt::V5(v5::Packet::Disconnect(d))] => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::PacketTooLarge)
        }
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }

    // 3.1.1 is just closed; only the fixed header need arrive for that.
    let mut c4 = raw4(&hub, "big4").await;
    let big = encode4(&v4::Packet::Publish(v4::Publish::new(
        "bystander/t",
        QoS::AtMostOnce,
        vec![b'y'; 100_000],
    )));
    c4.send_bytes(&big[..16]).await;
    assert!(c4.expect_closed().await.is_empty());

    // Just under the limit is fine.
    let mut ok = raw4(&hub, "big-ok").await;
    ok.publish4("bystander/t", QoS::AtLeastOnce, 1, &[b'z'; 900])
        .await;
    assert_eq!(ok.recv4().await, v4::Packet::PubAck(v4::PubAck::new(1)));
    assert_eq!(bystander.sub.publish_in().await.payload.len(), 900);

    // An oversized CONNECT never gets a CONNACK.
    let mut c = v4::Connect::new("big-connect");
    c.last_will = Some(v4::LastWill::new(
        "w",
        vec![0u8; 5000],
        QoS::AtMostOnce,
        false,
    ));
    let mut raw = Raw::tcp(hub.mqtt_addr()).await;
    raw.send_bytes(&encode4(&v4::Packet::Connect(c))).await;
    assert!(raw.expect_closed().await.is_empty());

    bystander.still_works().await;
    bystander
        .sub
        .expect_no_publish(Duration::from_millis(200))
        .await;
}

/// Garbage before CONNECT, and garbage after it, close that one
/// connection (MQTT 5 hears DISCONNECT 0x81 first); everyone else, and new
/// connections, carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_close_only_that_connection() {
    let hub = Hub::start_default();
    let mut bystander = Bystander::new(&hub).await;

    // Not MQTT at all.
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x00, 0x00, 0x00, 0x00][..],
        &[0xFF; 64][..],
        &connect_with_protocol(b"HTTP", 4)[..],
        // A PUBLISH before any CONNECT.
        &encode4(&v4::Packet::Publish(v4::Publish::new(
            "a",
            QoS::AtMostOnce,
            b"x".to_vec(),
        )))[..],
    ] {
        let mut raw = Raw::tcp(hub.mqtt_addr()).await;
        raw.send_bytes(junk).await;
        assert!(
            raw.expect_closed().await.is_empty(),
            "no answer to {junk:02x?}"
        );
    }
    bystander.still_works().await;

    // Garbage after a good CONNECT: reserved packet types 0 and 15, a
    // packet only a server sends, a second CONNECT, a PUBLISH with QoS 3.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("type 0", vec![0x00, 0x00]),
        ("type 15", vec![0xF0, 0x00]),
        ("CONNACK from a client", vec![0x20, 0x02, 0x00, 0x00]),
        ("a second CONNECT", connect4_bytes("again")),
        (
            "PUBLISH with QoS 3",
            vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
        ),
        (
            "SUBSCRIBE with bad flags",
            vec![0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
        ),
    ];
    for (what, bytes) in &cases {
        let mut c4 = raw4(&hub, &unique("garbage4")).await;
        c4.send_bytes(bytes).await;
        assert!(
            c4.expect_closed().await.is_empty(),
            "3.1.1, {what}: closed without a word"
        );
        bystander.still_works().await;
    }
    for (what, bytes) in [
        ("type 0", vec![0x00, 0x00]),
        ("type 15 with junk", vec![0xF0, 0x03, 1, 2, 3]),
        (
            "PUBLISH with QoS 3",
            vec![0x36, 0x06, 0x00, 0x01, b'a', 0x00, 0x01, 0x00],
        ),
    ] {
        let mut c5 = raw5(&hub, &unique("garbage5")).await;
        c5.send_bytes(&bytes).await;
        match c5.expect_closed().await.as_slice() {
            [Pkt::V5(v5::Packet::Disconnect(d))] => assert!(
                matches!(
                    d.reason_code,
                    v5::DisconnectReasonCode::MalformedPacket
                        | v5::DisconnectReasonCode::ProtocolError
                ),
                "MQTT 5, {what}: {d:?}"
            ),
            other => panic!("MQTT 5, {what}: expected DISCONNECT 0x81, got {other:?}"),
        }
    }
    bystander.still_works().await;
    let mut fresh = raw4(&hub, "after-garbage").await;
    fresh.ping().await;
}

/// Remaining length: five bytes long (the maximum is four), shorter than
/// what it frames, or cut off by the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_overlong_remaining_length() {
    let hub = Hub::start_default();
    let mut bystander = Bystander::new(&hub).await;
    let (mut watcher, _) = Mq4::connect(opts4(&hub, "rl-watcher")).await;
    watcher.subscribe("wills/#", QoS::AtLeastOnce).await;

    // Five remaining-length bytes, before and after CONNECT.
    let overlong = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00];
    let mut raw = Raw::tcp(hub.mqtt_addr()).await;
    let mut connect_overlong = vec![0x10];
    connect_overlong.extend_from_slice(&overlong[1..]);
    raw.send_bytes(&connect_overlong).await;
    assert!(raw.expect_closed().await.is_empty());
    let mut c4 = raw4(&hub, "rl-overlong4").await;
    c4.send_bytes(&overlong).await;
    assert!(c4.expect_closed().await.is_empty());
    let mut c5 = raw5(&hub, "rl-overlong5").await;
    c5.send_bytes(&overlong).await;
    assert!(
        matches!(c5.expect_closed().await.as_slice(), [Pkt::V5(v5::Packet::Disconnect(d))] if d.reason_code == v5::DisconnectReasonCode::MalformedPacket)
    );
    bystander.still_works().await;

    // A remaining length shorter than the contents: the topic length says
    // 10 bytes, the packet has 2 left.
    let short = [0x30, 0x04, 0x00, 0x0A, b'a', b'b'];
    let mut c4 = raw4(&hub, "rl-short4").await;
    c4.send_bytes(&short).await;
    assert!(c4.expect_closed().await.is_empty());
    // MQTT 5: a SUBSCRIBE that ends before its property length.
    let mut c5 = raw5(&hub, "rl-short5").await;
    c5.send_bytes(&[0x82, 0x02, 0x00, 0x01]).await;
    assert!(
        matches!(c5.expect_closed().await.as_slice(), [Pkt::V5(v5::Packet::Disconnect(d))] if d.reason_code == v5::DisconnectReasonCode::MalformedPacket),
        "a packet whose contents end early is malformed, not a reason to wait"
    );
    bystander.still_works().await;

    // A packet cut off by the end of the stream (half of a PUBLISH, then
    // FIN): closed, and since there was no DISCONNECT, the will goes out.
    let mut cut = Raw::tcp(hub.mqtt_addr()).await;
    let mut c = v4::Connect::new("rl-cut");
    c.keep_alive = 60;
    c.last_will = Some(v4::LastWill::new(
        "wills/rl-cut",
        "cut off",
        QoS::AtLeastOnce,
        false,
    ));
    cut.connect4(c).await;
    let mut publish = v4::Publish::new("bystander/t", QoS::AtLeastOnce, vec![b'q'; 300]);
    publish.pkid = 1;
    let publish = encode4(&v4::Packet::Publish(publish));
    cut.send_bytes(&publish[..2]).await; // the header and half the varint
    cut.shutdown_write().await;
    assert!(cut.expect_closed().await.is_empty());
    assert_eq!(&watcher.publish_in().await.payload[..], b"cut off");
    bystander.still_works().await;
    bystander
        .sub
        .expect_no_publish(Duration::from_millis(200))
        .await;
}

/// A topic that is not UTF-8 is a malformed packet: that connection is
/// closed (MQTT 5 hears 0x81 first) and nothing is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_topic_closes_the_connection() {
    let hub = Hub::start_default();
    let mut bystander = Bystander::new(&hub).await;
    let (mut all, _) = Mq4::connect(opts4(&hub, "utf8-all")).await;
    all.subscribe("#", QoS::AtMostOnce).await;

    // PUBLISH QoS 0, topic = C3 28 (an invalid two-byte sequence).
    let bad = [0x30, 0x06, 0x00, 0x02, 0xC3, 0x28, b'h', b'i'];
    let mut c4 = raw4(&hub, "utf8-4").await;
    c4.send_bytes(&bad).await;
    assert!(c4.expect_closed().await.is_empty());

    let bad5 = [0x30, 0x07, 0x00, 0x02, 0xC3, 0x28, 0x00, b'h', b'i'];
    let mut c5 = raw5(&hub, "utf8-5").await;
    c5.send_bytes(&bad5).await;
    match c5.expect_closed().await.as_slice() {
        [Pkt::V5(v5::Packet::Disconnect(d))] => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::MalformedPacket)
        }
        other => panic!("expected DISCONNECT 0x81, got {other:?}"),
    }
    // In a subscription filter, and in a will topic, too.
    let mut c4 = raw4(&hub, "utf8-sub").await;
    c4.send_bytes(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 0xC3, 0x28, 0x00])
        .await;
    assert!(c4.expect_closed().await.is_empty());

    bystander.still_works().await;
    let p = all.publish_in().await;
    assert_eq!(p.topic, "bystander/t", "nothing from the broken publishes");
}

/// CONNACK 0x02 (3.1.1) / 0x85 (5) for client ids with '/', '+', '#' or
/// control characters, and for an empty id without a clean session; an
/// empty id with a clean session is given one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connack_refuses_bad_client_ids() {
    let hub = Hub::start_default();
    for id in [
        "a/b",
        "sensor+1",
        "#",
        "tab\there",
        "nul\u{0}x",
        "bell\u{7}",
    ] {
        let mut c = Raw::tcp(hub.mqtt_addr()).await;
        let ack = c.connect4(v4::Connect::new(id)).await;
        assert_eq!(ack.code, v4::ConnectReturnCode::BadClientId, "{id:?}");
        assert!(c.expect_closed().await.is_empty(), "{id:?}: closed after");

        let mut c = Raw::tcp(hub.mqtt_addr()).await;
        let ack = c.connect5(connect5(id, true, 60), None, None).await;
        assert_eq!(
            ack.code,
            v5::ConnectReturnCode::ClientIdentifierNotValid,
            "{id:?}"
        );
        c.expect_closed().await;
    }
    // The exact 3.1.1 bytes: 20 02 00 02.
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    c.send_bytes(&encode4(&v4::Packet::Connect(v4::Connect::new("a/b"))))
        .await;
    c.ver = Ver::V4;
    let got = c.expect_closed().await;
    assert_eq!(
        got.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>(),
        [format!(
            "{:?}",
            Pkt::V4(v4::Packet::ConnAck(v4::ConnAck::new(
                v4::ConnectReturnCode::BadClientId,
                false
            )))
        )]
    );

    // mosquitto_pub says so too.
    let out = mosquitto_pub_status(&hub, &["-i", "kitchen/sensor", "-t", "x", "-m", "y"]).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        said.contains("identifier rejected"),
        "mosquitto_pub said: {said}"
    );

    // 3.1.1: empty id + clean_session=false is refused; + clean_session is fine.
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let mut connect = v4::Connect::new("");
    connect.clean_session = false;
    assert_eq!(
        c.connect4(connect).await.code,
        v4::ConnectReturnCode::BadClientId
    );
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    assert_eq!(
        c.connect4(v4::Connect::new("")).await.code,
        v4::ConnectReturnCode::Success
    );
    c.ping().await;
    // MQTT 5 is told the id it was given.
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let ack = c.connect5(connect5("", true, 60), None, None).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    let assigned = ack
        .properties
        .and_then(|p| p.assigned_client_identifier)
        .expect("an assigned client identifier");
    assert!(!assigned.is_empty() && !assigned.contains(['/', '+', '#']));
    // And it is the name its room posts carry.
    c.publish5("rooms/ids", Q5::AtLeastOnce, 1, b"who am i")
        .await;
    assert!(
        matches!(c.recv5().await, v5::Packet::PubAck(a) if a.reason == v5::PubAckReason::Success)
    );
    let m = hub.http().message_list("ids", "").await;
    assert_eq!(m[0]["from"].as_str(), Some(assigned.as_str()));
}

/// Protocol levels other than 4 and 5 get CONNACK 0x01 (unacceptable
/// protocol version), in the 3.1.1 format, then the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connack_refuses_unsupported_protocol_levels() {
    let hub = Hub::start_default();
    for (name, level) in [(&b"MQIsdp"[..], 3u8), (&b"MQTT"[..], 3), (&b"MQTT"[..], 6)] {
        let mut c = Raw::tcp(hub.mqtt_addr()).await;
        c.send_bytes(&connect_with_protocol(name, level)).await;
        c.ver = Ver::V4;
        let got = c.expect_closed().await;
        match got.as_slice() {
            [Pkt::V4(v4::Packet::ConnAck(a))] => assert_eq!(
                a.code,
                v4::ConnectReturnCode::RefusedProtocolVersion,
                "{} level {level}",
                String::from_utf8_lossy(name)
            ),
            other => panic!(
                "{} level {level}: expected CONNACK 0x01, got {other:?}",
                String::from_utf8_lossy(name)
            ),
        }
    }
    // mosquitto_pub -V mqttv31 speaks MQIsdp level 3.
    let out = mosquitto_pub_status(&hub, &["-V", "mqttv31", "-t", "x", "-m", "y"]).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        said.contains("unacceptable protocol version"),
        "mosquitto_pub said: {said}"
    );
    raw4(&hub, "still-fine").await.ping().await;
}

/// At mqtt.max_connections, CONNACK says "server unavailable" (3.1.1,
/// 0x03) or "server busy" (5, 0x89); a freed slot is usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connack_server_busy_at_max_connections() {
    let hub = Hub::with_config("[mqtt]\nmax_connections = 2\n");
    let mut a = raw4(&hub, "busy-a").await;
    let (mut b, _) = Mq5::connect(opts5(&hub, "busy-b")).await;

    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    assert_eq!(
        c.connect4(v4::Connect::new("busy-c")).await.code,
        v4::ConnectReturnCode::ServiceUnavailable
    );
    assert!(c.expect_closed().await.is_empty());
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    assert_eq!(
        c.connect5(connect5("busy-c5", true, 60), None, None)
            .await
            .code,
        v5::ConnectReturnCode::ServerBusy
    );
    c.expect_closed().await;
    let out = mosquitto_pub_status(&hub, &["-t", "x", "-m", "y"]).await;
    assert!(!out.status.success(), "mosquitto_pub got in: {out:?}");

    // The two in are unharmed; when one leaves, its slot is free.
    a.ping().await;
    b.subscribe("busy/t", Q5::AtMostOnce).await;
    a.send4(v4::Packet::Disconnect).await;
    a.expect_closed().await;
    let deadline = std::time::Instant::now() + RECV_TIMEOUT;
    loop {
        let mut c = Raw::tcp(hub.mqtt_addr()).await;
        match c.connect4(v4::Connect::new("busy-d")).await.code {
            v4::ConnectReturnCode::Success => {
                c.publish4("busy/t", QoS::AtMostOnce, 0, b"made it").await;
                break;
            }
            code => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the slot was not freed: {code:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(&b.publish_in().await.payload[..], b"made it");
}

/// A socket that never sends CONNECT (or only part of one) is closed after
/// mqtt.connect_timeout_secs; meanwhile it takes no connection slot and
/// holds up nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_socket_is_closed_after_connect_timeout_and_blocks_nobody() {
    let hub = Hub::with_config("[mqtt]\nconnect_timeout_secs = 2\nmax_connections = 3\n");
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut raw = Raw::tcp(hub.mqtt_addr()).await;
        match i % 4 {
            0 => {}
            1 => raw.send_bytes(&[0x10]).await,
            2 => raw.send_bytes(&[0x10, 0xFF]).await,
            _ => {
                let c = connect4_bytes("half");
                raw.send_bytes(&c[..c.len() - 2]).await;
            }
        }
        idle.push(raw);
    }
    // Real clients get in (20 idle sockets, yet max_connections = 3).
    let mut bystander = Bystander::new(&hub).await;
    bystander.still_works().await;
    let out = mosquitto_pub(
        &hub,
        &["-t", "bystander/t", "-q", "1", "-m", "mosquitto too"],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(
        &bystander.sub.publish_in().await.payload[..],
        b"mosquitto too"
    );
    // Every idle socket is closed without a word.
    for (i, raw) in idle.iter_mut().enumerate() {
        let said = raw.expect_closed().await;
        assert!(said.is_empty(), "idle socket {i}: {said:?}");
    }
    bystander.still_works().await;
}
