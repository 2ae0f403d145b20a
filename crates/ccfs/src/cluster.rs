//! Cluster mode (quorum.md §1, fuse.md §1.2 step 8): the daemon's side of
//! `ccfs_cluster::Host` and the start of the cluster service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ccfs_cluster::corosync_conf::TREE_PATH;
use ccfs_cluster::{ClusterConfig, ClusterService, ConfSync, Durability, Host, Options, Tree};
use ccfs_memdb::{Change, StoreError};
use ccfs_status::Status;

use crate::node::Node;

/// What the service's event loop needs from the daemon.
pub struct ClusterHost {
    pub node: Arc<Node>,
    pub status: Arc<Mutex<Status>>,
    /// `config.db`, for `Host::sync` (`Durability::Sync`); `None` only
    /// from [`start`], whose `Durability::Commit` never syncs.
    pub db: Option<PathBuf>,
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

    /// In the service's thread, before it answers the writers of a loop
    /// round (`Node::commit_pending`); a failed commit puts the tree into
    /// error mode there. The daemon commits whatever is left when it stops
    /// (`Node::close`).
    fn commit(&self) -> Result<(), StoreError> {
        self.node.commit_pending().map_err(|e| StoreError {
            op: "commit",
            detail: e.to_string(),
        })
    }

    /// fsync of `config.db` and its WAL after a commit.
    fn sync(&self) -> Result<(), StoreError> {
        match &self.db {
            Some(db) => ccfs_store::sync_to_disk(db),
            None => Err(StoreError {
                op: "sync",
                detail: "no database path given to the cluster host".into(),
            }),
        }
    }

    fn changed(&self, changes: Vec<Change>) {
        self.node.publish_cluster_changes(changes);
    }

    /// corosync's flag, as C reports it in `.members`.
    fn quorum_changed(&self, quorate: bool) {
        self.status().set_quorate(quorate);
    }

    /// The write gate and read-only modes follow the dfsm's own gate: with
    /// the group quorum rule a quorate node whose group holds no majority
    /// of the votes is read-only (crates/dfsm/GROUP-QUORUM.md).
    fn writable_changed(&self, writable: bool) {
        self.node.set_quorate(writable);
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
/// 2), start the cluster service and switch `node` to cluster mode. A
/// writer hears back once its change is committed here
/// ([`Durability::Commit`]).
pub fn start(
    node: &Arc<Node>,
    status: Arc<Mutex<Status>>,
    corosync_conf: &Path,
) -> Result<Arc<ClusterService>, ccfs_cluster::Error> {
    launch(node, status, corosync_conf, Durability::Commit, None)
}

/// Like [`start`], with the writers' replies waiting for `durability`:
/// [`Durability::Sync`] fsyncs `db` (the daemon's `config.db`) and its
/// WAL after the commit and before each group of replies.
pub fn start_durable(
    node: &Arc<Node>,
    status: Arc<Mutex<Status>>,
    corosync_conf: &Path,
    durability: Durability,
    db: &Path,
) -> Result<Arc<ClusterService>, ccfs_cluster::Error> {
    launch(
        node,
        status,
        corosync_conf,
        durability,
        Some(db.to_path_buf()),
    )
}

fn launch(
    node: &Arc<Node>,
    status: Arc<Mutex<Status>>,
    corosync_conf: &Path,
    durability: Durability,
    db: Option<PathBuf>,
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
        db,
    });
    let service = Arc::new(ClusterService::start(
        host,
        Options {
            conf_sync,
            durability,
            ..Options::default()
        },
    )?);
    node.attach_cluster(Arc::clone(&service));
    Ok(service)
}
