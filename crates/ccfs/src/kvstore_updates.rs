//! Cluster mode's [`StatusUpdates`]: IPC SET_STATUS and LOG_CLUSTER_MSG go
//! through the kvstore group (kvstore.md §3.2, clusterlog.md §4): stored
//! in the shared status and multicast to the other members.

use std::sync::Arc;

use ccfs_cluster::KvstoreService;
use ccfs_ipc::ClusterLogMsg;

use crate::ipc_backend::StatusUpdates;

pub struct KvstoreUpdates {
    pub service: Arc<KvstoreService>,
}

impl StatusUpdates for KvstoreUpdates {
    fn set_status(&self, key: &str, value: &[u8], now: u64) -> Result<(), i32> {
        self.service.set_status(key, value, now)
    }

    fn log(&self, msg: &ClusterLogMsg<'_>, now: u64) {
        self.service
            .log(msg.ident, msg.tag, msg.pid, msg.priority, msg.message, now);
    }
}
