//! The control socket: `{data_dir}/control.sock`, readable only by the
//! hub's own user. `hubbub user ...` and `hubbub room ...` send their
//! request there while the hub runs (sled lets one process at a time open
//! the store); one JSON request line in, one JSON answer line out.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hubbub_core::admin::{Admin, AdminRequest};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// Where the socket is.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Listens on the control socket until `stop` is cancelled. The caller
/// holds the store, so a socket file left there is a stale one.
pub fn serve(data_dir: &Path, admin: Arc<Admin>, stop: CancellationToken) -> anyhow::Result<()> {
    let path = socket_path(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on the control socket {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        continue;
                    }
                },
            };
            let admin = admin.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(stream, &admin).await {
                    tracing::debug!(error = %e, "control socket request failed");
                }
            });
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn answer(stream: UnixStream, admin: &Admin) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64));
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<AdminRequest>(&line) {
        Ok(request) => outcome(admin.execute(request).await),
        Err(e) => json!({"error": {"code": "bad_request", "message": e.to_string()}}),
    };
    write.write_all(format!("{reply}\n").as_bytes()).await
}

/// The answer line for an outcome.
pub fn outcome(result: Result<Value, hubbub_core::admin::AdminError>) -> Value {
    match result {
        Ok(v) => json!({"ok": v}),
        Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
    }
}

/// Sends one request to a running hub; `None` if no hub answers there.
pub async fn ask(data_dir: &Path, request: &AdminRequest) -> anyhow::Result<Option<Value>> {
    let path = socket_path(data_dir);
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot reach the running hub at {} (run as the hub's user)",
                    path.display()
                )
            })
        }
    };
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("{}\n", serde_json::to_string(request)?).as_bytes())
        .await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    Ok(Some(
        serde_json::from_str(&line).context("the hub's answer is not JSON")?,
    ))
}
