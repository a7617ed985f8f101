//! Starting, stopping and restarting the real `hubbub` process.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::Http;
use crate::sse::SseClient;
use crate::ws::WsClient;

/// How long a hub may take from spawn to logging its HTTP listening address.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a hub may take to exit after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of hub output kept in memory (the oldest are dropped).
const LOG_CAP: usize = 4 << 20;

/// Bytes of the log tail printed when a test panics.
const LOG_TAIL_ON_PANIC: usize = 24 << 10;

/// The `hubbub` binary: `$HUBBUB_BIN`, else `target/<profile>/hubbub` next to this test executable.
pub fn hubbub_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("HUBBUB_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "HUBBUB_BIN is set to {}, which is not a file",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("cannot find the current test executable");
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
            other.map_or_else(|| "<unknown>".to_string(), |p| p.display().to_string())
        ),
    }
}

/// How to start a hub.
#[derive(Debug, Clone, Default)]
pub struct HubOptions {
    /// TOML config text, written to `hubbub.toml` in the hub's temp dir and passed with `--config`.
    pub config: Option<String>,
    /// Extra command-line arguments, after the harness's own.
    pub args: Vec<String>,
    /// Extra environment variables for the hub process.
    pub env: Vec<(String, String)>,
}

impl HubOptions {
    /// Options that start the hub with this TOML config text.
    pub fn config(toml: impl Into<String>) -> Self {
        Self {
            config: Some(toml.into()),
            ..Self::default()
        }
    }
}

/// A running (or stopped) `hubbub` process with its own temp data directory; killed on drop.
pub struct Hub {
    dir: tempfile::TempDir,
    options: HubOptions,
    child: Option<Child>,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    starts: u32,
    mqtt: Mutex<Option<SocketAddr>>,
}

impl Hub {
    /// Spawns the hub (HTTP and MQTT on `127.0.0.1:0`) with a fresh data dir and waits until it logs its HTTP address.
    pub fn start(options: HubOptions) -> Hub {
        Self::try_start(options).unwrap_or_else(|log| panic!("{log}"))
    }

    /// Like [`Hub::start`], but returns the hub's output instead of panicking if it exits before listening.
    pub fn try_start(options: HubOptions) -> Result<Hub, String> {
        let dir = tempfile::Builder::new()
            .prefix("hubbub-e2e-")
            .tempdir()
            .expect("cannot create a temp dir for the hub");
        std::fs::create_dir_all(dir.path().join("data")).expect("cannot create the data dir");
        let mut hub = Hub {
            dir,
            options,
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: Arc::default(),
            starts: 0,
            mqtt: Mutex::new(None),
        };
        hub.try_spawn()?;
        Ok(hub)
    }

    /// Starts a hub with default options.
    pub fn start_default() -> Hub {
        Self::start(HubOptions::default())
    }

    /// Starts a hub with this TOML config text.
    pub fn with_config(toml: &str) -> Hub {
        Self::start(HubOptions::config(toml))
    }

    fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("{log}");
        }
    }

    /// Spawns the process and waits for its address; `Err` (with its output) if it exits first.
    fn try_spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "the hub is already running");
        let mut cmd = Command::new(hubbub_bin());
        cmd.arg("--data")
            .arg(self.data_dir())
            .arg("--http")
            .arg("127.0.0.1:0")
            .arg("--mqtt")
            .arg("127.0.0.1:0");
        if let Some(text) = &self.options.config {
            let path = self.dir.path().join("hubbub.toml");
            std::fs::write(&path, text).expect("cannot write the hub's config file");
            cmd.arg("--config").arg(path);
        }
        cmd.args(&self.options.args);
        cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", hubbub_bin().display()));
        self.starts += 1;
        *self.mqtt.lock().unwrap_or_else(|p| p.into_inner()) = None;
        append_log(
            &self.log,
            &format!(
                "---- harness: hubbub start #{} (pid {}) ----\n",
                self.starts,
                child.id()
            ),
        );
        let (lines, listening) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        drain(stdout, self.log.clone(), lines.clone());
        drain(stderr, self.log.clone(), lines);
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match listening.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = parse_listening(&line) {
                        self.addr = addr;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.kill9();
                    panic!(
                        "the hub did not log `listening transport=http addr=…` within {:?}; \
                         its output:\n{}",
                        START_TIMEOUT,
                        self.log()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.take().map(|mut c| c.wait());
                    return Err(format!(
                        "the hub exited ({status:?}) before logging `listening transport=http`; \
                         its output:\n{}",
                        self.log()
                    ));
                }
            }
        }
    }

    /// The process id of the running hub.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the hub is not running").id()
    }

    /// Whether the hub process is still alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The HTTP listening address of the current run.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MQTT (TCP) listening address of the current run, from its
    /// `listening transport=mqtt addr=…` line; waits up to [`START_TIMEOUT`]
    /// for it (it follows the HTTP line) and panics if MQTT is off.
    pub fn mqtt_addr(&self) -> SocketAddr {
        let mut cached = self.mqtt.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(addr) = *cached {
            return addr;
        }
        let marker = format!("---- harness: hubbub start #{} ", self.starts);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            let found = log.rfind(&marker).and_then(|from| {
                log[from..]
                    .lines()
                    .find_map(|l| parse_listening_on(l, "mqtt"))
            });
            if let Some(addr) = found {
                *cached = Some(addr);
                return addr;
            }
            assert!(
                Instant::now() < deadline,
                "the hub did not log `listening transport=mqtt addr=…` within {START_TIMEOUT:?} \
                 (is [mqtt] enabled?); its output:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `ws://127.0.0.1:PORT/mqtt` (MQTT over WebSocket) of the current run.
    pub fn mqtt_ws_url(&self) -> String {
        format!("ws://{}/mqtt", self.addr)
    }

    /// `http://127.0.0.1:PORT` of the current run.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/ws` of the current run.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// An HTTP client for the current run.
    pub fn http(&self) -> Http {
        Http::new(&self.http_base())
    }

    /// A new WebSocket connection to the current run.
    pub async fn ws(&self) -> WsClient {
        WsClient::connect(&self.ws_url()).await
    }

    /// A WebSocket connection that has said `hello` with this nick.
    pub async fn ws_as(&self, nick: &str) -> WsClient {
        let mut ws = self.ws().await;
        ws.hello(nick).await;
        ws
    }

    /// An SSE stream of a room, resuming after `last_event_id` if given.
    pub async fn sse(&self, room: &str, last_event_id: Option<u64>) -> SseClient {
        SseClient::connect(&self.http_base(), room, last_event_id, "").await
    }

    /// Runs `hubbub <args>` (a `user` or `room` command) against this hub's
    /// data directory and config, feeding `stdin`; returns (success,
    /// stdout, stderr). A running hub is reached through its control socket.
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut cmd = Command::new(hubbub_bin());
        cmd.arg("--data").arg(self.data_dir());
        if self.options.config.is_some() {
            cmd.arg("--config").arg(self.dir.path().join("hubbub.toml"));
        }
        let mut child = cmd
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", hubbub_bin().display()));
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(stdin.as_bytes())
            .expect("cannot write to hubbub's stdin");
        let out = child.wait_with_output().expect("hubbub did not finish");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Adds a user with `hubbub user add` (admin if `admin`); panics if it fails.
    pub fn add_user(&self, name: &str, password: &str, admin: bool) {
        let mut args = vec!["user", "add", name];
        if admin {
            args.push("--admin");
        }
        let (ok, out, err) = self.cli(&args, &format!("{password}\n"));
        assert!(ok, "hubbub user add {name} failed:\n{out}\n{err}");
    }

    /// The hub's data directory (the same across restarts).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The hub's temp directory (data dir and config file live inside).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the hub wrote to stdout and stderr so far, across restarts.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends SIGKILL to the hub and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGKILL);
            let _ = child.wait();
            append_log(&self.log, "---- harness: sent SIGKILL ----\n");
        }
    }

    /// Sends SIGTERM to the hub without waiting for it to exit.
    pub fn signal_term(&self) {
        let child = self.child.as_ref().expect("the hub is not running");
        signal(child, libc::SIGTERM);
    }

    /// Waits for the hub to exit; SIGKILLs it and panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("the hub is not running");
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    append_log(&self.log, &format!("---- harness: exited {status} ----\n"));
                    return status;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    self.kill9();
                    panic!(
                        "the hub did not exit within {timeout:?}; its output:\n{}",
                        self.log()
                    );
                }
                Err(e) => panic!("cannot wait for the hub: {e}"),
            }
        }
    }

    /// Sends SIGTERM, waits for the exit and returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal_term();
        self.wait_exit(EXIT_TIMEOUT)
    }

    /// Starts the hub again on the same data dir and config (stopping it with SIGTERM first if it runs); the port changes.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.terminate();
            assert!(
                status.success(),
                "the hub exited with {status} on SIGTERM before a restart"
            );
        }
        self.spawn();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.log();
            let mut start = log.len().saturating_sub(LOG_TAIL_ON_PANIC);
            while !log.is_char_boundary(start) {
                start += 1;
            }
            eprintln!(
                "==== hubbub output (last {} bytes) ====\n{}\n==== end of hubbub output ====",
                log.len() - start,
                &log[start..]
            );
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions. The pid is our own
    // child that has not been reaped yet, so it cannot name another process.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn append_log(log: &Mutex<String>, text: &str) {
    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
    log.push_str(text);
    if log.len() > LOG_CAP {
        let mut cut = log.len() - LOG_CAP / 2;
        while !log.is_char_boundary(cut) {
            cut += 1;
        }
        log.replace_range(..cut, "[… older output dropped …]\n");
    }
}

