//! A daemon killed with SIGKILL while creates in a directory are pending
//! on it and other nodes' creates in that directory are being invalidated
//! in its kernel cache. Its invalidation thread can then wait in
//! `fuse_reverse_inval_entry` for the directory lock that a pending create
//! holds, and the create waits for an answer from the dead daemon: the
//! process cannot exit and keeps its instance lock. The next daemon must
//! abort that FUSE connection (stale_fuse.rs), take the lock and mount;
//! the killed one must then be gone.
//!
//! Whether a kill lands in that window is the machine's timing: the test
//! counts the kills that did (it prints them) and asserts, for every kill,
//! that the old daemon is reaped and the new one serves.

mod cluster_common;

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cluster_common::{
    converge, kill_and_reap, start, wait_freed_by, wait_until, Daemon, STUCK_AFTER, T,
};

/// The cluster and its daemons; at drop (a failed assertion too) every
/// daemon is killed and reaped, a stuck one unstuck, before the cluster's
/// teardown, which would wait for a stuck one for ever.
struct Nodes {
    c: ccfs_testnet::Cluster,
    d: Vec<Daemon>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for x in std::mem::take(&mut self.d) {
            if !kill_and_reap(&mut self.c, &x) {
                eprintln!("daemon {} of node{} cannot exit", x.pid, x.nodeid);
            }
        }
    }
}

const KILLS: usize = 5;
const CREATORS_PER_NODE: usize = 3;

/// Create files in `dir` under `mount` until `stop`; errors (the daemon
/// is down) are expected and only slow it.
fn creator(mount: PathBuf, tag: String, stop: Arc<AtomicBool>) -> u64 {
    let mut made = 0;
    let mut k = 0u64;
    while !stop.load(Ordering::SeqCst) {
        k += 1;
        let p = mount.join(format!("busy/{tag}-{k}"));
        match OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(_) => made += 1,
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
        if k > 50 {
            let _ = fs::remove_file(mount.join(format!("busy/{tag}-{}", k - 50)));
        }
    }
    made
}

/// Name and kernel stack of each thread of `pid` still in the kernel.
fn kernel_stacks(pid: u32) -> String {
    let mut out = String::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let comm = fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let stack = fs::read_to_string(t.path().join("stack")).unwrap_or_default();
        let top: Vec<&str> = stack.lines().take(6).collect();
        out.push_str(&format!("{}: {}\n", comm.trim(), top.join(" < ")));
    }
    out
}

fn holder_mount(c: &ccfs_testnet::Cluster, d: &Daemon) -> PathBuf {
    let holder = c.node(d.nodeid).holder_pid().expect("holder");
    let inner = d.mount.strip_prefix("/").unwrap_or(&d.mount).to_path_buf();
    PathBuf::from(format!("/proc/{holder}/root")).join(inner)
}

#[test]
fn a_daemon_killed_mid_create_is_freed_by_the_next_one() {
    let (c, d) = start();
    let mut n = Nodes { c, d };
    let Nodes { c, d } = &mut n;
    d[0].mkdir("busy").unwrap();
    wait_until("busy everywhere", || {
        d.iter().all(|x| x.path("busy").is_dir())
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut creators = Vec::new();
    for x in d.iter() {
        for i in 0..CREATORS_PER_NODE {
            let (mount, stop) = (holder_mount(c, x), stop.clone());
            let tag = format!("n{}c{i}", x.nodeid);
            creators.push(std::thread::spawn(move || creator(mount, tag, stop)));
        }
    }
    let mut stuck = 0;
    for round in 0..KILLS {
        std::thread::sleep(Duration::from_millis(500 + 200 * round as u64));
        let pid = d[0].pid;
        // SAFETY: kill(2) on a pid this test started and has not reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        let exited = c.node_mut(1).wait_exit(pid, STUCK_AFTER).is_ok();
        if !exited {
            stuck += 1;
            if stuck == 1 {
                eprintln!("killed daemon {pid} cannot exit:\n{}", kernel_stacks(pid));
            }
        }
        let new = Daemon::spawn(c, 1);
        let old = std::mem::replace(&mut d[0], new);
        if !exited {
            wait_freed_by(c, &old, &d[0]);
        }
        d[0].wait_mounted();
        d[0].wait_writable(&format!("probe-{round}"));
    }
    stop.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + T;
    while !creators.iter().all(|h| h.is_finished()) {
        assert!(std::time::Instant::now() < deadline, "a creator hangs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let made: u64 = creators.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!("{KILLS} kills, {stuck} left the daemon unable to exit; {made} creates");
    assert!(made > 0);
    converge(d);
}
