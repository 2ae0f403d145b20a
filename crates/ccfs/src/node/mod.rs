//! The node: the one writer path to the tree. Every front end (FUSE, the
//! control socket's restore), lock expiry and, in cluster mode, every
//! delivery and resync change the tree through here:
//!
//! `submit(op)` → gate (shutting down? quorate?) → replicator: in local
//! mode the change is applied now (`commit.rs`); in cluster mode it is
//! multicast through the dcdb group and applied on delivery, when the
//! cluster service lends the tree back through `with_tree`. Either way
//! memdb records every applied change and the node publishes it once, in
//! version order, on its [`ChangeStream`].
//!
//! Errors are typed ([`NodeError`]); an errno exists only at the kernel and
//! IPC boundaries (`errno()`) and on the wire, where cluster replies are
//! mapped back to the same tree errors local mode returns.

mod commit;
mod health;
mod ops;
mod owed;
pub mod quota;
mod quota_usage;
pub mod stream;

use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccfs_cluster::{ClusterService, PendingRows, Request};
use ccfs_memdb::{Memdb, NodeId, Op, Stamp, Store};
use thiserror::Error;

use crate::metrics::Histogram;
use crate::quorum::Quorum;
pub use commit::BeforeCommit;
pub use health::CommitHealth;
use owed::OwedTruncates;
pub use stream::{ChangeRecord, ChangeSet, ChangeStream, Interest, Source};

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NodeError {
    /// What the tree refused, locally or on delivery in the cluster.
    #[error(transparent)]
    Tree(#[from] ccfs_memdb::Error),
    /// fuse.md §6: every modification is refused without quorum.
    #[error("not quorate")]
    NotQuorate,
    #[error("database commit failed: {0}")]
    Commit(String),
    #[error("the daemon is shutting down")]
    Closed,
    /// Cluster mode: the change could not be sent, or the group stopped
    /// before it came back (dcdb.md §4: EBUSY).
    #[error("the cluster group is not available")]
    Unavailable,
    /// Cluster mode: an errno no tree operation returns.
    #[error("cluster: errno {0}")]
    Cluster(i32),
    /// The change would take a subtree past its quota (`quota.rs`).
    #[error("quota of '{subtree}' exceeded ({what}: {would_be} > {limit})")]
    Quota {
        subtree: String,
        what: &'static str,
        limit: u64,
        would_be: u64,
    },
}

impl From<quota::Exceeded> for NodeError {
    fn from(e: quota::Exceeded) -> NodeError {
        NodeError::Quota {
            subtree: e.subtree,
            what: e.what,
            limit: e.limit,
            would_be: e.would_be,
        }
    }
}

impl NodeError {
    /// The errno a client sees (fuse.md §4, §6).
    pub fn errno(&self) -> i32 {
        match self {
            NodeError::Tree(e) => e.errno(),
            NodeError::NotQuorate => libc::EACCES,
            NodeError::Commit(_) | NodeError::Closed => libc::EIO,
            NodeError::Unavailable => libc::EBUSY,
            NodeError::Cluster(e) => *e,
            NodeError::Quota { .. } => libc::EDQUOT,
        }
    }

    /// A cluster reply's errno as the error local mode would return.
    fn from_cluster(errno: i32) -> NodeError {
        if errno == libc::EBUSY {
            return NodeError::Unavailable;
        }
        match ccfs_memdb::Error::from_errno(errno) {
            Some(e) => NodeError::Tree(e),
            None => NodeError::Cluster(errno),
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
    /// An export mount (its tag, `exports/live.rs`): the main mount's
    /// kernel did not make the change and must forget, the export's own
    /// kernel did. Local mode tags the published set with it so that the
    /// export skips its own changes; in a cluster they come back as
    /// deliveries, untagged, and are forgotten like any other.
    Export(u64),
}

/// How long deferred data may stay uncommitted.
pub const MAX_COMMIT_DELAY: Duration = Duration::from_secs(1);

struct State {
    db: Memdb,
    /// When the oldest uncommitted deferred change was made.
    dirty_since: Option<std::time::Instant>,
    /// Set at shutdown: no more changes.
    closed: bool,
    /// Cluster mode: rows the dfsm handed over, waiting for the next
    /// commit (the cluster service's group commit, `Host::commit`).
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
    stream: ChangeStream,
    /// Cluster mode: every modification goes through the dcdb group.
    cluster: OnceLock<Arc<ClusterService>>,
    /// Strict durability in local mode: fsync this database after each
    /// commit, before the change is acknowledged.
    sync_db: OnceLock<std::path::PathBuf>,
    /// Runs before every commit, with the disk lock held (the journal).
    before_commit: OnceLock<Arc<dyn BeforeCommit>>,
    /// Cluster mode: files opened with O_TRUNC whose truncate is not sent
    /// yet (see `owed`).
    owed: OwedTruncates,
    /// The subtree quotas of the tree's quota file, parsed once per version.
    quotas: quota::QuotaCache,
    /// What each quota subtree holds, kept running from the applied
    /// changes. Locked after the tree lock (read or write), never before.
    usage: Mutex<quota_usage::RunningUsage>,
    health: CommitHealth,
    /// How long each SQLite commit took (`commit.rs`), for the metrics.
    commit_latency: Histogram,
}

/// Seconds since the epoch, as memdb stamps them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node {
    /// Local mode: writer 0 (memdb.md §3). Recording of applied changes
    /// is switched on: the stream is fed from it.
    pub fn new(mut db: Memdb, store: Box<dyn Store>, quorum: Quorum) -> Node {
        db.record_applied(true);
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
            stream: ChangeStream::default(),
            cluster: OnceLock::new(),
            sync_db: OnceLock::new(),
            before_commit: OnceLock::new(),
            owed: OwedTruncates::default(),
            quotas: quota::QuotaCache::default(),
            usage: Mutex::default(),
            health: CommitHealth::default(),
            commit_latency: Histogram::new(),
        }
    }

    /// How the commits are going (for `ccfs status`).
    pub fn health(&self) -> &CommitHealth {
        &self.health
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// Every applied change, in version order (see `stream.rs`).
    pub fn stream(&self) -> &ChangeStream {
        &self.stream
    }

    /// Set the quorate flag (cluster mode). Every reported mode depends on
    /// it (fuse.md §3.1), so all cached attributes are dropped.
    pub fn set_quorate(&self, quorate: bool) {
        if self.quorum.is_quorate() != quorate {
            self.quorum.set(quorate);
            self.stream.publish(ChangeSet {
                quorum: Some(quorate),
                ..ChangeSet::default()
            });
        }
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

    /// The check every writer passes, written once: no change without
    /// quorum (fuse.md §6). (After shutdown the local apply refuses with
    /// `Closed`, the stopped cluster service with `Unavailable`.)
    fn gate(&self) -> NodeResult<()> {
        if !self.quorum.is_quorate() {
            return Err(NodeError::NotQuorate);
        }
        Ok(())
    }

    /// The one writer path: gate, then the replicator (apply now, or
    /// multicast and apply on delivery). Returns what memdb's operation
    /// returns (the byte count of a write, else 0).
    pub fn submit(&self, origin: Origin, durability: Durability, op: Op) -> NodeResult<u32> {
        let what = op.path().to_string();
        let result = self.gate().and_then(|()| match self.cluster.get() {
            Some(c) => {
                // Before the change leaves the node, against this node's
                // view of the tree (see quota.rs for the overshoot).
                self.read(|db| self.check_quota(db, &op))?;
                // The kernel's own operations are submitted quiet: their
                // changes do not come back as invalidations, as locally.
                let request = Request::Op(op);
                let sent = match origin {
                    Origin::Kernel => c.submit_quiet(request),
                    Origin::Other | Origin::Export(_) => c.submit(request),
                };
                sent.map_err(NodeError::from_cluster)
            }
            // Locally under the tree lock: exact, whatever runs in parallel.
            None => self
                .apply_local(origin, durability, |db, s| {
                    if let Err(e) = self.check_quota(db, &op) {
                        return Ok(Err(e));
                    }
                    db.apply(&op, s).map(Ok)
                })
                .and_then(|r| r),
        });
        match &result {
            Err(e) => tracing::debug!("change of {what}: {e}"),
            Ok(_) => tracing::debug!("changed {what}"),
        }
        result
    }
}

impl Node {
    /// The quota gate (quota.rs), with the refused subtree in the log.
    fn check_quota(&self, db: &Memdb, op: &Op) -> NodeResult<()> {
        let quotas = self.quotas.get(db);
        if quotas.is_empty() {
            return Ok(());
        }
        let mut running = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        quota::check_with(db, &quotas, op, |i| running.usage(db, &quotas, i)).map_err(|e| {
            tracing::warn!(
                "quota of '{}' exceeded by a change of {}: {} would be {} > {}",
                e.subtree,
                op.path(),
                e.what,
                e.would_be,
                e.limit
            );
            NodeError::from(e)
        })
    }
}

#[cfg(test)]
mod tests;
