//! Three real `ccfs` daemons in cluster mode, each mounted inside its own
//! testnet node (network, mount and UTS namespaces with real corosync).
//!
//! Every daemon starts on a fresh database and imports the node's
//! /etc/corosync/corosync.conf (fuse.md §1.2 step 7), so it runs in cluster
//! mode. The test process reaches each mount through
//! `/proc/<daemon pid>/root/<mount>`: the path walk happens in the
//! daemon's mount namespace. The testnet guard kills every process it
//! started and deletes the namespaces (and with them the mounts).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ccfs_testnet::{ccfs_command, Cluster};

pub const T: Duration = Duration::from_secs(90);

pub fn ccfs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ccfs")
}

pub struct Daemon {
    pub nodeid: u32,
    pub pid: u32,
    /// The mount point as seen inside the node.
    pub mount: PathBuf,
}

impl Daemon {
    /// Start `ccfs -f` in node `nodeid` on the node's database (kept across
    /// restarts) and wait until its mount answers.
    pub fn start(c: &mut Cluster, nodeid: u32) -> Daemon {
        Daemon::start_with(c, nodeid, &[])
    }

    /// Like [`Daemon::start`], with more options on the command line.
    pub fn start_with(c: &mut Cluster, nodeid: u32, extra: &[&str]) -> Daemon {
        let d = Daemon::spawn_with(c, nodeid, extra);
        d.wait_mounted();
        d
    }

    /// Start `ccfs -f` without waiting for it: the mount point may still
    /// belong to a killed daemon that cannot exit, whose mount nothing may
    /// touch before it is gone.
    pub fn spawn(c: &mut Cluster, nodeid: u32) -> Daemon {
        Daemon::spawn_with(c, nodeid, &[])
    }

