//! MQTT obeys the hub's rules: logins against the accounts (and the
//! throttle on failed ones), guests, private rooms (exact subscriptions
//! refused, wildcards never leak, rule changes apply at once), the
//! Mosquitto-style ACL on plain topics, and the limits (message rate,
//! subscriptions, rooms, connections per address). Real clients throughout:
//! raw 3.1.1 and 5 packets, rumqttc, mosquitto_pub/sub, MQTT over WebSocket.

mod mqtt_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hubbub_tests::*;
use mqtt_support::*;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::{v5, QoS as Q5};
use rumqttc::QoS;

const ALICE_PW: &str = "alice password";
const BOB_PW: &str = "bob password";

/// Lets `MosquittoSub`'s readiness probe (a guest) through the ACL.
const PROBE_RULE: &str = "\"topic readwrite hubbub-test/#\"";

/// A hub with accounts on, guests allowed, and the users alice and bob;
/// `extra` is appended to the config.
fn accounts_hub(extra: &str) -> Hub {
    let hub = Hub::with_config(&format!(
        "[auth]\naccounts = true\nanonymous = true\n{extra}"
    ));
    hub.add_user("alice", ALICE_PW, false);
    hub.add_user("bob", BOB_PW, false);
    hub
}

/// `[mqtt] acl` with the probe rule and `rules`, and a private room
/// `secret` for alice.
fn acl_and_secret(rules: &[&str]) -> String {
    let mut all = vec![PROBE_RULE.to_string()];
    all.extend(rules.iter().map(|r| format!("{r:?}")));
    format!(
        "[mqtt]\nacl = [{}]\n[rooms.declare.secret]\nprivate = true\nmembers = [\"alice\"]\n",
        all.join(", ")
    )
}

fn connect4_with(id: &str, login: Option<(&str, &str)>) -> v4::Connect {
    let mut c = v4::Connect::new(id);
    c.keep_alive = 60;
    if let Some((user, password)) = login {
        c.set_login(user, password);
    }
    c
}

/// A raw 3.1.1 client over TCP, logged in (or not); asserts success.
async fn login4(hub: &Hub, id: &str, login: Option<(&str, &str)>) -> Raw {
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let ack = c.connect4(connect4_with(id, login)).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success, "CONNACK for {id}");
    c
}

/// The CONNACK code a fresh MQTT 5 connection gets.
async fn connack5(c: &mut Raw, id: &str, login: Option<(&str, &str)>) -> v5::ConnectReturnCode {
    let login = login.map(|(u, p)| v5::Login::new(u, p));
    c.connect5(connect5(id, true, 60), None, login).await.code
}

/// A raw MQTT 5 client over TCP, logged in (or not); asserts success.
async fn login5(hub: &Hub, id: &str, login: Option<(&str, &str)>) -> Raw {
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let code = connack5(&mut c, id, login).await;
    assert_eq!(code, v5::ConnectReturnCode::Success, "CONNACK for {id}");
    c
}

/// Publishes at QoS 1 (MQTT 5) and returns the PUBACK's reason; messages
/// arriving meanwhile are acknowledged and dropped.
async fn puback5(c: &mut Raw, topic: &str, pkid: u16, payload: &str) -> v5::PubAckReason {
    c.publish5(topic, Q5::AtLeastOnce, pkid, payload.as_bytes())
        .await;
    loop {
        match c.recv5().await {
            v5::Packet::PubAck(a) if a.pkid == pkid => return a.reason,
            v5::Packet::Publish(p) => {
                if p.qos == Q5::AtLeastOnce {
                    c.send5(v5::Packet::PubAck(v5::PubAck::new(p.pkid, None)))
                        .await;
                }
            }
            other => panic!("expected PUBACK {pkid}, got {other:?}"),
        }
    }
}

/// Whether a PUBACK says the publish was taken.
fn taken(reason: v5::PubAckReason) -> bool {
    matches!(
        reason,
        v5::PubAckReason::Success | v5::PubAckReason::NoMatchingSubscribers
    )
}

/// Every (topic, payload) an MQTT 5 raw client receives up to and including
/// the first on `topic` whose payload contains `marker`.
async fn until5(c: &mut Raw, topic: &str, marker: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    loop {
        let p = c.next_publish5().await;
        let got = (text(&p.topic), text(&p.payload));
        let done = got.0 == topic && got.1.contains(marker);
        seen.push(got);
        if done {
            return seen;
        }
    }
}

/// The same for a 3.1.1 raw client.
async fn until4(c: &mut Raw, topic: &str, marker: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    loop {
        let p = c.next_publish4().await;
        let got = (p.topic.clone(), text(&p.payload));
        let done = got.0 == topic && got.1.contains(marker);
        seen.push(got);
        if done {
            return seen;
        }
    }
}

/// The same for `mosquitto_sub`.
async fn until_line(sub: &mut MosquittoSub, topic: &str, marker: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    loop {
        let l = sub.line().await;
        let done = l.topic == topic && l.payload.contains(marker);
        seen.push((l.topic, l.payload));
        if done {
            return seen;
        }
    }
}

fn assert_nothing_of(seen: &[(String, String)], forbidden: &str, who: &str) {
    let leaked: Vec<_> = seen.iter().filter(|(t, _)| t.contains(forbidden)).collect();
    assert!(
        leaked.is_empty(),
        "{who} must never see {forbidden}: {leaked:?}"
    );
}

