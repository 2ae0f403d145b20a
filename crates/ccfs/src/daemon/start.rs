//! Starting each of the daemon's running parts and adding it to the
//! services list (whose reverse is the teardown, `services.rs`).

use super::*;
use crate::heal::{ClusterLogLines, Healing};

/// Commits deferred writes that have waited long enough (written through
/// an open file and not yet closed).
pub(super) fn start_flusher(services: &mut Services, node: Arc<Node>) -> Result<(), DaemonError> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let flusher = std::thread::Builder::new()
        .name("ccfs-flush".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Unparked at shutdown.
                std::thread::park_timeout(Duration::from_millis(200));
                if let Err(e) = node.flush_if_due() {
                    tracing::error!("deferred commit failed: {e}");
                }
            }
        })
        .map_err(DaemonError::Thread)?;
    services.started("flusher", move || {
        stopping.store(true, Ordering::Relaxed);
        flusher.thread().unpark();
        let _ = flusher.join();
    });
    Ok(())
}

/// The history journal beside config.db, and its retention thread.
pub(super) fn start_history(
    services: &mut Services,
    opts: &Options,
    node: &Arc<Node>,
    nodename: &str,
    stand_in: bool,
) -> Result<Arc<History>, DaemonError> {
    let hopts = HistoryOptions {
        dir: opts
            .history_dir
            .clone()
            .unwrap_or_else(|| history::default_dir(&opts.db)),
        keep_days: opts.history_keep_days,
        max_bytes: opts.history_max_bytes,
        sync: opts.durability == DurabilityMode::Sync,
        stand_in,
    };
    let history = History::open(&hopts, node, nodename)?;
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let retention = history
        .spawn_retention(stop_rx)
        .map_err(DaemonError::Thread)?;
    services.started("history", move || {
        drop(stop_tx);
        let _ = retention.join();
    });
    Ok(history)
}

/// Cluster mode: the ccfs-only group that shares snapshots and fills the
/// history a resync skipped (history/peers.rs). Stopped before the dcdb
/// group, so nothing it imports races the final commit.
pub(super) fn start_history_group(
    services: &mut Services,
    history: &Arc<History>,
) -> Result<(), DaemonError> {
    let group = history::peers::start_group(history)?;
    services.started("history group", move || group.shutdown());
    Ok(())
}

pub(super) fn start_kvstore(
    status: &Arc<Mutex<Status>>,
    node_ip: std::net::IpAddr,
) -> Result<Arc<ccfs_cluster::KvstoreService>, DaemonError> {
    let mut options = ccfs_cluster::KvstoreOptions::new(&node_ip.to_string());
    // The dcdb service already hands quorum and cmap's cluster info to
    // the status (`cluster::start`): own handles in the kvstore group
    // would read them twice, and bump `clinfo` twice per cmap change.
    options.track_quorum = false;
    options.track_cmap = false;
    let service = ccfs_cluster::KvstoreService::start(status.clone(), options)?;
    Ok(Arc::new(service))
}

/// The local IPC service `pve2` (ipc.md) on the node and status that FUSE
/// serves; status changes go to `updates` (local only, or the kvstore
/// group).
pub(super) fn start_ipc(
    opts: &Options,
    gid: u32,
    nodename: &str,
    node: &Arc<Node>,
    status: &Arc<Mutex<Status>>,
    updates: Arc<dyn StatusUpdates>,
    requests: &Arc<Requests>,
) -> Result<ccfs_ipc::Server, DaemonError> {
    let backend = IpcBackend {
        node: node.clone(),
        status: status.clone(),
        updates,
        nodename: nodename.to_string(),
        requests: requests.clone(),
    };
    let mut config = ccfs_ipc::Config::new(&opts.ipc_name, gid);
    let control = ccfs_api::ServerConfig::new("", gid, "").max_connections;
    config.max_connections = resources::ipc_connections(config.max_connections, control);
    ccfs_ipc::Server::start(config, Arc::new(backend)).map_err(|source| DaemonError::Ipc {
        name: opts.ipc_name.clone(),
        source,
    })
}

