//! Helpers for the tests that run `firmware-sim` against the real hub
//! (started by the end-to-end tests' harness, `hubbub_tests::Hub`): running the
//! simulator as a child process, an MQTT subscriber that records what it
//! sees, and plain HTTP calls. Every wait is bounded.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;

pub use hubbub_tests::Hub;

/// A room's history (`GET /api/rooms/ROOM/messages?limit=500`): its messages.
pub async fn history(hub: &Hub, room: &str) -> Vec<Value> {
    let url = format!("http://{}/api/rooms/{room}/messages?limit=500", hub.addr());
    let page: Value = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"));
    page["messages"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("GET {url}: no messages in {page}"))
}

/// Posts `text` to `room` over HTTP as `from`; returns the stored message.
pub async fn post(hub: &Hub, room: &str, from: &str, text: &str) -> Value {
    let url = format!(
        "http://{}/api/rooms/{room}/messages?from={from}",
        hub.addr()
    );
    let resp = reqwest::Client::new()
        .post(&url)
        .body(text.to_owned())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert_eq!(resp.status().as_u16(), 201, "POST {url}");
    resp.json().await.expect("the stored message")
}

/// Runs `firmware-sim ARGS` to the end; returns its exit code, its JSON
/// line, and its standard error.
pub fn sim(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
        .args(args)
        .output()
        .expect("running firmware-sim");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("firmware-sim {args:?} printed no JSON line ({e}): {stdout}\nstderr: {stderr}")
    });
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// A `firmware-sim` child whose output goes to files (no pipe can fill up).
pub struct SimChild {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl SimChild {
    /// Starts `firmware-sim ARGS`, output into files under `dir`.
    pub fn spawn(dir: &Path, args: &[&str]) -> SimChild {
        let stdout = dir.join("sim.out");
        let stderr = dir.join("sim.err");
        let child = Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("sim.out"))
            .stderr(File::create(&stderr).expect("sim.err"))
            .spawn()
            .expect("spawning firmware-sim");
        SimChild {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits up to `timeout` for the exit (killing it after that); returns
    /// the status, the JSON line and the log.
    pub async fn finish(mut self, timeout: Duration) -> (ExitStatus, Value, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait().expect("waiting for firmware-sim") {
                Some(status) => break status,
                None if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                None => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "firmware-sim did not stop within {timeout:?}; its log:\n{}",
                        std::fs::read_to_string(&self.stderr).unwrap_or_default()
                    );
                }
            }
        };
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let report = serde_json::from_str(out.trim()).unwrap_or_else(|e| {
            panic!("firmware-sim printed no JSON line ({e}): {out}\nlog:\n{log}")
        });
        (status, report, log)
    }
}

impl Drop for SimChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One publish the subscriber saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// Its topic.
    pub topic: String,
    /// Its payload as text.
    pub payload: String,
    /// Whether it was a retained message (sent on subscribing).
    pub retained: bool,
}

/// An MQTT client that subscribes to some filters and records every publish.
pub struct Subscriber {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects to `mqtt`, subscribes to `filters` (QoS 1) and waits for the SUBACKs.
    pub async fn start(mqtt: SocketAddr, id: &str, filters: &[&str]) -> Subscriber {
        let mut options = MqttOptions::new(id, mqtt.ip().to_string(), mqtt.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut el) = AsyncClient::new(options, 16);
        for f in filters {
            client
                .subscribe(*f, QoS::AtLeastOnce)
                .await
                .expect("queueing a subscription");
        }
        let wait = async {
            let mut acks = 0;
            while acks < filters.len() {
                let event = el.poll().await.expect("the test subscriber's connection");
                if let Event::Incoming(Incoming::SubAck(_)) = event {
                    acks += 1;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("SUBACKs for the test subscriber");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let _client = client; // keeps the request channel open
            while let Ok(event) = el.poll().await {
                if let Event::Incoming(Incoming::Publish(p)) = event {
                    if let Ok(mut s) = sink.lock() {
                        s.push(Seen {
                            at: Instant::now(),
                            topic: p.topic.clone(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            retained: p.retain,
                        });
                    }
                }
            }
        });
        Subscriber { seen, task }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
