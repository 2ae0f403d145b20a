//! The seam between the cluster service and the daemon that owns the tree.
//!
//! The daemon's single writer path owns the memdb and its store (FUSE reads
//! and local mode use them too); the service borrows both for the duration
//! of one corosync event through [`Host::with_tree`], so that the dfsm's
//! actions that touch the tree or the disk run under the same lock as the
//! change they belong to.

use ccfs_corosync::ClusterConfig;
use ccfs_memdb::{Batch, Change, Memdb, Root, Row, StoreError};

/// The tree and its persistent copy, locked for one event.
pub trait Tree {
    fn memdb(&mut self) -> &mut Memdb;
    /// Commit one batch (`DcdbAction::Persist`). The host may defer the
    /// disk write until [`Host::commit`] but must not lose the rows. An
    /// error puts the memdb into error mode (the service does that).
    fn persist(&mut self, batch: Batch) -> Result<(), StoreError>;
    /// Rewrite the store after a resync (`DcdbAction::Resynced`); the memdb
    /// already holds the new tree.
    fn replace_all(&mut self, rows: &[Row], root: Root) -> Result<(), StoreError>;
}

/// What the daemon provides to the service. Called from the service's
/// event-loop thread only.
pub trait Host: Send + Sync + 'static {
    /// Lock the tree and its store, run `f`, unlock.
    fn with_tree(&self, f: &mut dyn FnMut(&mut dyn Tree));
    /// Changes the cluster made to the tree (remote writes, own writes as
    /// delivered, resyncs), after the lock was released: for kernel cache
    /// invalidation. Never empty.
    fn changed(&self, changes: Vec<Change>);
    /// Commit whatever `Tree::persist` deferred, in the calling thread,
    /// taking the tree lock itself (the host may release it before the
    /// disk write). Returns once those rows and every earlier batch are
    /// in the store (the page cache is enough), or failed; on failure the
    /// host puts the memdb into error mode. The service calls it before
    /// it answers any local writer whose change was delivered since the
    /// last call (one commit for every delivery of a loop round), when its
    /// loop idles (2 ms without events) or at the latest `commit_delay`
    /// after the first deferred batch, and at shutdown. A host whose
    /// `persist` writes at once has nothing to do here.
    fn commit(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Make everything committed so far survive a power loss (fsync).
    /// Called after [`Host::commit`] and before the replies it precedes
    /// when the service runs with `Durability::Sync`; never otherwise. On
    /// failure the service puts the memdb into error mode.
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// corosync's quorate flag changed (for `.members` and the status).
    fn quorum_changed(&self, _quorate: bool) {}
    /// Whether this node accepts writes changed: quorate and, once the
    /// node list's votes are known, the group's nodes hold a majority of
    /// them (ccfs-dfsm `Dfsm::may_write`, crates/dfsm/GROUP-QUORUM.md).
    /// Feeds the read-only wrapper.
    fn writable_changed(&self, _writable: bool) {}
    /// cmap was (re-)read: cluster name, config version, node list (for
    /// `.members`, quorum.md §5.1).
    fn cluster_config(&self, _config: &ClusterConfig) {}
    /// The nodeids of a new `pve_dcdb_v1` membership, sorted, duplicates
    /// removed (pmxcfs takes `.members`' online flags from the kvstore
    /// group, which has the same members while both groups run).
    fn membership(&self, _nodeids: &[u32]) {}
    /// A healing service (`Options::healing`) holds another member's tree
    /// now (it is in the store too): the tree may take writes again.
    fn healed(&self) {}
    /// A healing service was alone, or the member with the newest tree: it
    /// left the group instead of serving its stand-in tree, and rejoins
    /// after the restart delay.
    fn not_the_source(&self) {}
    /// The checksum verification found this node's tree differing from
    /// the coordinator's; the service leaves and resyncs.
    fn checksum_mismatch(&self) {}
}
