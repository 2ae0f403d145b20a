//! The history across three real ccfs daemons (testnet namespaces, real
//! corosync): the same history on every node, snapshots shared through
//! the ccfs-only group `ccfs_history_v1`, a node that was down filled in
//! from a peer's journal instead of keeping its resync's stand-ins.

mod cluster_common;

use std::path::PathBuf;
use std::process::Command;

use cluster_common::{converge, start, wait_until, Daemon};
use serde_json::Value;

/// The daemon's run dir (its control socket), reached from the test
/// process through the daemon's own root.
fn run_dir(d: &Daemon) -> PathBuf {
    let run = d.mount.parent().expect("daemon root").join("run");
    let inner = run.strip_prefix("/").unwrap_or(&run);
    PathBuf::from(format!("/proc/{}/root", d.pid)).join(inner)
}

fn ccfs_try(d: &Daemon, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cluster_common::ccfs_bin())
        .arg("--run-dir")
        .arg(run_dir(d))
        .args(args)
        .output()
        .expect("run the ccfs client");
    if !out.status.success() {
        return Err(format!(
            "node{}: ccfs {args:?}: {}{}",
            d.nodeid,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

fn ccfs(d: &Daemon, args: &[&str]) -> String {
    ccfs_try(d, args).unwrap_or_else(|e| panic!("{e}"))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `ccfs log PATH --json`, newest first.
fn log(d: &Daemon, path: &str) -> Vec<Value> {
    json_lines(&ccfs(d, &["log", path, "--json", "--limit", "10000"]))
}

/// What must be the same on every node: version, writer, node, op, path,
/// size (not the origin: local on the writer, cluster or peer elsewhere).
fn history(d: &Daemon, path: &str) -> Vec<(u64, u64, String, String, String, Value)> {
    log(d, path)
        .into_iter()
        .map(|v| {
            (
                v["version"].as_u64().expect("version"),
                v["writer"].as_u64().expect("writer"),
                v["node"].as_str().expect("node").to_string(),
                v["op"].as_str().expect("op").to_string(),
                v["path"].as_str().expect("path").to_string(),
                v["size"].clone(),
            )
        })
        .collect()
}

/// `snapshot list --json` as (name, version, node, entries, bytes).
fn snapshots(d: &Daemon) -> Vec<(String, u64, String, u64, u64)> {
    json_lines(&ccfs(d, &["snapshot", "list", "--json"]))
        .into_iter()
        .map(|v| {
            (
                v["name"].as_str().expect("name").to_string(),
                v["version"].as_u64().expect("version"),
                v["node"].as_str().expect("node").to_string(),
                v["entries"].as_u64().expect("entries"),
                v["bytes"].as_u64().expect("bytes"),
            )
        })
        .collect()
}

fn has_snapshot(d: &Daemon, name: &str) -> bool {
    snapshots(d).iter().any(|s| s.0 == name)
}

/// The journal's gaps as `ccfs status --json` reports them (whatever
/// its exit code says of the node's health).
fn gaps(d: &Daemon) -> Vec<Value> {
    let out = Command::new(cluster_common::ccfs_bin())
        .arg("--run-dir")
        .arg(run_dir(d))
        .args(["status", "--json"])
        .output()
        .expect("run the ccfs client");
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    status["journal"]["gaps"]
        .as_array()
        .expect("journal.gaps")
        .clone()
}

/// `len` bytes of text that does not compress to nothing.
fn big_text(len: usize) -> String {
    let mut s = String::with_capacity(len + 32);
    let mut x: u64 = len as u64;
    while s.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s.push_str(&format!("{:016x}\n", x));
    }
    s.truncate(len);
    s
}

#[test]
fn the_history_of_a_file_written_on_three_nodes_is_the_same_on_every_node() {
    let (_c, d) = start();
    let texts = ["from node1\n", "from node2\n", "from node3\n"];
    for (x, text) in d.iter().zip(texts) {
        x.write("shared.cfg", text).unwrap();
        for y in &d {
            y.wait_content("shared.cfg", text);
        }
    }
    let writes = |x: &Daemon| -> Vec<(u64, String)> {
        let mut w: Vec<(u64, String)> = history(x, "shared.cfg")
            .into_iter()
            .filter(|h| h.3 == "write")
            .map(|h| (h.0, h.2))
            .collect();
        w.reverse();
        w
    };
    wait_until("three writes in every journal", || {
        d.iter().all(|x| writes(x).len() == 3)
    });
    let first = history(&d[0], "shared.cfg");
    for x in &d[1..] {
        assert_eq!(history(x, "shared.cfg"), first, "node{}", x.nodeid);
    }
    let w = writes(&d[0]);
    let nodes: Vec<&str> = w.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(nodes, ["node1", "node2", "node3"], "{first:?}");
    assert!(w.windows(2).all(|p| p[0].0 < p[1].0), "{w:?}");
    assert_eq!(first.last().map(|h| h.3.as_str()), Some("create"));
    for x in &d {
        for ((v, _), text) in w.iter().zip(texts) {
            assert_eq!(ccfs(x, &["show", &format!("shared.cfg@{v}")]), text);
        }
    }
    // Each writer's own record is local there, cluster elsewhere.
    for (k, x) in d.iter().enumerate() {
        let origins: Vec<String> = log(x, "shared.cfg")
            .iter()
            .filter(|v| v["op"] == "write")
            .map(|v| v["origin"].as_str().unwrap_or("").to_string())
            .rev()
            .collect();
        for (j, o) in origins.iter().enumerate() {
            let want = if j == k { "local" } else { "cluster" };
            assert_eq!(o, want, "node{} write {j}: {origins:?}", x.nodeid);
        }
    }
}

#[test]
fn a_snapshot_made_on_one_node_is_on_every_node_and_a_delete_on_another_removes_it() {
    let (_c, d) = start();
    d[0].mkdir("nodes").unwrap();
    d[0].write("nodes/100.conf", "cores: 1\n").unwrap();
    d[2].write("storage.cfg", "dir: local\n").unwrap();
    // Big enough that the snapshot travels as several CPG messages.
    d[0].write("big.txt", &big_text(700_000)).unwrap();
    converge(&d);
    ccfs(&d[1], &["snapshot", "create", "before-upgrade"]);
    let made = snapshots(&d[1]);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].2, "node2");
    for x in [&d[0], &d[2]] {
        wait_until(&format!("snapshot on node{}", x.nodeid), || {
            has_snapshot(x, "before-upgrade")
        });
        assert_eq!(snapshots(x), made, "node{}", x.nodeid);
    }
    // Same entries, and the same contents: the diff to the (same) tree
    // after a change is the same everywhere.
    let entries = ccfs(&d[1], &["snapshot", "show", "before-upgrade", "--json"]);
    assert!(entries.contains("nodes/100.conf"), "{entries}");
    d[2].write("nodes/100.conf", "cores: 4\n").unwrap();
    converge(&d);
    let diff = ccfs(&d[1], &["snapshot", "diff", "before-upgrade"]);
    assert!(
        diff.contains("-cores: 1") && diff.contains("+cores: 4"),
        "{diff}"
    );
    for x in [&d[0], &d[2]] {
        let show = ccfs(x, &["snapshot", "show", "before-upgrade", "--json"]);
        assert_eq!(show, entries, "node{}", x.nodeid);
        assert_eq!(ccfs(x, &["snapshot", "diff", "before-upgrade"]), diff);
    }

    ccfs(&d[2], &["snapshot", "delete", "before-upgrade"]);
    for x in &d {
        wait_until(&format!("snapshot gone on node{}", x.nodeid), || {
            !has_snapshot(x, "before-upgrade")
        });
    }
    // The name is free again everywhere: a new snapshot of it lives.
    ccfs(&d[0], &["snapshot", "create", "before-upgrade"]);
    for x in &d {
        wait_until(&format!("new snapshot on node{}", x.nodeid), || {
            has_snapshot(x, "before-upgrade")
        });
    }
}

#[test]
fn a_node_that_was_down_gets_the_snapshots_and_the_real_records_it_missed() {
    let (mut c, mut d) = start();
    d[0].write("vm.conf", "memory: 512\n").unwrap();
    converge(&d);
    ccfs(&d[0], &["snapshot", "create", "doomed"]);
    wait_until("doomed on node3", || has_snapshot(&d[2], "doomed"));

    // node3 stops cleanly; the others go on.
    let n3 = d.pop().expect("node3");
    assert!(c.node(3).signal(n3.pid, libc::SIGTERM));
    c.node_mut(3)
        .wait_exit(n3.pid, cluster_common::T)
        .expect("node3 stops");
    wait_until("majority writable", || {
        d[0].write("vm.conf", "memory: 1024\n").is_ok()
    });
    d[1].write("vm.conf", "memory: 2048\n").unwrap();
    d[0].write("vm.conf", "memory: 4096\n").unwrap();
    // records too large for one CPG message
    d[1].write("big.txt", &big_text(600_000)).unwrap();
    d[0].write("big.txt", &big_text(500_000)).unwrap();
    // a file that lives and dies while node3 is away: its resync sees nothing
    d[1].write("short-lived.cfg", "here and gone\n").unwrap();
    std::fs::remove_file(d[1].path("short-lived.cfg")).unwrap();
    ccfs(&d[1], &["snapshot", "create", "while-down"]);
    ccfs(&d[0], &["snapshot", "delete", "doomed"]);
    wait_until("doomed gone on node2", || !has_snapshot(&d[1], "doomed"));
    wait_until("while-down on node1", || has_snapshot(&d[0], "while-down"));

    let n3 = Daemon::start(&mut c, 3);
    n3.wait_content("vm.conf", "memory: 4096\n");
    d.push(n3);
    converge(&d);
    wait_until("while-down on node3", || has_snapshot(&d[2], "while-down"));
    assert_eq!(snapshots(&d[2]), snapshots(&d[0]));
    wait_until("same history of vm.conf on node3", || {
        history(&d[2], "vm.conf") == history(&d[0], "vm.conf")
    });
    assert_eq!(gaps(&d[2]), Vec::<Value>::new(), "node3's gap is filled");
    let h = history(&d[2], "vm.conf");
    let writers: Vec<&str> = h
        .iter()
        .filter(|x| x.3 == "write")
        .map(|x| x.2.as_str())
        .collect();
    assert_eq!(writers, ["node1", "node2", "node1", "node1"], "{h:?}");
    let origins: Vec<String> = log(&d[2], "vm.conf")
        .iter()
        .map(|v| v["origin"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!origins.iter().any(|o| o == "resync"), "{origins:?}");
    assert_eq!(
        origins.iter().filter(|o| *o == "peer").count(),
        3,
        "{origins:?}"
    );
    assert_eq!(history(&d[2], "big.txt"), history(&d[0], "big.txt"));
    let big: Vec<u64> = history(&d[2], "big.txt").iter().map(|h| h.0).collect();
    assert_eq!(big.len(), 3, "create and two writes");
    assert_eq!(
        ccfs(&d[2], &["show", &format!("big.txt@{}", big[1])]),
        big_text(600_000)
    );
    // The short-lived file's whole life, which no resync can show.
    assert_eq!(
        history(&d[2], "short-lived.cfg"),
        history(&d[0], "short-lived.cfg")
    );
    let ops: Vec<String> = history(&d[2], "short-lived.cfg")
        .into_iter()
        .map(|x| x.3)
        .collect();
    assert_eq!(ops, ["delete", "write", "create"]);
    // The snapshot deleted while node3 was away stays deleted, there too.
    wait_until("doomed gone on node3", || !has_snapshot(&d[2], "doomed"));
    for x in &d {
        assert!(!has_snapshot(x, "doomed"), "node{} got it back", x.nodeid);
    }
}

#[test]
fn a_snapshot_restore_on_one_node_reaches_the_same_tree_everywhere() {
    let (_c, d) = start();
    d[0].mkdir("nodes").unwrap();
    d[0].write("nodes/100.conf", "cores: 1\n").unwrap();
    d[0].write("datacenter.cfg", "keyboard: en-us\n").unwrap();
    converge(&d);
    let before = cluster_common::snapshot(&d[0]);
    ccfs(&d[0], &["snapshot", "create", "base"]);
    d[1].write("datacenter.cfg", "keyboard: de\n").unwrap();
    d[2].write("storage.cfg", "dir: local\n").unwrap();
    std::fs::remove_file(d[1].path("nodes/100.conf")).unwrap();
    converge(&d);

    ccfs(&d[0], &["snapshot", "restore", "base"]);
    converge(&d);
    for x in &d {
        assert_eq!(x.read("datacenter.cfg").unwrap(), "keyboard: en-us\n");
        assert_eq!(x.read("nodes/100.conf").unwrap(), "cores: 1\n");
        assert!(!x.path("storage.cfg").exists());
    }
    let paths = |t: &[(String, bool, i64, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        t.iter().map(|e| (e.0.clone(), e.3.clone())).collect()
    };
    assert_eq!(
        paths(&cluster_common::snapshot(&d[2])),
        paths(&before),
        "the tree of the snapshot"
    );
    let auto: Vec<String> = snapshots(&d[0])
        .into_iter()
        .map(|s| s.0)
        .filter(|n| n.starts_with("before-restore-base-at-"))
        .collect();
    assert_eq!(auto.len(), 1, "{auto:?}");
    for x in &d[1..] {
        wait_until(&format!("{} on node{}", auto[0], x.nodeid), || {
            has_snapshot(x, &auto[0])
        });
    }
    assert_eq!(snapshots(&d[1]), snapshots(&d[0]));
    assert_eq!(snapshots(&d[2]), snapshots(&d[0]));
}
