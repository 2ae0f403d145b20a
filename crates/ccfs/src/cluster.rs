//! Cluster mode (quorum.md §1, fuse.md §1.2 step 8): the daemon's side of
//! `ccfs_cluster::Host` and the start of the cluster service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ccfs_cluster::corosync_conf::TREE_PATH;
use ccfs_cluster::{ClusterConfig, ClusterService, ConfSync, Durability, Host, Options, Tree};
use ccfs_memdb::{Change, StoreError};
use ccfs_status::Status;

use crate::heal::{ClusterLogLines, Healing, LOG_NOTICE, LOG_WARNING};
use crate::node::Node;

/// What the service's event loop needs from the daemon.
pub struct ClusterHost {
    pub node: Arc<Node>,
    pub status: Arc<Mutex<Status>>,
    /// `config.db`, for `Host::sync` (`Durability::Sync`); `None` only
    /// from [`start`], whose `Durability::Commit` never syncs.
    pub db: Option<PathBuf>,
    /// Set while the tree stands in for an unreadable config.db.
    pub healing: Option<Arc<Healing>>,
    pub log: Arc<ClusterLogLines>,
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
    /// of the votes is read-only (crates/dfsm/GROUP-QUORUM.md). A healing
    /// tree takes no writes either way.
    fn writable_changed(&self, writable: bool) {
        let writable = match &self.healing {
            Some(h) => h.quorum_changed(writable),
            None => writable,
        };
        self.node.set_quorate(writable);
    }

    fn healed(&self) {
        let Some(h) = &self.healing else { return };
        let writable = h.set_healed();
        self.node.set_quorate(writable);
        let msg = format!(
            "config.db was unreadable and is kept as {}; this node took the cluster's tree",
            h.kept.display()
        );
        tracing::info!("{msg}");
        self.log.line(LOG_NOTICE, &msg);
    }

    fn not_the_source(&self) {
        if let Some(h) = &self.healing {
            h.refused();
        }
    }

    fn checksum_mismatch(&self) {
        self.log.line(
            LOG_WARNING,
            "checksum verification: this node's tree differs from the coordinator's; resyncing",
        );
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

/// What the daemon adds to a plain start of the cluster service.
pub struct Launch {
    /// A writer hears back once its change reached this far.
    pub durability: Durability,
    /// `config.db`, for [`Durability::Sync`]'s fsync.
    pub db: PathBuf,
    /// Period of the checksum verification (dfsm.md §12).
    pub verify_interval: Duration,
    /// The tree stands in for an unreadable config.db (`heal.rs`).
    pub healing: Option<Arc<Healing>>,
    /// Where the service's own cluster log lines go.
    pub log: Arc<ClusterLogLines>,
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
    let host = ClusterHost {
        node: Arc::clone(node),
        log: ClusterLogLines::new(status.clone()),
        status,
        db: None,
        healing: None,
    };
    launch(host, corosync_conf, Options::default())
}

/// Like [`start`], with the daemon's settings: the writers' replies wait
/// for `durability` ([`Durability::Sync`] fsyncs `config.db` and its WAL
/// after the commit and before each group of replies), the verify
/// interval, and healing.
pub fn start_with(
    node: &Arc<Node>,
    status: Arc<Mutex<Status>>,
    corosync_conf: &Path,
    how: Launch,
) -> Result<Arc<ClusterService>, ccfs_cluster::Error> {
    let options = Options {
        durability: how.durability,
        verify_interval: how.verify_interval,
        healing: how.healing.is_some(),
        ..Options::default()
    };
    let host = ClusterHost {
        node: Arc::clone(node),
        status,
        db: Some(how.db),
        healing: how.healing,
        log: how.log,
    };
    launch(host, corosync_conf, options)
}

fn launch(
    host: ClusterHost,
    corosync_conf: &Path,
    options: Options,
) -> Result<Arc<ClusterService>, ccfs_cluster::Error> {
    let conf_sync = ConfSync {
        target: corosync_conf.to_path_buf(),
        ..ConfSync::default()
    };
    let node = Arc::clone(&host.node);
    let copy = node.read(|db| db.lookup(TREE_PATH).map(|e| e.data.clone()));
    conf_sync.run(copy.as_deref(), true);
    let service = Arc::new(ClusterService::start(
        Arc::new(host),
        Options {
            conf_sync,
            ..options
        },
    )?);
    node.attach_cluster(Arc::clone(&service));
    Ok(service)
}
