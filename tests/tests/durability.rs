//! Durability: history survives restarts, and kill -9 never loses an acknowledged message.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubbub_tests::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_restarts_and_seq_continues_without_a_gap() {
    let mut hub = Hub::start_default();
    let mut ws = hub.ws_as("kim").await;
    ws.join("diary").await;
    for i in 1..=5 {
        ws.post("diary", &format!("ws entry {i}")).await;
    }
    let http = hub.http();
    for i in 1..=5 {
        http.post_text("diary", &format!("http entry {i}")).await;
    }
    let before = http.all_messages("diary").await;
    assert_eq!(before.len(), 10);
    assert_gap_free(&before);
    let room = http.room("diary").await.expect("diary is listed");
    drop(ws);

    // Clean restart.
    hub.restart();
    let http = hub.http();
    assert_eq!(
        http.all_messages("diary").await,
        before,
        "same history after SIGTERM + restart"
    );
    let listed = http.room("diary").await.expect("diary is listed");
    assert_eq!(listed["epoch"], room["epoch"]);
    assert_eq!(listed["last_seq"], 10);
    let m = http.post_text("diary", "after restart").await;
    assert_eq!(seq_of(&m), 11, "seq continues after a restart");

    // Crash restart.
    hub.kill9();
    hub.restart();
    let http = hub.http();
    let after = http.all_messages("diary").await;
    assert_eq!(after.len(), 11);
    assert_eq!(&after[..10], &before[..]);
    assert_eq!(after[10], m);
    let mut ws = hub.ws_as("kim").await;
    let joined = ws.join("diary").await;
    assert_eq!(joined["last_seq"], 11);
    assert_eq!(ws.post("diary", "after crash").await["seq"], 12);
    assert_gap_free(&hub.http().all_messages("diary").await);
}

const ROUNDS: usize = 15;
const ROOMS: [&str; 2] = ["crash-a", "crash-b"];

/// Every ack of every round: (room, seq) -> text.
type Ledger = BTreeMap<(String, u64), String>;

fn record(ledger: &mut Ledger, acks: &[Acked]) {
    for a in acks {
        assert!(!a.duplicate, "no ref was repeated: {a:?}");
        if let Some(old) = ledger.insert((a.room.clone(), a.seq), a.text.clone()) {
            assert_eq!(
                old, a.text,
                "two different messages were acknowledged with {} seq {}",
                a.room, a.seq
            );
        }
    }
}

/// Posts until `stop`; every ack, and every message a reader was sent, goes into `acks`.
/// WebSocket clients each round: two posters and one reader.
const WS_CLIENTS: usize = 3;

fn spawn_posters(
    hub: &Hub,
    round: usize,
    acks: &Arc<Mutex<Vec<Acked>>>,
    stop: &Arc<AtomicBool>,
    joined: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for p in 0..2 {
        let (url, acks, stop, joined) = (hub.ws_url(), acks.clone(), stop.clone(), joined.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = WsClient::connect(&url).await;
            ws.hello(&format!("ws-poster-{p}")).await;
            for room in ROOMS {
                ws.join(room).await;
            }
            joined.fetch_add(1, Ordering::SeqCst);
            let posts = (0..)
                .map(move |n: usize| (ROOMS[n % 2].to_string(), format!("r{round}-ws{p}-{n}")));
            // Ends when the hub dies under it.
            let _ = ws
                .post_pipelined(posts, 8, &stop, |a| acks.lock().unwrap().push(a))
                .await;
        }));
    }
    for p in 0..2 {
        let (http, acks, stop) = (hub.http(), acks.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let room = ROOMS[(n + p) % 2];
                let text = format!("r{round}-http{p}-{n}");
                let mut body = json!({"text": text, "from": format!("http-poster-{p}")});
                if n % 2 == 0 {
                    body["ref"] = json!(text);
                }
                match http.try_post_json(room, &body).await {
                    Ok(reply) if reply.status == 201 => {
                        let m = reply.json();
                        assert_eq!(text_of(&m), text, "201 returns the message: {m}");
                        assert_eq!(m["room"], room);
                        acks.lock().unwrap().push(Acked {
                            room: room.to_string(),
                            seq: seq_of(&m),
                            text,
                            duplicate: false,
                        });
                    }
                    Ok(reply) if reply.status == 503 => return,
                    Ok(reply) => panic!("unexpected answer to a post: {reply:?}"),
                    // The hub was killed.
                    Err(_) => return,
                }
            }
        }));
    }
    // A reader: every message delivered live must be durable too.
    let (url, acks, joined) = (hub.ws_url(), acks.clone(), joined.clone());
    tasks.push(tokio::spawn(async move {
        let mut ws = WsClient::connect(&url).await;
        ws.hello("ws-reader").await;
        for room in ROOMS {
            ws.join(room).await;
        }
        joined.fetch_add(1, Ordering::SeqCst);
        while let Frame::Json(v) = ws.recv_frame().await {
            if frame_type(&v) == "message" {
                acks.lock().unwrap().push(Acked {
                    room: v["room"].as_str().unwrap().to_string(),
                    seq: seq_of(&v),
                    text: text_of(&v).to_string(),
                    duplicate: false,
                });
            }
        }
    }));
    tasks
}

