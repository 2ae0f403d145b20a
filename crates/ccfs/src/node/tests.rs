//! The node's write path against the in-memory store: commit policy,
//! error mode, quorum, lock expiry.

use std::sync::mpsc;
use std::time::Duration;

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
fn only_changes_of_others_are_published_for_invalidation() {
    let (n, _) = node();
    let rx = n.stream().subscribe_lossless(Interest::Caches);
    let records = n.stream().subscribe_lossless(Interest::Records);
    n.mkdir(Origin::Kernel, "d").unwrap();
    assert!(rx.try_recv().is_err(), "the kernel made this change itself");
    assert_eq!(
        records.try_recv().unwrap().records.len(),
        1,
        "but it is a change"
    );
    n.create(Origin::Other, "d/f").unwrap();
    let set = rx.try_recv().unwrap();
    assert!(set
        .effects
        .iter()
        .any(|c| matches!(c, Change::Added { name, .. } if name == "f")));
    // a quorum change drops everything, once
    n.set_quorate(false);
    assert_eq!(rx.try_recv().unwrap().quorum, Some(false));
    n.set_quorate(false);
    assert!(rx.try_recv().is_err());
}

#[test]
fn every_change_reaches_the_stream_once_in_version_order() {
    let (n, _) = node();
    let rx = n.stream().subscribe_lossless(Interest::Records);
    n.mkdir(Origin::Kernel, "d").unwrap();
    n.create(Origin::Kernel, "d/f").unwrap();
    n.write(
        Origin::Kernel,
        Durability::Deferred,
        "d/f",
        0,
        b"abc",
        false,
    )
    .unwrap();
    n.rename(Origin::Other, "d/f", "d/g").unwrap();
    // refused changes publish nothing
    assert!(n.create(Origin::Kernel, "d/g").is_err());
    n.delete(Origin::Kernel, "d/g").unwrap();
    let records: Vec<_> = rx.try_iter().flat_map(|s| s.records.clone()).collect();
    let seen: Vec<(u64, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r.applied.version,
                r.applied.op.name(),
                r.applied.path.as_str(),
            )
        })
        .collect();
    let v = seen[0].0;
    assert_eq!(
        seen,
        vec![
            (v, "mkdir", "d"),
            (v + 1, "create", "d/f"),
            (v + 2, "write", "d/f"),
            (v + 3, "rename", "d/f"),
            (v + 4, "delete", "d/g"),
        ]
    );
    assert_eq!(records[2].applied.content.as_deref(), Some(&b"abc"[..]));
    assert!(records.iter().all(|r| r.source == Source::Local));
}

#[test]
fn a_write_across_the_size_limit_writes_what_fits() {
    let (n, _) = node();
    let inode = n.create(Origin::Kernel, "big").unwrap();
    let max = 1024 * 1024;
    let chunk = vec![7u8; 128 * 1024];
    let mut offset = 0u64;
    let mut written = 0u64;
    let err = loop {
        match n.handle_write(inode, offset, &chunk) {
            Ok(k) => {
                written += u64::from(k);
                offset += u64::from(k);
            }
            Err(e) => break e,
        }
        assert!(offset <= max, "wrote past the limit");
    };
    assert_eq!(written, max);
    assert_eq!(err.errno(), libc::EFBIG);
    // one byte more than fits in one write: a short write of what fits
    let inode = n.create(Origin::Kernel, "big2").unwrap();
    let all = vec![1u8; max as usize + 1];
    assert_eq!(n.handle_write(inode, 0, &all).unwrap(), max as u32);
    assert_eq!(
        n.read(|db| db.lookup("big2").unwrap().data.len()),
        max as usize
    );
}

