//! WebSocket chat: posting, fan-out order, acks, presence, typing, history.

use std::collections::HashMap;

use hubbub_tests::*;
use serde_json::{json, Value};

const CONFIG: &str = "[hub]\nid = \"hub-e2e\"\n";

fn online_names(joined: &Value) -> Vec<String> {
    joined["online"]
        .as_array()
        .unwrap_or_else(|| panic!("joined.online is a list: {joined}"))
        .iter()
        .map(|n| n.as_str().expect("online names are strings").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_each_others_posts_in_order_with_consecutive_seqs() {
    let hub = Hub::with_config(CONFIG);
    let mut alice = hub.ws().await;
    let welcome = alice.hello("alice").await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["hub"], "hub-e2e", "{welcome}");
    assert_eq!(welcome["max_message_bytes"], 16384, "{welcome}");

    let joined_a = alice.join("lobby").await;
    assert_eq!(joined_a["last_seq"], 0, "{joined_a}");
    assert_eq!(joined_a["reset"], false, "{joined_a}");
    let epoch = joined_a["epoch"].as_str().expect("epoch is a string");
    assert!(!epoch.is_empty());
    assert!(online_names(&joined_a).contains(&"alice".to_string()));

    let mut bob = hub.ws_as("bob").await;
    let joined_b = bob.join("lobby").await;
    assert_eq!(joined_b["epoch"], json!(epoch));
    let online = online_names(&joined_b);
    assert!(
        online.contains(&"alice".into()) && online.contains(&"bob".into()),
        "{joined_b}"
    );
    let presence = alice.recv_until("presence").await;
    assert_eq!(presence["room"], "lobby");
    assert_eq!(presence["who"], "bob");
    assert_eq!(presence["state"], "join");

    const N: usize = 25;
    let post_all = |mut client: WsClient, nick: &'static str| {
        tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..N {
                let text = format!("{nick} says {i}");
                let reference = format!("{nick}-{i}");
                let ack = client.post_ref("lobby", &text, &reference).await;
                acks.push((reference, text, ack));
            }
            (client, acks)
        })
    };
    let a = post_all(alice, "alice");
    let b = post_all(bob, "bob");
    let (mut alice, acks_a) = a.await.expect("alice's task");
    let (mut bob, acks_b) = b.await.expect("bob's task");

    let seen_a = alice.messages(2 * N).await;
    let seen_b = bob.messages(2 * N).await;
    let expected: Vec<u64> = (1..=2 * N as u64).collect();
    assert_eq!(seqs(&seen_a), expected, "alice sees consecutive seqs");
    assert_eq!(seqs(&seen_b), expected, "bob sees consecutive seqs");
    assert_eq!(
        seen_a, seen_b,
        "both see the same messages in the same order"
    );

    let by_ref: HashMap<&str, &Value> = seen_a
        .iter()
        .map(|m| (m["ref"].as_str().expect("posts carried refs"), m))
        .collect();
    for (nick, acks) in [("alice", &acks_a), ("bob", &acks_b)] {
        let mut last_seq = 0;
        for (reference, text, ack) in acks {
            assert_eq!(ack["room"], "lobby", "{ack}");
            assert_eq!(ack["duplicate"], false, "{ack}");
            let seq = ack["seq"].as_u64().expect("ack carries a seq");
            assert!(seq > last_seq, "one sender's acks rise: {ack}");
            last_seq = seq;
            let m = by_ref[reference.as_str()];
            assert_eq!(seq_of(m), seq, "ack seq = message seq for {reference}");
            assert_eq!(text_of(m), text);
            assert_eq!(m["from"], nick);
            assert_eq!(m["via"], "ws");
            assert_eq!(m["origin"], "hub-e2e");
            assert_eq!(m["room"], "lobby");
            assert_canonical(m);
        }
    }

    // The same canonical JSON over HTTP.
    let history = hub.http().all_messages("lobby").await;
    let frames: Vec<Value> = seen_a.iter().map(canonical).collect();
    assert_eq!(history, frames, "HTTP history = WebSocket message frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_hello_is_a_guest() {
    let hub = Hub::start_default();
    let mut c = hub.ws().await;
    let joined = c.join("guests").await;
    assert!(
        online_names(&joined)
            .iter()
            .any(|n| n.starts_with("guest-")),
        "{joined}"
    );
    let ack = c.post("guests", "hello from nobody").await;
    assert_eq!(ack["seq"], 1, "{ack}");
    let m = c.recv_until("message").await;
    assert!(
        m["from"].as_str().is_some_and(|f| f.starts_with("guest-")),
        "{m}"
    );
    assert!(m.get("ref").is_none(), "no ref given, none echoed: {m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_typing_leave_and_ping() {
    let hub = Hub::start_default();
    let mut alice = hub.ws_as("alice").await;
    alice.join("den").await;
    let mut bob = hub.ws_as("bob").await;
    bob.join("den").await;
    let p = alice.recv_until("presence").await;
    assert_eq!(
        (p["who"].clone(), p["state"].clone()),
        (json!("bob"), json!("join"))
    );

    bob.send_json(&json!({"op":"typing","room":"den"})).await;
    let t = alice.recv_until("typing").await;
    assert_eq!(t["room"], "den");
    assert_eq!(t["who"], "bob");

    bob.send_json(&json!({"op":"leave","room":"den"})).await;
    let left = bob.recv_until("left").await;
    assert_eq!(left["room"], "den");
    let p = alice.recv_until("presence").await;
    assert_eq!(
        (p["who"].clone(), p["state"].clone()),
        (json!("bob"), json!("leave"))
    );

    // After leaving, posting needs a join again.
    bob.send_post("den", "still here?", Some("after-leave"))
        .await;
    let e = bob.expect_error("not_joined").await;
    assert_eq!(e["ref"], "after-leave");
    bob.ping().await;

    // A message posted while bob is away does not reach him.
    alice.post("den", "bob is gone").await;
    bob.ping().await;
    bob.join("den").await;
    let ack = alice.post("den", "bob is back").await;
    let m = bob.recv_until("message").await;
    assert_eq!(seq_of(&m), ack["seq"].as_u64().unwrap());
    assert_eq!(text_of(&m), "bob is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_is_per_room_and_a_client_can_join_several_rooms() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("carol").await;
    c.join("one").await;
    c.join("two").await;
    assert_eq!(c.post("one", "a").await["seq"], 1);
    assert_eq!(c.post("one", "b").await["seq"], 2);
    assert_eq!(c.post("two", "c").await["seq"], 1);
    let got = c.messages(3).await;
    let rooms: Vec<(&str, u64)> = got
        .iter()
        .map(|m| (m["room"].as_str().unwrap(), seq_of(m)))
        .collect();
    assert_eq!(rooms, [("one", 1), ("one", 2), ("two", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_op_pages_with_before_after_and_limit() {
    let hub = Hub::start_default();
    let http = hub.http();
    for i in 1..=12 {
        http.post_text("archive", &format!("entry {i}")).await;
    }
    let all = http.all_messages("archive").await;

    // history needs an existing room, not a join
    let mut c = hub.ws().await;
    let latest = c.history("archive", json!({})).await;
    assert_eq!(
        latest, all,
        "no before/after: the latest (all 12 under the default 50)"
    );
    assert_eq!(
        seqs(&c.history("archive", json!({"after":3,"limit":4})).await),
        [4, 5, 6, 7]
    );
    assert_eq!(
        seqs(&c.history("archive", json!({"before":5,"limit":2})).await),
        [3, 4]
    );
    assert_eq!(
        seqs(&c.history("archive", json!({"limit":5})).await),
        [8, 9, 10, 11, 12]
    );
    assert!(c.history("archive", json!({"before":1})).await.is_empty());
    assert!(c.history("archive", json!({"after":12})).await.is_empty());
}
