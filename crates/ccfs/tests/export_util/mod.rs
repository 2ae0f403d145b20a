//! What the export and snapshot-tree tests share: the `ccfs` client
//! against a test node, and waiting for a mount of the daemon's to come
//! or go.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::common::{is_live_fuse, is_mounted, Node};

/// How long a mount may take to follow a change of the tree or journal.
pub const FOLLOW: Duration = Duration::from_secs(5);

pub fn ccfs_output(n: &Node, args: &[&str]) -> Output {
    Command::new(super::common::ccfs_bin())
        .arg("--run-dir")
        .arg(&n.work.run_dir)
        .args(args)
        .output()
        .expect("run ccfs client")
}

/// `ccfs ARGS` as uid:gid (no other groups), through setpriv.
pub fn ccfs_as(n: &Node, uid: u32, gid: u32, args: &[&str]) -> Output {
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(super::common::ccfs_bin())
        .arg("--run-dir")
        .arg(&n.work.run_dir)
        .args(args)
        .output()
        .expect("run ccfs client through setpriv")
}

/// `ccfs ARGS` that must succeed; its stdout.
pub fn ccfs(n: &Node, args: &[&str]) -> String {
    let out = ccfs_output(n, args);
    assert!(
        out.status.success(),
        "ccfs {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `ccfs ARGS` that must fail; its stderr.
pub fn ccfs_fails(n: &Node, args: &[&str]) -> String {
    let out = ccfs_output(n, args);
    assert!(
        !out.status.success(),
        "ccfs {args:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn export_path(n: &Node, name: &str) -> PathBuf {
    n.work.export_dir.join(name)
}

pub fn snapshot_path(n: &Node, name: &str) -> PathBuf {
    n.work.snapshot_dir.join(name)
}

/// Poll `cond` until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[track_caller]
pub fn wait_live(dir: &Path) {
    assert!(
        wait_for(FOLLOW, || is_mounted(dir)
            && is_live_fuse(dir, Duration::from_secs(2))),
        "{} was not mounted within {FOLLOW:?}",
        dir.display()
    );
}

#[track_caller]
pub fn wait_gone(dir: &Path) {
    assert!(
        wait_for(FOLLOW, || !is_mounted(dir)),
        "{} was still mounted after {FOLLOW:?}",
        dir.display()
    );
}

/// statvfs of a path: (blocks * frsize, free * frsize, files, free files).
pub fn statvfs(p: &Path) -> (u64, u64, u64, u64) {
    let c = super::common::cstr(p);
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    assert_eq!(
        r,
        0,
        "statvfs {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    (
        s.f_blocks * s.f_frsize,
        s.f_bavail * s.f_frsize,
        s.f_files,
        s.f_ffree,
    )
}