fn creds4(mut o: rumqttc::MqttOptions, user: &str, password: &str) -> rumqttc::MqttOptions {
    o.set_credentials(user, password);
    o
}

// ---------------------------------------------------------------------------
// Logging in
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_bad_user_name_or_password_on_every_client() {
    let hub = accounts_hub("");
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let code = connack5(&mut c, "v5-wrong", Some(("alice", "not her password"))).await;
    assert_eq!(code, v5::ConnectReturnCode::BadUserNamePassword, "0x86");
    c.expect_closed().await;

    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let ack = c
        .connect4(connect4_with("v4-wrong", Some(("alice", "nope nope"))))
        .await;
    assert_eq!(
        ack.code,
        v4::ConnectReturnCode::BadUserNamePassword,
        "code 4"
    );
    c.expect_closed().await;
    // An unknown user looks the same as a wrong password.
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let code = connack5(&mut c, "v5-nobody", Some(("mallory", "whatever1"))).await;
    assert_eq!(code, v5::ConnectReturnCode::BadUserNamePassword);

    // The right password works (and clears the failures).
    let mut alice = login5(&hub, "alice-ok", Some(("alice", ALICE_PW))).await;
    alice.ping().await;

    for version in ["mqttv311", "mqttv5"] {
        let out = mosquitto_pub_status(
            &hub,
            &[
                "-V", version, "-u", "alice", "-P", "wrong!!!", "-t", "x/y", "-m", "hi",
            ],
        )
        .await;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "mosquitto_pub {version} must fail: {said}"
        );
        assert!(
            said.to_lowercase().contains("bad user name or password"),
            "mosquitto_pub {version} says why: {said}"
        );
    }

    // A member's post carries the user name.
    let (mut sub, _) = Mq4::connect(creds4(opts4(&hub, "alice-sub"), "alice", ALICE_PW)).await;
    sub.subscribe("rooms/lobby", QoS::AtLeastOnce).await;
    mosquitto_pub(
        &hub,
        &[
            "-u",
            "alice",
            "-P",
            ALICE_PW,
            "-i",
            "alice-cli",
            "-q",
            "1",
            "-t",
            "rooms/lobby",
            "-m",
            "signed",
        ],
    )
    .await;
    let m = json(&sub.publish_on("rooms/lobby").await.payload);
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("alice"), Some("signed"))
    );
}

/// After `limits.login_attempts` failures, each further attempt from the
/// address is answered only after a wait that doubles, and is not even
/// checked while it waits: one try per wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_from_one_address_are_slowed_down() {
    let hub = Hub::with_config("[auth]\naccounts = true\n[limits]\nlogin_attempts = 2\n");
    hub.add_user("alice", ALICE_PW, false);
    let attempt = |password: &'static str| {
        let addr = hub.mqtt_addr();
        async move {
            let start = Instant::now();
            let mut c = Raw::tcp(addr).await;
            let code = connack5(&mut c, &unique("try"), Some(("alice", password))).await;
            (code, start, Instant::now())
        }
    };
    let bad = v5::ConnectReturnCode::BadUserNamePassword;
    let (c1, s1, e1) = attempt("wrong one").await;
    let (c2, s2, e2) = attempt("wrong two").await;
    assert_eq!((c1, c2), (bad, bad));
    let checked = (e1 - s1).max(e2 - s2);

    // The third comes within a second of the second failure: held back
    // until that second is over.
    let (c3, s3, e3) = attempt("wrong three").await;
    assert_eq!(c3, bad);
    assert!(
        e3 - s2 >= Duration::from_secs(1),
        "the answer waits for the throttle ({:?} after the second attempt began)",
        e3 - s2
    );
    assert!(
        e3 - s3 > checked,
        "a throttled attempt ({:?}) takes longer than checked ones ({checked:?})",
        e3 - s3
    );

    // The wait is over: this one is checked, fails, and doubles the wait.
    let (c4, s4, e4) = attempt("wrong four").await;
    assert_eq!(c4, bad);
    // Even the right password is refused while the address waits: it is
    // not checked at all.
    let (c5, s5, e5) = attempt(ALICE_PW).await;
    assert_eq!(c5, bad, "no login is checked while the address waits");
    assert!(
        e5 - s4 >= Duration::from_secs(2),
        "the wait doubled ({:?} after the fourth attempt began)",
        e5 - s4
    );
    assert!(e5 - s5 > checked.max(e4 - s4), "slowed down: {:?}", e5 - s5);

    // After the wait, the right password gets in.
    tokio::time::sleep_until((e4 + Duration::from_millis(2100)).into()).await;
    let (c6, ..) = attempt(ALICE_PW).await;
    assert_eq!(c6, v5::ConnectReturnCode::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_login_are_guests_named_after_their_client_id() {
    let hub = accounts_hub("");
    let (mut alice, _) = Mq4::connect(creds4(opts4(&hub, "alice-1"), "alice", ALICE_PW)).await;
    alice.subscribe("rooms/lobby", QoS::AtLeastOnce).await;

    let mut dev = raw4(&hub, "dev-1").await;
    dev.publish4("rooms/lobby", QoS::AtLeastOnce, 1, b"from a guest")
        .await;
    let m = json(&alice.publish_on("rooms/lobby").await.payload);
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("guest:dev-1"), Some("from a guest"))
    );
    // A guest cannot pose as a user by taking its name as client id.
    let mut fake = raw5(&hub, "alice").await;
    assert!(taken(
        puback5(&mut fake, "rooms/lobby", 1, "it is me").await
    ));
    let m = json(&alice.publish_on("rooms/lobby").await.payload);
    assert_eq!(m["from"].as_str(), Some("guest:alice"));
    // mosquitto_pub without -u is a guest too.
    mosquitto_pub(
        &hub,
        &[
            "-i",
            "cli-guest",
            "-q",
            "1",
            "-t",
            "rooms/lobby",
            "-m",
            "cli",
        ],
    )
    .await;
    let m = json(&alice.publish_on("rooms/lobby").await.payload);
    assert_eq!(m["from"].as_str(), Some("guest:cli-guest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_guests_a_client_must_log_in() {
    // auth.anonymous is unset: with accounts on, guests are off.
    let hub = Hub::with_config("[auth]\naccounts = true\n");
    hub.add_user("alice", ALICE_PW, false);

    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let code = connack5(&mut c, "nobody-5", None).await;
    assert_eq!(code, v5::ConnectReturnCode::NotAuthorized, "0x87");
    c.expect_closed().await;
    let mut c = Raw::tcp(hub.mqtt_addr()).await;
    let ack = c.connect4(connect4_with("nobody-4", None)).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::NotAuthorized, "code 5");
    c.expect_closed().await;
    let out = mosquitto_pub_status(&hub, &["-t", "rooms/lobby", "-m", "hi"]).await;
    assert!(!out.status.success());

    let mut alice = login4(&hub, "alice-in", Some(("alice", ALICE_PW))).await;
    alice.ping().await;
}

