//! ccfs-status: the status subsystem behind `/etc/pve/.version`,
//! `.members`, `.vmlist`, `.clusterlog`, `.rrd` and `.debug`, and the data
//! replicated through the kvstore dfsm instance (spec: plugins.md §2,
//! kvstore.md, clusterlog.md).
//!
//! Pure: no I/O and no clock; the daemon passes the time in and does the
//! multicasting. Writing RRD files is behind [`rrd::RrdSink`].

pub mod clusterlog;
pub mod error;
pub mod kvstore;
pub mod render;
pub mod rrd;
pub mod rrd_file;
mod status;

pub use clusterlog::ClusterLog;
pub use error::{Error, Result};
pub use kvstore::{ClusterInfo, ClusterNode, KvStore};
pub use rrd::{RrdSink, RrdTable};
pub use rrd_file::{plan_update, RrdKind, RrdUpdate};
pub use status::{SetOutcome, Status, DEFAULT_LOG_ENTRIES, MAX_STATUS_SIZE};
