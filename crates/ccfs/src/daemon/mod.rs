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
use crate::stale_fuse;
use crate::status_files::StatusFiles;
use ccfs_kvstore::RrdFiles;

mod heal;
mod mount;
mod open;
mod resources;
mod start;

use open::{open_node, Opened};
use start::*;

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
    #[error("unable to move the unreadable database file '{path}' aside: {source}")]
    MoveAside {
        path: String,
        source: std::io::Error,
    },
    #[error("database '{db}' is unreadable and the cluster did not heal it: {detail}")]
    Heal { db: String, detail: String },
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
    resources::give_big_buffers_back();
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
    let _lock = InstanceLock::acquire(&opts.lock_file, LOCK_RETRIES, || {
        stale_fuse::release_dying_holder(&opts.lock_file, &opts.mount);
    })?;
    let db_existed = opts.db.exists();
    let mut db_lock = DatabaseLock::acquire(&opts.db)?;
    let (
        Opened {
            node,
            status,
            cluster_mode,
        },
        heal,
    ) = heal::open_or_heal(opts, db_existed, nodename, node_ip, &mut db_lock)?;
    let (kept, healing) = heal.unzip();

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
    let history = start_history(&mut services, opts, &node, nodename, healing.is_some())?;
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
    let session = mount::mount(opts, &node, fs)?;
    start_flusher(&mut services, node.clone())?;

    // The status group runs next to the dcdb group (kvstore.md §1).
    let (updates, kvstore_service) = if cluster_mode {
        start_cluster(
            &mut services,
            opts,
            &node,
            &status,
            &history,
            node_ip,
            healing.clone(),
        )?
    } else {
        let local: Arc<dyn StatusUpdates> = Arc::new(LocalStatus {
            status: status.clone(),
        });
        (local, None)
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
    start_exports(&mut services, opts, &node, &history, gid)?;
    add_restart_flag(&mut services, opts, gid);
    process::remove_restart_flag(&opts.run_dir);

    let ended = mount::serve_until_stop(session, signals, opts, readiness, healing.as_deref());

    // fuse.md §1.3.
    tracing::info!("teardown filesystem");
    services.stop_all();
    drop(node);
    drop(status);
    let _ = std::fs::remove_file(&opts.pid_file);
    if let Some(kept) = kept.filter(|_| !healing.as_ref().is_some_and(|h| h.is_healed())) {
        // Not healed (timed out or stopped): the file goes back, as found.
        kept.put_back()?;
        tracing::info!("'{}' put back unchanged", opts.db.display());
    }
    drop(db_lock);
    ended?.map_err(DaemonError::Loop)?;
    tracing::info!("exit proxmox configuration filesystem (0)");
    Ok(())
}

/// Where the control socket is (`--control-socket`, else in the run dir).
pub fn control_socket(opts: &Options) -> std::path::PathBuf {
    opts.control_socket
        .clone()
        .unwrap_or_else(|| opts.run_dir.join("ccfs.sock"))
}