/// With accounts off (the default) a user name proves nothing: everyone is
/// let in and posts under its client id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_accounts_a_user_name_proves_nothing() {
    let hub = Hub::start_default();
    let (mut sub, _) = Mq4::connect(opts4(&hub, "watcher")).await;
    sub.subscribe("rooms/lobby", QoS::AtLeastOnce).await;
    let mut c = login5(&hub, "sensor-9", Some(("alice", "anything at all"))).await;
    assert!(taken(puback5(&mut c, "rooms/lobby", 1, "hello").await));
    let m = json(&sub.publish_on("rooms/lobby").await.payload);
    assert_eq!(m["from"].as_str(), Some("sensor-9"));
    // Plain topics stay open.
    assert!(taken(puback5(&mut c, "any/topic", 2, "x").await));
}

// ---------------------------------------------------------------------------
// Private rooms
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_is_invisible_to_non_members_over_mqtt() {
    let hub = accounts_hub(&acl_and_secret(&[]));
    let alice_login = Some(("alice", ALICE_PW));
    let bob_login = Some(("bob", BOB_PW));

    // The member subscribes exactly (and so is present in the room).
    let (mut alice_exact, _) =
        Mq4::connect(creds4(opts4(&hub, "alice-exact"), "alice", ALICE_PW)).await;
    let ack = alice_exact
        .subscribe("rooms/secret", QoS::AtLeastOnce)
        .await;
    assert_eq!(
        ack.return_codes,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let mut alice_all = MosquittoSub::start(
        &hub,
        &["-u", "alice", "-P", ALICE_PW, "-q", "1", "-t", "rooms/#"],
    )
    .await;

    // Non-members: every exact subscription to the room is refused.
    let mut bob5 = login5(&hub, "bob-5", bob_login).await;
    let codes = bob5
        .subscribe5(
            1,
            vec![
                v5::Filter::new("rooms/secret", Q5::AtLeastOnce),
                v5::Filter::new("rooms/secret/presence", Q5::AtLeastOnce),
                v5::Filter::new("rooms/secret/typing", Q5::AtMostOnce),
                v5::Filter::new("$SYS/hubbub/errors/bob-5", Q5::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(
        codes,
        vec![
            v5::SubscribeReasonCode::NotAuthorized,
            v5::SubscribeReasonCode::NotAuthorized,
            v5::SubscribeReasonCode::NotAuthorized,
            v5::SubscribeReasonCode::Success(Q5::AtMostOnce),
        ]
    );
    let mut bob4 = login4(&hub, "bob-4", bob_login).await;
    let codes = bob4
        .subscribe4(1, &[("rooms/secret", QoS::AtLeastOnce)])
        .await;
    assert_eq!(codes, vec![v4::SubscribeReasonCode::Failure], "0x80");
    let mut guest = raw4(&hub, "guest-4").await;
    let codes = guest
        .subscribe4(1, &[("rooms/secret", QoS::AtLeastOnce)])
        .await;
    assert_eq!(codes, vec![v4::SubscribeReasonCode::Failure]);

    // Publishing there is refused, and the refusal is reported to bob alone.
    bob5.publish5("rooms/secret", Q5::AtMostOnce, 0, b"let me in")
        .await;
    let report = json(&bob5.next_publish5().await.payload);
    assert_eq!(report["topic"].as_str(), Some("rooms/secret"), "{report}");
    assert_eq!(
        puback5(&mut bob5, "rooms/secret", 2, "let me in").await,
        v5::PubAckReason::NotAuthorized
    );
    assert_eq!(
        puback5(&mut bob5, "rooms/secret/typing", 3, "typing").await,
        v5::PubAckReason::NotAuthorized
    );

    // Wildcards are granted, but never bring the room.
    let mut bob_wild = login5(&hub, "bob-wild", bob_login).await;
    let filters = [
        "rooms/#",
        "rooms/+",
        "#",
        "+/+",
        "+/secret",
        "rooms/+/presence",
        "rooms/+/typing",
        "$SYS/hubbub/errors/+",
    ];
    let codes = bob_wild
        .subscribe5(
            1,
            filters
                .iter()
                .map(|f| v5::Filter::new(*f, Q5::AtLeastOnce))
                .collect(),
        )
        .await;
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, v5::SubscribeReasonCode::Success(_))),
        "{codes:?}"
    );
    let mut bob_v4 = login4(&hub, "bob-v4", bob_login).await;
    bob_v4.subscribe4(1, &[("rooms/+", QoS::AtLeastOnce)]).await;
    let mut guest_all = MosquittoSub::start(&hub, &["-q", "1", "-t", "rooms/#", "-t", "#"]).await;

    // The member posts (over MQTT and over HTTP with a bearer token),
    // types, and posts elsewhere last.
    let mut alice = login5(&hub, "alice-pub", alice_login).await;
    assert_eq!(
        puback5(&mut alice, "rooms/secret", 1, "the secret").await,
        v5::PubAckReason::Success
    );
    let http = hub.http();
    let login = http
        .post(
            "/api/login",
            &[("content-type", "application/json")],
            format!(r#"{{"name":"alice","password":"{ALICE_PW}"}}"#).into_bytes(),
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    let bearer = format!(
        "Bearer {}",
        login.json()["token"].as_str().unwrap_or_default()
    );
    let posted = http
        .post(
            "/api/rooms/secret/messages",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "text/plain"),
            ],
            b"secret over http".to_vec(),
        )
        .await;
    assert_eq!(posted.status, 201, "{posted:?}");
    alice
        .publish5("rooms/secret/typing", Q5::AtMostOnce, 0, b"")
        .await;
    assert!(taken(puback5(&mut alice, "rooms/lobby", 2, "marker").await));

    // The member gets it through both subscriptions.
    let m = json(&alice_exact.publish_on("rooms/secret").await.payload);
    assert_eq!(
        (m["text"].as_str(), m["from"].as_str()),
        (Some("the secret"), Some("alice"))
    );
    let m = json(&alice_exact.publish_on("rooms/secret").await.payload);
    assert_eq!(
        (m["text"].as_str(), m["via"].as_str()),
        (Some("secret over http"), Some("http"))
    );
    let seen = until_line(&mut alice_all, "rooms/lobby", "marker").await;
    assert!(
        seen.iter()
            .any(|(t, p)| t == "rooms/secret" && p.contains("the secret")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(t, _)| t == "rooms/secret/presence"),
        "the member sees the room's presence: {seen:?}"
    );

    // Nobody else sees anything of it: message, presence or typing.
    let seen = until5(&mut bob_wild, "rooms/lobby", "marker").await;
    assert_nothing_of(&seen, "secret", "bob's wildcards");
    let seen = until4(&mut bob_v4, "rooms/lobby", "marker").await;
    assert_nothing_of(&seen, "secret", "bob's rooms/+ (3.1.1)");
    let seen = until_line(&mut guest_all, "rooms/lobby", "marker").await;
    assert_nothing_of(&seen, "secret", "a guest's mosquitto_sub");
    bob4.ping().await;
    guest.ping().await;
}

/// `hubbub room set` on a running hub: a wildcard (and even an exact)
/// subscription made while the room was public gets nothing more from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn making_a_room_private_applies_at_once_to_existing_subscribers() {
    let hub = accounts_hub("");
    let mut bob = login5(&hub, "bob-news", Some(("bob", BOB_PW))).await;
    let codes = bob
        .subscribe5(
            1,
            vec![
                v5::Filter::new("rooms/#", Q5::AtLeastOnce),
                v5::Filter::new("rooms/news", Q5::AtLeastOnce),
            ],
        )
        .await;
    assert_eq!(codes.len(), 2);
    let mut alice_watch = login5(&hub, "alice-watch", Some(("alice", ALICE_PW))).await;
    alice_watch
        .subscribe5(1, vec![v5::Filter::new("rooms/#", Q5::AtLeastOnce)])
        .await;
    let mut alice = login5(&hub, "alice-news", Some(("alice", ALICE_PW))).await;

    assert!(taken(
        puback5(&mut alice, "rooms/news", 1, "while public").await
    ));
    until5(&mut bob, "rooms/news", "while public").await;

    let (ok, out, err) = hub.cli(
        &["room", "set", "news", "--private", "--members", "alice"],
        "",
    );
    assert!(ok, "hubbub room set failed:\n{out}\n{err}");

    assert_eq!(
        puback5(&mut alice, "rooms/news", 2, "now private").await,
        v5::PubAckReason::Success
    );
    assert!(taken(puback5(&mut alice, "rooms/lobby", 3, "marker").await));
    let seen = until5(&mut bob, "rooms/lobby", "marker").await;
    assert_nothing_of(&seen, "news", "bob after the room became private");
    let seen = until5(&mut alice_watch, "rooms/lobby", "marker").await;
    assert!(
        seen.iter().any(|(_, p)| p.contains("now private")),
        "the member still gets it: {seen:?}"
    );
    // And bob can no longer post there.
    assert_eq!(
        puback5(&mut bob, "rooms/news", 9, "hello?").await,
        v5::PubAckReason::NotAuthorized
    );
}

