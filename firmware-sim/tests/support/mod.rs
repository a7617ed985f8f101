//! Helpers for the tests that run `firmware-sim` against the real hub:
//! starting `hubbub` (found like the e2e tests find it), running the
//! simulator as a child process, an MQTT subscriber that records what it
//! sees, and plain HTTP calls. Every wait is bounded.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;

/// How long the hub may take to log both listening addresses.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `hubbub` binary: `$HUBBUB_BIN`, else `target/<profile>/hubbub` next
/// to this test executable (so `cargo build --workspace` must have run).
pub fn hubbub_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("HUBBUB_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "HUBBUB_BIN={} is not a file",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test-exe> -> target/<profile>/hubbub
    let profile_dir = exe.parent().and_then(|dir| {
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.parent()
        } else {
            Some(dir)
        }
    });
    let bin = profile_dir.map(|d| d.join(format!("hubbub{}", std::env::consts::EXE_SUFFIX)));
    match bin {
        Some(bin) if bin.is_file() => bin,
        other => panic!(
            "the hubbub binary was not found (looked for {}); run `cargo build --workspace` \
             first, or set HUBBUB_BIN to its path",
            other.map_or_else(|| "<unknown>".into(), |p| p.display().to_string())
        ),
    }
}

/// A running hub with its own temporary data directory; killed on drop.
pub struct Hub {
    child: Child,
    _dir: tempfile::TempDir,
    /// The HTTP (and WebSocket) address.
    pub http: SocketAddr,
    /// The MQTT address.
    pub mqtt: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Hub {
    /// Starts `hubbub --data TMP --http 127.0.0.1:0 --mqtt 127.0.0.1:0` and
    /// waits for its two `listening transport=… addr=…` lines.
    pub fn start() -> Hub {
        let dir = tempfile::Builder::new()
            .prefix("firmware-sim-hub-")
            .tempdir()
            .expect("a temp dir");
        let mut child = Command::new(hubbub_bin())
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(["--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning hubbub");
        let log: Arc<Mutex<String>> = Arc::default();
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            drain(out, Arc::clone(&log), tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            drain(err, Arc::clone(&log), tx);
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut http, mut mqtt) = (None, None);
        while http.is_none() || mqtt.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    http = http.or_else(|| listening(&line, "http"));
                    mqtt = mqtt.or_else(|| listening(&line, "mqtt"));
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the hub did not log both listening addresses within {START_TIMEOUT:?}:\n{}",
                        log.lock().map(|l| l.clone()).unwrap_or_default()
                    );
                }
            }
        }
        Hub {
            child,
            _dir: dir,
            http: http.expect("http address"),
            mqtt: mqtt.expect("mqtt address"),
            log,
        }
    }

    /// The hub's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the hub logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A room's history (`GET /api/rooms/ROOM/messages?limit=500`): its messages.
    pub async fn history(&self, room: &str) -> Vec<Value> {
        let url = format!("http://{}/api/rooms/{room}/messages?limit=500", self.http);
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
    pub async fn post(&self, room: &str, from: &str, text: &str) -> Value {
        let url = format!("http://{}/api/rooms/{room}/messages?from={from}", self.http);
        let resp = reqwest::Client::new()
            .post(&url)
            .body(text.to_owned())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert_eq!(resp.status().as_u16(), 201, "POST {url}");
        resp.json().await.expect("the stored message")
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: String = log
                .chars()
                .rev()
                .take(16_000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprintln!("==== hubbub output (tail) ====\n{tail}\n==== end ====");
        }
    }
}

/// Copies a pipe into the log and offers each line to the start-up watcher.
fn drain(pipe: impl Read + Send + 'static, log: Arc<Mutex<String>>, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if let Ok(mut l) = log.lock() {
                if l.len() < 8 << 20 {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
            let _ = lines.send(line);
        }
    });
}

/// The address of a `listening transport={transport} addr=…` line.
fn listening(line: &str, transport: &str) -> Option<SocketAddr> {
    if !line.contains("listening") || !line.contains(&format!("transport={transport}")) {
        return None;
    }
    line.split_whitespace()
        .find_map(|t| t.strip_prefix("addr="))
        .and_then(|a| a.trim_matches('"').parse().ok())
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
