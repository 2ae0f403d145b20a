//! `GET /v1/watch` on a real socket over the fake backend: the event
//! stream's bytes, replay and live changes, prefixes, rights, keep-alives,
//! the end of a watch (cut off, pruned, server stop, client gone) and
//! `ccfs watch` / `ccfs status` on top.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ccfs_api::cli::{execute, CliError};
use ccfs_api::{ClientCommand, ClientError};
use common::*;

/// Wait for `cond` (bounded; the bound only stops a broken test).
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A raw watch connection and everything it received so far.
struct Raw {
    s: UnixStream,
    got: String,
}

impl Raw {
    fn open(ts: &TestServer, target: &str) -> Raw {
        let mut s = UnixStream::connect(&ts.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        Raw {
            s,
            got: String::new(),
        }
    }

    /// Read until `needle` arrived (or the stream closed); true if it did.
    fn until(&mut self, needle: &str) -> bool {
        let mut buf = [0u8; 4096];
        while !self.got.contains(needle) {
            match self.s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.got.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) => panic!("reading the watch: {e} (so far: {:?})", self.got),
            }
        }
        true
    }

    /// Read until the server closes.
    fn rest(&mut self) -> String {
        let _ = self.until("\u{0}never");
        self.got.clone()
    }
}

/// The versions of the change events in an event stream's text.
fn ids(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn live_changes_arrive_as_events_after_the_head() {
    let ts = TestServer::start();
    let mut w = Raw::open(&ts, "/v1/watch");
    assert!(w.until(": watching\n\n"));
    assert!(
        w.got.starts_with(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
             Connection: close\r\n\r\n: watching\n\n"
        ),
        "{:?}",
        w.got
    );
    let v = ts.fake.write("a.cfg", b"x");
    assert_eq!(v, 10);
    assert!(w.until("id: 10\n"));
    assert!(w.until("}\n\n"));
    let event = w.got.split(": watching\n\n").nth(1).unwrap().to_string();
    let data = event
        .strip_prefix("id: 10\ndata: ")
        .and_then(|d| d.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("{event:?}"));
    let e: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        (e["version"].as_u64(), e["op"].as_str(), e["path"].as_str()),
        (Some(10), Some("write"), Some("a.cfg"))
    );
    assert_eq!(e["size"], 1);
}

#[test]
fn replay_from_a_version_then_live_in_order() {
    let ts = TestServer::start();
    let mut w = ts.client().watch(None, Some(5)).unwrap();
    let mut got: Vec<u64> = (0..5).map(|_| w.next_change().unwrap().version).collect();
    assert_eq!(got, [5, 6, 7, 8, 9]);
    ts.fake.write("b.cfg", b"1");
    ts.fake.delete("b.cfg");
    got.push(w.next_change().unwrap().version);
    let e = w.next_change().unwrap();
    got.push(e.version);
    assert_eq!(got, [5, 6, 7, 8, 9, 10, 11]);
    assert_eq!((e.op.as_str(), e.path.as_str()), ("delete", "b.cfg"));
    assert_eq!(w.last_version(), Some(11));
}

#[test]
fn a_prefix_keeps_that_path_and_below_and_renames_into_it() {
    let ts = TestServer::start();
    let mut w = Raw::open(&ts, "/v1/watch?prefix=/etc/pve/nodes/n1/qemu-server&from=1");
    assert!(w.until("id: 7\n"));
    assert_eq!(ids(&w.got), [4, 7]);
    ts.fake.write("other.cfg", b"x");
    ts.fake.rename("other.cfg", "nodes/n1/qemu-server/102.conf");
    assert!(w.until("id: 11\n"));
    assert_eq!(ids(&w.got), [4, 7, 11]);
}

#[test]
fn www_data_gets_no_private_change_and_others_nothing() {
    let ts = TestServer::start();
    let gid = www_data_gid();
    let socket = ts.socket.clone();
    let out = as_user(33, gid, &[], move || {
        let mut w = ccfs_api::Client::new(&socket).watch(None, Some(1)).unwrap();
        // versions 3 and 5 are under priv/: the first seven public ones
        let v: Vec<String> = (0..7)
            .map(|_| w.next_change().unwrap().version.to_string())
            .collect();
        v.join(",").into_bytes()
    });
    assert_eq!(String::from_utf8(out).unwrap(), "1,2,4,6,7,8,9");
    for target in [
        "/v1/watch?prefix=priv",
        "/v1/watch?prefix=/etc/pve/nodes/n1/priv/",
    ] {
        let r = request_as(33, gid, &[], &ts.socket, "GET", target).unwrap();
        assert_eq!(r.status, 403, "{target}");
    }
    let r = request_as(NOBODY, NOGROUP, &[gid], &ts.socket, "GET", "/v1/watch").unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(ts.fake.open_watches(), 0);
}

