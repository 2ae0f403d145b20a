//! `ccfs status` against a real local-mode daemon: every field, the
//! human-readable form, and the exit code: 0 when healthy, 1 with the
//! reasons when the disk is almost full or a commit failed (error mode).

mod client;
mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use client::{ccfs_as, status, Watcher};
use common::{run_bounded, Node, Workdir};

fn now() -> u64 {
    common::now() as u64
}

#[test]
fn a_healthy_local_node_reports_everything_and_exits_0() {
    let n = Node::start();
    let t0 = now();
    n.write("datacenter.cfg", b"keyboard: de\n");
    let out = ccfs_as(&n, None, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "node      node1, local mode, healthy");
    assert_eq!(lines[1], "quorate   yes");
    assert_eq!(lines[2], "members   node1 (id -) online 192.0.2.1");
    assert!(lines[3].starts_with("tree      version "), "{text}");
    assert!(
        lines[4].starts_with(&format!("database  {}: ", n.work.db.display()))
            && lines[4].contains(", last commit "),
        "{text}"
    );
    assert!(lines[5].starts_with("journal   "), "{text}");
    assert!(!text.contains("warnings"), "{text}");

    let v = status(&n);
    assert_eq!(v["node"], common::NODENAME);
    assert_eq!(v["mode"], "local");
    assert_eq!(v["healthy"], true);
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(
        (v["quorate"].as_bool(), v["read_only"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(v["cluster"].is_null());
    assert_eq!(v["members"][0]["ip"], common::NODE_IP);
    let version = v["version"].as_u64().unwrap();
    assert_eq!(v["journal"]["newest_version"].as_u64(), Some(version));
    assert!(v["journal"]["records"].as_u64().unwrap() >= 2);
    assert_eq!(v["max_entries"], 262_144);
    assert_eq!(v["max_bytes"], 128 * 1024 * 1024);
    let db = &v["database"];
    assert_eq!(db["path"], n.work.db.display().to_string());
    assert!(db["bytes"].as_u64().unwrap() > 0);
    assert_eq!(db["error_mode"], false);
    let commit = db["last_commit"].as_u64().expect("a commit happened");
    assert!((t0..=now()).contains(&commit), "{commit} not in {t0}..");
    assert!(v["started"].as_u64().unwrap() <= t0);
    assert!(v["uptime_seconds"].as_u64().unwrap() <= now() - v["started"].as_u64().unwrap());
    assert_eq!(v["watchers"], 0);

    // a change moves the version and the entries on by one
    let entries = v["entries"].as_u64().unwrap();
    n.write("big.cfg", &vec![b'x'; 64 * 1024]);
    let after = status(&n);
    assert_eq!(after["entries"].as_u64(), Some(entries + 1));
    assert_eq!(
        after["version"].as_u64(),
        Some(version + 2),
        "create + write"
    );
    let grown = after["bytes"].as_u64().unwrap() - v["bytes"].as_u64().unwrap();
    assert!(grown >= 64 * 1024, "{grown}");
    // running watches are counted
    let w = Watcher::start(&n, None, &[]);
    client::wait_until("the watch", Duration::from_secs(20), || {
        status(&n)["watchers"] == 1
    });
    drop(w);
    client::wait_until("the watch to end", Duration::from_secs(20), || {
        status(&n)["watchers"] == 0
    });
}

/// A tmpfs of our own for the database and the journal beside it;
/// unmounted on drop (after the node, declared later, stopped first).
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        common::require_environment();
        let dir = std::env::temp_dir().join(format!("ccfs-status-disk-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let disk = SmallDisk { dir };
        disk.mount(&format!("size={size},mode=0700"));
        disk
    }

    fn mount(&self, options: &str) {
        let remount = options.starts_with("remount");
        let mut cmd = Command::new("mount");
        if !remount {
            cmd.args(["-t", "tmpfs"]);
        }
        cmd.arg("-o").arg(options);
        if !remount {
            cmd.arg("tmpfs");
        }
        let (st, out) = run_bounded(cmd.arg(&self.dir), Duration::from_secs(10));
        assert!(st.is_some_and(|s| s.success()), "mount {options}: {out}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Exit code and stderr of `ccfs status`, and the JSON status.
fn health(n: &Node) -> (Option<i32>, String, serde_json::Value) {
    let out = ccfs_as(n, None, &["status"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), err, status(n))
}

#[test]
fn a_full_disk_and_a_failed_commit_make_it_unhealthy_with_exit_code_1() {
    let disk = SmallDisk::new("768k");
    let mut w = Workdir::new();
    w.db = disk.dir.join("config.db");
    w.lock_file = disk.dir.join(".pmxcfs.lockfile");
    let n = Node::start_on(w);

    // less than 8 MiB left: a warning before anything failed
    let (code, err, v) = health(&n);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("ccfs: not healthy: disk almost full"),
        "{err}"
    );
    assert_eq!(v["healthy"], false);
    assert_eq!(v["database"]["error_mode"], false);
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(
        warnings.len(),
        1,
        "database and journal share one disk: {v}"
    );

    // more room: healthy
    disk.mount("remount,size=64m");
    let (code, err, _) = health(&n);
    assert_eq!(code, Some(0), "{err}");

    // full again, and filled up until a commit fails
    disk.mount("remount,size=768k");
    let data = vec![b'd'; 2048];
    let failed = (0..2000).find_map(|i| fs::write(n.p(&format!("f{i:04}")), &data).err());
    let e = failed.expect("2000 × 2 KiB fit on a 768 KiB disk?");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    let (code, err, v) = health(&n);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error mode") && err.contains("disk almost full"),
        "{err}"
    );
    assert_eq!(v["database"]["error_mode"], true);
    assert_eq!(v["read_only"], true);

    // room again: the disk is fine, the error mode stays until restart
    disk.mount("remount,size=64m");
    let (code, err, v) = health(&n);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("error mode") && !err.contains("disk almost full"),
        "{err}"
    );
    let out = ccfs_as(&n, None, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT HEALTHY") && text.contains("ERROR MODE"),
        "{text}"
    );
    assert!(
        text.contains("\nwarnings  a database commit failed"),
        "{text}"
    );
    assert_eq!(v["quorate"], true, "quorum is not what failed");
}
