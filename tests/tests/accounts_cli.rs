//! `hubbub user ...` and `hubbub room ...` against the real binary: with the
//! hub running (through its control socket) and stopped (opening the store
//! itself), and the refusal to expose anonymous posting beyond loopback.

use std::os::unix::fs::PermissionsExt;

use hubbub_tests::*;

const ACCOUNTS: &str = "[auth]\naccounts = true\nanonymous = false\n";

fn users(hub: &Hub) -> String {
    let (ok, out, err) = hub.cli(&["user", "list"], "");
    assert!(ok, "user list failed: {err}");
    out
}

#[test]
fn users_are_managed_with_the_hub_running_or_stopped() {
    let mut hub = Hub::with_config(ACCOUNTS);
    // Running: the request goes through the control socket, which only
    // the hub's user may open.
    let socket = hub.data_dir().join("control.sock");
    let mode = std::fs::metadata(&socket)
        .expect("the control socket exists while the hub runs")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "control socket mode {mode:o}");
    hub.add_user("alice", "correct horse", true);
    assert!(hub.log().contains("user added"), "the running hub did it");
    let listed = users(&hub);
    assert!(
        listed.contains("alice") && listed.contains("true"),
        "{listed}"
    );

    let (ok, _, err) = hub.cli(&["user", "add", "alice"], "another password\n");
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = hub.cli(&["user", "add", "bob"], "short\n");
    assert!(!ok && err.contains("at least 8 characters"), "{err}");
    let (ok, _, err) = hub.cli(&["user", "add", "Bad/Name"], "long enough\n");
    assert!(!ok && err.contains("bad user name"), "{err}");

    // Stopped: the command opens the store itself.
    hub.terminate();
    assert!(!socket.exists(), "the socket goes with the hub");
    hub.add_user("sensor-1", "device secret", false);
    let (ok, _, err) = hub.cli(&["user", "passwd", "sensor-1"], "new device secret\n");
    assert!(ok, "{err}");
    let (ok, _, err) = hub.cli(&["user", "role", "sensor-1", "admin"], "");
    assert!(ok, "{err}");
    let (ok, out, err) = hub.cli(
        &[
            "room",
            "set",
            "ops",
            "--private",
            "--members",
            "alice,sensor-1",
        ],
        "",
    );
    assert!(ok && out.contains("\"private\": true"), "{out}{err}");

    // Everything is there after a restart.
    hub.restart();
    let listed = users(&hub);
    assert!(
        listed.contains("alice") && listed.contains("sensor-1"),
        "{listed}"
    );
    let (ok, out, _) = hub.cli(&["room", "show", "ops"], "");
    assert!(ok && out.contains("\"source\": \"admin\""), "{out}");
    let (ok, _, err) = hub.cli(&["user", "del", "sensor-1"], "");
    assert!(ok, "{err}");
    let (ok, _, err) = hub.cli(&["user", "del", "sensor-1"], "");
    assert!(!ok && err.contains("no user named"), "{err}");
    assert!(!users(&hub).contains("sensor-1"));
    let (ok, out, err) = hub.cli(&["room", "clear", "ops"], "");
    assert!(ok && out.contains("\"source\": \"default\""), "{out}{err}");
}

#[test]
fn anonymous_posting_beyond_loopback_is_refused_unless_said_explicitly() {
    // No config: everyone may post without logging in, so the hub will not
    // listen beyond loopback. (192.0.2.1 is a documentation address no
    // machine has: were the check missing, binding would fail, not listen.)
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(hubbub_bin())
            .arg("--data")
            .arg(dir.path())
            .args(["--mqtt", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--http", "192.0.2.1:0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("http.listen = 192.0.2.1:0 reaches beyond loopback")
            && err.contains("auth.anonymous = true"),
        "{err}"
    );
    // Said explicitly, the hub goes on to bind (and fails only there).
    let config = dir.path().join("explicit.toml");
    std::fs::write(&config, "[auth]\nanonymous = true\n").unwrap();
    let out = run(&[
        "--http",
        "192.0.2.1:0",
        "--config",
        config.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("beyond loopback") && err.contains("cannot listen on 192.0.2.1:0"),
        "{err}"
    );
}
