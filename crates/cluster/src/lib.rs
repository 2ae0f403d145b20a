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

mod core;
pub mod corosync_conf;
mod event_loop;
mod host;
mod pending;
mod service;
mod wake;

pub use corosync_conf::{ConfSync, Outcome as ConfOutcome};
pub use host::{Host, Tree};
pub use pending::PendingRows;
pub use service::{ClusterService, Options, Status, EACCES, EBUSY};

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
