//! `ccfs watch` on a real mount through the real control socket: live
//! changes each once and in order, a replay from `--from` racing a writer
//! with no gap and no duplicate, a start the history no longer reaches, a
//! prefix, rights, a stalled watcher cut off while the writer goes on, and
//! a daemon that stops under its watchers.

mod client;
mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client::{ccfs_as, status, wait_until, whole_log, www_data_gid, Watcher};
use common::{Node, Workdir};
use serde_json::Value;

/// (version, op, path, to) of a change line.
fn key(v: &Value) -> (u64, String, String, Option<String>) {
    (
        v["version"].as_u64().unwrap_or_else(|| panic!("{v}")),
        v["op"].as_str().unwrap_or_default().to_string(),
        v["path"].as_str().unwrap_or_default().to_string(),
        v["to"].as_str().map(str::to_string),
    )
}

fn assert_increasing(versions: &[u64]) {
    for w in versions.windows(2) {
        assert!(
            w[0] < w[1],
            "not strictly increasing: {} then {}",
            w[0],
            w[1]
        );
    }
}

/// The tree version now (every change moves it on).
fn tree_version(n: &Node) -> u64 {
    status(n)["version"].as_u64().expect("version")
}

/// A live watcher that is surely subscribed: it has printed a change made
/// after it started.
fn live_watcher(n: &Node, args: &[&str], probe: &str) -> Watcher {
    let w = Watcher::start(n, None, args);
    let mut i = 0u32;
    wait_until(
        "the watcher to see a probe",
        Duration::from_secs(30),
        || {
            i += 1;
            n.write(probe, format!("probe {i}\n").as_bytes());
            w.lines().iter().any(|l| l["path"] == probe)
        },
    );
    w
}

#[test]
fn a_live_watch_sees_each_change_once_in_order() {
    let n = Node::start();
    let w = live_watcher(&n, &[], "probe.cfg");
    let first = w.versions()[0];
    n.mkdir_p("nodes/node1/qemu-server");
    for i in 0..100 {
        let conf = format!("nodes/node1/qemu-server/{}.conf", 100 + i % 10);
        n.write(&conf, format!("cores: {i}\n").as_bytes());
    }
    std::fs::rename(n.p("nodes/node1/qemu-server/100.conf"), n.p("moved.conf")).unwrap();
    std::fs::remove_file(n.p("moved.conf")).unwrap();
    let newest = tree_version(&n);
    wait_until("every change", Duration::from_secs(30), || {
        w.versions().last() == Some(&newest)
    });
    let got: Vec<_> = w.lines().iter().map(key).collect();
    let want: Vec<_> = whole_log(&n)
        .iter()
        .map(key)
        .filter(|k| k.0 >= first)
        .collect();
    assert_eq!(got, want);
    assert_increasing(&w.versions());
    let last = w.lines().last().cloned().unwrap();
    assert_eq!(
        (last["op"].as_str(), last["path"].as_str()),
        (Some("delete"), Some("moved.conf"))
    );
    let write = w.lines().into_iter().find(|l| l["op"] == "write").unwrap();
    assert_eq!(write["node"], common::NODENAME);
    assert_eq!(write["origin"], "local");
    assert!(write["size"].as_u64().is_some(), "{write}");
}

