//! A first start on a machine without /var/lib/pve-cluster and
//! /run/pve-cluster: the daemon makes the directories of its database,
//! lock file, run dir and pid file itself, with C's modes (C: mkdir 0755
//! under umask 027, the run dir chowned to www-data), instead of failing
//! with "unable to open lock file".

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;

#[test]
fn every_directory_is_made_at_the_first_start() {
    let mut w = Workdir::new();
    // Nothing below `fresh` exists: as /var/lib/pve-cluster and
    // /run/pve-cluster on a new machine, with their parents missing too.
    let fresh = w.root.join("fresh");
    w.mount = fresh.join("etc/pve");
    w.db = fresh.join("var/lib/pve-cluster/config.db");
    w.lock_file = fresh.join("var/lib/pve-cluster/.pmxcfs.lockfile");
    w.run_dir = fresh.join("run/pve-cluster");
    w.pid_file = fresh.join("var/run/pve-cluster.pid");
    assert!(!fresh.exists());

    let mut n = Node::start_on(w);
    n.write("datacenter.cfg", b"keyboard: en-us\n");
    assert_eq!(n.read("datacenter.cfg"), b"keyboard: en-us\n");

    let meta = |p: &str| {
        let m = fs::metadata(fresh.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        (m.mode() & 0o7777, m.uid(), m.gid())
    };
    assert_eq!(meta("var/lib/pve-cluster"), (0o750, 0, 0), "database dir");
    assert_eq!(meta("run/pve-cluster"), (0o750, 0, WWW_DATA), "run dir");
    // parents as `mkdir -p` leaves them, despite the daemon's umask 027:
    // www-data must pass through to the run dir and the pid file
    for parent in ["", "var", "var/lib", "run", "var/run", "etc"] {
        assert_eq!(meta(parent), (0o755, 0, 0), "parent '{parent}'");
    }
    assert_eq!(
        fs::metadata(&n.work.lock_file).unwrap().mode() & 0o777,
        0o600,
        "lock file"
    );
    assert!(n.work.db.is_file() && n.work.pid_file.is_file());

    // a second start finds them all and keeps the data
    n.stop();
    n.restart();
    assert_eq!(n.read("datacenter.cfg"), b"keyboard: en-us\n");
    assert_eq!(meta("run/pve-cluster"), (0o750, 0, WWW_DATA));
}

#[test]
fn a_file_where_a_directory_belongs_fails_clearly() {
    let mut w = Workdir::new();
    let blocker = w.root.join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    w.lock_file = blocker.join("sub/.pmxcfs.lockfile");
    let (mut n, r) = Node::try_start(w);
    let f = r.expect_err("started with a file in the way");
    assert!(!f.timed_out, "neither failed nor mounted");
    assert!(!f.status.expect("exited").success());
    assert!(
        f.log.contains("unable to create directory") && f.log.contains("not-a-dir/sub"),
        "the error names the directory:\n{}",
        f.log
    );
    n.daemon = None;
}
