//! Applying a change locally, publishing what the tree recorded, and
//! committing to SQLite (local mode's replicator and both modes' commit).
//!
//! Persistence policy (disk wear): data written through an open file handle
//! is applied to memdb at once but committed to SQLite when that handle is
//! flushed, fsynced or released, or by the flusher at most ~1 s later, so
//! that many chunks become one transaction ([`Durability::Deferred`]).
//! Every other modification commits before it returns. A failed commit puts
//! memdb into error mode (memdb.md §8): EIO from then on.

use std::sync::{Arc, RwLockWriteGuard};
use std::time::Instant;

use ccfs_cluster::Tree;
use ccfs_memdb::{AppliedOp, Batch, Memdb, Root, Row, Stamp, StoreError};

use super::stream::{ChangeRecord, ChangeSet, Source};
use super::{Durability, Node, NodeError, NodeResult, Origin, State, MAX_COMMIT_DELAY};
use crate::metrics::Histogram;

/// Work that must be done, with the disk lock held, before each commit of
/// the tree reaches SQLite: the history journal writes the records of the
/// changes being committed, so that nothing is in the database that the
/// journal lacks. A failure is logged; the tree's commit goes on.
pub trait BeforeCommit: Send + Sync {
    fn before_commit(&self) -> Result<(), String>;
}

impl Node {
    pub fn set_before_commit(&self, hook: Arc<dyn BeforeCommit>) {
        let _ = self.before_commit.set(hook);
    }

    /// The durations of the SQLite commits (and resync rewrites) so far.
    pub fn commit_latency(&self) -> &Histogram {
        &self.commit_latency
    }

    /// Local mode's replicator: apply now, publish, persist.
    pub(super) fn apply_local<T>(
        &self,
        origin: Origin,
        durability: Durability,
        f: impl FnOnce(&mut Memdb, Stamp) -> ccfs_memdb::Result<T>,
    ) -> NodeResult<T> {
        let now = super::unix_now();
        let mut st = self.lock();
        if st.closed {
            return Err(NodeError::Closed);
        }
        st.db.set_now(now);
        let result = f(&mut st.db, self.stamp(now));
        let effects = st.db.take_changes();
        let effects = match origin {
            Origin::Kernel => Vec::new(),
            Origin::Other | Origin::Export(_) => effects,
        };
        let made_by = match origin {
            Origin::Export(tag) => Some(tag),
            Origin::Kernel | Origin::Other => None,
        };
        self.publish(&mut st, Source::Local, effects, made_by);
        let value = result?;
        match durability {
            Durability::Now => self.commit(st)?,
            Durability::Deferred => {
                st.dirty_since.get_or_insert_with(Instant::now);
            }
        }
        Ok(value)
    }

    /// Publish what the tree recorded since the last call, with the tree
    /// lock held: the stream sees versions in order.
    fn publish(
        &self,
        st: &mut State,
        source: Source,
        effects: Vec<ccfs_memdb::Change>,
        made_by: Option<u64>,
    ) {
        let applied = st.db.take_applied();
        self.usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe(&st.db, &applied);
        let records = applied
            .into_iter()
            .map(|applied| {
                let tree = (applied.op == AppliedOp::Replaced)
                    .then(|| Arc::new(st.db.sorted().into_iter().cloned().collect()));
                ChangeRecord {
                    applied,
                    source,
                    tree,
                }
            })
            .collect();
        self.stream.publish(ChangeSet {
            records,
            effects,
            quorum: None,
            made_by,
        });
    }

    /// The tree and its store for one cluster event (`ccfs_cluster::Host`).
    /// What the event applied is published before the lock is released.
    pub fn with_tree(&self, f: &mut dyn FnMut(&mut dyn Tree)) {
        let mut st = self.lock();
        {
            let mut tree = ClusterTree {
                node: self,
                st: &mut st,
            };
            f(&mut tree);
        }
        self.publish(&mut st, Source::Delivered, Vec::new(), None);
    }

    /// Changes the cluster applied that the kernel did not make itself.
    pub fn publish_cluster_changes(&self, effects: Vec<ccfs_memdb::Change>) {
        self.stream.publish(ChangeSet {
            effects,
            ..ChangeSet::default()
        });
    }

    /// Commit what the cluster delivered, now, in this thread.
    pub fn commit_pending(&self) -> NodeResult<()> {
        let st = self.lock();
        self.commit(st)
    }

    /// Strict durability (local mode): fsync `db` and its WAL after every
    /// commit, before the change is acknowledged.
    pub fn sync_commits_to(&self, db: &std::path::Path) {
        let _ = self.sync_db.set(db.to_path_buf());
    }

    fn run_before_commit(&self) {
        if let Some(hook) = self.before_commit.get() {
            let result = hook.before_commit();
            if let Err(e) = &result {
                tracing::error!("before commit: {e}");
            }
            self.health.before_commit(&result);
        }
    }

    /// Write everything pending in one transaction. Returns once this
    /// batch and every earlier one are stored.
    pub(super) fn commit(&self, mut st: RwLockWriteGuard<'_, State>) -> NodeResult<()> {
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
        self.run_before_commit();
        if batch.is_empty() {
            return Ok(());
        }
        // Timed with its fsync in `--durability sync`: what a writer waits.
        let started = Instant::now();
        let result = disk
            .store
            .commit(&batch)
            .and_then(|()| match self.sync_db.get() {
                Some(db) => ccfs_store::sync_to_disk(db),
                None => Ok(()),
            });
        self.commit_latency.observe(started.elapsed());
        let Err(e) = result else {
            self.health.committed();
            return Ok(());
        };
        disk.failed = true;
        self.health.commit_failed();
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
    /// Whatever the journal holds of earlier changes is written first.
    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError> {
        self.st.pending.clear();
        self.st.dirty_since = None;
        let mut disk = self.node.disk.lock().unwrap_or_else(|p| p.into_inner());
        self.node.run_before_commit();
        let started = Instant::now();
        let result = disk.store.replace_all(rows, root);
        self.node.commit_latency.observe(started.elapsed());
        match result {
            Ok(()) => self.node.health.committed(),
            Err(_) => {
                disk.failed = true;
                self.node.health.commit_failed();
            }
        }
        result
    }
}