    /// Like [`Daemon::spawn`], with more options on the command line.
    pub fn spawn_with(c: &mut Cluster, nodeid: u32, extra: &[&str]) -> Daemon {
        let (dirs, mut args) = ccfs_command(c, nodeid, ccfs_bin()).expect("daemon dirs");
        args.extend(extra.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let sp = c.spawn_logged(nodeid, &refs).expect("spawn ccfs");
        Daemon {
            nodeid,
            pid: sp.pid,
            mount: dirs.mount,
        }
    }

    /// Wait until the mount answers.
    pub fn wait_mounted(&self) {
        let version = self.path(".version");
        wait_until(&format!("node{} mounted", self.nodeid), || version.exists());
    }

    /// A path inside this daemon's mount, usable from the test process.
    pub fn path(&self, rel: &str) -> PathBuf {
        let inner = self.mount.join(rel);
        let inner = inner.strip_prefix("/").unwrap_or(&inner);
        Path::new(&format!("/proc/{}/root", self.pid)).join(inner)
    }

    pub fn read(&self, rel: &str) -> std::io::Result<String> {
        fs::read_to_string(self.path(rel))
    }

    pub fn write(&self, rel: &str, text: &str) -> std::io::Result<()> {
        fs::write(self.path(rel), text)
    }

    pub fn mkdir(&self, rel: &str) -> std::io::Result<()> {
        fs::create_dir(self.path(rel))
    }

    /// `"quorate": 1` in `.members`.
    pub fn quorate(&self) -> bool {
        self.read(".members")
            .is_ok_and(|m| m.contains("\"quorate\": 1"))
    }

    /// Wait until `rel` reads `want` (replication is asynchronous for
    /// everyone but the writer).
    pub fn wait_content(&self, rel: &str, want: &str) {
        wait_until(&format!("node{} {rel} = {want:?}", self.nodeid), || {
            self.read(rel).is_ok_and(|t| t == want)
        });
    }

    /// Wait until a write succeeds (quorate and synced).
    pub fn wait_writable(&self, probe: &str) {
        wait_until(&format!("node{} writable", self.nodeid), || {
            self.write(probe, "probe").is_ok()
        });
    }
}

pub fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start a 3-node cluster with a daemon in every node, all writable.
pub fn start() -> (Cluster, Vec<Daemon>) {
    let mut c = Cluster::start(3).expect("start testnet cluster");
    let d: Vec<Daemon> = (1..=3).map(|id| Daemon::start(&mut c, id)).collect();
    for x in &d {
        x.wait_writable(&format!("probe-{}", x.nodeid));
    }
    (c, d)
}

/// Everything under the mount except the plugin files: (path, kind,
/// mtime, content), sorted. Equal snapshots on all nodes = converged.
pub fn snapshot(d: &Daemon) -> Vec<(String, bool, i64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let root = d.path("");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            if rel.starts_with('.')
                || ["local", "qemu-server", "lxc", "openvz"].contains(&rel.as_str())
            {
                continue;
            }
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p.clone());
                out.push((rel, true, m.mtime(), Vec::new()));
            } else {
                out.push((rel, false, m.mtime(), fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Wait until all daemons show the same tree; returns its size.
pub fn converge(d: &[Daemon]) -> usize {
    let deadline = Instant::now() + T;
    loop {
        let snaps: Vec<_> = d.iter().map(snapshot).collect();
        if snaps.iter().all(|s| *s == snaps[0]) {
            return snaps[0].len();
        }
        assert!(Instant::now() < deadline, "trees never converged");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGKILL `d` and reap it. A daemon killed mid-create can be unable to
/// exit (stale_fuse.rs): abort its FUSE connection, as the next daemon
/// would, and reap it then. False if it stays even so (a teardown waiting
/// for it would wait for ever).
pub fn kill_and_reap(c: &mut Cluster, d: &Daemon) -> bool {
    // SAFETY: kill(2) on a pid this test started and has not reaped.
    unsafe { libc::kill(d.pid as libc::pid_t, libc::SIGKILL) };
    if c.node_mut(d.nodeid).wait_exit(d.pid, DIE).is_ok() {
        return true;
    }
    abort_fuse(c, d);
    c.node_mut(d.nodeid).wait_exit(d.pid, DIE).is_ok()
}

/// How long a killed process may take to be reaped.
pub const DIE: Duration = Duration::from_secs(10);
/// A killed daemon not reaped by then is taken as stuck (a healthy one
/// goes in milliseconds; a wrong guess only sends it the stuck way).
pub const STUCK_AFTER: Duration = Duration::from_secs(3);

/// Abort the FUSE connection on `d`'s mount point from inside its node
/// (fusectl mounted there first if need be): what frees a killed daemon
/// stuck in the kernel when no next daemon does.
pub fn abort_fuse(c: &Cluster, d: &Daemon) {
    let script = format!(
        "grep -q fusectl /proc/mounts || mount -t fusectl fusectl /sys/fs/fuse/connections; \
         dev=$(awk '$5 == \"{m}\" {{ print $3 }}' /proc/self/mountinfo | tail -1); \
         echo 1 > /sys/fs/fuse/connections/$(( ${{dev%%:*}} << 20 | ${{dev##*:}} ))/abort",
        m = d.mount.display()
    );
    let _ = c.run(d.nodeid, &["sh", "-c", &script]);
}

/// After SIGKILL of `old` found it unable to exit: the daemon `new` just
/// spawned on the same node must free it (stale_fuse.rs) before anyone
/// touches the mount. Panics (after freeing it by hand) if it does not.
pub fn wait_freed_by(c: &mut Cluster, old: &Daemon, new: &Daemon) {
    if c.node_mut(old.nodeid).wait_exit(old.pid, T).is_ok() {
        return;
    }
    abort_fuse(c, old);
    let gone = c.node_mut(old.nodeid).wait_exit(old.pid, DIE).is_ok();
    panic!(
        "node{}: the killed daemon {} stayed stuck after daemon {} started \
         (gone once aborted by hand: {gone})",
        old.nodeid, old.pid, new.pid
    );
}
