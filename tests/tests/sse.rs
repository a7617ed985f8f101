//! Server-Sent Events: resuming with Last-Event-ID or ?since=, then live.

use std::time::Duration;

use hubbub_tests::*;
use serde_json::Value;

async fn post_n(http: &Http, room: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        let i = out.len();
        out.push(http.post_text(room, &format!("event {i}")).await);
    }
    out
}

fn assert_event(ev: &SseEvent, expected: &Value) {
    assert_eq!(ev.event, "message", "{ev:?}");
    assert_eq!(ev.id_u64(), seq_of(expected), "id is the seq: {ev:?}");
    assert_eq!(&ev.json(), expected, "data is the canonical message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_after_last_event_id_then_streams_live() {
    let hub = Hub::start_default();
    let http = hub.http();
    let first = post_n(&http, "stream", 6).await;
    let mut sse = hub.sse("stream", Some(3)).await;
    for m in &first[3..] {
        assert_event(&sse.next_event().await, m);
    }
    let live = [
        http.post_text("stream", "live 1").await,
        http.post_text("stream", "live 2").await,
    ];
    for m in &live {
        assert_event(&sse.next_event().await, m);
    }
    assert_eq!(seq_of(&live[1]), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_with_the_since_query_parameter() {
    let hub = Hub::start_default();
    let http = hub.http();
    let posted = post_n(&http, "stream", 6).await;
    let mut sse = SseClient::connect(&hub.http_base(), "stream", None, "since=4").await;
    for m in &posted[4..] {
        assert_event(&sse.next_event().await, m);
    }
    let live = http.post_text("stream", "live").await;
    assert_event(&sse.next_event().await, &live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_with_last_event_id_at_the_end_gets_only_live_messages() {
    let hub = Hub::start_default();
    let http = hub.http();
    post_n(&http, "stream", 3).await;
    let mut sse = hub.sse("stream", Some(3)).await;
    let live = http.post_text("stream", "the next one").await;
    assert_event(&sse.next_event().await, &live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resume_while_posting_has_no_gap_and_no_repeat() {
    const TOTAL: u64 = 120;
    let hub = Hub::start_default();
    let http = hub.http();
    post_n(&http, "busy", 10).await;
    let poster = {
        let http = http.clone();
        tokio::spawn(async move {
            for i in 11..=TOTAL {
                let m = http.post_text("busy", &format!("event {i}")).await;
                assert_eq!(seq_of(&m), i);
            }
        })
    };
    // Reconnect at some point while the poster is busy.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut sse = hub.sse("busy", Some(7)).await;
    for seq in 8..=TOTAL {
        let ev = sse.next_event().await;
        assert_eq!(ev.event, "message", "{ev:?}");
        assert_eq!(ev.id_u64(), seq, "no gap, no repeat");
        assert_eq!(seq_of(&ev.json()), seq);
    }
    poster.await.expect("poster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resume_sends_every_missed_message_even_past_replay_max() {
    let hub = Hub::with_config("[rooms]\nreplay_max = 5\n");
    let http = hub.http();
    let posted = post_n(&http, "long", 30).await;
    let mut sse = hub.sse("long", Some(2)).await;
    for m in &posted[2..] {
        assert_event(&sse.next_event().await, m);
    }
    let live = http.post_text("long", "live").await;
    assert_event(&sse.next_event().await, &live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_bad_room_is_400_and_a_bad_last_event_id_is_400() {
    let hub = Hub::start_default();
    let http = hub.http();
    http.get("/api/rooms/Not%20Ok/events")
        .await
        .assert_error(400, "bad_room");
    http.post_text("fine", "x").await;
    http.get_with("/api/rooms/fine/events", &[("last-event-id", "yesterday")])
        .await
        .assert_error_status(400);
}

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
async fn a_slow_sse_reader_gets_an_error_event_and_resumes_by_reconnecting() {
    const MAX_POSTS: u64 = 1500;
    let hub = Hub::with_config(
        "[limits]\nsubscriber_queue = 16\nmax_message_bytes = 65536\n\n[rooms]\nreplay_max = 5000\n",
    );
    let http = hub.http();
    http.post_text("flood", "first").await;
    // Opened, then not read while the room floods.
    let mut slow = hub.sse("flood", Some(0)).await;
    let mut last = 1;
    let mut dropped = false;
    while !dropped && last < MAX_POSTS {
        let m = http
            .post_text("flood", &format!("{last:06} {}", "x".repeat(60_000)))
            .await;
        last = seq_of(&m);
        if last % 10 == 0 {
            dropped = slow_consumer_drops(&http).await > 0;
        }
    }
    assert!(
        dropped,
        "an SSE reader that never reads was not dropped after {last} posts with \
         limits.subscriber_queue = 16"
    );
    // It reads what was buffered, then the error event, then the end.
    let mut got = 0;
    let error = loop {
        let ev = slow.next_event().await;
        if ev.event == "message" {
            got += 1;
            assert_eq!(ev.id_u64(), got, "in order, without gaps");
        } else {
            break ev;
        }
    };
    assert_eq!(error.event, "error", "{error:?}");
    assert_eq!(error.json()["code"], "slow_consumer", "{error:?}");
    assert!(
        slow.try_next(RECV_TIMEOUT).await.is_none() && slow.ended(),
        "the stream ends after the error event"
    );
    // Reconnecting resumes.
    let mut again = hub.sse("flood", Some(got)).await;
    for seq in got + 1..=last {
        let ev = again.next_event().await;
        assert_eq!((ev.event.as_str(), ev.id_u64()), ("message", seq));
    }
}