/// A session belongs to the identity that made it: another identity with
/// the same client id starts clean instead of inheriting its subscriptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_taken_by_another_identity_starts_clean() {
    let hub = accounts_hub(&acl_and_secret(&[]));
    let persistent = |id: &str, login: (&str, &str)| {
        let mut c = connect4_with(id, Some(login));
        c.clean_session = false;
        c
    };
    let mut alice = Raw::tcp(hub.mqtt_addr()).await;
    let ack = alice
        .connect4(persistent("shared", ("alice", ALICE_PW)))
        .await;
    assert!(!ack.session_present);
    let codes = alice
        .subscribe4(
            1,
            &[
                ("rooms/secret", QoS::AtLeastOnce),
                ("rooms/lobby", QoS::AtLeastOnce),
            ],
        )
        .await;
    assert_eq!(
        codes,
        vec![v4::SubscribeReasonCode::Success(QoS::AtLeastOnce); 2]
    );
    alice.send4(v4::Packet::Disconnect).await;
    alice.expect_closed().await;

    // The same user resumes it.
    let mut again = Raw::tcp(hub.mqtt_addr()).await;
    let ack = again
        .connect4(persistent("shared", ("alice", ALICE_PW)))
        .await;
    assert!(ack.session_present, "alice resumes her own session");
    again.send4(v4::Packet::Disconnect).await;
    again.expect_closed().await;

    // Bob does not.
    let mut bob = Raw::tcp(hub.mqtt_addr()).await;
    let ack = bob.connect4(persistent("shared", ("bob", BOB_PW))).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    assert!(!ack.session_present, "bob starts clean");
    let mut poster = login5(&hub, "alice-poster", Some(("alice", ALICE_PW))).await;
    assert!(taken(
        puback5(&mut poster, "rooms/lobby", 1, "not inherited").await
    ));
    bob.expect_quiet(QUIET).await;
}

