//! `curl --unix-socket` sees the same API as the CLI (Debian package curl).

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::*;

fn curl(ts: &TestServer, args: &[&str]) -> (String, String) {
    curl_as(ts, None, args)
}

/// curl as root or as uid:gid (std drops the supplementary groups).
fn curl_as(ts: &TestServer, user: Option<(u32, u32)>, args: &[&str]) -> (String, String) {
    let mut cmd = Command::new("curl");
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    let out = cmd
        .args(["--silent", "--show-error", "--include", "--unix-socket"])
        .arg(&ts.socket)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl is needed for this test (apt-get install curl): {e}"));
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_string(), body.to_string())
}

#[test]
fn curl_reads_status_files_and_diffs_and_creates_snapshots() {
    let ts = TestServer::start();
    let (head, body) = curl(&ts, &["http://localhost/v1/status"]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"],
        9
    );

    let (head, body) = curl(
        &ts,
        &["http://localhost/v1/files/etc/pve/datacenter.cfg?version=1"],
    );
    assert!(head.contains("X-Ccfs-Version: 1"), "{head}");
    assert_eq!(body, "keyboard: en-us\n");

    let (_, body) = curl(&ts, &["http://localhost/v1/diff?path=datacenter.cfg"]);
    assert!(
        body.starts_with("--- a/datacenter.cfg@1\n+++ b/datacenter.cfg@6\n"),
        "{body}"
    );

    let (head, body) = curl(
        &ts,
        &["-X", "POST", "http://localhost/v1/snapshots?name=by-curl"],
    );
    assert!(head.starts_with("HTTP/1.1 201 Created"), "{head}");
    assert!(body.contains("\"name\":\"by-curl\""), "{body}");
    assert_eq!(ts.fake.snapshot_names(), ["by-curl"]);

    let (head, body) = curl(&ts, &["http://localhost/v1/files/nothing"]);
    assert!(head.starts_with("HTTP/1.1 404 Not Found"), "{head}");
    assert!(body.contains("\"error\""), "{body}");
}

#[test]
fn curl_as_www_data_is_read_only_and_kept_out_of_priv() {
    let ts = TestServer::start();
    let www = Some((33, www_data_gid()));
    let (head, body) = curl_as(&ts, www, &["http://localhost/v1/files/user.cfg"]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, "user:root@pam:1:0:::\n");
    let (head, body) = curl_as(
        &ts,
        www,
        &["http://localhost/v1/files/etc/pve/priv/token.cfg"],
    );
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert!(!body.contains("secret"), "{body}");
    let (head, _) = curl_as(
        &ts,
        www,
        &["-X", "DELETE", "http://localhost/v1/snapshots/x"],
    );
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    let (head, _) = curl_as(
        &ts,
        www,
        &[
            "-X",
            "POST",
            "http://localhost/v1/restore?path=user.cfg&version=9",
        ],
    );
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert_eq!(ts.fake.version(), 9);
}

#[test]
fn curl_follows_a_watch_until_the_daemon_ends_it() {
    let ts = TestServer::start();
    // the fake ends each watch once it delivered the log
    ts.fake.cut_watchers();
    let (head, body) = curl(
        &ts,
        &[
            "--no-buffer",
            "http://localhost/v1/watch?from=6&prefix=/etc/pve/datacenter.cfg",
        ],
    );
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    let events: Vec<&str> = body.split("\n\n").collect();
    assert_eq!(events[0], ": watching", "{body}");
    assert!(events[1].starts_with("id: 6\ndata: {\""), "{body}");
    assert!(events[2].starts_with("event: error\ndata: {"), "{body}");
    assert_eq!(events[3..], [""], "{body}");
}
