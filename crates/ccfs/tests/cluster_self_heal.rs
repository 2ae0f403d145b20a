//! Self-heal (issue 11 item 3), on real daemons in namespaces with real
//! corosync: a node whose config.db is garbage moves it aside and takes
//! the cluster's tree; alone it refuses to start and puts the file back
//! unchanged; local mode refuses as before; a checksum mismatch found by
//! the periodic verification resyncs the node and says so in the cluster
//! log.

mod cluster_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccfs_testnet::{ccfs_command, Cluster};
use cluster_common::*;

/// The daemon's database in node `nodeid` (the harness keeps it across
/// restarts; the path is the same inside the node and here).
fn db_of(c: &Cluster, nodeid: u32) -> PathBuf {
    c.node(nodeid).dir.join("ccfs/db/config.db")
}

/// SIGTERM and a clean exit.
fn stop(c: &mut Cluster, d: &Daemon) {
    assert!(c.node(d.nodeid).signal(d.pid, libc::SIGTERM));
    let st = c
        .node_mut(d.nodeid)
        .wait_exit(d.pid, Duration::from_secs(30))
        .unwrap();
    assert!(st.success(), "clean exit: {st:?}");
}

/// `db` with `suffix` appended (`-wal`, `.corrupt-...`).
fn with_suffix(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Garbage over the SQLite header (the first 100 bytes) and, when the
/// stopped daemon left a WAL (a cluster daemon does), over the WAL header
/// too (else SQLite reads page 1 from the WAL): "file is not a database".
/// Returns the database's files as left: (suffix, bytes).
fn corrupt(db: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let mut files = Vec::new();
    for (suffix, header) in [("", 100), ("-wal", 32)] {
        let p = with_suffix(db, suffix);
        let Ok(mut bytes) = fs::read(&p) else {
            assert!(!suffix.is_empty(), "no database at {}", p.display());
            continue;
        };
        assert!(
            bytes.len() > header,
            "{}: {} bytes",
            p.display(),
            bytes.len()
        );
        bytes[..header].fill(0xA5);
        fs::write(&p, &bytes).unwrap();
        files.push((suffix, bytes));
    }
    assert!(
        !with_suffix(db, "-shm").exists(),
        "no shm: locked exclusively"
    );
    files
}

/// Whether the database's files at `base` are exactly `files`.
fn same_files(base: &Path, files: &[(&str, Vec<u8>)]) -> bool {
    files
        .iter()
        .all(|(suffix, bytes)| fs::read(with_suffix(base, suffix)).ok().as_ref() == Some(bytes))
        && ["", "-wal", "-shm"]
            .iter()
            .all(|s| files.iter().any(|f| f.0 == *s) || !with_suffix(base, s).exists())
}

/// Files beside the database named `config.db.corrupt-*`.
fn kept_files(db: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(db.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("config.db.corrupt-") && !n.ends_with("-wal"))
        })
        .collect();
    v.sort();
    v
}

