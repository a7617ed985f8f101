//! Process lifecycle: SIGTERM, restarts, `check-config`, log formats.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubbub_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_closes_websockets_with_1001_and_keeps_what_was_acked() {
    let mut hub = Hub::start_default();

    // Two readers that keep reading until the hub closes them.
    let mut readers = Vec::new();
    for nick in ["r1", "r2"] {
        let mut c = hub.ws_as(nick).await;
        c.join("bye").await;
        readers.push(tokio::spawn(async move { c.expect_close().await }));
    }

    // A poster that keeps posting until the hub closes it.
    let acks: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let poster = {
        let (url, acks) = (hub.ws_url(), acks.clone());
        tokio::spawn(async move {
            let mut c = WsClient::connect(&url).await;
            c.hello("poster").await;
            c.join("bye").await;
            let stop = AtomicBool::new(false);
            let posts = (0..).map(|i| ("bye".to_string(), format!("before stop {i}")));
            c.post_pipelined(posts, 4, &stop, |a| acks.lock().unwrap().push(a))
                .await
                .expect_err("posting ends when the hub stops")
        })
    };
    let deadline = Instant::now() + RECV_TIMEOUT;
    while acks.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "too few acks");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    hub.signal_term();
    for r in readers {
        let close = tokio::time::timeout(RECV_TIMEOUT * 2, r)
            .await
            .expect("reader not closed")
            .expect("reader task");
        assert_eq!(close.code, Some(1001), "{close:?}");
        assert!(close.reason.starts_with("hub shutting down"), "{close:?}");
    }
    let close = tokio::time::timeout(RECV_TIMEOUT * 2, poster)
        .await
        .expect("poster not closed")
        .expect("poster task");
    assert_eq!(close.code, Some(1001), "{close:?}");
    let status = tokio::task::block_in_place(|| hub.wait_exit(EXIT_TIMEOUT));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );

    tokio::task::block_in_place(|| hub.restart());
    let history = hub.http().all_messages("bye").await;
    assert_gap_free(&history);
    let stored: BTreeMap<u64, &str> = history.iter().map(|m| (seq_of(m), text_of(m))).collect();
    let acks = acks.lock().unwrap().clone();
    for a in &acks {
        assert_eq!(
            stored.get(&a.seq).copied(),
            Some(a.text.as_str()),
            "acked before SIGTERM, missing after restart: {a:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_and_restart_on_the_same_data_dir() {
    let mut hub = Hub::start_default();
    let first_pid = hub.pid();
    hub.http().post_text("r", "one").await;
    let status = hub.terminate();
    assert!(status.success(), "{status}");
    assert!(!hub.is_running());
    hub.restart();
    assert_ne!(hub.pid(), first_pid);
    assert_eq!(hub.http().all_messages("r").await.len(), 1);
    let health = hub.http().get("/healthz").await;
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_format_starts_and_serves() {
    let hub = Hub::with_config("[log]\nformat = \"json\"\nlevel = \"info\"\n");
    let health = hub.http().get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
}

const FULL_CONFIG: &str = r#"
[hub]
id = "pi-kitchen"

[http]
listen = "127.0.0.1:8080"

[rooms]
auto_create = false
replay_max = 500

[rooms.declare.kitchen]
title = "Kitchen"

[rooms.declare.garden]

[limits]
max_message_bytes = 4096
subscriber_queue = 256

[retention]
max_messages_per_room = 5000
max_age_days = 30
interval_secs = 60

[store]
cache_mb = 8
max_batch = 512

[log]
format = "json"
level = "debug"
"#;

#[test]
fn check_config_accepts_a_valid_file() {
    let out = check_config(FULL_CONFIG);
    assert!(out.status.success(), "{out:?}");
    let out = check_config("");
    assert!(
        out.status.success(),
        "an empty file is all defaults: {out:?}"
    );
}

fn assert_rejected(toml: &str, names: &str) {
    let out = check_config(toml);
    assert!(
        !out.status.success(),
        "check-config accepted an invalid file:\n{toml}\n{out:?}"
    );
    assert!(
        out.output.contains(names),
        "check-config output should name {names:?}: {out:?}"
    );
}

#[test]
fn check_config_rejects_an_unknown_key() {
    assert_rejected("[limits]\nmax_mesage_bytes = 10\n", "max_mesage_bytes");
    assert_rejected("[rooms]\nautocreate = true\n", "autocreate");
    assert_rejected("[bogus]\nx = 1\n", "bogus");
}

#[test]
fn check_config_rejects_a_bad_declared_room_name() {
    assert_rejected("[rooms.declare.Kitchen]\ntitle = \"K\"\n", "Kitchen");
    assert_rejected(
        "[rooms.declare.\"big kitchen\"]\ntitle = \"K\"\n",
        "big kitchen",
    );
}

#[test]
fn check_config_rejects_a_wrong_type() {
    assert_rejected(
        "[limits]\nsubscriber_queue = \"lots\"\n",
        "subscriber_queue",
    );
    assert_rejected("[rooms]\nauto_create = \"yes\"\n", "auto_create");
    assert_rejected("[log]\nformat = \"xml\"\n", "format");
}

#[test]
fn check_config_rejects_broken_toml() {
    let out = check_config("[limits\nmax_message_bytes = 1\n");
    assert!(!out.status.success(), "{out:?}");
}

#[test]
fn the_hub_refuses_to_start_with_an_invalid_config() {
    match Hub::try_start(HubOptions::config("[limits]\nmax_mesage_bytes = 10\n")) {
        Ok(hub) => panic!(
            "the hub started on an invalid config; its output:\n{}",
            hub.log()
        ),
        Err(log) => assert!(log.contains("max_mesage_bytes"), "{log}"),
    }
}
