//! `curl --unix-socket` sees the same API as the CLI (Debian package curl).

mod common;

use std::process::Command;

use common::*;

fn curl(ts: &TestServer, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
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
