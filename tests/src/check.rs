//! Running `hubbub check-config FILE`.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::hub::hubbub_bin;

/// What `hubbub check-config` did.
#[derive(Debug)]
pub struct CheckOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout followed by its stderr.
    pub output: String,
}

/// Writes `toml` to a temp file and runs `hubbub check-config FILE` on it (20 s limit).
pub fn check_config(toml: &str) -> CheckOutput {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hubbub.toml");
    std::fs::write(&path, toml).expect("write config");
    let mut child = Command::new(hubbub_bin())
        .arg("check-config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hubbub check-config");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            // Our own child, not yet reaped: kill(2) by its pid.
            let _ = child.kill();
            let _ = child.wait();
            panic!("hubbub check-config did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    CheckOutput { status, output }
}
