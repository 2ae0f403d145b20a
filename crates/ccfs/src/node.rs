//! The node: the one writer path to the tree. Every front end (FUSE now,
//! IPC later) modifies through these methods; they apply the change to
//! memdb, persist it, and publish what changed for cache invalidation.
//!
//! Persistence policy (disk wear): data written through an open file handle
//! is applied to memdb at once but committed to SQLite when that handle is
//! flushed, fsynced or released, or by the flusher at most ~1 s later, so
//! that many chunks become one transaction ([`Durability::Deferred`]).
//! Every other modification commits before it returns. A failed commit puts
//! memdb into error mode (memdb.md §8): EIO from then on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccfs_cluster::{ClusterService, PendingRows, Request, Tree};
use ccfs_memdb::{Batch, Change, Inode, Memdb, NodeId, Op, Root, Row, Stamp, Store, StoreError};
use thiserror::Error;

use crate::quorum::Quorum;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NodeError {
    #[error(transparent)]
    Tree(#[from] ccfs_memdb::Error),
    /// fuse.md §6: every modification is refused without quorum.
    #[error("not quorate")]
    NotQuorate,
    #[error("database commit failed: {0}")]
    Commit(String),
    #[error("the daemon is shutting down")]
    Closed,
    /// Cluster mode: the errno the dcdb round trip returned (dcdb.md §4).
    #[error("cluster: errno {0}")]
    Cluster(i32),
}

impl NodeError {
    /// The errno a client sees (fuse.md §4, §6).
    pub fn errno(&self) -> i32 {
        match self {
            NodeError::Tree(e) => e.errno(),
            NodeError::NotQuorate => libc::EACCES,
            NodeError::Commit(_) | NodeError::Closed => libc::EIO,
            NodeError::Cluster(e) => *e,
        }
    }
}

pub type NodeResult<T> = Result<T, NodeError>;

/// When a modification must reach SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Before the call returns.
    Now,
    /// At the next flush of the handle or by the flusher (~1 s).
    Deferred,
}

/// Who asked for a change. The kernel already knows the direct effect of
/// the FUSE operation it sent; everyone else's changes must invalidate the
/// kernel's caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Kernel,
    Other,
}

/// What the kernel must forget (sent to the FUSE notifier thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// Tree changes the kernel did not make itself.
    Changes(Vec<Change>),
    /// Every cached attribute (the quorum changed).
    Everything,
}

/// How long deferred data may stay uncommitted.
pub const MAX_COMMIT_DELAY: Duration = Duration::from_secs(1);

struct State {
    db: Memdb,
    /// When the oldest uncommitted deferred change was made.
    dirty_since: Option<Instant>,
    /// Set at shutdown: no more changes.
    closed: bool,
    /// Cluster mode: rows the dfsm handed over, waiting for the next
    /// commit (the cluster service's group commit, `Host::flush`).
    pending: PendingRows,
}

/// The persistent copy. Its lock is taken while the tree lock is still
/// held (so batches reach SQLite in the order they were made) and the tree
/// lock is then released: readers do not wait for SQLite.
struct Disk {
    store: Box<dyn Store>,
    /// A commit failed: nothing after it may be stored (a later batch
    /// without the lost one could leave a tree that does not load).
    failed: bool,
}

pub struct Node {
    /// Readers share the tree; a modification holds it alone (and only
    /// until its batch is handed to the disk).
    state: RwLock<State>,
    disk: Mutex<Disk>,
    quorum: Quorum,
    writer: NodeId,
    invalidations: OnceLock<Mutex<Sender<Invalidation>>>,
    /// Cluster mode: every modification goes through the dcdb group.
    cluster: OnceLock<Arc<ClusterService>>,
    /// Cluster mode: a group commit is wanted (`request_commit`).
    commit_requested: AtomicBool,
    committer: OnceLock<std::thread::Thread>,
}

