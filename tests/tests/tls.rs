//! TLS on both listeners (`[http.tls]`, `[mqtt.tls]`) with a self-signed
//! certificate made for each test: HTTPS, `wss://` chat, MQTT over TLS
//! with the real mosquitto clients, MQTT over `wss://`, plain-text clients
//! on the TLS ports, and start-up errors that name their key.

mod mqtt_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hubbub_tests::tls::client_config;
use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::mqttbytes::v4;
use rumqttc::QoS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A self-signed certificate for `localhost` and `127.0.0.1`, and its key,
/// as PEM files in a temp dir of their own (the hub's config names them
/// before the hub, and its temp dir, exists).
struct TestCert {
    dir: tempfile::TempDir,
    pem: String,
    /// The certificate file's path, for `mosquitto_* --cafile`.
    cafile: String,
}

impl TestCert {
    fn new() -> TestCert {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).expect("rcgen makes a certificate");
        let dir = tempfile::Builder::new()
            .prefix("hubbub-tls-")
            .tempdir()
            .expect("a temp dir for the certificate");
        let pem = cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &pem).expect("write cert.pem");
        std::fs::write(dir.path().join("key.pem"), signing_key.serialize_pem())
            .expect("write key.pem");
        let cafile = dir.path().join("cert.pem").display().to_string();
        TestCert { dir, pem, cafile }
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The `cert`/`key` lines of a `[*.tls]` table.
    fn table(&self, name: &str) -> String {
        // Debug-quoted paths are valid TOML strings for temp-dir paths.
        format!(
            "[{name}]\ncert = {:?}\nkey = {:?}\n",
            self.cert_path().display().to_string(),
            self.key_path().display().to_string()
        )
    }

    /// A hub with TLS on both listeners.
    fn hub(&self) -> Hub {
        let hub = Hub::with_config(&format!(
            "{}{}",
            self.table("http.tls"),
            self.table("mqtt.tls")
        ));
        // The MQTT line comes after the HTTP one; both say TLS is on.
        hub.mqtt_addr();
        let log = hub.log();
        for transport in ["http", "mqtt"] {
            assert!(
                log.lines().any(|l| l.contains("listening")
                    && l.contains(&format!("transport={transport}"))
                    && l.contains("tls=true")),
                "the {transport} listening line says tls=true:\n{log}"
            );
        }
        hub
    }

    fn https(&self, hub: &Hub) -> Http {
        Http::with_root_cert(&hub.https_base(), &self.pem)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_health_posts_and_history() {
    let cert = TestCert::new();
    let hub = cert.hub();
    let https = cert.https(&hub);

    let health = https.get("/healthz").await;
    assert_eq!(health.status, 200, "{health:?}");
    let posted = https.post_text("lobby", "hello over https").await;
    assert_eq!(text_of(&posted), "hello over https");
    let history = https.message_list("lobby", "").await;
    assert_eq!(history, vec![posted]);

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = hub.http();
    let answer = plain.try_send(reqwest::Method::GET, "/healthz", &[], None);
    assert!(answer.await.is_err(), "plain HTTP on the HTTPS port");
    // A client that does not trust the certificate cannot connect.
    let untrusting = Http::with_root_cert(&hub.https_base(), &TestCert::new().pem);
    let refused = untrusting.try_send(reqwest::Method::GET, "/healthz", &[], None);
    assert!(refused.await.is_err(), "a client that trusts another cert");
    assert_eq!(https.get("/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_chat_round_trip() {
    let cert = TestCert::new();
    let hub = cert.hub();
    let tls = client_config(&cert.pem);

    let mut alice = WsClient::connect_tls(&hub.wss_url(), tls.clone()).await;
    alice.hello("alice").await;
    alice.join("den").await;
    let mut bob = WsClient::connect_tls(&hub.wss_url(), tls).await;
    bob.hello("bob").await;
    bob.join("den").await;

    let ack = bob.post_ref("den", "hi alice, over wss", "b-1").await;
    assert_eq!(seq_of(&ack), 1, "{ack}");
    let got = alice.recv_until("message").await;
    assert_eq!(text_of(&canonical(&got)), "hi alice, over wss", "{got}");
    let history = cert.https(&hub).message_list("den", "").await;
    assert_eq!(history.len(), 1, "{history:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_speak_mqtt_over_tls() {
    let cert = TestCert::new();
    let hub = cert.hub();
    let ca = ["--cafile", cert.cafile.as_str()];

    // A device posts to a room (QoS 1: PUBACK after the message is stored)...
    let args = [&ca[..], &["-q", "1", "-t", "rooms/x", "-m", "21.5 C"]].concat();
    mosquitto_pub(&hub, &args).await;
    // ...and it is in the room's history, read over HTTPS.
    let history = cert.https(&hub).message_list("x", "").await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(text_of(&history[0]), "21.5 C");

    // A retained message on a plain topic comes back to mosquitto_sub.
    let args = [&ca[..], &["-r", "-t", "tls/retained", "-m", "kept"]].concat();
    mosquitto_pub(&hub, &args).await;
    let addr = hub.mqtt_addr();
    let mut sub = Command::new("mosquitto_sub");
    sub.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(ca)
        .args(["-t", "tls/retained", "-C", "1", "-W", "20"]);
    let out = run_bounded(sub, RECV_TIMEOUT).await;
    assert!(out.status.success(), "mosquitto_sub: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "kept");

    // Trusting another certificate, mosquitto refuses the hub's.
    let other = TestCert::new();
    let ca = ["--cafile", other.cafile.as_str()];
    let args = [&ca[..], &["-q", "1", "-t", "rooms/x", "-m", "not sent"]].concat();
    let out = mosquitto_pub_status(&hub, &args).await;
    assert!(
        !out.status.success(),
        "mosquitto_pub trusted another certificate: {out:?}"
    );
    assert_eq!(cert.https(&hub).message_list("x", "").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_wss_reaches_a_room() {
    let cert = TestCert::new();
    let hub = cert.hub();
    let mut client = Raw::wss(&hub.mqtt_wss_url(), client_config(&cert.pem)).await;
    client.connect4_ok(&unique("wss")).await;
    client
        .publish4("rooms/y", QoS::AtLeastOnce, 1, b"over wss")
        .await;
    match client.recv4().await {
        v4::Packet::PubAck(ack) => assert_eq!(ack.pkid, 1),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let history = cert.https(&hub).message_list("y", "").await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(text_of(&history[0]), "over wss");
}

/// Reads until the hub closes the connection; returns the bytes it sent.
/// Panics if it is still open after `limit`.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    assert!(
        read.await.is_ok(),
        "the hub kept the connection open for {limit:?}"
    );
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_clients_on_tls_ports_are_closed_and_hold_nobody_up() {
    let cert = TestCert::new();
    let hub = cert.hub();
    let connect = |addr| async move {
        TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("TCP connect to {addr} failed: {e}"))
    };
    // Clients that connect and never start a handshake, on both ports.
    let mut idle_mqtt = connect(hub.mqtt_addr()).await;
    let mut idle_http = connect(hub.addr()).await;

    // A plain MQTT client: CONNECT in the clear. The hub answers with a
    // TLS alert at most (never MQTT), and closes.
    let mut plain = connect(hub.mqtt_addr()).await;
    let connect_packet = encode4(&v4::Packet::Connect(v4::Connect::new("plain")));
    plain
        .write_all(&connect_packet)
        .await
        .expect("send CONNECT");
    let answer = read_to_close(&mut plain, RECV_TIMEOUT).await;
    assert!(
        answer.first().is_none_or(|b| *b == 0x15),
        "the hub answered plain MQTT with something other than a TLS alert: {answer:02x?}"
    );

    // Meanwhile, with the idle clients still connected, others are served.
    let https = cert.https(&hub);
    assert_eq!(https.get("/healthz").await.status, 200);
    let args = [
        "--cafile",
        &cert.cafile,
        "-q",
        "1",
        "-t",
        "rooms/busy",
        "-m",
        "ok",
    ];
    mosquitto_pub(&hub, &args).await;
    assert_eq!(https.message_list("busy", "").await.len(), 1);

    // The idle clients are closed once the handshake time (10 s) is up.
    let limit = Duration::from_secs(10) + RECV_TIMEOUT;
    let (mqtt, http) = tokio::join!(
        read_to_close(&mut idle_mqtt, limit),
        read_to_close(&mut idle_http, limit)
    );
    assert!(mqtt.is_empty() && http.is_empty(), "{mqtt:?} {http:?}");
    assert_eq!(https.get("/healthz").await.status, 200);
}

#[test]
fn a_missing_certificate_stops_the_hub_with_the_key_named() {
    let cert = TestCert::new();
    let missing = cert.dir.path().join("missing.pem");
    let config = format!(
        "[http.tls]\ncert = {:?}\nkey = {:?}\n",
        missing.display().to_string(),
        cert.key_path().display().to_string()
    );
    match Hub::try_start(HubOptions::config(config)) {
        Ok(hub) => panic!("the hub started without its certificate:\n{}", hub.log()),
        Err(log) => {
            let want = format!("http.tls.cert: cannot read {}", missing.display());
            assert!(log.contains(&want), "{log}");
            assert!(log.contains("No such file"), "{log}");
        }
    }

    let config = format!(
        "[mqtt.tls]\ncert = {:?}\nkey = {:?}\n",
        cert.cert_path().display().to_string(),
        cert.cert_path().display().to_string()
    );
    match Hub::try_start(HubOptions::config(config)) {
        Ok(hub) => panic!(
            "the hub started with a certificate for a key:\n{}",
            hub.log()
        ),
        Err(log) => assert!(log.contains("mqtt.tls.key: no private key"), "{log}"),
    }
}

#[test]
fn check_config_checks_the_tls_tables() {
    let out = check_config("[http.tls]\ncert = \"\"\nkey = \"key.pem\"\n");
    assert!(!out.status.success(), "{out:?}");
    assert!(out.output.contains("http.tls.cert"), "{out:?}");
    let out = check_config("[mqtt.tls]\ncert = \"c.pem\"\n");
    assert!(!out.status.success(), "{out:?}");
    assert!(out.output.contains("missing field `key`"), "{out:?}");
    let out = check_config("[http.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nca = \"x\"\n");
    assert!(!out.status.success(), "{out:?}");
    assert!(out.output.contains("unknown field `ca`"), "{out:?}");
}
