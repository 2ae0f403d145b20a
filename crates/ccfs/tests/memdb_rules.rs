//! memdb rules as applications see them through FUSE (memdb.md §4, §7, §10;
//! fuse.md §7): VMID uniqueness, rename of directories, lock directories,
//! the root, and the change counters/VM list that expose versions.

mod common;

use common::json;
use common::*;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::MetadataExt;

fn vm_node(n: &Node, id: &str) -> Option<(String, String)> {
    let v = json::parse(&n.read_string(".vmlist")).unwrap();
    v.get("ids").and_then(|ids| ids.get(id)).map(|e| {
        (
            e.at("node").str().to_string(),
            e.at("type").str().to_string(),
        )
    })
}

#[test]
fn vmid_is_unique_across_nodes_and_types() {
    let n = Node::start();
    for d in [
        "nodes/node1/qemu-server",
        "nodes/node1/lxc",
        "nodes/other/qemu-server",
        "nodes/other/lxc",
    ] {
        n.mkdir_p(d);
    }
    n.write("nodes/node1/qemu-server/100.conf", b"memory: 512\n");
    let excl = |p: &str| OpenOptions::new().write(true).create_new(true).open(n.p(p));
    assert_errno(
        excl("nodes/other/qemu-server/100.conf"),
        libc::EEXIST,
        "other node",
    );
    assert_errno(excl("nodes/node1/lxc/100.conf"), libc::EEXIST, "other type");
    assert_errno(
        excl("nodes/other/lxc/100.conf"),
        libc::EEXIST,
        "other node and type",
    );
    assert!(!n.p("nodes/other/qemu-server/100.conf").exists());
    // rewriting the owner's own config is fine
    n.write("nodes/node1/qemu-server/100.conf", b"memory: 1024\n");

    // renaming an ordinary file onto the VMID elsewhere is refused
    n.write("nodes/other/qemu-server/tmp", b"x");
    assert_errno(
        fs::rename(
            n.p("nodes/other/qemu-server/tmp"),
            n.p("nodes/other/qemu-server/100.conf"),
        ),
        libc::EEXIST,
        "rename onto a foreign VMID",
    );
    assert_eq!(vm_node(&n, "100"), Some(("node1".into(), "qemu".into())));

    // migration: the config itself may move to another node
    fs::rename(
        n.p("nodes/node1/qemu-server/100.conf"),
        n.p("nodes/other/qemu-server/100.conf"),
    )
    .unwrap();
    assert_eq!(vm_node(&n, "100"), Some(("other".into(), "qemu".into())));
    assert_eq!(
        n.read("nodes/other/qemu-server/100.conf"),
        b"memory: 1024\n"
    );
    // and change type
    fs::rename(
        n.p("nodes/other/qemu-server/100.conf"),
        n.p("nodes/other/lxc/100.conf"),
    )
    .unwrap();
    assert_eq!(vm_node(&n, "100"), Some(("other".into(), "lxc".into())));
    // after removal the VMID is free again
    fs::remove_file(n.p("nodes/other/lxc/100.conf")).unwrap();
    assert_eq!(vm_node(&n, "100"), None);
    excl("nodes/node1/lxc/100.conf").unwrap();
    assert_eq!(vm_node(&n, "100"), Some(("node1".into(), "lxc".into())));
}

#[test]
fn only_empty_directories_can_be_renamed() {
    let n = Node::start();
    n.mkdir_p("a/b");
    n.write("a/b/f", b"x");
    assert_errno(
        fs::rename(n.p("a"), n.p("z")),
        libc::ENOTEMPTY,
        "two levels",
    );
    assert_errno(
        fs::rename(n.p("a/b"), n.p("b")),
        libc::ENOTEMPTY,
        "one level",
    );
    assert_eq!(n.read("a/b/f"), b"x", "nothing moved");
    fs::remove_file(n.p("a/b/f")).unwrap();
    fs::rename(n.p("a/b"), n.p("b")).unwrap();
    assert!(n.p("b").is_dir() && !n.p("a/b").exists());
    // an empty directory may replace an empty directory
    n.mkdir_p("c");
    fs::rename(n.p("b"), n.p("c")).unwrap();
    assert!(n.p("c").is_dir() && !n.p("b").exists());
    // but not a non-empty one
    n.mkdir_p("e");
    n.write("c/x", b"x");
    assert_errno(
        fs::rename(n.p("e"), n.p("c")),
        libc::ENOTEMPTY,
        "onto non-empty",
    );
    assert!(n.p("e").is_dir() && n.p("c/x").exists());
}

