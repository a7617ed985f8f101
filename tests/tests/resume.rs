//! Resuming after a disconnect: `join` with `since` and `epoch`, resets and gaps.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hubbub_tests::*;
use serde_json::json;
use tokio::sync::Notify;

/// Posts `n` messages over HTTP and returns their texts in seq order.
async fn post_n(http: &Http, room: &str, first: usize, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    for i in first..first + n {
        let text = format!("news {i}");
        let m = http.post_text(room, &text).await;
        assert_eq!(seq_of(&m), i as u64, "{m}");
        texts.push(text);
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_with_since_gets_exactly_the_missed_messages_then_live_ones() {
    let hub = Hub::start_default();
    let mut reader = hub.ws_as("reader").await;
    let joined = reader.join("news").await;
    let epoch = joined["epoch"].as_str().unwrap().to_string();
    let mut writer = hub.ws_as("writer").await;
    writer.join("news").await;

    for i in 1..=5 {
        writer.post("news", &format!("news {i}")).await;
    }
    let first = reader.messages(5).await;
    assert_eq!(seqs(&first), [1, 2, 3, 4, 5]);
    reader.close().await;
    drop(reader);

    let mut missed = Vec::new();
    for i in 6..=12 {
        let ack = writer.post("news", &format!("news {i}")).await;
        missed.push((ack["seq"].as_u64().unwrap(), format!("news {i}")));
    }

    let mut reader = hub.ws_as("reader").await;
    let joined = reader.join_with("news", Some(5), Some(&epoch)).await;
    assert_eq!(joined["reset"], false, "{joined}");
    assert_eq!(joined["epoch"], json!(epoch));
    assert_eq!(joined["last_seq"], 12, "{joined}");
    // Exactly the missed ones, in order, as the very next frames.
    for (seq, text) in &missed {
        let m = reader.recv().await;
        assert_eq!(m["type"], "message", "{m}");
        assert_eq!((seq_of(&m), text_of(&m)), (*seq, text.as_str()));
    }
    // Then live ones, with nothing in between (no gap frame, no repeat).
    for i in 13..=15 {
        writer.post("news", &format!("news {i}")).await;
    }
    for seq in 13..=15 {
        let m = reader.recv().await;
        assert_eq!(m["type"], "message", "{m}");
        assert_eq!(seq_of(&m), seq);
    }
    reader.send_json(&json!({"op":"ping"})).await;
    assert_eq!(reader.recv().await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_others_post_has_no_gap_and_no_repeat() {
    const PHASE1: u64 = 30;
    const TOTAL: u64 = 230;
    // One writer posts faster than the default rate limit allows.
    let hub = Hub::with_config("[limits]\nmessages_per_second = 0\n");
    let url = hub.ws_url();
    let mut reader = hub.ws_as("reader").await;
    let epoch = reader.join("busy").await["epoch"]
        .as_str()
        .unwrap()
        .to_string();

    let go = Arc::new(Notify::new());
    let first_ack = Arc::new(Notify::new());
    let writer = {
        let (go, first_ack) = (go.clone(), first_ack.clone());
        tokio::spawn(async move {
            let mut w = WsClient::connect(&url).await;
            w.hello("writer").await;
            w.join("busy").await;
            let stop = AtomicBool::new(false);
            let posts = (1..=PHASE1).map(|i| ("busy".to_string(), format!("busy {i}")));
            w.post_pipelined(posts, 4, &stop, |_| {})
                .await
                .expect("phase 1");
            go.notified().await;
            let posts = (PHASE1 + 1..=TOTAL).map(|i| ("busy".to_string(), format!("busy {i}")));
            let mut acks = 0;
            w.post_pipelined(posts, 4, &stop, |_| {
                acks += 1;
                if acks == 1 {
                    first_ack.notify_one();
                }
            })
            .await
            .expect("phase 2");
        })
    };

    // Read part of phase 1, then drop the connection.
    let got = reader.messages(10).await;
    let since = seq_of(got.last().unwrap());
    reader.close().await;
    drop(reader);

    // Reconnect while the writer is posting.
    go.notify_one();
    first_ack.notified().await;
    let mut reader = hub.ws_as("reader").await;
    let joined = reader.join_with("busy", Some(since), Some(&epoch)).await;
    assert_eq!(joined["reset"], false, "{joined}");
    let mut expect = since + 1;
    while expect <= TOTAL {
        let m = reader.recv().await;
        assert_eq!(m["type"], "message", "expected message {expect}, got {m}");
        assert_eq!(seq_of(&m), expect, "no gap, no repeat");
        assert_eq!(text_of(&m), format!("busy {expect}"));
        expect += 1;
    }
    writer.await.expect("writer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_epoch_resets_and_replays_from_the_oldest() {
    let hub = Hub::start_default();
    let http = hub.http();
    let texts = post_n(&http, "feed", 1, 4).await;
    let mut c = hub.ws_as("dave").await;
    let joined = c
        .join_with("feed", Some(2), Some("not-the-real-epoch"))
        .await;
    assert_eq!(joined["reset"], true, "{joined}");
    assert_ne!(joined["epoch"], "not-the-real-epoch");
    for (i, text) in texts.iter().enumerate() {
        let m = c.recv().await;
        assert_eq!(m["type"], "message", "{m}");
        assert_eq!((seq_of(&m), text_of(&m)), (i as u64 + 1, text.as_str()));
    }
    http.post_text("feed", "live").await;
    let m = c.recv().await;
    assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_since_beyond_the_end_resets() {
    let hub = Hub::start_default();
    let http = hub.http();
    post_n(&http, "feed", 1, 3).await;
    let epoch = http.room("feed").await.unwrap()["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    let mut c = hub.ws_as("erin").await;
    let joined = c.join_with("feed", Some(99), Some(&epoch)).await;
    assert_eq!(joined["reset"], true, "{joined}");
    for seq in 1..=3 {
        let m = c.recv().await;
        assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), seq));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_dir_has_a_new_epoch_and_old_positions_reset() {
    let old = Hub::start_default();
    post_n(&old.http(), "feed", 1, 3).await;
    let old_epoch = old.http().room("feed").await.unwrap()["epoch"].clone();
    drop(old);

    let hub = Hub::start_default();
    post_n(&hub.http(), "feed", 1, 5).await;
    let mut c = hub.ws_as("frank").await;
    let joined = c.join_with("feed", Some(3), old_epoch.as_str()).await;
    assert_ne!(joined["epoch"], old_epoch, "a new history has a new epoch");
    assert_eq!(joined["reset"], true, "{joined}");
    for seq in 1..=5 {
        let m = c.recv().await;
        assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), seq));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_replay_max_gives_a_gap_frame() {
    let hub = Hub::with_config("[rooms]\nreplay_max = 5\n");
    let http = hub.http();
    post_n(&http, "log", 1, 12).await;
    let epoch = http.room("log").await.unwrap()["epoch"]
        .as_str()
        .unwrap()
        .to_string();

    let mut c = hub.ws_as("gina").await;
    let joined = c.join_with("log", Some(2), Some(&epoch)).await;
    assert_eq!(joined["last_seq"], 12);
    assert_eq!(joined["reset"], false);
    for seq in 3..=7 {
        let m = c.recv().await;
        assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), seq));
    }
    let gap = c.recv().await;
    assert_eq!(gap["type"], "gap", "{gap}");
    assert_eq!(gap["room"], "log");
    assert_eq!(gap["from_seq"], 8, "{gap}");
    assert_eq!(gap["to_seq"], 12, "{gap}");
    // The client pages for the gap itself.
    let page = c.history("log", json!({"after":7})).await;
    assert_eq!(seqs(&page), [8, 9, 10, 11, 12]);
    // Live messages continue after last_seq.
    http.post_text("log", "live").await;
    let m = c.recv().await;
    assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), 13));

    // Exactly replay_max missed: no gap.
    let mut d = hub.ws_as("hank").await;
    d.join_with("log", Some(8), Some(&epoch)).await;
    for seq in 9..=13 {
        let m = d.recv().await;
        assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), seq));
    }
    http.post_text("log", "live 2").await;
    let m = d.recv().await;
    assert_eq!(
        (m["type"].clone(), seq_of(&m)),
        (json!("message"), 14),
        "no gap frame when nothing was left out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_without_since_replays_nothing() {
    let hub = Hub::start_default();
    let http = hub.http();
    post_n(&http, "quiet", 1, 3).await;
    let mut c = hub.ws_as("ivy").await;
    let joined = c.join("quiet").await;
    assert_eq!(joined["last_seq"], 3);
    http.post_text("quiet", "the first one ivy sees").await;
    let m = c.recv().await;
    assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_across_a_restart_keeps_the_epoch() {
    let mut hub = Hub::start_default();
    let http = hub.http();
    post_n(&http, "durable", 1, 4).await;
    let epoch = http.room("durable").await.unwrap()["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    hub.restart();
    let http = hub.http();
    post_n(&http, "durable", 5, 2).await;
    let mut c = hub.ws_as("jack").await;
    let joined = c.join_with("durable", Some(4), Some(&epoch)).await;
    assert_eq!(
        joined["epoch"],
        json!(epoch),
        "the epoch survives a restart"
    );
    assert_eq!(joined["reset"], false);
    for seq in 5..=6 {
        let m = c.recv().await;
        assert_eq!((m["type"].clone(), seq_of(&m)), (json!("message"), seq));
    }
}