/// The control socket (HTTP API of `ccfs log`, `show`, `snapshot`, ...).
pub(super) fn start_api(
    opts: &Options,
    gid: u32,
    node: &Arc<Node>,
    history: &Arc<History>,
    facts: DaemonFacts,
    requests: &Arc<Requests>,
) -> Result<ccfs_api::Server, DaemonError> {
    let socket = control_socket(opts);
    let backend = ApiBackend::new(node.clone(), history.clone(), facts, requests.clone());
    let config = ccfs_api::ServerConfig::new(&socket, gid, &opts.mount);
    ccfs_api::Server::start(config, Arc::new(backend)).map_err(|source| DaemonError::Api {
        path: display(&socket),
        source,
    })
}

/// `--metrics ADDR`: the Prometheus endpoint, stopped first at teardown.
/// Without the option no port is opened.
pub(super) fn start_metrics(
    services: &mut Services,
    opts: &Options,
    sources: Sources,
) -> Result<(), DaemonError> {
    let Some(addr) = &opts.metrics else {
        return Ok(());
    };
    let server =
        MetricsServer::start(addr, Box::new(move || sources.render())).map_err(|source| {
            DaemonError::Metrics {
                addr: addr.clone(),
                source,
            }
        })?;
    services.started("metrics", move || server.stop());
    Ok(())
}

/// Where status updates go, and the status group (cluster mode).
pub(super) type StatusRoute = (
    Arc<dyn StatusUpdates>,
    Option<Arc<ccfs_cluster::KvstoreService>>,
);

/// Cluster mode: the dcdb group (with the durability asked for), the
/// ccfs-only history group and the status group, in that order.
pub(super) fn start_cluster(
    services: &mut Services,
    opts: &Options,
    node: &Arc<Node>,
    status: &Arc<Mutex<Status>>,
    history: &Arc<History>,
    node_ip: std::net::IpAddr,
    healing: Option<Arc<Healing>>,
) -> Result<StatusRoute, DaemonError> {
    let durability = match opts.durability {
        DurabilityMode::Commit => ccfs_cluster::Durability::Commit,
        DurabilityMode::Sync => ccfs_cluster::Durability::Sync,
    };
    let log = ClusterLogLines::new(status.clone());
    let service = cluster::start_with(
        node,
        status.clone(),
        &opts.corosync_conf,
        cluster::Launch {
            durability,
            db: opts.db.clone(),
            verify_interval: Duration::from_secs(opts.verify_interval),
            healing,
            log: log.clone(),
        },
    )?;
    // Leave the group and commit what it delivered; writers still
    // waiting get EBUSY.
    services.started("dcdb group", move || service.shutdown());
    start_history_group(services, history)?;
    let kvstore = start_kvstore(status, node_ip)?;
    log.set_kvstore(kvstore.clone());
    let k = kvstore.clone();
    // Bumps clinfo and leaves the status group.
    services.started("status group", move || k.shutdown());
    let updates: Arc<dyn StatusUpdates> = Arc::new(KvstoreUpdates {
        service: kvstore.clone(),
    });
    Ok((updates, Some(kvstore)))
}

/// The export and snapshot-tree mounts. Stopped before the control
/// socket, the IPC server and the final commit: export writers are
/// refused from then on, and no mount is left.
pub(super) fn start_exports(
    services: &mut Services,
    opts: &Options,
    node: &Arc<Node>,
    history: &Arc<History>,
    gid: u32,
) -> Result<(), DaemonError> {
    let dirs = crate::exports::Dirs {
        exports: opts.export_dir.clone(),
        snapshots: opts.snapshot_dir.clone(),
    };
    let exports = crate::exports::Exports::start(node.clone(), history.clone(), dirs, gid)
        .map_err(DaemonError::Exports)?;
    services.started("exports", move || exports.stop());
    Ok(())
}

/// At teardown, the restart flag first: IPC clients see it and wait for
/// the next daemon (fuse.md §1.3).
pub(super) fn add_restart_flag(services: &mut Services, opts: &Options, gid: u32) {
    let run_dir = opts.run_dir.clone();
    services.started("restart flag", move || {
        if let Err(e) = process::create_restart_flag(&run_dir, gid) {
            tracing::error!("{e}");
        }
    });
}