#[test]
fn cluster_errnos_become_the_errors_local_mode_returns() {
    assert_eq!(
        NodeError::from_cluster(libc::EEXIST),
        NodeError::Tree(ccfs_memdb::Error::Exists)
    );
    assert_eq!(NodeError::from_cluster(libc::EBUSY), NodeError::Unavailable);
    assert_eq!(NodeError::from_cluster(libc::EBUSY).errno(), libc::EBUSY);
    assert_eq!(NodeError::from_cluster(1234), NodeError::Cluster(1234));
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

/// A store whose commits wait until the test lets them go.
struct GatedStore {
    inner: MemStore,
    entered: mpsc::Sender<()>,
    gate: std::sync::Arc<std::sync::Mutex<mpsc::Receiver<()>>>,
}

impl Store for GatedStore {
    fn load(&mut self) -> Result<Vec<ccfs_memdb::Row>, ccfs_memdb::StoreError> {
        self.inner.load()
    }
    fn commit(&mut self, batch: &ccfs_memdb::Batch) -> Result<(), ccfs_memdb::StoreError> {
        let _ = self.entered.send(());
        let _ = self
            .gate
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        self.inner.commit(batch)
    }
    fn replace_all(
        &mut self,
        rows: &[ccfs_memdb::Row],
        root: ccfs_memdb::Root,
    ) -> Result<(), ccfs_memdb::StoreError> {
        self.inner.replace_all(rows, root)
    }
}

#[test]
fn readers_do_not_wait_for_a_commit_in_progress() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (gate_tx, gate_rx) = mpsc::channel();
    let store = GatedStore {
        inner: MemStore::new(),
        entered: entered_tx,
        gate: std::sync::Arc::new(std::sync::Mutex::new(gate_rx)),
    };
    let db = Memdb::new(Limits::default(), 1000);
    let n = std::sync::Arc::new(Node::new(db, Box::new(store), Quorum::always()));
    let writer = {
        let n = n.clone();
        std::thread::spawn(move || n.mkdir(Origin::Kernel, "d"))
    };
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("commit started");
    // the commit is held; the tree is readable and already shows the change
    let (tx, rx) = mpsc::channel();
    {
        let n = n.clone();
        std::thread::spawn(move || {
            let _ = tx.send(n.read(|db| db.lookup("d").is_some()));
        });
    }
    let seen = rx.recv_timeout(Duration::from_secs(10));
    gate_tx.send(()).unwrap();
    assert_eq!(seen, Ok(true), "reader blocked by the commit");
    writer.join().unwrap().unwrap();
}

#[test]
fn nothing_is_stored_after_a_failed_commit() {
    let (n, store) = node();
    n.create(Origin::Kernel, "a").unwrap();
    let stored_before = store.rows().len();
    store.fail_next(1);
    assert!(n.create(Origin::Kernel, "b").is_err());
    assert!(n.flush().is_err(), "flush reports the failure");
    assert_eq!(store.rows().len(), stored_before);
}

#[test]
fn the_quota_gate_refuses_growth_past_a_subtree_quota_with_edquot() {
    let (n, _) = node();
    n.mkdir(Origin::Kernel, "ccfs").unwrap();
    n.create(Origin::Kernel, quota::QUOTA_FILE).unwrap();
    let conf = b"nodes/a bytes=10 entries=2\n";
    n.write(
        Origin::Kernel,
        Durability::Now,
        quota::QUOTA_FILE,
        0,
        conf,
        true,
    )
    .unwrap();
    n.mkdir(Origin::Kernel, "nodes").unwrap();
    n.mkdir(Origin::Kernel, "nodes/a").unwrap();
    let f = n.create(Origin::Kernel, "nodes/a/f").unwrap();
    assert_eq!(n.handle_write(f, 0, b"0123456789").unwrap(), 10);
    let e = n.handle_write(f, 10, b"x").unwrap_err();
    assert_eq!(e.errno(), libc::EDQUOT);
    assert!(matches!(&e, NodeError::Quota { subtree, what: "bytes", .. } if subtree == "nodes/a"));
    n.create(Origin::Kernel, "nodes/a/g").unwrap();
    let e = n.create(Origin::Kernel, "nodes/a/h").unwrap_err();
    assert_eq!(e.errno(), libc::EDQUOT);
    // nothing of the refused changes is in the tree
    assert!(n.read(|db| db.lookup("nodes/a/h").is_none()));
    assert_eq!(n.read(|db| db.lookup("nodes/a/f").unwrap().data.len()), 10);
    // a new version of the quota file holds at once
    let conf = b"nodes/a bytes=100 entries=5\n";
    n.write(
        Origin::Kernel,
        Durability::Now,
        quota::QUOTA_FILE,
        0,
        conf,
        true,
    )
    .unwrap();
    n.create(Origin::Kernel, "nodes/a/h").unwrap();
    assert_eq!(n.handle_write(f, 10, b"x").unwrap(), 1);
}
