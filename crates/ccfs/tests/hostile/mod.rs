//! Tools of a hostile local client: threads that act as another user (so
//! one test process can be many attackers), raw libqb connections whose
//! rings the test writes by hand, raw HTTP on the control socket, and the
//! daemon's resident memory.
#![allow(dead_code)]

pub mod qb;
pub mod raw_http;
pub mod raw_ipc;

use std::thread::JoinHandle;

use crate::common::Node;

/// Runs `f` on a new thread whose credentials (uid, gid, no supplementary
/// groups) are switched with the raw system calls, which on Linux change
/// only the calling thread (glibc's wrappers would change every thread).
/// Sockets it connects carry these credentials for their whole life
/// (`SO_PEERCRED`), and what it sends carries them as `SCM_CREDENTIALS`.
pub fn spawn_as<T: Send + 'static>(
    uid: u32,
    gid: u32,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    std::thread::spawn(move || {
        // SAFETY: plain system calls on this thread's credentials; the
        // saved uid stays 0, and the thread ends after `f`.
        unsafe {
            let keep = u32::MAX; // -1: leave the saved id alone
            assert_eq!(
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
                0
            );
            assert_eq!(libc::syscall(libc::SYS_setresgid, gid, gid, keep), 0);
            assert_eq!(libc::syscall(libc::SYS_setresuid, uid, uid, keep), 0);
        }
        f()
    })
}

/// `spawn_as` and wait for its result.
pub fn as_user<T: Send + 'static>(uid: u32, gid: u32, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_as(uid, gid, f)
        .join()
        .expect("thread acting as another user")
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Threads of `pid`.
pub fn threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Thread names of `pid` with their counts, for failure messages.
pub fn thread_names(pid: i32) -> Vec<(String, usize)> {
    let mut names = std::collections::BTreeMap::new();
    if let Ok(d) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in d.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            *names.entry(comm.trim().to_string()).or_insert(0) += 1;
        }
    }
    names.into_iter().collect()
}

/// Waits (bounded) until `cond` holds; panics naming `what` after `secs`.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < until,
            "{what}: not within {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Users in the www-data group that attack; none is root.
pub const ATTACKERS: [u32; 4] = [crate::common::WWW_DATA, 1000, 1001, 1002];

/// How far above its resident size before an attack the daemon may be
/// once the attack is over (KiB): room for what glibc keeps of freed
/// thread stacks and arenas (measured: under 4 MiB), far less than any of
/// the attacks sent or made the daemon map (16 MiB requests, 896 rings).
pub const RSS_AFTER_BOUND_KIB: u64 = 16 * 1024;

/// The daemon's resident size before an attack.
pub struct Baseline {
    pub rss: u64,
}

pub fn baseline(n: &Node) -> Baseline {
    Baseline {
        rss: rss_kib(n.pid()),
    }
}

/// Connection threads of the IPC socket and the control socket.
pub fn connection_threads(pid: i32) -> usize {
    thread_names(pid)
        .iter()
        .filter(|(name, _)| name == "ipc-conn" || name == "ccfs-api-conn")
        .map(|(_, n)| n)
        .sum()
}

/// Once the attackers are gone and every connection thread ended (a
/// bounded wait), the daemon's resident size must be back under the bound.
pub fn settled(n: &Node, what: &str, base: &Baseline, peak: u64) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while connection_threads(n.pid()) > 0 {
        assert!(
            std::time::Instant::now() < until,
            "{what}: connection threads left 60 s after the attack: {:?}",
            thread_names(n.pid())
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    report(what, base.rss, peak, rss_kib(n.pid()));
}

pub fn report(what: &str, before: u64, peak: u64, after: u64) {
    eprintln!(
        "{what}: VmRSS {} KiB before, {} KiB at the peak, {} KiB after",
        before, peak, after
    );
    assert!(
        after < before + RSS_AFTER_BOUND_KIB,
        "{what}: RSS {after} KiB after the attack, {before} KiB before"
    );
}
