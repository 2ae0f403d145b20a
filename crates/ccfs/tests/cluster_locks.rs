//! Three real ccfs daemons in cluster mode: expiry of `priv/lock/<name>`
//! directories across nodes (dcdb.md §9, memdb.md §10).
//!
//! A lock is stale after more than 120 s unchanged, measured by the lock
//! table of the lowest-nodeid member (node1 here), which alone answers an
//! UNLOCK_REQUEST with an UNLOCK. Everything runs inside one 120 s wait:
//! several locks are taken at nearly the same time and each shows one rule.

mod cluster_common;

use std::fs::{self, File, FileTimes};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cluster_common::{start, wait_until, Daemon};

/// Strictly more than 120 s of the deciding node's clock (seconds are
/// truncated), with a margin for the message delays.
const EXPIRED: Duration = Duration::from_secs(123);

fn lock(name: &str) -> String {
    format!("priv/lock/{name}")
}

/// `utime(path, 0, 0)` as Perl's `cfs_lock` does it: the unlock request.
fn unlock_request(d: &Daemon, name: &str) -> std::io::Result<()> {
    let zero = FileTimes::new().set_modified(UNIX_EPOCH);
    File::open(d.path(&lock(name)))?.set_times(zero)
}

fn set_mtime(d: &Daemon, name: &str, t: SystemTime) -> std::io::Result<()> {
    File::open(d.path(&lock(name)))?.set_times(FileTimes::new().set_modified(t))
}

fn mtime(d: &Daemon, name: &str) -> i64 {
    fs::metadata(d.path(&lock(name))).unwrap().mtime()
}

fn held_everywhere(d: &[Daemon], name: &str) -> bool {
    d.iter().all(|x| x.path(&lock(name)).is_dir())
}

/// Wait until every UNLOCK that node1 could have sent in answer to
/// requests made so far from `from` has been applied on every node: a
/// write from `from` reaching node1 means node1 delivered the earlier
/// requests (same sender, same order); a write from node1 after that
/// follows any UNLOCK node1 sent, on every node.
fn settle(d: &[Daemon], from: usize, tag: &str) {
    let a = format!("settle-{tag}-a");
    d[from].write(&a, tag).unwrap();
    d[0].wait_content(&a, tag);
    let b = format!("settle-{tag}-b");
    d[0].write(&b, tag).unwrap();
    for x in d {
        x.wait_content(&b, tag);
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

#[test]
fn a_lock_expires_after_120_s_on_the_lowest_nodeid_node_and_only_then() {
    let (mut c, mut d) = start();
    wait_until("priv/lock", || {
        fs::create_dir_all(d[0].path("priv/lock")).is_ok()
    });
    for x in &d {
        wait_until("priv/lock everywhere", || x.path("priv/lock").is_dir());
    }

    // "old": taken on node2 before node1's daemon restarts. node1 reloads
    // its database and with it its lock table, so its clock for "old"
    // restarts (dcdb.md §9.4) while node2's and node3's do not.
    d[1].mkdir(&lock("old")).unwrap();
    let t0 = Instant::now();
    wait_until("old everywhere", || held_everywhere(&d, "old"));
    sleep_until(t0 + Duration::from_secs(6));
    let pid = d[0].pid;
    assert!(c.node(1).signal(pid, libc::SIGTERM));
    let st = c
        .node_mut(1)
        .wait_exit(pid, Duration::from_secs(30))
        .unwrap();
    assert!(st.success(), "clean exit: {st:?}");
    d[0] = Daemon::start(&mut c, 1);
    d[0].wait_writable("probe-1-again");
    for x in &d[1..] {
        x.wait_content("probe-1-again", "probe");
    }
    assert!(held_everywhere(&d, "old"), "a restart keeps the locks");

    // The locks of the main wait: "a" held by node1, "renewed" held by
    // node1 and renewed later, "busy" held by node3 and not empty.
    for (x, name) in [(0, "a"), (0, "renewed"), (2, "busy")] {
        d[x].mkdir(&lock(name)).unwrap();
    }
    let t1 = Instant::now();
    d[2].write("priv/lock/busy/owner", "node3").unwrap();
    for name in ["a", "renewed", "busy"] {
        wait_until("locks everywhere", || held_everywhere(&d, name));
    }

    // Taken is taken, on every node.
    for x in &d {
        let err = x.mkdir(&lock("a")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "node{}", x.nodeid);
    }

    // A fresh lock: unlock requests from node2 and node3 answer EACCES
    // (the plain mtime-0 update is refused) and node1 does not unlock.
    for x in &d[1..] {
        let err = unlock_request(x, "a").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "node{}", x.nodeid);
    }
    settle(&d, 1, "fresh2");
    settle(&d, 2, "fresh3");
    assert!(held_everywhere(&d, "a"), "a fresh lock survives requests");
    let m = mtime(&d[0], "a");
    assert!(m > 0);
    for x in &d {
        assert_eq!(mtime(x, "a"), m, "node{}: mtime 0 not stored", x.nodeid);
    }

    // Only the holder may renew, and only forward in time (memdb.md §4.4).
    let err = set_mtime(&d[1], "renewed", SystemTime::now()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "foreign renew");
    let older = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let err = set_mtime(&d[0], "renewed", older).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "renew backwards");
    sleep_until(t1 + Duration::from_secs(6));
    set_mtime(&d[0], "renewed", SystemTime::now()).unwrap();
    let renewed_at = mtime(&d[0], "renewed");
    for x in &d {
        wait_until("renew everywhere", || mtime(x, "renewed") == renewed_at);
    }

    // "old" is more than 120 s old for node2 and node3, but node1 has seen
    // it only since its restart: a request from node3 leaves it alone.
    sleep_until(t0 + EXPIRED);
    let err = unlock_request(&d[2], "old").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    settle(&d, 2, "old");
    assert!(
        held_everywhere(&d, "old"),
        "only the lowest nodeid's lock table decides"
    );

    // Past 120 s for node1 as well: requests from nodes that do not hold
    // the lock. The renewed lock was renewed 6 s after it was taken and
    // is not expired yet; "busy" is expired but cannot be deleted.
    sleep_until(t1 + EXPIRED);
    for (x, name) in [(1, "renewed"), (1, "busy"), (2, "old"), (1, "a")] {
        let err = unlock_request(&d[x], name).unwrap_err();
        // EACCES from the refused mtime-0 update, or ENOENT if node1's
        // UNLOCK was delivered before it.
        assert!(
            matches!(
                err.kind(),
                ErrorKind::PermissionDenied | ErrorKind::NotFound
            ),
            "{name}: {err}"
        );
    }
    for name in ["a", "old"] {
        wait_until(&format!("{name} unlocked everywhere"), || {
            d.iter().all(|x| !x.path(&lock(name)).exists())
        });
    }
    settle(&d, 1, "expired2");
    settle(&d, 2, "expired3");
    assert!(
        held_everywhere(&d, "renewed"),
        "a renewal restarts the clock"
    );
    assert!(held_everywhere(&d, "busy"), "a non-empty lock stays");
    for x in &d {
        x.wait_content("priv/lock/busy/owner", "node3");
    }

    // The lock can be taken again, here by node3, and is seen everywhere.
    d[2].mkdir(&lock("a")).unwrap();
    wait_until("a retaken everywhere", || held_everywhere(&d, "a"));
    let err = d[1].mkdir(&lock("a")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
}