#[test]
fn lock_directories() {
    let n = Node::start();
    n.mkdir_p("priv/lock");
    let lock = n.p("priv/lock/file-storage_cfg");
    fs::create_dir(&lock).unwrap();
    assert_errno(
        fs::create_dir(&lock),
        libc::EEXIST,
        "second mkdir = lock held",
    );
    let t0 = fs::metadata(&lock).unwrap().mtime();

    // an unlock request on a fresh lock is refused
    assert_errno(
        set_times(&lock, 0, 0),
        libc::EACCES,
        "utime(0,0) on a fresh lock",
    );
    assert!(lock.is_dir());
    // mtime moves forward only
    set_times(&lock, t0 + 100, t0 + 100).unwrap();
    assert_eq!(fs::metadata(&lock).unwrap().mtime(), t0 + 100);
    set_times(&lock, t0 + 100, t0 + 100).unwrap();
    assert_errno(
        set_times(&lock, t0 + 50, t0 + 50),
        libc::EACCES,
        "older mtime",
    );
    assert_eq!(fs::metadata(&lock).unwrap().mtime(), t0 + 100);
    // cannot be renamed
    assert_errno(
        fs::rename(&lock, n.p("priv/lock/other")),
        libc::EACCES,
        "rename lock",
    );
    assert_errno(
        fs::rename(&lock, n.p("priv/moved")),
        libc::EACCES,
        "rename lock out",
    );
    // nested directories inside a lock are lock paths for rename as well
    fs::create_dir(lock.join("inner")).unwrap();
    assert_errno(
        fs::rename(lock.join("inner"), lock.join("inner2")),
        libc::EACCES,
        "nested",
    );
    fs::remove_dir(lock.join("inner")).unwrap();
    // release
    fs::remove_dir(&lock).unwrap();
    assert!(!lock.exists());
    fs::create_dir(&lock).unwrap();

    // outside priv/lock older mtimes are fine
    n.mkdir_p("priv/notlock/x");
    set_times(&n.p("priv/notlock/x"), 0, 0).unwrap();
    assert_eq!(fs::metadata(n.p("priv/notlock/x")).unwrap().mtime(), 0);
    // a file in priv/lock is not a lock
    n.write("priv/lock/file", b"x");
    set_times(&n.p("priv/lock/file"), 5, 5).unwrap();
    assert_eq!(fs::metadata(n.p("priv/lock/file")).unwrap().mtime(), 5);
}

#[test]
fn the_root_cannot_be_removed_or_renamed() {
    let n = Node::start();
    // the kernel refuses first (mount point busy) — the tree must survive
    assert!(fs::remove_dir(&n.work.mount).is_err());
    assert!(fs::rename(&n.work.mount, n.work.root.join("elsewhere")).is_err());
    assert!(is_mounted(&n.work.mount));
    n.write("still", b"here");
    assert_eq!(n.read("still"), b"here");
}

#[test]
fn vmlist_version_counts_registrations() {
    let n = Node::start();
    n.mkdir_p("nodes/node1/qemu-server");
    let ver = || {
        json::parse(&n.read_string(".vmlist"))
            .unwrap()
            .at("version")
            .u64()
    };
    let v0 = ver();
    n.write("nodes/node1/qemu-server/101.conf", b"a\n");
    let v1 = ver();
    assert!(v1 > v0);
    n.write("nodes/node1/qemu-server/102.conf", b"a\n");
    let v2 = ver();
    assert!(v2 > v1);
    fs::remove_file(n.p("nodes/node1/qemu-server/101.conf")).unwrap();
    assert!(ver() > v2, "removal moves the list version");
    // node names outside [A-Za-z0-9-] do not register
    n.mkdir_p("nodes/bad_name/qemu-server");
    n.write("nodes/bad_name/qemu-server/103.conf", b"a\n");
    assert_eq!(vm_node(&n, "103"), None);
    // nor do names that are not <vmid>.conf
    n.write("nodes/node1/qemu-server/0104.conf", b"a\n");
    n.write("nodes/node1/qemu-server/105.conf.tmp", b"a\n");
    assert_eq!(vm_node(&n, "104"), None);
    assert_eq!(vm_node(&n, "105"), None);
}

#[test]
fn entries_keep_their_identity_across_changes() {
    // memdb versions are not exposed as attributes; what an application
    // sees is a stable inode number while an entry lives
    let n = Node::start();
    n.write("f", b"one");
    let ino = fs::metadata(n.p("f")).unwrap().ino();
    assert!(ino > 1, "root is 1; entries get other numbers");
    n.write("f", b"two");
    set_times(&n.p("f"), 0, 77).unwrap();
    assert_eq!(fs::metadata(n.p("f")).unwrap().ino(), ino, "after writes");
    fs::rename(n.p("f"), n.p("g")).unwrap();
    assert_eq!(fs::metadata(n.p("g")).unwrap().ino(), ino, "after rename");
    n.write("h", b"x");
    assert_ne!(
        fs::metadata(n.p("h")).unwrap().ino(),
        ino,
        "distinct entries"
    );
}

#[test]
fn an_unlock_request_removes_a_lock_older_than_120_s() {
    // memdb.md §10.3/§10.5, local mode: the lock table starts the clock at
    // mkdir; utime(0,0) deletes the lock once it is strictly older than
    // 120 s, and is refused with EACCES before. This is how Perl's cfs_lock
    // breaks the lock of a dead holder.
    let n = Node::start();
    n.mkdir_p("priv/lock");
    let lock = n.p("priv/lock/storage-local");
    fs::create_dir(&lock).unwrap();
    let made = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_errno(set_times(&lock, 0, 0), libc::EACCES, "5 s old lock");
    assert!(lock.is_dir());
    while made.elapsed() < std::time::Duration::from_secs(124) {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // The plugin's result is that of the delete (0), but a FUSE stack that
    // answers setattr with fresh attributes finds the entry gone (libfuse
    // 2 does the same getattr): Perl ignores the result, so accept ENOENT.
    match set_times(&lock, 0, 0) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "unlock request: {e}"),
    }
    assert!(!lock.exists(), "the expired lock was deleted");
    fs::create_dir(&lock).expect("the lock can be taken again");
}
