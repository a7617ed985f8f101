//! A full disk: posts are refused with a clear 503 before the disk is
//! quite full (`store.min_free_mb`), nothing acknowledged is lost, reads go
//! on, and posting resumes without a gap (and without a restart) once
//! there is room again. The data directory is a small tmpfs (needs root to mount;
//! CI runs as root).

use std::path::Path;
use std::process::Command;

use hubbub_tests::*;
use serde_json::json;

/// Mounts a small tmpfs on `dir` for the life of the guard.
struct Tmpfs<'a> {
    dir: &'a Path,
}

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path, size: &str) -> Result<Self, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Self { dir })
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir).status();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success(), "copying {} failed", from.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_posts_clearly_and_loses_nothing_acked() {
    // Keep 2 MiB free of the 8 MiB below.
    let mut hub = Hub::with_config("[store]\nmin_free_mb = 2\n");
    assert!(hub.terminate().success());
    let data = hub.data_dir();
    let saved = hub.dir().join("saved");
    let acked: Vec<(u64, String)> = {
        let tmpfs = match Tmpfs::mount(&data, "8m") {
            Ok(t) => t,
            Err(why) => {
                eprintln!("SKIPPED: cannot mount a tmpfs here (needs root): {why}");
                return;
            }
        };
        // Ballast, removed later to make room again.
        let ballast = data.join("ballast");
        std::fs::write(&ballast, vec![1u8; 2 << 20]).expect("write the ballast");
        hub.restart();
        let http = hub.http();
        let filler = "x".repeat(16_000);
        let mut acked = Vec::new();
        let refusal = loop {
            assert!(acked.len() < 5_000, "8 MiB never filled up");
            let text = format!("{} {filler}", acked.len() + 1);
            let reply = http.post_json("full", &json!({ "text": text })).await;
            if reply.status != 201 {
                break reply;
            }
            acked.push((reply.json()["seq"].as_u64().expect("seq"), text));
        };
        refusal.assert_error(503, "store_unavailable");
        assert!(
            refusal.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("the disk is nearly full")),
            "the refusal says why: {}",
            refusal.body
        );
        // Reads still work, and a small post is refused just as clearly.
        let read = http.messages("full", "limit=1").await;
        assert_eq!(read.status, 200, "{}", read.body);
        http.post_json("full", &json!({ "text": "small" }))
            .await
            .assert_error(503, "store_unavailable");
        // Room again: posting goes on, without a restart and without a gap.
        std::fs::remove_file(&ballast).expect("remove the ballast");
        let text = "room again".to_string();
        let next = http.post_json("full", &json!({ "text": text })).await;
        assert_eq!(next.status, 201, "{}", next.body);
        let seq = next.json()["seq"].as_u64().expect("seq");
        assert_eq!(seq, acked.len() as u64 + 1, "no gap");
        acked.push((seq, text));
        hub.terminate();
        copy_dir(&data, &saved);
        drop(tmpfs);
        acked
    };
    assert!(acked.len() > 10, "some posts fit: {}", acked.len());

    // The disk has room again: the same data, on a roomy filesystem.
    std::fs::remove_dir_all(&data).expect("remove the old data dir");
    copy_dir(&saved, &data);
    hub.restart();
    let http = hub.http();
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = http
            .message_list("full", &format!("after={after}&limit=500"))
            .await;
        let Some(last) = page.last() else { break };
        after = last["seq"].as_u64().expect("seq");
        stored.extend(page.iter().map(|m| {
            (
                m["seq"].as_u64().expect("seq"),
                m["text"].as_str().expect("text").to_owned(),
            )
        }));
    }
    assert_eq!(
        stored, acked,
        "every acknowledged message, nothing else, in order"
    );
    let next = http.post_text("full", "and on").await;
    assert_eq!(
        next["seq"].as_u64(),
        Some(acked.len() as u64 + 1),
        "the sequence goes on without a gap"
    );
}