#[test]
fn refusals_before_the_stream_are_plain_answers() {
    let ts = TestServer::start();
    ts.fake.prune_below(4);
    let r = ts.get("/v1/watch?from=2");
    assert_eq!(r.status, 410);
    assert!(json(&r)["error"].as_str().unwrap().contains("pruned"));
    assert_eq!(ts.get("/v1/watch?from=x").status, 400);
    assert_eq!(ts.get("/v1/watch?prefix=a/../b").status, 400);
    let r = ts.req("POST", "/v1/watch");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    match ts.client().watch(None, Some(1)) {
        Err(ClientError::Api { status: 410, .. }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a pruned replay started"),
    }
    let err = execute(
        ClientCommand::Watch {
            prefix: None,
            from: Some(1),
            json: false,
        },
        &ts.socket,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    // from the cut on, the replay starts
    let mut w = ts.client().watch(None, Some(4)).unwrap();
    assert_eq!(w.next_change().unwrap().version, 4);
}

#[test]
fn an_idle_stream_gets_keep_alives() {
    let ts = TestServer::start_with(|c| c.watch_keepalive = Duration::from_millis(50));
    let mut w = Raw::open(&ts, "/v1/watch");
    assert!(w.until(": keep-alive\n\n: keep-alive\n\n"));
    // and a keep-alive does not end the client's watch
    let mut c = ts.client().watch(None, None).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    ts.fake.write("late.cfg", b"x");
    assert_eq!(c.next_change().unwrap().path, "late.cfg");
}

#[test]
fn a_watcher_cut_off_gets_an_error_event_and_the_cli_exit_code_4() {
    let ts = TestServer::start();
    let mut w = Raw::open(&ts, "/v1/watch?from=8");
    assert!(w.until("id: 9\n"));
    ts.fake.cut_watchers();
    let text = w.rest();
    let tail = text.rsplit("\n\n").nth(1).unwrap();
    let data = tail
        .strip_prefix("event: error\ndata: ")
        .unwrap_or_else(|| panic!("{text:?}"));
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["status"], 503);
    assert_eq!(v["last_version"], 9);
    assert!(v["error"].as_str().unwrap().contains("fell behind"), "{v}");
    // the CLI prints what came, then fails with the reason and where to resume
    let mut out = Vec::new();
    let err = execute(
        ClientCommand::Watch {
            prefix: None,
            from: Some(8),
            json: true,
        },
        &ts.socket,
        &mut out,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 4);
    let msg = err.to_string();
    assert!(
        msg.contains("fell behind") && msg.contains("--from 10"),
        "{msg}"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let versions: Vec<u64> = lines
        .iter()
        .map(|l| l["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [8, 9]);
    assert!(matches!(
        err,
        CliError::Client(ClientError::WatchEnded { .. })
    ));
}

#[test]
fn the_cli_prints_log_lines() {
    let ts = TestServer::start();
    ts.fake.write("user.cfg", b"again\n");
    // the fake ends its watches once they delivered what there is
    ts.fake.cut_watchers();
    let mut out = Vec::new();
    let err = execute(
        ClientCommand::Watch {
            prefix: Some("/etc/pve/user.cfg".into()),
            from: Some(1),
            json: false,
        },
        &ts.socket,
        &mut out,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 4);
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("       9  ") && lines[0].ends_with("write   user.cfg"));
    assert!(lines[1].starts_with("      10  ") && lines[1].ends_with("write   user.cfg"));
}

#[test]
fn a_client_that_goes_away_frees_its_watch() {
    let ts = TestServer::start();
    let mut w = Raw::open(&ts, "/v1/watch");
    assert!(w.until(": watching"));
    assert_eq!(ts.fake.open_watches(), 1);
    drop(w);
    wait_until("the watch to end", || ts.fake.open_watches() == 0);
    // a client that only shut its sending side keeps reading
    let mut w = Raw::open(&ts, "/v1/watch");
    w.s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(w.until(": watching"));
    std::thread::sleep(Duration::from_millis(300));
    ts.fake.write("x.cfg", b"x");
    assert!(w.until("id: 10\n"));
}

#[test]
fn server_stop_ends_every_watch() {
    let mut ts = TestServer::start();
    let mut watches: Vec<Raw> = (0..3).map(|_| Raw::open(&ts, "/v1/watch")).collect();
    for w in &mut watches {
        assert!(w.until(": watching"));
    }
    let server = ts.server.take().unwrap();
    let stopper = std::thread::spawn(move || server.stop());
    for w in &mut watches {
        let text = w.rest();
        // either the goodbye arrived or the socket was shut first
        assert!(
            text.ends_with(": watching\n\n") || text.contains("event: error\ndata: "),
            "{text:?}"
        );
        if text.contains("event: error") {
            assert!(text.contains("shutting down"), "{text:?}");
        }
    }
    stopper.join().unwrap();
    assert_eq!(ts.fake.open_watches(), 0);
}

#[test]
fn status_prints_lines_and_fails_when_unhealthy() {
    let ts = TestServer::start();
    let mut out = Vec::new();
    execute(ClientCommand::Status { json: false }, &ts.socket, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("node      n1, local mode, healthy\nquorate   yes\n"),
        "{text}"
    );
    let mut out = Vec::new();
    execute(ClientCommand::Status { json: true }, &ts.socket, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["healthy"], true);
    ts.fake.set_unavailable(true);
    let mut out = Vec::new();
    let err = execute(ClientCommand::Status { json: false }, &ts.socket, &mut out).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(err.to_string(), "not healthy: not quorate");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("NOT HEALTHY") && text.contains("\nwarnings  not quorate\n"),
        "{text}"
    );
}