/// Seconds since the epoch, as memdb stamps them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// Local mode: writer 0 (memdb.md §3).
    pub fn new(db: Memdb, store: Box<dyn Store>, quorum: Quorum) -> Node {
        Node {
            state: RwLock::new(State {
                db,
                dirty_since: None,
                closed: false,
                pending: PendingRows::default(),
            }),
            disk: Mutex::new(Disk {
                store,
                failed: false,
            }),
            quorum,
            writer: 0,
            invalidations: OnceLock::new(),
            cluster: OnceLock::new(),
            commit_requested: AtomicBool::new(false),
            committer: OnceLock::new(),
        }
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// Set the quorate flag (cluster mode). Every reported mode depends on
    /// it (fuse.md §3.1), so all cached attributes are dropped.
    pub fn set_quorate(&self, quorate: bool) {
        if self.quorum.is_quorate() != quorate {
            self.quorum.set(quorate);
            self.send_invalidation(Invalidation::Everything);
        }
    }

    /// Where changes made by others are sent (the FUSE notifier thread).
    pub fn set_invalidation_sink(&self, tx: Sender<Invalidation>) {
        let _ = self.invalidations.set(Mutex::new(tx));
    }

    /// Switch to cluster mode: from now on modifications are dcdb requests
    /// answered after their delivery (writer = nodeid, mtime = message
    /// time, both stamped by the dfsm).
    pub fn attach_cluster(&self, service: Arc<ClusterService>) {
        let _ = self.cluster.set(service);
    }

    pub fn cluster(&self) -> Option<&Arc<ClusterService>> {
        self.cluster.get()
    }

    /// The tree and its store for one cluster event (`ccfs_cluster::Host`).
    pub fn with_tree(&self, f: &mut dyn FnMut(&mut dyn Tree)) {
        let mut st = self.lock();
        let mut tree = ClusterTree {
            node: self,
            st: &mut st,
        };
        f(&mut tree);
    }

    /// Changes the cluster applied that the kernel did not make itself.
    pub fn publish_cluster_changes(&self, changes: Vec<Change>) {
        self.publish(Origin::Other, changes);
    }

    /// Commit what the cluster delivered, now, in this thread.
    pub fn commit_pending(&self) -> NodeResult<()> {
        let st = self.lock();
        self.commit(st)
    }

    /// The cluster service's group commit (`Host::flush`): done by the
    /// committer thread (`take_commit_request`), so that the cluster loop
    /// goes on delivering while SQLite writes (a WAL checkpoint may fsync).
    pub fn request_commit(&self) {
        self.commit_requested.store(true, Ordering::SeqCst);
        if let Some(t) = self.committer.get() {
            t.unpark();
        }
    }

    /// The thread that serves `request_commit` (it unparks that thread).
    pub fn set_committer(&self, thread: std::thread::Thread) {
        let _ = self.committer.set(thread);
    }

    /// Whether a commit was requested since the last call.
    pub fn take_commit_request(&self) -> bool {
        self.commit_requested.swap(false, Ordering::SeqCst)
    }

    /// Cluster mode: run `op` through the dcdb group; `None` in local mode.
    /// The kernel's own operations are submitted quiet: their changes do
    /// not come back as invalidations, as in local mode.
    fn through_cluster(&self, origin: Origin, op: Op) -> Option<NodeResult<u32>> {
        let c = self.cluster.get()?;
        let request = Request::Op(op);
        let result = match origin {
            Origin::Kernel => c.submit_quiet(request),
            Origin::Other => c.submit(request),
        };
        Some(result.map_err(NodeError::Cluster))
    }

    /// The inode at `path` after a cluster operation created it.
    fn inode_at(&self, path: &str) -> NodeResult<Inode> {
        self.read(|db| db.lookup(path).map(|e| e.inode))
            .ok_or(NodeError::Cluster(libc::ENOENT))
    }

    fn lock(&self) -> RwLockWriteGuard<'_, State> {
        // A panic while holding the lock leaves a consistent tree (memdb
        // mutates only after its checks), so keep serving.
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Read access to the tree.
    pub fn read<R>(&self, f: impl FnOnce(&Memdb) -> R) -> R {
        f(&self.state.read().unwrap_or_else(|p| p.into_inner()).db)
    }

    fn stamp(&self, now: u64) -> Stamp {
        Stamp {
            writer: self.writer,
            mtime: now as u32,
        }
    }

    /// Run one modification: quorum check, apply, persist, publish.
    fn modify<T>(
        &self,
        what: (&'static str, &str),
        origin: Origin,
        durability: Durability,
        f: impl FnOnce(&mut Memdb, Stamp) -> ccfs_memdb::Result<T>,
    ) -> NodeResult<T> {
        let result = self.modify_inner(origin, durability, f);
        if let Err(e) = &result {
            tracing::debug!("{} {}: {e}", what.0, what.1);
        } else {
            tracing::debug!("{} {}", what.0, what.1);
        }
        result
    }

    fn modify_inner<T>(
        &self,
        origin: Origin,
        durability: Durability,
        f: impl FnOnce(&mut Memdb, Stamp) -> ccfs_memdb::Result<T>,
    ) -> NodeResult<T> {
        if !self.quorum.is_quorate() {
            return Err(NodeError::NotQuorate);
        }
        let now = unix_now();
        let mut st = self.lock();
        if st.closed {
            return Err(NodeError::Closed);
        }
        st.db.set_now(now);
        let result = f(&mut st.db, self.stamp(now));
        let changes = st.db.take_changes();
        self.publish(origin, changes);
        let value = result?;
        match durability {
            Durability::Now => self.commit(st)?,
            Durability::Deferred => {
                st.dirty_since.get_or_insert_with(Instant::now);
            }
        }
        Ok(value)
    }

    fn publish(&self, origin: Origin, changes: Vec<Change>) {
        if origin == Origin::Kernel || changes.is_empty() {
            return;
        }
        self.send_invalidation(Invalidation::Changes(changes));
    }

    fn send_invalidation(&self, what: Invalidation) {
        if let Some(tx) = self.invalidations.get() {
            let tx = tx.lock().unwrap_or_else(|p| p.into_inner());
            let _ = tx.send(what);
        }
    }

    /// Write everything pending in one transaction. Returns once this
    /// batch and every earlier one are stored.
    fn commit(&self, mut st: RwLockWriteGuard<'_, State>) -> NodeResult<()> {
        st.dirty_since = None;
        let mut batch = st.db.take_batch();
        if !st.pending.is_empty() {
            st.pending.merge(batch);
            batch = st.pending.take();
        }
        let mut disk = self.disk.lock().unwrap_or_else(|p| p.into_inner());
        drop(st);
        if disk.failed {
            return Err(NodeError::Commit("an earlier commit failed".into()));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let Err(e) = disk.store.commit(&batch) else {
            return Ok(());
        };
        disk.failed = true;
        drop(disk);
        tracing::error!(
            "DATABASE COMMIT FAILED: {e}; the tree is now in error mode, \
             every modification fails with EIO until restart"
        );
        self.lock().db.enter_error_mode();
        Err(NodeError::Commit(e.to_string()))
    }

    /// Shutdown: commit what is pending and refuse every later change
    /// (EIO), so that no change is confirmed that is not stored.
    pub fn close(&self) -> NodeResult<()> {
        let mut st = self.lock();
        st.closed = true;
        self.commit(st)
    }

    /// Commit deferred writes now (flush, fsync, release). Also waits for
    /// a commit in progress, which may hold this caller's writes.
    /// Cluster mode: nothing to do here; the cluster service commits what
    /// it delivered as soon as its loop idles (≤ 100 ms under load), and
    /// every change is applied on all members before its writer returns.
    pub fn flush(&self) -> NodeResult<()> {
        if self.cluster.get().is_some() {
            return Ok(());
        }
        let st = self.lock();
        self.commit(st)
    }

    /// Commit deferred writes older than `MAX_COMMIT_DELAY` (flusher tick).
    pub fn flush_if_due(&self) -> NodeResult<()> {
        let st = self.lock();
        match st.dirty_since {
            Some(t) if t.elapsed() >= MAX_COMMIT_DELAY => self.commit(st),
            _ => Ok(()),
        }
    }

    pub fn has_pending(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .dirty_since
            .is_some()
    }

    pub fn mkdir(&self, origin: Origin, path: &str) -> NodeResult<Inode> {
        if let Some(r) = self.through_cluster(origin, Op::Mkdir { path: path.into() }) {
            return r.and_then(|_| self.inode_at(path));
        }
        self.modify(("mkdir", path), origin, Durability::Now, |db, s| {
            db.mkdir(path, s)
        })
    }

    pub fn create(&self, origin: Origin, path: &str) -> NodeResult<Inode> {
        if let Some(r) = self.through_cluster(origin, Op::Create { path: path.into() }) {
            return r.and_then(|_| self.inode_at(path));
        }
        self.modify(("create", path), origin, Durability::Now, |db, s| {
            db.create(path, s)
        })
    }

    /// Write (or, with an empty `data` and `truncate`, set the size to
    /// `offset`: memdb.md §4.3).
    pub fn write(
        &self,
        origin: Origin,
        durability: Durability,
        path: &str,
        offset: u64,
        data: &[u8],
        truncate: bool,
    ) -> NodeResult<u32> {
        if self.cluster.get().is_some() {
            let op = Op::Write {
                path: path.into(),
                offset,
                data: data.to_vec(),
                truncate,
            };
            if let Some(r) = self.through_cluster(origin, op) {
                return r;
            }
        }
        self.modify(("write", path), origin, durability, |db, s| {
            db.write(path, offset, data, truncate, s)
        })
    }

    pub fn set_mtime(&self, origin: Origin, path: &str, mtime: u32) -> NodeResult<()> {
        let op = Op::Mtime {
            path: path.into(),
            mtime,
        };
        if let Some(r) = self.through_cluster(origin, op) {
            return r.map(|_| ());
        }
        self.modify(("mtime", path), origin, Durability::Now, |db, s| {
            db.set_mtime(
                path,
                Stamp {
                    writer: s.writer,
                    mtime,
                },
            )
        })
    }

    pub fn rename(&self, origin: Origin, from: &str, to: &str) -> NodeResult<()> {
        let op = Op::Rename {
            from: from.into(),
            to: to.into(),
        };
        if let Some(r) = self.through_cluster(origin, op) {
            return r.map(|_| ());
        }
        self.modify(("rename", from), origin, Durability::Now, |db, s| {
            db.rename(from, to, s)
        })
    }

    pub fn delete(&self, origin: Origin, path: &str) -> NodeResult<()> {
        if let Some(r) = self.through_cluster(origin, Op::Delete { path: path.into() }) {
            return r.map(|_| ());
        }
        self.modify(("delete", path), origin, Durability::Now, |db, s| {
            db.delete(path, s)
        })
    }

    /// utimens with mtime 0 on a lock directory (memdb.md §10.5, local
    /// mode): delete the lock if this node's lock table says it expired,
    /// otherwise a plain mtime-0 update (normally EACCES). Returns whether
    /// the lock was deleted. The deletion is always published: the kernel
    /// asked for a time change and does not know the entry is gone.
    pub fn unlock_request(&self, path: &str) -> NodeResult<bool> {
        if let Some(c) = self.cluster.get() {
            // dcdb.md §9.2: ask the coordinator (no reply; silently not
            // sent without quorum), then the plain mtime-0 update, whose
            // result the client gets. A deletion comes back later, through
            // the cluster, as an invalidation.
            let _ = c.submit(Request::UnlockRequest { path: path.into() });
            return self.set_mtime(Origin::Kernel, path, 0).map(|()| false);
        }
        let deleted = self.modify(
            ("unlock request", path),
            Origin::Other,
            Durability::Now,
            |db, s| {
                let inode = db.lookup(path).map(|e| e.inode);
                let expired = match inode.and_then(|i| db.entry_csum(i)) {
                    Some(csum) => db.lock_expired(path, &csum),
                    None => false,
                };
                if expired {
                    db.delete(path, s).map(|()| true)
                } else {
                    Ok(false)
                }
            },
        )?;
        if deleted {
            return Ok(true);
        }
        self.set_mtime(Origin::Kernel, path, 0).map(|()| false)
    }
}

/// The tree (write-locked) and the store, lent to the cluster service for
/// one event.
struct ClusterTree<'a, 'g> {
    node: &'a Node,
    st: &'a mut RwLockWriteGuard<'g, State>,
}

impl Tree for ClusterTree<'_, '_> {
    fn memdb(&mut self) -> &mut Memdb {
        &mut self.st.db
    }

    /// Deferred to the group commit (`Node::commit_pending`).
    fn persist(&mut self, batch: Batch) -> Result<(), StoreError> {
        self.st.pending.merge(batch);
        self.st.dirty_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// The disk lock is taken while the tree lock is held, as in `commit`.
    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError> {
        self.st.pending.clear();
        self.st.dirty_since = None;
        let mut disk = self.node.disk.lock().unwrap_or_else(|p| p.into_inner());
        let result = disk.store.replace_all(rows, root);
        if result.is_err() {
            disk.failed = true;
        }
        result
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
