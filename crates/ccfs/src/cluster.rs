//! Cluster mode (quorum.md §1, fuse.md §1.2 step 8): the daemon's side of
//! `ccfs_cluster::Host` and the start of the cluster service.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use ccfs_cluster::corosync_conf::TREE_PATH;
use ccfs_cluster::{ClusterConfig, ClusterService, ConfSync, Host, Options, Tree};
use ccfs_memdb::{Change, StoreError};
use ccfs_status::Status;

use crate::node::Node;

/// What the service's event loop needs from the daemon.
pub struct ClusterHost {
    pub node: Arc<Node>,
    pub status: Arc<Mutex<Status>>,
}

impl ClusterHost {
    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Host for ClusterHost {
    fn with_tree(&self, f: &mut dyn FnMut(&mut dyn Tree)) {
        self.node.with_tree(f);
    }

    /// Handed to the committer thread (`Node::request_commit`); a failed
    /// commit puts the tree into error mode there. The daemon commits
    /// whatever is left when it stops (`Node::close`).
    fn flush(&self) -> Result<(), StoreError> {
        self.node.request_commit();
        Ok(())
    }

    fn changed(&self, changes: Vec<Change>) {
        self.node.publish_cluster_changes(changes);
    }

    fn quorum_changed(&self, quorate: bool) {
        self.node.set_quorate(quorate);
        self.status().set_quorate(quorate);
    }

    fn cluster_config(&self, config: &ClusterConfig) {
        self.status()
            .set_cluster_info(ccfs_cluster::cluster_info(config));
    }

    fn membership(&self, _nodeids: &[u32]) {
        // `.members`' online flags come from the kvstore group
        // (kvstore.md §6.1): the daemon's KvstoreService sets them.
    }
}

/// Run the corosync config sync once (reload allowed, quorum.md §1 step
/// 2), start the cluster service and switch `node` to cluster mode.
pub fn start(
    node: &Arc<Node>,
    status: Arc<Mutex<Status>>,
    corosync_conf: &Path,
) -> Result<Arc<ClusterService>, ccfs_cluster::Error> {
    let conf_sync = ConfSync {
        target: corosync_conf.to_path_buf(),
        ..ConfSync::default()
    };
    let copy = node.read(|db| db.lookup(TREE_PATH).map(|e| e.data.clone()));
    conf_sync.run(copy.as_deref(), true);
    let host = Arc::new(ClusterHost {
        node: Arc::clone(node),
        status,
    });
    let service = Arc::new(ClusterService::start(
        host,
        Options {
            conf_sync,
            ..Options::default()
        },
    )?);
    node.attach_cluster(Arc::clone(&service));
    Ok(service)
}
