//! ccfs-kvstore: pmxcfs's second dfsm instance, the status group
//! `pve_kvstore_v1` (spec kvstore.md, clusterlog.md §4–§6), and the RRD
//! files its samples end up in (kvstore.md §7.2).
//!
//! [`KvstoreNode`] is the generic [`ccfs_dfsm::Dfsm`] plus the kvstore
//! application over a [`ccfs_status::Status`] borrowed for each call, the
//! same shape as [`ccfs_dfsm::DcdbNode`]: the daemon feeds [`Event`]s and
//! executes the returned [`ccfs_dfsm::Action`]s in order. Local changes
//! (IPC SET_STATUS, LOG_CLUSTER_MSG) go through [`KvstoreNode::set_status`]
//! and [`KvstoreNode::log`], which return the multicast to perform.
//!
//! [`RrdFiles`] is the [`ccfs_status::RrdSink`] that writes the samples
//! into RRD files through librrd (and rrdcached when its socket answers),
//! as C's `update_rrd_data` does.

mod app;
mod error;
mod librrd;
mod node;
mod rrd_files;

pub use error::RrdError;
pub use node::{Event, KvstoreNode, KVSTORE_GROUP, KVSTORE_PROTOCOL_VERSION};
pub use rrd_files::{RrdFiles, DEFAULT_RRDCACHED_SOCKET, DEFAULT_RRD_DIR};
