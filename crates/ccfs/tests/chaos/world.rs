//! The chaos test's cluster and the faults it suffers: three ccfs daemons
//! on real corosync (testnet), one of them on a small disk; each fault is
//! injected, held, repaired, and the cluster waited for (bounded) before
//! the next one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ccfs_testnet::{ccfs_command, Cluster};

use super::disk::{through_holder, SmallDisk};
use crate::cluster_common::{
    ccfs_bin, kill_and_reap, wait_freed_by, wait_until, Daemon, STUCK_AFTER, T,
};

pub struct World {
    pub c: Cluster,
    /// By nodeid - 1.
    pub d: Vec<Daemon>,
    pub disk: SmallDisk,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Killed daemons that could not exit until the next one started.
    pub stuck: u64,
    /// Daemons restarted because their disk had been full (error mode).
    pub error_mode_restarts: u64,
    round: u64,
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this test started and has not reaped.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

impl World {
    /// Three nodes, node `disk_node`'s database on a `disk_size` tmpfs,
    /// every daemon writable.
    pub fn start(disk_node: u32, disk_size: &str) -> World {
        let mut c = Cluster::start(3).expect("start testnet cluster");
        let (dirs, _) = ccfs_command(&c, disk_node, ccfs_bin()).expect("daemon dirs");
        let disk = SmallDisk::mount(&c, disk_node, &dirs.root.join("db"), disk_size);
        let d = (1..=3).map(|id| Daemon::start(&mut c, id)).collect();
        let mut w = World {
            c,
            d,
            disk,
            faults: BTreeMap::new(),
            stuck: 0,
            error_mode_restarts: 0,
            round: 0,
        };
        w.d[0].mkdir("probe").expect("mkdir probe");
        w.wait_recovered();
        w
    }

    /// Node `nodeid`'s mount as the test reaches it, through the holder:
    /// valid across daemon restarts.
    pub fn mount_of(&self, nodeid: u32) -> PathBuf {
        through_holder(&self.c, nodeid, &self.d[idx(nodeid)].mount)
    }

    fn count(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    /// SIGKILL node `n`'s daemon, start a new one after `hold_ms`.
    pub fn kill_daemon(&mut self, n: u32, hold_ms: u64) {
        self.count("kill_daemon");
        let pid = self.d[idx(n)].pid;
        signal(pid, libc::SIGKILL);
        let exited = self.c.node_mut(n).wait_exit(pid, STUCK_AFTER).is_ok();
        if !exited {
            // The case the next daemon must untangle (stale_fuse.rs).
            self.stuck += 1;
            eprintln!("chaos: killed daemon {pid} of node{n} cannot exit");
        }
        sleep_ms(hold_ms);
        let new = Daemon::spawn(&mut self.c, n);
        let old = std::mem::replace(&mut self.d[idx(n)], new);
        if !exited {
            wait_freed_by(&mut self.c, &old, &self.d[idx(n)]);
        }
        self.d[idx(n)].wait_mounted();
    }

    /// Stop (SIGTERM) or kill (SIGKILL) node `n`'s corosync under its
    /// daemon, start it again after `hold_ms`.
    pub fn restart_corosync(&mut self, n: u32, hard: bool, hold_ms: u64) {
        self.count(if hard {
            "kill_corosync"
        } else {
            "stop_corosync"
        });
        if hard {
            self.c.kill_corosync(n);
        } else {
            self.c.stop_corosync(n).expect("stop corosync");
        }
        sleep_ms(hold_ms);
        self.c.start_corosync(n).expect("start corosync");
    }

    /// Cut node `n` off the others for `hold_ms`.
    pub fn partition(&mut self, n: u32, hold_ms: u64) {
        self.count("partition");
        self.c.partition(n).expect("partition");
        sleep_ms(hold_ms);
        self.c.heal(n).expect("heal");
    }

    /// Fill the small disk and keep it full for `hold_ms`, then free it.
    /// A daemon whose commit failed meanwhile refuses every change (error
    /// mode, memdb.md §8) until it restarts: restart it then, cleanly.
    pub fn disk_full(&mut self, hold_ms: u64) {
        self.count("disk_full");
        let mut left = hold_ms;
        loop {
            self.disk.fill();
            if left == 0 {
                break;
            }
            let step = left.min(100);
            sleep_ms(step);
            left -= step;
        }
        self.disk.free();
        let n = self.disk.nodeid;
        let probe = format!("probe/disk-{}", self.round);
        let x = &self.d[idx(n)];
        // Writable again, or in error mode (writers get EIO, or EBUSY once
        // the dcdb group stopped): `ccfs status` says which.
        let run = x.mount.with_file_name("run").display().to_string();
        let status = [ccfs_bin(), "--run-dir", &run, "status", "--json"];
        let in_error_mode = std::cell::Cell::new(false);
        let last = std::cell::RefCell::new(None);
        let answered = wait_bounded(|| match x.write(&probe, "p") {
            Ok(()) => true,
            Err(e) => {
                *last.borrow_mut() = Some(e);
                let out = self.c.run(n, &status).map(|o| o.stdout).unwrap_or_default();
                let json: String = String::from_utf8_lossy(&out).split_whitespace().collect();
                in_error_mode.set(json.contains("\"error_mode\":true"));
                in_error_mode.get()
            }
        });
        assert!(
            answered,
            "node{n} neither writable nor in error mode after its disk was freed: {:?}",
            last.into_inner()
        );
        if in_error_mode.get() {
            self.error_mode_restarts += 1;
            self.restart_cleanly(n);
        }
    }

    /// SIGTERM node `n`'s daemon, wait (bounded) for it, start a new one.
    pub fn restart_cleanly(&mut self, n: u32) {
        let old = self.d[idx(n)].pid;
        assert!(self.c.node(n).signal(old, libc::SIGTERM));
        self.c
            .node_mut(n)
            .wait_exit(old, T)
            .unwrap_or_else(|e| panic!("node{n} daemon {old} did not stop on SIGTERM: {e}"));
        self.d[idx(n)] = Daemon::start(&mut self.c, n);
    }

    /// Full membership, and each daemon's probe seen by all three (one
    /// dcdb group again, every member writable).
    pub fn wait_recovered(&mut self) {
        self.round += 1;
        self.c.wait_formed(T).expect("corosync membership");
        let value = format!("r{}", self.round);
        for x in &self.d {
            let probe = format!("probe/n{}", x.nodeid);
            wait_until(&format!("node{} writable", x.nodeid), || {
                x.write(&probe, &value).is_ok()
            });
        }
        for x in &self.d {
            for y in &self.d {
                y.wait_content(&format!("probe/n{}", x.nodeid), &value);
            }
        }
    }

    /// Kill every daemon, unsticking any that cannot exit.
    fn kill_daemons(&mut self) {
        for x in std::mem::take(&mut self.d) {
            if !kill_and_reap(&mut self.c, &x) {
                eprintln!("chaos: daemon {} of node{} cannot exit", x.pid, x.nodeid);
            }
        }
    }
}

/// Poll `f` until true or `T` passed.
fn wait_bounded(f: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + T;
    while !f() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        sleep_ms(20);
    }
    true
}

fn idx(nodeid: u32) -> usize {
    nodeid as usize - 1
}

impl Drop for World {
    /// Daemons first (a stuck one would make the cluster's teardown wait
    /// for ever), then the small disk; the cluster drops after this and
    /// takes the rest.
    fn drop(&mut self) {
        self.kill_daemons();
        self.disk.unmount(&self.c);
    }
}
