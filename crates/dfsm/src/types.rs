//! Vocabulary shared by the dfsm layer and its applications: members,
//! request ids and the actions the daemon executes.

use ccfs_memdb::{Batch, Root, Row};

use crate::mode::Mode;

/// One CPG process: corosync nodeid and process id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub nodeid: u32,
    pub pid: u32,
}

/// Chosen by the daemon for a waiting writer; comes back in [`Action::Reply`].
pub type RequestId = u64;

/// What the daemon must do when a multicast fails (corosync error after
/// the retries of dfsm.md §10): feed [`crate::Event::MulticastFailed`] back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A writer's NORMAL message: its request fails with EBUSY.
    Request(RequestId),
    /// A message the protocol depends on: the instance enters LEAVE.
    Protocol,
    /// Fire and forget (unlock messages, UPDATEs): only logged.
    BestEffort,
}

/// Outputs of [`crate::DcdbNode::handle`], to be executed in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `cpg_mcast_joined(CPG_TYPE_AGREED)` of these exact bytes.
    Multicast { bytes: Vec<u8>, purpose: Purpose },
    /// Answer a waiting writer: the operation's result (bytes written for
    /// a write, else 0) or a positive errno.
    Reply {
        id: RequestId,
        result: Result<u32, i32>,
    },
    /// Commit these rows to the store in one transaction (taken from the
    /// memdb after an applied change). If it fails, call
    /// `Memdb::enter_error_mode`: the next delivery then stops the group.
    Persist(Batch),
    /// After a resync the memdb holds a new tree: rewrite the store
    /// (`Store::replace_all(rows, root)`), then invalidate kernel caches
    /// from `Memdb::take_changes`.
    Resynced { rows: Vec<Row>, root: Root },
    /// `corosync.conf` changed in the tree: run the corosync config sync
    /// (quorum.md §6), with `corosync-cfgtool -R` only if `reload`.
    CorosyncConf { reload: bool },
    /// The local mode changed (for logs, status and the read-only wrapper).
    ModeChanged(Mode),
    /// Entered an error mode: `cpg_leave`. If `rejoin`, re-initialize ≥ 5 s
    /// later by feeding [`crate::Event::Restart`] and calling `cpg_join`;
    /// otherwise stay out until the process restarts.
    Leave { rejoin: bool },
}
