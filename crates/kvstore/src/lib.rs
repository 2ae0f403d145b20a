//! ccfs-kvstore: pmxcfs's second dfsm instance, the status group
//! `pve_kvstore_v1` (spec kvstore.md, clusterlog.md §4–§6), and the RRD
//! files its samples end up in (kvstore.md §7.2).
//!
//! [`KvstoreNode`] is the generic [`ccfs_dfsm::Dfsm`] plus the kvstore
//! application over a [`ccfs_status::Status`] borrowed for each call, the
//! same shape as the database group's `DcdbNode`: the daemon feeds
//! [`Event`]s and executes the returned [`ccfs_dfsm::Action`]s in order
//! (this group has no actions of its own, and needs only the generic dfsm,
//! without its `dcdb` feature). Local changes
//! (IPC SET_STATUS, LOG_CLUSTER_MSG) go through [`KvstoreNode::set_status`]
//! and [`KvstoreNode::log`], which return the multicast to perform.
//!
//! [`RrdFiles`] is the [`ccfs_status::RrdSink`] that writes the samples
//! into RRD files through librrd (and rrdcached when its socket answers),
//! as C's `update_rrd_data` does.
//!
//! # Driving it (the cluster service)
//!
//! * Startup, both modes: `status.set_rrd_sink(Box::new(RrdFiles::new(rrd_dir)))`.
//!   In local mode, or before the first successful `cpg_initialize` of this
//!   group, IPC SET_STATUS / LOG_CLUSTER_MSG call `Status::set_status` /
//!   `Status::log` directly and send nothing (C: no CPG handle).
//! * A CPG handle of its own, group [`KVSTORE_GROUP`], polled after the
//!   dcdb handle (C gives it LOW priority). After the first successful
//!   `cpg_initialize`: `KvstoreNode::new(Member { nodeid: cpg_local_get,
//!   pid: getpid }, startup_ip)`, then `cpg_join`.
//! * Feed, with the `Status` locked: CPG deliveries as [`Event::Deliver`],
//!   configuration changes as [`Event::Membership`], failed multicasts as
//!   [`Event::MulticastFailed`]; [`Event::Restart`] right before each
//!   re-join (after a successful re-initialize); [`Event::Disconnected`]
//!   when the handle is finalized or corosync is lost. The kvstore has no
//!   timer and ignores quorum (quorum goes to `Status::set_quorate`; cmap's
//!   cluster info to `Status::set_cluster_info`, without which remote
//!   UPDATEs are ignored).
//! * Execute the returned actions in order: `Multicast` →
//!   `cpg_mcast_joined(CPG_TYPE_AGREED)` (a failure is fed back);
//!   `ModeChanged` → log; `Leave { rejoin }` → `cpg_leave`, and if `rejoin`
//!   re-initialize ≥ 5 s later with `Restart` + `cpg_join`. No other action
//!   occurs in this group.
//! * IPC: `KvstoreNode::set_status` (its result is the client's) and
//!   `KvstoreNode::log`, then execute their actions the same way.
//! * Shutdown: `Status::bump_clinfo` (C does it), `cpg_leave`.

mod app;
mod error;
mod librrd;
mod node;
mod rrd_files;

pub use error::RrdError;
pub use node::{Event, KvstoreNode, KVSTORE_GROUP, KVSTORE_PROTOCOL_VERSION};
pub use rrd_files::{RrdFiles, DEFAULT_RRDCACHED_SOCKET, DEFAULT_RRD_DIR};