/// Everything the daemons of node `nodeid` wrote to stderr.
fn daemon_logs(c: &Cluster, nodeid: u32) -> String {
    let mut all = String::new();
    for e in fs::read_dir(&c.node(nodeid).dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ccfs.") && name.ends_with(".stderr") {
            all.push_str(&fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    all
}

/// Start the daemon of node `nodeid` with `extra` options, without
/// waiting for its mount (it is expected to fail); returns its exit.
fn start_expecting_failure(
    c: &mut Cluster,
    nodeid: u32,
    extra: &[&str],
) -> std::process::ExitStatus {
    let (_, mut args) = ccfs_command(c, nodeid, ccfs_bin()).unwrap();
    args.extend(extra.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let sp = c.spawn_logged(nodeid, &refs).unwrap();
    let st = c
        .node_mut(nodeid)
        .wait_exit(sp.pid, Duration::from_secs(90));
    st.unwrap_or_else(|e| {
        panic!(
            "the daemon gives up by itself: {e}\n{}",
            daemon_logs(c, nodeid)
        )
    })
}

#[test]
fn a_node_with_a_garbage_database_takes_the_clusters_tree_and_keeps_the_file() {
    let (mut c, mut d) = start();
    d[0].mkdir("nodes").unwrap();
    d[0].mkdir("nodes/a").unwrap();
    d[0].write("datacenter.cfg", "keyboard: de\n").unwrap();
    // Node 2's kernel learns of the new directory a moment later.
    wait_until("nodes/a on node2", || d[1].path("nodes/a").is_dir());
    d[1].write("nodes/a/vm.conf", "memory: 512\n").unwrap();
    d[2].write("user.cfg", "user:root@pam\n").unwrap();
    converge(&d);

    let n3 = d.pop().unwrap();
    stop(&mut c, &n3);
    let db = db_of(&c, 3);
    let garbage = corrupt(&db);
    // A change the stopped node never saw: it must come from a peer.
    d[0].write("while-away.cfg", "w\n").unwrap();

    let n3 = Daemon::start(&mut c, 3);
    d.push(n3);
    let size = converge(&d);
    assert!(size >= 6, "the whole tree: {size} entries");
    assert_eq!(d[2].read("while-away.cfg").unwrap(), "w\n");
    assert_eq!(d[2].read("nodes/a/vm.conf").unwrap(), "memory: 512\n");
    assert_eq!(d[2].read("user.cfg").unwrap(), "user:root@pam\n");

    // The file is kept as found, and the log says where.
    let kept = kept_files(&db);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(same_files(&kept[0], &garbage), "kept byte for byte");
    let logs = daemon_logs(&c, 3);
    assert!(
        logs.contains(&format!("moved it aside to '{}'", kept[0].display())),
        "{logs}"
    );
    assert!(logs.contains("file is not a database"), "{logs}");

    // Its history journal kept every record from before: the same history
    // as a peer's, nothing re-recorded as a resync difference.
    for path in ["datacenter.cfg", "user.cfg", "while-away.cfg"] {
        wait_until(&format!("node3's history of {path}"), || {
            history(&d[2], path) == history(&d[0], path)
        });
    }
    // The journal was not cut back to the stand-in tree's version (the
    // records would come back from a peer here, but not from a C peer).
    let logs = daemon_logs(&c, 3);
    assert!(
        logs.contains("healed: the tree was taken from a peer"),
        "{logs}"
    );
    assert!(!logs.contains("journal: dropping"), "{logs}");

    // Healed: it takes writes, and its new database holds the tree.
    d[2].wait_writable("after-heal.cfg");
    d[0].wait_content("after-heal.cfg", "probe");
    let n3 = d.pop().unwrap();
    stop(&mut c, &n3);
    assert!(kept_files(&db).len() == 1, "nothing moved the second time");
    let n3 = Daemon::start(&mut c, 3);
    n3.wait_content("while-away.cfg", "w\n");
    d.push(n3);
    converge(&d);
}

#[test]
fn alone_with_a_garbage_database_it_refuses_to_start_and_puts_the_file_back() {
    let mut c = Cluster::start(1).unwrap();
    let d = Daemon::start(&mut c, 1);
    d.wait_writable("probe.cfg");
    d.write("datacenter.cfg", "keyboard: de\n").unwrap();
    stop(&mut c, &d);
    let db = db_of(&c, 1);
    let garbage = corrupt(&db);

    // Local mode: refused as before, nothing moved.
    let st = start_expecting_failure(&mut c, 1, &["-l"]);
    assert!(!st.success(), "{st:?}");
    assert!(same_files(&db, &garbage), "untouched");
    assert!(kept_files(&db).is_empty());
    assert!(!daemon_logs(&c, 1).contains("moved it aside"));

    // Cluster mode, alone in the group: moved aside, no peer hands over a
    // tree, the start fails and the file is back, byte for byte.
    let st = start_expecting_failure(&mut c, 1, &["--heal-timeout", "8"]);
    assert!(!st.success(), "{st:?}");
    let logs = daemon_logs(&c, 1);
    assert!(logs.contains("moved it aside to '"), "{logs}");
    assert!(
        logs.contains("refusing to start on an empty tree"),
        "{logs}"
    );
    assert!(logs.contains("this node was alone in the group"), "{logs}");
    assert!(
        same_files(&db, &garbage),
        "put back unchanged, no stand-in file left"
    );
    assert!(kept_files(&db).is_empty(), "{:?}", kept_files(&db));
}

#[test]
fn a_checksum_mismatch_at_verification_resyncs_the_node_and_is_logged() {
    let mut c = Cluster::start(3).unwrap();
    let verify = ["--verify-interval", "3"];
    let mut d = vec![
        Daemon::start_with(&mut c, 1, &verify),
        Daemon::start_with(&mut c, 2, &verify),
    ];
    // Node 3 may hold fewer entries than the others (a misconfiguration
    // C allows too): the creates it cannot apply make its tree differ from
    // the others' while all three are in sync, which only the
    // verification can notice.
    let limit = 40;
    let limit_s = limit.to_string();
    d.push(Daemon::start_with(
        &mut c,
        3,
        &["--verify-interval", "3", "--max-entries", &limit_s],
    ));
    for x in &d {
        x.wait_writable(&format!("probe-{}", x.nodeid));
    }
    converge(&d);
    let used = entries(&d[2]);
    assert!(used + 10 < limit, "room at the start: {used} entries");

    for i in 0..limit {
        d[0].write(&format!("f{i:02}.cfg"), "x").unwrap();
    }
    let last = format!("f{:02}.cfg", limit - 1);
    assert!(
        !d[2].path(&last).exists(),
        "node3 could not apply the last creates"
    );

    // The verification finds the difference; node 3 leaves, rejoins and
    // takes the tree of the others.
    d[2].wait_content(&last, "x");
    converge(&d);
    let line = "checksum verification: this node's tree differs from the coordinator's; resyncing";
    for x in &d {
        wait_until(&format!("node{} .clusterlog", x.nodeid), || {
            x.read(".clusterlog")
                .is_ok_and(|l| l.contains(line) && l.contains(&c.node(3).name))
        });
    }
    let log1 = d[0].read(".clusterlog").unwrap();
    let mine = log1
        .split("},")
        .filter(|e| e.contains(line))
        .collect::<Vec<_>>();
    assert!(
        mine.iter()
            .all(|e| e.contains(&format!("\"node\": \"{}\"", c.node(3).name))),
        "only node3 differed: {mine:?}"
    );
}

/// `ccfs log PATH --json` through the daemon's control socket.
fn log(d: &Daemon, path: &str) -> Vec<serde_json::Value> {
    let run = d.mount.parent().unwrap().join("run");
    let out = std::process::Command::new(ccfs_bin())
        .arg("--run-dir")
        .arg(run)
        .args(["log", path, "--json", "--limit", "1000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What must be equal on every node: (version, writer node, op).
fn history(d: &Daemon, path: &str) -> Vec<(u64, String, String)> {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    log(d, path)
        .iter()
        .map(|v| (v["version"].as_u64().unwrap(), s(&v["node"]), s(&v["op"])))
        .collect()
}

/// Entries of the tree as the mount's statfs counts them.
fn entries(d: &Daemon) -> u32 {
    let p = std::ffi::CString::new(d.path("").as_os_str().as_encoded_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and a zeroed out-struct.
    assert_eq!(unsafe { libc::statvfs(p.as_ptr(), &mut st) }, 0);
    (st.f_files - st.f_ffree) as u32
}
