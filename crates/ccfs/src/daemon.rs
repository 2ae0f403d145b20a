//! Start-up and shutdown of the daemon, in C pmxcfs's order (fuse.md §1.2,
//! §1.3): checks, umask, run dir, lock, database, mount, fork, serve,
//! teardown.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use ccfs_memdb::{Limits, LoadError, Memdb, Stamp, Store, StoreError};
use ccfs_status::Status;
use ccfs_store::{SqliteStore, StoreOptions};
use thiserror::Error;

use crate::cli::{DurabilityMode, Options, SqliteSettings};
use crate::cluster;
use crate::fuse::{mount_config, spawn_invalidator, CcfsFs, FsConfig};
use crate::history::backend::{ApiBackend, DaemonFacts};
use crate::history::{self, History, HistoryError, HistoryOptions};
use crate::host::{self, HostError};
use crate::ipc_backend::{IpcBackend, LocalStatus, StatusUpdates};
use crate::kvstore_updates::KvstoreUpdates;
use crate::logging::{self, DebugSwitch};
use crate::metrics::{MetricsServer, Requests, Sources};
use crate::node::{unix_now, Interest, Node};
use crate::process::{self, DatabaseLock, Forked, InstanceLock, ProcessError, Readiness};
use crate::quorum::Quorum;
use crate::services::Services;
use crate::signals::{self, ShutdownSignals, Stop};
use crate::status_files::StatusFiles;
use ccfs_kvstore::RrdFiles;

/// FUSE request threads (each with its own /dev/fuse clone).
const FUSE_THREADS: usize = 4;
/// C retries the instance lock once a second, 10 times.
const LOCK_RETRIES: u32 = 10;

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("unable to open database '{path}': {source}")]
    Store { path: String, source: StoreError },
    #[error("unable to load database '{path}': {source}")]
    Load { path: String, source: LoadError },
    #[error("unable to start the cluster services: {0}")]
    Cluster(#[from] ccfs_cluster::Error),
    #[error("unable to import '{path}' into the database: {detail}")]
    Import { path: String, detail: String },
    #[error("fuse mount of '{path}' failed: {source}")]
    Mount {
        path: String,
        source: std::io::Error,
    },
    #[error("unable to start the IPC server '{name}': {source}")]
    Ipc {
        name: String,
        source: ccfs_ipc::ServerError,
    },
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("unable to start the history group: {0}")]
    HistoryGroup(#[from] ccfs_history_group::GroupError),
    #[error(transparent)]
    Exports(crate::exports::ExportsError),
    #[error("unable to start the control socket '{path}': {source}")]
    Api {
        path: String,
        source: ccfs_api::ApiError,
    },
    #[error("unable to serve metrics on '{addr}': {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
    #[error("unable to start thread: {0}")]
    Thread(std::io::Error),
    #[error("file system loop ended with an error: {0}")]
    Loop(std::io::Error),
}