/// Copies one output pipe into the shared log, line by line, and offers each line to the start-up watcher.
fn drain(pipe: impl Read + Send + 'static, log: Arc<Mutex<String>>, lines: mpsc::Sender<String>) {
    std::thread::Builder::new()
        .name("hubbub-output".into())
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        append_log(&log, &line);
                        // Nobody listens after start-up; that is fine.
                        let _ = lines.send(line);
                    }
                }
            }
        })
        .expect("cannot spawn an output thread");
}

/// Removes ANSI escape sequences (colours) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The HTTP address from a `listening transport=http addr=…` line, human or JSON format.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    parse_listening_on(line, "http")
}

/// The address from a `listening transport={transport} addr=…` line, human or JSON format.
fn parse_listening_on(line: &str, transport: &str) -> Option<SocketAddr> {
    let line = strip_ansi(line);
    if !line.contains("listening") {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line.trim()) {
        let fields = json.get("fields").unwrap_or(&json);
        if fields.get("transport").and_then(|t| t.as_str()) != Some(transport) {
            return None;
        }
        return fields.get("addr")?.as_str()?.parse().ok();
    }
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let (plain, quoted) = (
        format!("transport={transport}"),
        format!("transport=\"{transport}\""),
    );
    if !tokens.iter().any(|t| *t == plain || *t == quoted) {
        return None;
    }
    tokens
        .iter()
        .find_map(|t| t.strip_prefix("addr="))
        .and_then(|a| a.trim_matches(|c| c == '"' || c == ',').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_listening_lines() {
        let line = "2026-11-24T15:00:00.000Z  INFO hubbub: listening transport=http addr=127.0.0.1:40211\n";
        assert_eq!(
            parse_listening(line),
            Some("127.0.0.1:40211".parse().unwrap())
        );
        let colored = "\u{1b}[2m2026-11-24T15:00:00.000Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mhubbub\u{1b}[0m\u{1b}[2m:\u{1b}[0m listening \u{1b}[3mtransport\u{1b}[0m\u{1b}[2m=\u{1b}[0mhttp \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:5\n";
        assert_eq!(
            parse_listening(colored),
            Some("127.0.0.1:5".parse().unwrap())
        );
        let other =
            "2026-11-24T15:00:00.000Z  INFO hubbub: listening transport=mqtt addr=127.0.0.1:1883";
        assert_eq!(parse_listening(other), None);
        assert_eq!(
            parse_listening_on(other, "mqtt"),
            Some("127.0.0.1:1883".parse().unwrap())
        );
    }

    #[test]
    fn parses_json_listening_lines() {
        let line = r#"{"timestamp":"2026-11-24T15:00:00.000Z","level":"INFO","fields":{"message":"listening","transport":"http","addr":"127.0.0.1:40211"},"target":"hubbub"}"#;
        assert_eq!(
            parse_listening(line),
            Some("127.0.0.1:40211".parse().unwrap())
        );
    }
}