async fn check_history(hub: &Hub, ledger: &Ledger, round: usize) {
    let http = hub.http();
    for room in ROOMS {
        let history: Vec<Value> = http.all_messages(room).await;
        for (i, m) in history.iter().enumerate() {
            assert_eq!(
                seq_of(m),
                i as u64 + 1,
                "round {round}: {room} history has a gap or repeat at position {i}: {m}"
            );
        }
        let mut texts = HashSet::new();
        for m in &history {
            assert!(
                texts.insert(text_of(m).to_string()),
                "round {round}: {room} stores one post twice: {m}"
            );
        }
        for ((r, seq), text) in ledger.range((room.to_string(), 0)..=(room.to_string(), u64::MAX)) {
            assert_eq!(r, room);
            let stored = history.get(*seq as usize - 1).unwrap_or_else(|| {
                panic!(
                    "round {round}: acked {room} seq {seq} ({text}) is missing after kill -9; \
                     history ends at {}",
                    history.len()
                )
            });
            assert_eq!(
                text_of(stored),
                text,
                "round {round}: acked {room} seq {seq} changed after kill -9"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_acks_loses_no_acknowledged_message() {
    let seed: u64 = std::env::var("HUBBUB_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill -9 test seed: {seed} (set HUBBUB_TEST_SEED to repeat)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut hub = Hub::start_default();
    let mut ledger = Ledger::new();

    for round in 0..ROUNDS {
        let acks = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let joined = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_posters(&hub, round, &acks, &stop, &joined);

        // Kill at a random moment once every WebSocket client has joined
        // (a join cut off by the kill is not what this test is about) and
        // some acks have come back.
        let target = rng.gen_range(1..=60);
        let deadline = Instant::now() + RECV_TIMEOUT;
        while acks.lock().unwrap().len() < target || joined.load(Ordering::SeqCst) < WS_CLIENTS {
            assert!(
                Instant::now() < deadline,
                "round {round}: only {} acks within {RECV_TIMEOUT:?}",
                acks.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let extra = rng.gen_range(0..20u64);
        if extra > 0 {
            tokio::time::sleep(Duration::from_millis(extra)).await;
        }
        hub.kill9();
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            tokio::time::timeout(RECV_TIMEOUT, t)
                .await
                .expect("a poster did not notice the hub died")
                .expect("poster task");
        }
        let acks = std::mem::take(&mut *acks.lock().unwrap());
        record(&mut ledger, &acks);

        hub.restart();
        check_history(&hub, &ledger, round).await;
    }
    eprintln!(
        "{} acknowledged messages over {ROUNDS} kill -9 rounds, none lost",
        ledger.len()
    );
}