#[test]
fn replay_then_live_while_a_writer_races_the_start_has_no_gap_and_no_duplicate() {
    let n = Arc::new(Node::start());
    const CHANGES: u64 = 3000;
    let done = Arc::new(AtomicU64::new(0));
    let writer = {
        let (n, done) = (n.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 0..CHANGES {
                // overwrites of a few files and now and then a new one
                let path = if i % 50 == 0 {
                    format!("new-{i}.cfg")
                } else {
                    format!("f{}.cfg", i % 7)
                };
                n.write(&path, format!("change {i}\n").as_bytes());
                done.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    // Watchers start from version 1 at different points of the writing.
    let mut watchers = Vec::new();
    for at in [200, 1000, 2000] {
        wait_until("the writer", Duration::from_secs(120), || {
            done.load(Ordering::SeqCst) >= at
        });
        watchers.push(Watcher::start(&n, None, &["--from", "1"]));
    }
    writer.join().unwrap();
    let newest = tree_version(&n);
    let log: Vec<_> = whole_log(&n).iter().map(key).collect();
    assert_eq!(log.last().map(|k| k.0), Some(newest));
    assert!(log.len() as u64 >= CHANGES, "{} changes logged", log.len());
    for w in &watchers {
        wait_until("the watcher to catch up", Duration::from_secs(60), || {
            w.versions().last() == Some(&newest)
        });
        let got: Vec<_> = w.lines().iter().map(key).collect();
        let distinct: HashSet<u64> = got.iter().map(|k| k.0).collect();
        assert_eq!(distinct.len(), got.len(), "a version came twice");
        assert_increasing(&w.versions());
        assert_eq!(got.len(), log.len(), "a change is missing");
        assert_eq!(got, log);
    }
}

/// A node whose journal retention dropped its oldest records; returns
/// the version retention dropped through.
fn pruned_node() -> (Node, u64) {
    let mut n = Node::start_on(Workdir::new());
    let big: Vec<u8> = (0..60_000u32)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    for i in 0..40u8 {
        let mut data = big.clone();
        data[0] = i;
        n.write("big.bin", &data);
    }
    n.stop();
    // retention runs at start, with a small limit
    let mount = n.work.mount.clone();
    let flags = ["-f", "-l", "--history-max-bytes", "400000"];
    let mut d = common::spawn(&mut n.work, &flags, &mount);
    common::wait_mounted(&mut d, &mount).expect("mounted");
    n.daemon = Some(d);
    let through = status(&n)["journal"]["pruned_through"]
        .as_u64()
        .expect("retention dropped records");
    (n, through)
}

#[test]
fn a_start_the_history_no_longer_reaches_is_refused_with_exit_code_3() {
    let (n, through) = pruned_node();
    let from = through.to_string();
    let out = ccfs_as(&n, None, &["watch", "--from", &from]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no longer reaches back to version {through}"))
            && err.contains(&format!("from version {} on", through + 1)),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // from the first version kept whole, the replay runs
    let w = Watcher::start(&n, None, &["--from", &(through + 1).to_string()]);
    let newest = tree_version(&n);
    wait_until("the replay", Duration::from_secs(30), || {
        w.versions().last() == Some(&newest)
    });
    assert!(w.versions()[0] > through);
    assert_increasing(&w.versions());
}

#[test]
fn a_prefix_keeps_that_path_and_below() {
    let n = Node::start();
    n.mkdir_p("nodes/node1/lxc");
    n.mkdir_p("elsewhere");
    let start = tree_version(&n) + 1;
    // spelled with the mount point, as a path an admin copies
    let prefix = format!("{}/nodes/node1", n.work.mount.display());
    let w = Watcher::start(&n, None, &[&prefix, "--from", &start.to_string()]);
    n.write("nodes/node1/lxc/200.conf", b"arch: amd64\n");
    n.write("datacenter.cfg", b"keyboard: de\n");
    n.write("nodes/node10.cfg", b"not below nodes/node1\n");
    // renames into the prefix and out of it concern it
    std::fs::rename(n.p("elsewhere"), n.p("nodes/node1/moved")).unwrap();
    n.write("x.cfg", b"x\n");
    std::fs::rename(n.p("x.cfg"), n.p("nodes/node1/x.cfg")).unwrap();
    std::fs::rename(n.p("nodes/node1/x.cfg"), n.p("y.cfg")).unwrap();
    std::fs::remove_file(n.p("y.cfg")).unwrap();
    n.write("nodes/node1/end.cfg", b"end\n");
    w.wait_for("the last change", |l| {
        l["path"] == "nodes/node1/end.cfg" && l["op"] == "write"
    });
    let got: Vec<(String, String, Option<String>)> = w
        .lines()
        .iter()
        .map(|l| {
            let (_, op, path, to) = key(l);
            (op, path, to)
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        [
            (s("create"), s("nodes/node1/lxc/200.conf"), None),
            (s("write"), s("nodes/node1/lxc/200.conf"), None),
            (s("rename"), s("elsewhere"), Some(s("nodes/node1/moved"))),
            (s("rename"), s("x.cfg"), Some(s("nodes/node1/x.cfg"))),
            (s("rename"), s("nodes/node1/x.cfg"), Some(s("y.cfg"))),
            (s("create"), s("nodes/node1/end.cfg"), None),
            (s("write"), s("nodes/node1/end.cfg"), None),
        ]
    );
    // the same rule as the log's
    let log: Vec<_> = client::json_lines(&client::ccfs(&n, &["log", "nodes/node1", "--json"]))
        .iter()
        .rev()
        .map(key)
        .filter(|k| k.0 >= start)
        .collect();
    assert_eq!(log, w.lines().iter().map(key).collect::<Vec<_>>());
}

#[test]
fn www_data_sees_no_private_path_and_others_are_refused() {
    let n = Node::start();
    n.mkdir_p("priv");
    n.mkdir_p("nodes/node1/priv");
    let from = (tree_version(&n) + 1).to_string();
    let www = Some((common::WWW_DATA, www_data_gid()));
    let root = Watcher::start(&n, None, &["--from", &from]);
    let w = Watcher::start(&n, www, &["--from", &from]);
    n.write("priv/token.cfg", b"secret\n");
    n.write("nodes/node1/priv/key.pem", b"key\n");
    std::fs::rename(n.p("priv/token.cfg"), n.p("public.cfg")).unwrap();
    n.write("user.cfg", b"user:root@pam:1:0:::\n");
    for x in [&root, &w] {
        x.wait_for("user.cfg", |l| {
            l["path"] == "user.cfg" && l["op"] == "write"
        });
    }
    let private = |l: &Value| {
        [&l["path"], &l["to"]]
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains("priv")))
    };
    assert!(root.lines().iter().any(private), "root sees everything");
    let seen = w.lines();
    assert!(!seen.iter().any(private), "www-data saw {seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");
    // a private prefix is refused outright, and so is everyone else
    let out = ccfs_as(&n, www, &["watch", "priv"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("private"));
    let out = ccfs_as(&n, Some((common::NOBODY, common::NOBODY)), &["watch"]);
    assert!(!out.status.success());
}

/// `GET /v1/watch` on a raw socket; returns it once the stream started.
fn raw_watch(n: &Node) -> UnixStream {
    let mut s = UnixStream::connect(n.work.run_dir.join("ccfs.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"GET /v1/watch HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b": watching\n\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "stream ended early");
        got.push(b[0]);
    }
    s
}

#[test]
fn a_stalled_watcher_is_cut_off_and_the_writer_goes_on() {
    let n = Node::start();
    let mut stalled = raw_watch(&n);
    // Far more changes than the watcher's queue and its socket buffer hold.
    const WRITES: usize = 6000;
    for i in 0..WRITES {
        n.write("busy.cfg", format!("write {i}\n").as_bytes());
    }
    // the writer was never held up: every write is in the tree
    assert_eq!(n.read_string("busy.cfg"), format!("write {}\n", WRITES - 1));
    let mut text = String::new();
    stalled.read_to_string(&mut text).unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    let last = events.last().unwrap();
    let data = last
        .strip_prefix("event: error\ndata: ")
        .unwrap_or_else(|| panic!("last event: {last:?}"));
    let end: Value = serde_json::from_str(data).unwrap();
    assert_eq!(end["status"], 503);
    assert!(
        end["error"].as_str().unwrap().contains("fell behind"),
        "{end}"
    );
    // what it got before is in order and stops where it was cut off
    let ids: Vec<u64> = events
        .iter()
        .filter_map(|e| e.strip_prefix("id: "))
        .map(|e| e.split('\n').next().unwrap().parse().unwrap())
        .collect();
    assert!(!ids.is_empty());
    assert_increasing(&ids);
    assert_eq!(end["last_version"].as_u64(), ids.last().copied());
    assert!(
        (ids.len()) < WRITES,
        "cut off before the end: {}",
        ids.len()
    );
    // and the daemon serves the next watcher
    let w = live_watcher(&n, &[], "after.cfg");
    assert!(!w.lines().is_empty());
}

#[test]
fn a_daemon_that_stops_ends_its_watches_with_exit_code_4() {
    let mut n = Node::start();
    let w = live_watcher(&n, &[], "probe.cfg");
    n.stop();
    let (code, err) = w.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("shutting down") || err.contains("closed the watch"),
        "{err}"
    );
}
