//! A reader that stops reading is cut off with 4000 without slowing anyone else.

use std::time::Duration;

use hubbub_tests::*;

const ROOM: &str = "firehose";
const TEXT_BYTES: usize = 60_000;
/// Posts at most this many before giving up (about 90 MB).
const MAX_POSTS: usize = 1500;
/// Unacknowledged posts at once; kept well under the queue so a reading client never overflows.
const WINDOW: usize = 3;

async fn slow_consumer_drops(http: &Http) -> u64 {
    http.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("hubbub_queue_drops") && l.contains("slow_consumer"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_is_dropped_with_4000_and_others_get_everything() {
    let hub = Hub::with_config(
        "[limits]\nsubscriber_queue = 16\nmax_message_bytes = 65536\n\n[rooms]\nreplay_max = 5000\n",
    );
    let http = hub.http();

    // The slow reader: a tiny receive buffer, joined, then never read again.
    let mut slow = WsClient::connect_with_recv_buffer(&hub.ws_url(), 4096).await;
    slow.hello("slow").await;
    let epoch = slow.join(ROOM).await["epoch"].as_str().unwrap().to_string();

    // The watcher reads everything until the END marker.
    let mut watcher = hub.ws_as("watcher").await;
    watcher.join(ROOM).await;
    let watcher = tokio::spawn(async move {
        let mut seqs = Vec::new();
        loop {
            match watcher.recv_frame().await {
                Frame::Close(c) => panic!(
                    "the watcher was disconnected ({c:?}) after {} messages",
                    seqs.len()
                ),
                Frame::Json(v) if frame_type(&v) == "message" => {
                    seqs.push(seq_of(&v));
                    if text_of(&v) == "END" {
                        return seqs;
                    }
                }
                Frame::Json(_) => {}
            }
        }
    });

    let mut poster = hub.ws_as("poster").await;
    poster.join(ROOM).await;
    let mut posted = 0;
    let mut outstanding = 0;
    let mut acked = 0;
    let mut dropped = false;
    loop {
        while !dropped && outstanding < WINDOW && posted < MAX_POSTS {
            let text = format!("{posted:06} {}", "x".repeat(TEXT_BYTES));
            poster.send_post(ROOM, &text, None).await;
            posted += 1;
            outstanding += 1;
        }
        if outstanding == 0 {
            break;
        }
        let v = poster.recv_json().await;
        match frame_type(&v) {
            "ack" => {
                outstanding -= 1;
                acked += 1;
                if acked % 25 == 0 && slow_consumer_drops(&http).await > 0 {
                    dropped = true;
                }
            }
            "presence" if v["who"] == "slow" && v["state"] == "leave" => dropped = true,
            "error" => panic!("posting failed: {v}"),
            _ => {}
        }
    }
    assert!(
        dropped,
        "the reader that never reads was not dropped after {posted} posts of {TEXT_BYTES} bytes \
         with limits.subscriber_queue = 16"
    );
    let end = poster.post(ROOM, "END").await;
    let last_seq = end["seq"].as_u64().unwrap();
    assert_eq!(last_seq, posted as u64 + 1);

    // The watcher got every message, in order.
    let seen = tokio::time::timeout(Duration::from_secs(120), watcher)
        .await
        .expect("the watcher did not see END")
        .expect("watcher task");
    assert_eq!(
        seen,
        (1..=last_seq).collect::<Vec<_>>(),
        "the watcher sees every message in order"
    );

    // The slow reader now reads what was buffered, then the close.
    let mut got = Vec::new();
    let close = loop {
        match slow.recv_frame().await {
            Frame::Close(c) => break c,
            Frame::Json(v) if frame_type(&v) == "message" => got.push(seq_of(&v)),
            Frame::Json(_) => {}
        }
    };
    assert_eq!(close.code, Some(4000), "slow reader close: {close:?}");
    assert!(
        close.reason.starts_with("slow_consumer"),
        "close reason starts with slow_consumer: {close:?}"
    );
    assert_eq!(
        got,
        (1..=got.len() as u64).collect::<Vec<_>>(),
        "what the slow reader did get is in order without gaps"
    );
    assert!((got.len() as u64) < last_seq);
    eprintln!(
        "slow reader dropped after {posted} posts; it had read {} of {last_seq}",
        got.len()
    );

    // It recovers by resuming from history.
    let mut again = hub.ws_as("slow").await;
    let since = got.len() as u64;
    let joined = again.join_with(ROOM, Some(since), Some(&epoch)).await;
    assert_eq!(joined["reset"], false);
    for seq in since + 1..=last_seq {
        let m = again.recv_until("message").await;
        assert_eq!(seq_of(&m), seq);
    }
}
