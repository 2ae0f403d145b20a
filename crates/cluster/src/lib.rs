//! ccfs-cluster: the I/O side of cluster mode.
//!
//! [`ClusterService`] runs pmxcfs's corosync event loop for the database
//! group `pve_dcdb_v1` (dfsm.md §9–§11, dcdb.md §4–§5, §10, quorum.md):
//! one thread polls the quorum, cmap and CPG fds and feeds every event to
//! the pure [`ccfs_dfsm::DcdbNode`], with the tree borrowed from the daemon
//! through [`Host`]; a second thread multicasts the dfsm's messages in
//! order so the loop never sleeps in corosync's flow control. Writer
//! threads call [`ClusterService::submit`] and block until their own
//! message came back through corosync and was applied.

pub mod corosync_conf;
mod event_loop;
mod host;
mod pending;
mod sender;
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
