//! The idempotent `ref`: a repeated post returns the original and stores nothing.

use hubbub_tests::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_repeated_ref_returns_the_original_once() {
    let hub = Hub::start_default();
    let mut bob = hub.ws_as("bob").await;
    bob.join("room").await;
    let mut alice = hub.ws_as("alice").await;
    alice.join("room").await;

    let first = alice.post_ref("room", "hello", "r-1").await;
    assert_eq!(first["duplicate"], false, "{first}");
    assert_eq!(first["seq"], 1);
    // A retry, even with other text, gets the original.
    let again = alice.post_ref("room", "hello, edited", "r-1").await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["seq"], 1, "{again}");
    let next = alice.post_ref("room", "next", "r-2").await;
    assert_eq!(next["seq"], 2, "{next}");

    // Others see the message exactly once.
    let seen = bob.messages(2).await;
    assert_eq!(seqs(&seen), [1, 2]);
    assert_eq!(text_of(&seen[0]), "hello");
    let history = hub.http().all_messages("room").await;
    assert_eq!(history.len(), 2, "stored once: {history:?}");
    assert_eq!(text_of(&history[0]), "hello");
    assert_eq!(history[0]["ref"], "r-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_the_same_ref_twice_in_one_burst_is_stored_once() {
    let hub = Hub::start_default();
    let mut c = hub.ws_as("burst").await;
    c.join("room").await;
    for _ in 0..3 {
        c.send_post("room", "once", Some("same")).await;
    }
    let acks = [
        c.recv_until("ack").await,
        c.recv_until("ack").await,
        c.recv_until("ack").await,
    ];
    for a in &acks {
        assert_eq!(a["seq"], 1, "{a}");
        assert_eq!(a["ref"], "same");
    }
    let fresh = acks.iter().filter(|a| a["duplicate"] == false).count();
    assert_eq!(fresh, 1, "exactly one of them is new: {acks:?}");
    assert_eq!(hub.http().all_messages("room").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_belongs_to_one_sender_in_one_room() {
    let hub = Hub::start_default();
    let mut alice = hub.ws_as("alice").await;
    alice.join("one").await;
    alice.join("two").await;
    let mut bob = hub.ws_as("bob").await;
    bob.join("one").await;
    let a = alice.post_ref("one", "alice in one", "x").await;
    let b = bob.post_ref("one", "bob in one", "x").await;
    let c = alice.post_ref("two", "alice in two", "x").await;
    assert_eq!(
        (a["seq"].clone(), a["duplicate"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(
        (b["seq"].clone(), b["duplicate"].clone()),
        (json!(2), json!(false))
    );
    assert_eq!(
        (c["seq"].clone(), c["duplicate"].clone()),
        (json!(1), json!(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_repeated_ref_answers_200_with_the_original() {
    let hub = Hub::start_default();
    let http = hub.http();
    let body = json!({"text":"pay once","from":"erin","ref":"pay-1"});
    let first = http.post_json("shop", &body).await;
    assert_eq!(first.status, 201, "{first:?}");
    let second = http.post_json("shop", &body).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.json(), first.json(), "the original, ts included");
    // A different sender with the same ref is a different post.
    let other = http
        .post_json(
            "shop",
            &json!({"text":"pay once","from":"fred","ref":"pay-1"}),
        )
        .await;
    assert_eq!(other.status, 201);
    assert_eq!(other.json()["seq"], 2);
    assert_eq!(http.all_messages("shop").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_refs_are_recognized_across_restarts() {
    let mut hub = Hub::start_default();
    let mut ws = hub.ws_as("gus").await;
    ws.join("ledger").await;
    let ws_first = ws.post_ref("ledger", "over ws", "w-1").await;
    let http_body = json!({"text":"over http","from":"hal","ref":"h-1"});
    let http_first = hub.http().post_json("ledger", &http_body).await.json();
    drop(ws);

    for crash in [false, true] {
        if crash {
            hub.kill9();
        }
        hub.restart();
        let mut ws = hub.ws_as("gus").await;
        ws.join("ledger").await;
        let again = ws.post_ref("ledger", "over ws", "w-1").await;
        assert_eq!(again["duplicate"], true, "crash={crash}: {again}");
        assert_eq!(again["seq"], ws_first["seq"], "crash={crash}");
        let reply = hub.http().post_json("ledger", &http_body).await;
        assert_eq!(reply.status, 200, "crash={crash}: {reply:?}");
        assert_eq!(reply.json(), http_first, "crash={crash}");
        assert_eq!(hub.http().all_messages("ledger").await.len(), 2);
    }
}
