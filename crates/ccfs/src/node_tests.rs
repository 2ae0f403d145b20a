//! The node's write path against the in-memory store: commit policy,
//! error mode, quorum, lock expiry.

use std::sync::mpsc;

use ccfs_memdb::mem_store::MemStore;
use ccfs_memdb::{Change, Limits, Memdb, Store};

use super::*;

fn node_with(quorum: Quorum) -> (Node, MemStore) {
    let store = MemStore::new();
    let db = Memdb::new(Limits::default(), 1000);
    (Node::new(db, Box::new(store.clone()), quorum), store)
}

fn node() -> (Node, MemStore) {
    node_with(Quorum::always())
}

fn stored(store: &MemStore, name: &str) -> Option<Vec<u8>> {
    store
        .rows()
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.data.unwrap_or_default())
}

#[test]
fn path_operations_commit_before_returning() {
    let (n, store) = node();
    n.mkdir(Origin::Kernel, "d").unwrap();
    let after_mkdir = store.transactions();
    assert!(after_mkdir >= 1);
    n.create(Origin::Kernel, "d/f").unwrap();
    assert_eq!(store.transactions(), after_mkdir + 1);
    assert_eq!(stored(&store, "f"), Some(Vec::new()));
    n.rename(Origin::Kernel, "d/f", "d/g").unwrap();
    assert!(stored(&store, "g").is_some() && stored(&store, "f").is_none());
    n.delete(Origin::Kernel, "d/g").unwrap();
    assert!(stored(&store, "g").is_none());
    assert!(!n.has_pending());
}

#[test]
fn handle_writes_are_coalesced_until_flush() {
    let (n, store) = node();
    n.create(Origin::Kernel, "f").unwrap();
    let before = store.transactions();
    for i in 0..10u64 {
        n.write(Origin::Kernel, Durability::Deferred, "f", i, b"x", false)
            .unwrap();
    }
    // applied to the tree at once, not yet stored
    assert_eq!(n.read(|db| db.lookup("f").unwrap().data.len()), 10);
    assert_eq!(store.transactions(), before);
    assert!(n.has_pending());
    n.flush().unwrap();
    assert_eq!(store.transactions(), before + 1, "one transaction");
    assert_eq!(stored(&store, "f"), Some(b"xxxxxxxxxx".to_vec()));
    // nothing pending: flush is free
    n.flush().unwrap();
    assert_eq!(store.transactions(), before + 1);
}

#[test]
fn deferred_writes_are_committed_by_the_next_immediate_operation() {
    let (n, store) = node();
    n.create(Origin::Kernel, "f").unwrap();
    n.write(Origin::Kernel, Durability::Deferred, "f", 0, b"abc", false)
        .unwrap();
    n.mkdir(Origin::Kernel, "d").unwrap();
    assert_eq!(stored(&store, "f"), Some(b"abc".to_vec()));
    assert!(!n.has_pending());
}

#[test]
fn flush_if_due_waits_for_the_delay() {
    let (n, store) = node();
    n.create(Origin::Kernel, "f").unwrap();
    n.write(Origin::Kernel, Durability::Deferred, "f", 0, b"abc", false)
        .unwrap();
    n.flush_if_due().unwrap();
    assert_eq!(stored(&store, "f"), Some(Vec::new()), "too early");
    std::thread::sleep(MAX_COMMIT_DELAY + Duration::from_millis(50));
    n.flush_if_due().unwrap();
    assert_eq!(stored(&store, "f"), Some(b"abc".to_vec()));
}

#[test]
fn a_failed_commit_enters_error_mode() {
    let (n, store) = node();
    n.create(Origin::Kernel, "f").unwrap();
    store.fail_next(1);
    let e = n.mkdir(Origin::Kernel, "d").unwrap_err();
    assert_eq!(e.errno(), libc::EIO);
    assert!(n.read(|db| db.is_error_mode()));
    // every later modification: EIO
    let e = n.create(Origin::Kernel, "g").unwrap_err();
    assert_eq!(e.errno(), libc::EIO);
}

