//! Runs the `firmware-sim` binary against a tiny in-process stand-in for
//! the hub's WebSocket chat, clean and with injected faults, to check that
//! the load generator counts what it should.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Faults the stand-in hub can commit.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Do not deliver every n-th message to its first member.
    drop_every: Option<u64>,
    /// Deliver every n-th message twice to every member.
    duplicate_every: Option<u64>,
}

#[derive(Default)]
struct Room {
    seq: u64,
    members: Vec<mpsc::UnboundedSender<String>>,
}

/// Starts the stand-in on a thread of its own; returns its port.
fn start_mock(faults: Faults) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("addr").port())
                .expect("send port");
            let rooms: Arc<Mutex<HashMap<String, Room>>> = Arc::default();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(sock, Arc::clone(&rooms), faults));
            }
        });
    });
    rx.recv().expect("mock port")
}

async fn serve(sock: tokio::net::TcpStream, rooms: Arc<Mutex<HashMap<String, Room>>>, f: Faults) {
    let Ok(ws) = tokio_tungstenite::accept_async(sock).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if sink.send(Message::text(frame)).await.is_err() {
                return;
            }
        }
    });
    let mut nick = "guest-1".to_string();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
            continue;
        };
        let room_name = v["room"].as_str().unwrap_or_default().to_string();
        match v["op"].as_str().unwrap_or_default() {
            "hello" => {
                nick = v["nick"].as_str().unwrap_or("x").to_string();
                let _ = out_tx.send(
                    json!({"type":"welcome","nick":nick,"hub":"mock","max_message_bytes":16384})
                        .to_string(),
                );
            }
            "join" => {
                let mut rooms = rooms.lock().expect("lock");
                let room = rooms.entry(room_name.clone()).or_default();
                room.members.push(out_tx.clone());
                let _ = out_tx.send(json!({"type":"joined","room":room_name,"title":null,"epoch":"e","last_seq":room.seq,"online":[],"reset":false}).to_string());
            }
            "post" => {
                let mut rooms = rooms.lock().expect("lock");
                let room = rooms.entry(room_name.clone()).or_default();
                room.seq += 1;
                let seq = room.seq;
                let message = json!({"type":"message","room":room_name,"seq":seq,"from":nick,"text":v["text"],"ts":"now","origin":"mock","via":"ws","ref":v["ref"]}).to_string();
                let _ = out_tx.send(json!({"type":"ack","room":room_name,"ref":v["ref"],"seq":seq,"duplicate":false}).to_string());
                for (i, m) in room.members.iter().enumerate() {
                    if i == 0 && f.drop_every.is_some_and(|n| seq.checked_rem(n) == Some(0)) {
                        continue;
                    }
                    let _ = m.send(message.clone());
                    if f.duplicate_every
                        .is_some_and(|n| seq.checked_rem(n) == Some(0))
                    {
                        let _ = m.send(message.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// Runs `firmware-sim load` against the stand-in; returns exit code and report.
fn load(faults: Faults, extra: &[&str]) -> (i32, Value) {
    let port = start_mock(faults);
    let out = Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
        .args([
            "load",
            "--hub",
            &format!("127.0.0.1:{port}"),
            "--timeout-secs",
            "5",
        ])
        .args(extra)
        .output()
        .expect("run firmware-sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON line ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn clean_run_counts_every_delivery() {
    let (code, r) = load(
        Faults::default(),
        &[
            "--clients",
            "6",
            "--rooms",
            "2",
            "--messages",
            "50",
            "--window",
            "4",
            "--size",
            "100",
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["sent"], 300);
    assert_eq!(r["acked"], 300);
    // 2 rooms × 3 members: each of 150 posts per room reaches 3 members.
    assert_eq!(r["expected"], 900);
    assert_eq!(r["delivered"], 900);
    assert_eq!(r["lost"], 0);
    assert_eq!(r["duplicated"], 0);
    assert_eq!(r["out_of_order"], 0);
    assert_eq!(r["latency_ms"]["count"], 900);
    assert_eq!(r["ok"], true);
}

#[test]
fn rate_mode_runs_to_completion() {
    let (code, r) = load(
        Faults::default(),
        &[
            "--clients",
            "4",
            "--rooms",
            "4",
            "--messages",
            "20",
            "--rate",
            "400",
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["delivered"], 80);
    assert!(r["elapsed_s"].as_f64().unwrap_or(0.0) >= 0.15, "{r}");
}

#[test]
fn lost_deliveries_fail_the_run() {
    let (code, r) = load(
        Faults {
            drop_every: Some(10),
            ..Faults::default()
        },
        &["--clients", "3", "--rooms", "1", "--messages", "20"],
    );
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["lost"], 6, "{r}");
    assert_eq!(r["expected"], 180);
    assert_eq!(r["delivered"], 174);
    assert_eq!(r["ok"], false);
}

#[test]
fn duplicates_fail_the_run() {
    let (code, r) = load(
        Faults {
            duplicate_every: Some(7),
            ..Faults::default()
        },
        &["--clients", "2", "--rooms", "1", "--messages", "35"],
    );
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["duplicated"], 20, "{r}");
    assert_eq!(r["lost"], 0);
}
