//! ccfs-cluster: the I/O side of cluster mode.
//!
//! [`ClusterService`] runs pmxcfs's corosync event loop for the database
//! group `pve_dcdb_v1` (dfsm.md §9–§11, dcdb.md §4–§5, §10, quorum.md):
//! one thread polls the quorum, cmap and CPG fds and feeds every event to
//! the pure [`ccfs_dfsm::DcdbNode`], with the tree borrowed from the daemon
//! through [`Host`]. Writer threads call [`ClusterService::submit`]: like
//! pmxcfs's FUSE threads they frame and multicast their own message under
//! the dfsm lock, then block until it came back through corosync and was
//! applied by the loop.
//!
//! Durability: the dfsm's `Persist` batches go to [`Tree::persist`], which
//! may defer them (and merge them, [`PendingRows`]). A writer's reply is
//! held until its change is committed on this node: each loop round
//! handles every delivery that is ready, then commits once through
//! [`Host::commit`] (and syncs through [`Host::sync`] with
//! [`Durability::Sync`]), then answers the writers of that round. Other
//! nodes' changes, which nobody here waits for, are committed when the
//! loop idles (2 ms without events), at the latest
//! [`Options::commit_delay`] (100 ms) after the first of them, and at
//! shutdown. So an acknowledged change is applied in the memory of every
//! member and stored on the writer's node: it survives any set of daemons
//! killed at once (the resync after the restart takes the highest
//! version, a superset of it), and with `Sync` a power loss too.
//!
//! The kvstore group `pve_kvstore_v1` ([`KvstoreService`]) runs the same
//! loop in a thread of its own: `group_loop` polls and restarts, with the
//! CPG side in `cpg_link` and the quorum and cmap handles in `quorum_cmap`;
//! what each group makes of the events is in its own `event_loop`.
//!
//! Threads and locks: the loop thread and each writer take the dfsm lock
//! (one event or one request at a time), then the host's tree lock inside
//! [`Host::with_tree`]. Host callbacks must not call back into the service.

mod core;
pub mod corosync_conf;
mod cpg_link;
mod event_loop;
mod group_loop;
mod host;
mod kvstore;
mod pending;
mod quorum_cmap;
mod resync_clock;
mod service;
mod wake;

pub use corosync_conf::{ConfSync, Outcome as ConfOutcome};
pub use host::{Host, Tree};
pub use kvstore::{cluster_info, KvstoreOptions, KvstoreService, KvstoreState};
pub use pending::PendingRows;
pub use service::{ClusterService, Durability, Options, Status, EACCES, EBUSY};

pub use ccfs_corosync::{ClusterConfig, ClusterNode};
pub use ccfs_dfsm::{Mode, Request};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("corosync: {0}")]
    Corosync(#[from] ccfs_corosync::Error),
    #[error("cannot create the wake-up eventfd: {0}")]
    Wake(std::io::Error),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}