#[test]
fn without_quorum_every_modification_is_eacces() {
    let q = Quorum::starting_unquorate();
    let (n, store) = node_with(q.clone());
    let before = store.transactions();
    for r in [
        n.mkdir(Origin::Kernel, "d").map(|_| ()),
        n.create(Origin::Kernel, "f").map(|_| ()),
        n.write(Origin::Kernel, Durability::Now, "f", 0, b"x", false)
            .map(|_| ()),
        n.set_mtime(Origin::Kernel, "f", 5),
        n.rename(Origin::Kernel, "f", "g"),
        n.delete(Origin::Kernel, "f"),
        n.unlock_request("priv/lock/x").map(|_| ()),
    ] {
        assert_eq!(r, Err(NodeError::NotQuorate));
        assert_eq!(NodeError::NotQuorate.errno(), libc::EACCES);
    }
    assert_eq!(store.transactions(), before);
    q.set(true);
    n.mkdir(Origin::Kernel, "d").unwrap();
}

#[test]
fn errnos_of_the_tree_pass_through() {
    let (n, _) = node();
    let e = n.create(Origin::Kernel, "missing/f").unwrap_err();
    assert_eq!(e.errno(), libc::ENOENT);
    n.create(Origin::Kernel, "f").unwrap();
    let e = n.create(Origin::Kernel, "f").unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST);
    let e = n
        .write(Origin::Kernel, Durability::Now, "f", 1 << 20, b"x", false)
        .unwrap_err();
    assert_eq!(e.errno(), libc::EFBIG);
}

#[test]
fn only_changes_of_others_are_published() {
    let (n, _) = node();
    let (tx, rx) = mpsc::channel();
    n.set_invalidation_sink(tx);
    n.mkdir(Origin::Kernel, "d").unwrap();
    assert!(rx.try_recv().is_err(), "the kernel made this change itself");
    n.create(Origin::Other, "d/f").unwrap();
    let Invalidation::Changes(got) = rx.try_recv().unwrap() else {
        panic!("expected changes");
    };
    assert!(got
        .iter()
        .any(|c| matches!(c, Change::Added { name, .. } if name == "f")));
    // a quorum change drops everything, once
    n.set_quorate(false);
    assert_eq!(rx.try_recv().unwrap(), Invalidation::Everything);
    n.set_quorate(false);
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_fresh_lock_is_not_unlocked() {
    let (n, _) = node();
    n.mkdir(Origin::Kernel, "priv").unwrap();
    n.mkdir(Origin::Kernel, "priv/lock").unwrap();
    n.mkdir(Origin::Kernel, "priv/lock/x").unwrap();
    // memdb.md §10.5: not expired -> mtime 0 update -> EACCES
    let e = n.unlock_request("priv/lock/x").unwrap_err();
    assert_eq!(e.errno(), libc::EACCES);
    assert!(n.read(|db| db.lookup("priv/lock/x").is_some()));
}

#[test]
fn store_sees_the_version_row() {
    let (n, mut store) = node();
    n.mkdir(Origin::Kernel, "d").unwrap();
    let rows = store.load().unwrap();
    let version = n.read(|db| db.version());
    assert!(rows
        .iter()
        .any(|r| r.inode == 0 && r.version as u64 == version));
}

#[test]
fn close_commits_and_refuses_later_changes() {
    let (n, store) = node();
    n.create(Origin::Kernel, "f").unwrap();
    n.write(Origin::Kernel, Durability::Deferred, "f", 0, b"last", false)
        .unwrap();
    n.close().unwrap();
    assert_eq!(stored(&store, "f"), Some(b"last".to_vec()));
    let e = n
        .write(Origin::Kernel, Durability::Deferred, "f", 0, b"late", false)
        .unwrap_err();
    assert_eq!(e, NodeError::Closed);
    assert_eq!(e.errno(), libc::EIO);
    assert_eq!(n.read(|db| db.lookup("f").unwrap().data.clone()), b"last");
}