// ---------------------------------------------------------------------------
// Plain topics: the ACL
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_patterns_with_user_and_client_id() {
    let hub = accounts_hub(&acl_and_secret(&[
        "topic read sensors/#",
        "topic deny sensors/secret/#",
        "user alice topic write sensors/#",
        "pattern readwrite devices/%u/#",
        "pattern write clients/%c/status",
    ]));
    let mut alice = login5(&hub, "alice-phone", Some(("alice", ALICE_PW))).await;
    let mut bob = login5(&hub, "bob-phone", Some(("bob", BOB_PW))).await;
    let mut guest_alice = raw5(&hub, "alice").await;
    let mut cam = raw5(&hub, "cam-1").await;
    let denied = v5::PubAckReason::NotAuthorized;

    // Subscriptions: granted where a read rule could match.
    let mut bob_watch = login5(&hub, "bob-watch", Some(("bob", BOB_PW))).await;
    let codes = bob_watch
        .subscribe5(
            1,
            [
                "#",
                "devices/+/t",
                "devices/bob/#",
                "sensors/#",
                "devices/alice/#",
                "sensors/secret/#",
                "clients/+/status",
                "random/topic",
            ]
            .iter()
            .map(|f| v5::Filter::new(*f, Q5::AtMostOnce))
            .collect(),
        )
        .await;
    let ok = v5::SubscribeReasonCode::Success(Q5::AtMostOnce);
    let no = v5::SubscribeReasonCode::NotAuthorized;
    assert_eq!(codes, vec![ok, ok, ok, ok, no, no, no, no]);
    let mut alice_watch = login5(&hub, "alice-watch", Some(("alice", ALICE_PW))).await;
    let codes = alice_watch
        .subscribe5(1, vec![v5::Filter::new("devices/alice/#", Q5::AtMostOnce)])
        .await;
    assert_eq!(codes, vec![ok]);
    let mut guest_watch = raw4(&hub, "guest-watch").await;
    let codes = guest_watch
        .subscribe4(
            1,
            &[
                ("#", QoS::AtMostOnce),
                ("devices/alice/#", QoS::AtMostOnce),
                ("random/topic", QoS::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(
        codes,
        vec![
            v4::SubscribeReasonCode::Success(QoS::AtMostOnce),
            v4::SubscribeReasonCode::Failure,
            v4::SubscribeReasonCode::Failure,
        ]
    );

    // Publishes: %u is the user's own subtree, never a guest's.
    assert!(taken(
        puback5(&mut alice, "devices/alice/t", 1, "alice private").await
    ));
    assert_eq!(puback5(&mut bob, "devices/alice/t", 1, "x").await, denied);
    assert_eq!(
        puback5(&mut guest_alice, "devices/alice/t", 1, "x").await,
        denied,
        "a guest with client id alice is not the user alice"
    );
    // %c is the client id, guests included.
    assert!(taken(
        puback5(&mut cam, "clients/cam-1/status", 1, "up").await
    ));
    assert_eq!(
        puback5(&mut cam, "clients/alice-phone/status", 2, "x").await,
        denied
    );
    assert!(taken(
        puback5(&mut alice, "clients/alice-phone/status", 2, "up").await
    ));
    // deny wins over alice's write rule; read-only stays read-only.
    assert_eq!(
        puback5(&mut alice, "sensors/secret/x", 3, "x").await,
        denied
    );
    assert_eq!(puback5(&mut bob, "sensors/t", 2, "x").await, denied);
    assert!(taken(puback5(&mut alice, "sensors/t", 4, "open").await));
    assert!(taken(
        puback5(&mut bob, "devices/bob/t", 3, "bob own").await
    ));
    assert!(taken(
        puback5(&mut alice, "sensors/done", 5, "marker").await
    ));

    // `#` brings only what each may read.
    let seen = until5(&mut bob_watch, "sensors/done", "marker").await;
    assert_nothing_of(&seen, "devices/alice", "bob's #");
    assert_nothing_of(&seen, "clients/", "bob's # (write-only topics)");
    let topics: BTreeSet<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        topics.contains("sensors/t") && topics.contains("devices/bob/t"),
        "{seen:?}"
    );
    let seen = until4(&mut guest_watch, "sensors/done", "marker").await;
    assert_nothing_of(&seen, "devices/", "a guest's #");
    assert!(seen.iter().any(|(t, _)| t == "sensors/t"), "{seen:?}");
    let p = alice_watch.next_publish5().await;
    assert_eq!(
        (text(&p.topic), text(&p.payload)),
        ("devices/alice/t".to_string(), "alice private".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_topics_are_denied_by_default_with_accounts_on() {
    let hub = accounts_hub("");
    let mut guest = raw5(&hub, "guest-x").await;
    let mut bob = login5(&hub, "bob-x", Some(("bob", BOB_PW))).await;
    let denied = v5::PubAckReason::NotAuthorized;
    assert_eq!(puback5(&mut guest, "random/topic", 1, "x").await, denied);
    assert_eq!(puback5(&mut bob, "random/topic", 1, "x").await, denied);
    let codes = bob
        .subscribe5(
            2,
            vec![
                v5::Filter::new("random/topic", Q5::AtMostOnce),
                v5::Filter::new("random/#", Q5::AtMostOnce),
                v5::Filter::new("rooms/#", Q5::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(
        codes,
        vec![
            v5::SubscribeReasonCode::NotAuthorized,
            v5::SubscribeReasonCode::NotAuthorized,
            v5::SubscribeReasonCode::Success(Q5::AtMostOnce),
        ]
    );

    // $SYS statistics are readable by everyone, guests included; errors
    // only by the client they are about.
    let codes = guest
        .subscribe5(
            3,
            vec![
                v5::Filter::new("$SYS/#", Q5::AtMostOnce),
                v5::Filter::new("$SYS/hubbub/errors/bob-x", Q5::AtMostOnce),
                v5::Filter::new("$SYS/hubbub/errors/guest-x", Q5::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(
        codes,
        vec![
            v5::SubscribeReasonCode::Success(Q5::AtMostOnce),
            v5::SubscribeReasonCode::NotAuthorized,
            v5::SubscribeReasonCode::Success(Q5::AtMostOnce),
        ]
    );
    let version = guest.next_publish5().await;
    assert!(text(&version.topic).starts_with("$SYS/hubbub/"));
    bob.subscribe5(
        4,
        vec![v5::Filter::new("$SYS/hubbub/errors/+", Q5::AtMostOnce)],
    )
    .await;
    // QoS 0: the report is all the answer there is.
    bob.publish5("random/again", Q5::AtMostOnce, 0, b"x").await;
    let report = bob.next_publish5().await;
    assert_eq!(text(&report.topic), "$SYS/hubbub/errors/bob-x");
    assert!(text(&report.payload).contains("random/again"));
    guest.publish5("random/mine", Q5::AtMostOnce, 0, b"x").await;
    let seen = until5(&mut guest, "$SYS/hubbub/errors/guest-x", "random/mine").await;
    assert_nothing_of(&seen, "errors/bob-x", "the guest");
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/// Over `limits.messages_per_second` an MQTT 5 client gets DISCONNECT 0x96
/// (3.1.1: the connection closes); every publish acknowledged before is
/// stored, the one over the limit and those after it are not, and the
/// client can come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_message_rate_a_client_is_disconnected_and_loses_nothing() {
    let hub = Hub::with_config("[limits]\nmessages_per_second = 2\nmessage_burst = 10\n");
    const SENT: u16 = 40;

    for (version, room) in [(Ver::V5, "flood5"), (Ver::V4, "flood4")] {
        let id = format!("flooder-{room}");
        let mut c = match version {
            Ver::V5 => raw5(&hub, &id).await,
            Ver::V4 => raw4(&hub, &id).await,
        };
        let topic = format!("rooms/{room}");
        let mut burst = Vec::new();
        for pkid in 1..=SENT {
            let payload = format!("m{pkid}").into_bytes();
            burst.extend(match version {
                Ver::V5 => encode5(&v5::Packet::Publish({
                    let mut p = v5::Publish::new(&topic, Q5::AtLeastOnce, payload, None);
                    p.pkid = pkid;
                    p
                })),
                Ver::V4 => encode4(&v4::Packet::Publish({
                    let mut p = v4::Publish::new(&topic, QoS::AtLeastOnce, payload);
                    p.pkid = pkid;
                    p
                })),
            });
        }
        // All at once: the hub may see them in one read or several.
        let _ = c.try_send_bytes(&burst).await;
        let mut acked = BTreeSet::new();
        let mut told = None;
        for p in c.expect_closed().await {
            match p {
                Pkt::V5(v5::Packet::PubAck(a)) => {
                    assert_eq!(a.reason, v5::PubAckReason::Success);
                    assert!(acked.insert(a.pkid), "acknowledged twice: {}", a.pkid);
                }
                Pkt::V4(v4::Packet::PubAck(a)) => {
                    assert!(acked.insert(a.pkid), "acknowledged twice: {}", a.pkid)
                }
                Pkt::V5(v5::Packet::Disconnect(d)) => told = Some(d.reason_code),
                other => panic!("unexpected packet from the hub: {other:?}"),
            }
        }
        if version == Ver::V5 {
            assert_eq!(
                told,
                Some(v5::DisconnectReasonCode::MessageRateTooHigh),
                "MQTT 5 hears why (0x96)"
            );
        }
        assert!(
            acked.len() >= 10 && acked.len() < usize::from(SENT),
            "the burst is taken, then the rate trips: {} acked",
            acked.len()
        );
        let expected: Vec<u16> = (1..=SENT).take(acked.len()).collect();
        assert_eq!(
            acked.iter().copied().collect::<Vec<_>>(),
            expected,
            "acknowledged in order, up to the one over the limit"
        );
        let stored: Vec<String> = hub
            .http()
            .all_messages(room)
            .await
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect();
        let want: Vec<String> = acked.iter().map(|i| format!("m{i}")).collect();
        assert_eq!(
            stored, want,
            "exactly what was acknowledged is stored, once, in order"
        );

        // It comes back and goes on.
        let mut back = raw5(&hub, &id).await;
        assert!(taken(puback5(&mut back, &topic, 1, "again").await));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_and_room_quotas_answer_quota_exceeded() {
    let hub =
        Hub::with_config("[mqtt]\nmax_subscriptions = 3\n[limits]\nmax_rooms_per_connection = 2\n");
    let ok = v5::SubscribeReasonCode::Success(Q5::AtMostOnce);
    let full = v5::SubscribeReasonCode::QuotaExceeded;
    let filters = |names: &[&str]| -> Vec<v5::Filter> {
        names
            .iter()
            .map(|f| v5::Filter::new(*f, Q5::AtMostOnce))
            .collect()
    };

    let mut c5 = raw5(&hub, "many-5").await;
    let codes = c5
        .subscribe5(1, filters(&["a/1", "a/2", "a/3", "a/4"]))
        .await;
    assert_eq!(
        codes,
        vec![ok, ok, ok, full],
        "0x97 past mqtt.max_subscriptions"
    );
    let codes = c5.subscribe5(2, filters(&["a/1"])).await;
    assert_eq!(
        codes,
        vec![ok],
        "subscribing again to a held filter is fine"
    );
    let mut unsubscribe = v5::Unsubscribe::new("a/2", None);
    unsubscribe.pkid = 9;
    c5.send5(v5::Packet::Unsubscribe(unsubscribe)).await;
    assert!(matches!(c5.recv5().await, v5::Packet::UnsubAck(_)));
    let codes = c5.subscribe5(3, filters(&["a/4"])).await;
    assert_eq!(codes, vec![ok], "an unsubscribe frees a place");

    let mut c4 = raw4(&hub, "many-4").await;
    let codes = c4
        .subscribe4(
            1,
            &[
                ("a/1", QoS::AtMostOnce),
                ("a/2", QoS::AtMostOnce),
                ("a/3", QoS::AtMostOnce),
                ("a/4", QoS::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(codes[3], v4::SubscribeReasonCode::Failure, "0x80 in 3.1.1");

    // Exact room subscriptions join rooms: limits.max_rooms_per_connection.
    let mut rooms = raw5(&hub, "rooms-5").await;
    let codes = rooms
        .subscribe5(1, filters(&["rooms/r1", "rooms/r2", "rooms/r3"]))
        .await;
    assert_eq!(codes, vec![ok, ok, full]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_limited_per_address_and_in_total() {
    let hub = Hub::with_config("[limits]\nmax_connections_per_address = 2\n");
    let first = raw5(&hub, "first").await;
    let mut second = raw4(&hub, "second").await;
    let mut third = Raw::tcp(hub.mqtt_addr()).await;
    assert_eq!(
        connack5(&mut third, "third", None).await,
        v5::ConnectReturnCode::QuotaExceeded,
        "0x97 for this address"
    );
    let mut fourth = Raw::tcp(hub.mqtt_addr()).await;
    let ack = fourth.connect4(connect4_with("fourth", None)).await;
    assert_eq!(
        ack.code,
        v4::ConnectReturnCode::ServiceUnavailable,
        "code 3"
    );
    // Over WebSocket too.
    let mut ws = Raw::ws(&hub.mqtt_ws_url()).await;
    assert_eq!(
        connack5(&mut ws, "ws-third", None).await,
        v5::ConnectReturnCode::QuotaExceeded
    );

    // A place frees when a connection ends.
    drop(first);
    let deadline = Instant::now() + RECV_TIMEOUT;
    loop {
        let mut again = Raw::tcp(hub.mqtt_addr()).await;
        match connack5(&mut again, "again", None).await {
            v5::ConnectReturnCode::Success => break,
            code => {
                assert!(Instant::now() < deadline, "no place freed: {code:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    second.ping().await;

    let hub = Hub::with_config("[limits]\nmax_connections = 1\n");
    let _only = raw5(&hub, "only").await;
    let mut more = Raw::tcp(hub.mqtt_addr()).await;
    assert_eq!(
        connack5(&mut more, "more", None).await,
        v5::ConnectReturnCode::ServerBusy,
        "0x89 at limits.max_connections"
    );
}

// ---------------------------------------------------------------------------
// MQTT over WebSocket
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_over_websocket_logs_in_and_obeys_the_room_rules() {
    let hub = accounts_hub(&acl_and_secret(&[]));
    let url = hub.mqtt_ws_url();

    let mut wrong = Raw::ws(&url).await;
    let ack = wrong
        .connect4(connect4_with("ws-wrong", Some(("alice", "wrong pass"))))
        .await;
    assert_eq!(ack.code, v4::ConnectReturnCode::BadUserNamePassword);
    let mut wrong5 = Raw::ws(&url).await;
    assert_eq!(
        connack5(&mut wrong5, "ws-wrong5", Some(("alice", "wrong pass"))).await,
        v5::ConnectReturnCode::BadUserNamePassword
    );

    let mut bob = Raw::ws(&url).await;
    let ack = bob
        .connect4(connect4_with("ws-bob", Some(("bob", BOB_PW))))
        .await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    let codes = bob
        .subscribe4(
            1,
            &[
                ("rooms/secret", QoS::AtLeastOnce),
                ("rooms/#", QoS::AtLeastOnce),
            ],
        )
        .await;
    assert_eq!(
        codes,
        vec![
            v4::SubscribeReasonCode::Failure,
            v4::SubscribeReasonCode::Success(QoS::AtLeastOnce)
        ]
    );

    let mut alice = Raw::ws(&url).await;
    let ack = alice
        .connect4(connect4_with("ws-alice", Some(("alice", ALICE_PW))))
        .await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    let codes = alice
        .subscribe4(1, &[("rooms/secret", QoS::AtLeastOnce)])
        .await;
    assert_eq!(
        codes,
        vec![v4::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    alice
        .publish4("rooms/secret", QoS::AtLeastOnce, 7, b"over websocket")
        .await;
    let m = loop {
        match alice.recv4().await {
            v4::Packet::PubAck(a) => assert_eq!(a.pkid, 7),
            v4::Packet::Publish(p) if p.topic == "rooms/secret" => {
                alice
                    .send4(v4::Packet::PubAck(v4::PubAck::new(p.pkid)))
                    .await;
                break json(&p.payload);
            }
            v4::Packet::Publish(p) => {
                alice
                    .send4(v4::Packet::PubAck(v4::PubAck::new(p.pkid)))
                    .await
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("alice"), Some("over websocket"))
    );
    let mut poster = login5(&hub, "alice-tcp", Some(("alice", ALICE_PW))).await;
    assert!(taken(
        puback5(&mut poster, "rooms/lobby", 1, "marker").await
    ));
    let seen = until4(&mut bob, "rooms/lobby", "marker").await;
    assert_nothing_of(&seen, "secret", "bob over WebSocket");
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn bad_acl_rules_are_named_by_their_index() {
    let out = check_config(
        "[auth]\naccounts = true\n[mqtt]\nacl = [\"topic read ok/#\", \"topic sometimes x\", \
         \"topic read a/#/b\", \"topic read devices/%u/#\"]\nmax_subscriptions = 0\n",
    );
    assert!(!out.status.success(), "{}", out.output);
    for key in ["mqtt.acl[2]", "mqtt.acl[3]", "mqtt.max_subscriptions"] {
        assert!(out.output.contains(key), "names {key}: {}", out.output);
    }
    assert!(!out.output.contains("mqtt.acl[0]"), "{}", out.output);
    assert!(!out.output.contains("mqtt.acl[1]"), "{}", out.output);

    let out = check_config("[mqtt]\nacl = [\"topic read sensors/#\"]\n");
    assert!(!out.status.success(), "{}", out.output);
    assert!(
        out.output.contains("mqtt.acl") && out.output.contains("auth.accounts"),
        "an ACL without accounts would do nothing: {}",
        out.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_users_logins_closes_its_live_connections_on_every_transport() {
    let hub = accounts_hub("");
    let login = hub
        .http()
        .post(
            "/api/login",
            &[("content-type", "application/json")],
            serde_json::json!({"name": "bob", "password": BOB_PW})
                .to_string()
                .into_bytes(),
        )
        .await;
    let token = login.json()["token"].as_str().expect("token").to_string();
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    let mut ws = WsClient::try_connect_with_headers(&hub.ws_url(), &headers)
        .await
        .expect("bob's WebSocket");
    ws.join("lobby").await;
    let mut sse = SseClient::try_connect(&hub.http_base(), "lobby", "since=0", &headers)
        .await
        .expect("bob's SSE stream");
    let mut mqtt = login5(&hub, "bob-device", Some(("bob", BOB_PW))).await;
    let mut alice = login5(&hub, "alice-device", Some(("alice", ALICE_PW))).await;

    // An admin ends bob's logins.
    let (ok, out, err) = hub.cli(&["user", "revoke", "bob"], "");
    assert!(ok, "{out}{err}");

    let closed = ws.expect_close().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    assert!(closed.reason.starts_with("session_ended"), "{closed:?}");
    let ended = sse.next_event().await;
    assert!(
        ended.event == "error" && ended.data.contains("session_ended"),
        "{ended:?}"
    );
    let told = mqtt.expect_closed().await;
    assert!(
        told.iter().any(|p| matches!(
            p,
            Pkt::V5(v5::Packet::Disconnect(d))
                if d.reason_code == v5::DisconnectReasonCode::NotAuthorized
        )),
        "{told:?}"
    );
    // Others are untouched, and bob's token is gone.
    alice.ping().await;
    let refused = hub
        .http()
        .get_with("/api/me", &[("authorization", auth.as_str())])
        .await;
    refused.assert_error(401, "bad_token");
}
