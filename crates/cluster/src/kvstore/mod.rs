//! The status group `pve_kvstore_v1` on real corosync: [`KvstoreService`]
//! runs its own event-loop thread with its own CPG, quorum and cmap
//! handles and drives the pure [`ccfs_kvstore::KvstoreNode`] over the
//! daemon's shared [`ccfs_status::Status`] (kvstore.md, clusterlog.md §4–§6).
//!
//! pmxcfs polls both dfsm groups in one loop; they share no state, so a
//! thread each is equivalent. Lock order: the kvstore node lock, then the
//! status lock; the status lock is never held while sending.

mod event_loop;
mod service;

pub use event_loop::cluster_info;
pub use service::{KvstoreOptions, KvstoreService, KvstoreState};