/// What the process should do after [`run`].
pub enum Exit {
    /// The daemon ran and shut down cleanly.
    Done,
    /// The parent of a daemonised child: the child is up (true) or died.
    Parent(bool),
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(mut opts: Options, debug: DebugSwitch) -> Result<Exit, DaemonError> {
    if let Ok(cwd) = std::env::current_dir() {
        opts.absolutize(&cwd);
    }
    // fuse.md §1.2 steps 1–2.
    let nodename = match &opts.nodename {
        Some(n) => n.clone(),
        None => host::nodename_from_uname()?,
    };
    host::check_nodename(&nodename)?;
    let node_ip = match &opts.node_ip {
        Some(ip) => host::parse_node_ip(ip)?,
        None => host::resolve_node_ip(&nodename)?,
    };
    let gid = host::group_gid(&opts.www_data_group)?;

    // Step 3.
    // SAFETY: umask only changes the process's file mode mask.
    unsafe { libc::umask(0o027) };

    // Step 12, moved before anything that could start a thread: the child
    // does all the work and reports readiness through the pipe.
    let readiness = if opts.foreground {
        None
    } else {
        match process::fork_with_pipe()? {
            Forked::Parent(parent) => {
                let child = parent.child;
                let up = parent.wait_ready();
                if up {
                    process::write_pid_file(&opts.pid_file, child)?;
                }
                return Ok(Exit::Parent(up));
            }
            Forked::Child(r) => {
                // Do not keep the start directory busy (C: chroot("/")).
                let _ = std::env::set_current_dir("/");
                Some(r)
            }
        }
    };
    serve(&opts, debug, &nodename, node_ip, gid, readiness)?;
    Ok(Exit::Done)
}

fn open_tree(opts: &Options) -> Result<(Memdb, SqliteStore), DaemonError> {
    let path = display(&opts.db);
    let settings = match opts.sqlite {
        SqliteSettings::Ccfs => StoreOptions::default(),
        SqliteSettings::Pmxcfs => StoreOptions::pmxcfs(),
    };
    let mut store =
        SqliteStore::open(&opts.db, &settings).map_err(|source| DaemonError::Store {
            path: path.clone(),
            source,
        })?;
    let rows = store.load().map_err(|source| DaemonError::Store {
        path: path.clone(),
        source,
    })?;
    let mut limits = Limits::default();
    if let Some(b) = opts.max_fs_bytes {
        limits.max_total_bytes = b;
    }
    if let Some(n) = opts.max_entries {
        limits.max_entries = n;
    }
    let mut db =
        Memdb::from_rows(rows, limits, unix_now() as u32).map_err(|source| DaemonError::Load {
            path: path.clone(),
            source,
        })?;
    for w in db.load_warnings() {
        tracing::warn!("database {path}: {w}");
    }
    // A fresh database gets its __version__ row now.
    let batch = db.take_batch();
    if !batch.is_empty() {
        store
            .commit(&batch)
            .map_err(|source| DaemonError::Store { path, source })?;
    }
    let _ = db.take_changes();
    Ok((db, store))
}

/// What the daemon found when it opened the tree.
struct Opened {
    node: Arc<Node>,
    status: Arc<Mutex<Status>>,
    cluster_mode: bool,
}

/// Steps 5–9: the database, the mode, the node and the status.
/// `db_existed`: whether config.db was there before its lock made it.
fn open_node(
    opts: &Options,
    db_existed: bool,
    nodename: &str,
    node_ip: std::net::IpAddr,
) -> Result<Opened, DaemonError> {
    let (mut db, mut store) = open_tree(opts)?;
    // Step 7: a new database outside local mode starts from the host's
    // corosync.conf.
    if !db_existed && !opts.local {
        if let Ok(conf) = std::fs::read(&opts.corosync_conf) {
            import_corosync_conf(&mut db, &mut store, &conf).map_err(|detail| {
                DaemonError::Import {
                    path: display(&opts.corosync_conf),
                    detail,
                }
            })?;
        }
    }
    // Step 8 (quorum.md §1).
    let has_conf = db.lookup(COROSYNC_CONF).is_some();
    let cluster_mode = has_conf && !opts.local;
    if has_conf && opts.local {
        tracing::info!("forcing local mode (although corosync.conf exists)");
    }
    tracing::info!(
        "{} mode: node '{nodename}' ({node_ip}), database {}",
        if cluster_mode { "cluster" } else { "local" },
        opts.db.display()
    );
    let starttime = unix_now() as u32;
    let mut status = Status::new(nodename, starttime, std::process::id());
    // Every accepted RRD sample is also written to its RRD file (kvstore.md §7.2).
    status.set_rrd_sink(Box::new(RrdFiles::new(&opts.rrd_dir)));
    // Local mode is quorate for good; cluster mode until corosync says so
    // is not (quorum.md §1–§2).
    let quorum = if cluster_mode {
        Quorum::starting_unquorate()
    } else {
        Quorum::always()
    };
    Ok(Opened {
        node: Arc::new(Node::new(db, Box::new(store), quorum)),
        status: Arc::new(Mutex::new(status)),
        cluster_mode,
    })
}

fn serve(
    opts: &Options,
    debug: DebugSwitch,
    nodename: &str,
    node_ip: std::net::IpAddr,
    gid: u32,
    readiness: Option<Readiness>,
) -> Result<(), DaemonError> {
    // Every thread started from here on inherits the blocked signals; one
    // thread waits for them (a thread without the mask would die of them).
    let signals = ShutdownSignals::block().map_err(DaemonError::Thread)?;
    process::create_dirs(opts, gid)?;
    let _lock = InstanceLock::acquire(&opts.lock_file, LOCK_RETRIES)?;
    let db_existed = opts.db.exists();
    let _db_lock = DatabaseLock::acquire(&opts.db)?;
    let Opened {
        node,
        status,
        cluster_mode,
    } = open_node(opts, db_existed, nodename, node_ip)?;

    // Teardown is the reverse of this start order (services.rs): each part
    // is added once it runs.
    if opts.durability == DurabilityMode::Sync {
        // Locally the node fsyncs after each commit; in a cluster the
        // service does it before each group of replies.
        if !cluster_mode {
            node.sync_commits_to(&opts.db);
        }
    }
    let mut services = Services::default();
    // The journal stays until after the final commit, which it records.
    let history = start_history(&mut services, opts, &node, nodename)?;
    {
        let node = node.clone();
        services.started("database", move || {
            // Requests still arriving on a detached mount are refused from
            // here on, so nothing is confirmed that is not committed.
            if let Err(e) = node.close() {
                tracing::error!("final commit failed: {e}");
            }
        });
    }
    // Every front end counts its requests here (`--metrics` shows them).
    let requests = Arc::new(Requests::new());
    let fs = CcfsFs::new(
        node.clone(),
        FsConfig {
            nodename: nodename.to_string(),
            www_data_gid: gid,
        },
        Arc::new(StatusFiles::new(status.clone())),
        debug,
        requests.clone(),
    );

    // Steps 10–11.
    process::clear_dead_mount(&opts.mount);
    let _ = std::fs::create_dir(&opts.mount);
    let mut session =
        fuser::Session::new(fs, &opts.mount, &mount_config(FUSE_THREADS)).map_err(|source| {
            DaemonError::Mount {
                path: display(&opts.mount),
                source,
            }
        })?;
    let rx = node.stream().subscribe_lossless(Interest::Caches);
    spawn_invalidator(session.notifier(), Arc::downgrade(&node), rx)
        .map_err(DaemonError::Thread)?;
    start_flusher(&mut services, node.clone())?;

    // The status group runs next to the dcdb group (kvstore.md §1).
    let mut kvstore_service = None;
    let updates: Arc<dyn StatusUpdates> = if cluster_mode {
        let durability = match opts.durability {
            DurabilityMode::Commit => ccfs_cluster::Durability::Commit,
            DurabilityMode::Sync => ccfs_cluster::Durability::Sync,
        };
        let service = cluster::start_durable(
            &node,
            status.clone(),
            &opts.corosync_conf,
            durability,
            &opts.db,
        )?;
        // Leave the group and commit what it delivered; writers still
        // waiting get EBUSY.
        services.started("dcdb group", move || service.shutdown());
        start_history_group(&mut services, &history)?;
        let kvstore = start_kvstore(&status, node_ip)?;
        let k = kvstore.clone();
        // Bumps clinfo and leaves the status group.
        services.started("status group", move || k.shutdown());
        kvstore_service = Some(kvstore.clone());
        Arc::new(KvstoreUpdates { service: kvstore })
    } else {
        Arc::new(LocalStatus {
            status: status.clone(),
        })
    };

    // Step 13: the IPC server serves the same node and status as FUSE.
    let ipc = start_ipc(opts, gid, nodename, &node, &status, updates, &requests)?;
    services.started("ipc server", move || ipc.stop());
    let facts = DaemonFacts {
        nodename: nodename.to_string(),
        cluster_mode,
        db_path: opts.db.clone(),
        node_ip,
        status: status.clone(),
        export_dir: opts.export_dir.clone(),
    };
    let api = start_api(opts, gid, &node, &history, facts, &requests)?;
    services.started("control socket", move || api.stop());
    start_metrics(
        &mut services,
        opts,
        Sources {
            node: node.clone(),
            history: history.clone(),
            requests,
            db_path: opts.db.clone(),
            cluster_mode,
            kvstore: kvstore_service,
        },
    )?;
    // Stopped before the control socket, the IPC server and the final
    // commit: export writers are refused from then on, no mount is left.
    let dirs = crate::exports::Dirs {
        exports: opts.export_dir.clone(),
        snapshots: opts.snapshot_dir.clone(),
    };
    let exports = crate::exports::Exports::start(node.clone(), history.clone(), dirs, gid)
        .map_err(DaemonError::Exports)?;
    services.started("exports", move || exports.stop());
    {
        // Clients see the restart flag and wait for the next daemon.
        let run_dir = opts.run_dir.clone();
        services.started("restart flag", move || {
            if let Err(e) = process::create_restart_flag(&run_dir, gid) {
                tracing::error!("{e}");
            }
        });
    }
    process::remove_restart_flag(&opts.run_dir);

    let (stop_tx, stop_rx) = mpsc::channel();
    signals::spawn_waiter(signals, stop_tx.clone()).map_err(DaemonError::Thread)?;
    let mut unmounter = session.unmount_callable();
    // The request loop runs in its own thread so that a busy mount (a
    // shell sitting in it, an editor holding a file) cannot keep the daemon
    // from stopping.
    let looper = std::thread::Builder::new()
        .name("ccfs-fuse".into())
        .spawn(move || {
            let _ = stop_tx.send(Stop::LoopEnded(session.run()));
        })
        .map_err(DaemonError::Thread)?;
    if opts.foreground {
        process::write_pid_file(&opts.pid_file, std::process::id())?;
    }
    tracing::info!("ccfs mounted at {}", opts.mount.display());
    if let Some(r) = readiness {
        r.signal();
        logging::leave_stderr();
        process::detach_stdio();
    }
    let result = match stop_rx.recv() {
        Ok(Stop::Signal(sig)) => {
            tracing::info!("received signal {sig}, shutting down");
            if signals::unmount(&mut unmounter, &opts.mount) {
                let _ = looper.join();
            }
            Ok(())
        }
        Ok(Stop::LoopEnded(r)) => r,
        Err(_) => Ok(()),
    };

    // fuse.md §1.3.
    tracing::info!("teardown filesystem");
    services.stop_all();
    drop(node);
    drop(status);
    let _ = std::fs::remove_file(&opts.pid_file);
    result.map_err(DaemonError::Loop)?;
    tracing::info!("exit proxmox configuration filesystem (0)");
    Ok(())
}

fn start_kvstore(
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

/// Where the tree keeps the cluster configuration (dcdb.md §10).
const COROSYNC_CONF: &str = "corosync.conf";

/// fuse.md §1.2 step 7: create + write with truncate, writer 0, mtime now.
fn import_corosync_conf(
    db: &mut Memdb,
    store: &mut SqliteStore,
    conf: &[u8],
) -> Result<(), String> {
    let stamp = Stamp {
        writer: 0,
        mtime: unix_now() as u32,
    };
    db.create(COROSYNC_CONF, stamp).map_err(|e| e.to_string())?;
    db.write(COROSYNC_CONF, 0, conf, true, stamp)
        .map_err(|e| e.to_string())?;
    let _ = db.take_changes();
    store.commit(&db.take_batch()).map_err(|e| e.to_string())
}

/// Commits deferred writes that have waited long enough (written through
/// an open file and not yet closed).
fn start_flusher(services: &mut Services, node: Arc<Node>) -> Result<(), DaemonError> {
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
fn start_history(
    services: &mut Services,
    opts: &Options,
    node: &Arc<Node>,
    nodename: &str,
) -> Result<Arc<History>, DaemonError> {
    let hopts = HistoryOptions {
        dir: opts
            .history_dir
            .clone()
            .unwrap_or_else(|| history::default_dir(&opts.db)),
        keep_days: opts.history_keep_days,
        max_bytes: opts.history_max_bytes,
        sync: opts.durability == DurabilityMode::Sync,
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
fn start_history_group(services: &mut Services, history: &Arc<History>) -> Result<(), DaemonError> {
    let group = history::peers::start_group(history)?;
    services.started("history group", move || group.shutdown());
    Ok(())
}

/// The control socket (HTTP API of `ccfs log`, `show`, `snapshot`, ...).
fn start_api(
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
fn start_metrics(
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

/// Where the control socket is (`--control-socket`, else in the run dir).
pub fn control_socket(opts: &Options) -> std::path::PathBuf {
    opts.control_socket
        .clone()
        .unwrap_or_else(|| opts.run_dir.join("ccfs.sock"))
}

/// The local IPC service `pve2` (ipc.md) on the node and status that FUSE
/// serves; status changes go to `updates` (local only, or the kvstore
/// group).
fn start_ipc(
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
    let config = ccfs_ipc::Config::new(&opts.ipc_name, gid);
    ccfs_ipc::Server::start(config, Arc::new(backend)).map_err(|source| DaemonError::Ipc {
        name: opts.ipc_name.clone(),
        source,
    })
}
