//! The IPC service: listens on the setup socket, runs one thread per
//! connection, shares the connection limit out (`ccfs_admission`: slots kept
//! for root, a share per uid) and stops promptly.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ccfs_admission::{Policy, Slots};
use thiserror::Error;
use tracing::{info, warn};

use crate::backend::Backend;
use crate::connection;
use crate::socket::{self, poll, Signal};

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Abstract socket name and ring-file suffix; PVE clients use `pve2`.
    pub name: String,
    /// Where the per-connection ring directories are made (libqb: /dev/shm).
    pub shm_dir: PathBuf,
    /// Group whose members get read-only access (`www-data`).
    pub www_data_gid: u32,
    /// Connections at once; beyond this, or beyond a non-root client's
    /// share of it (`ccfs_admission::Policy::new`), a client is refused
    /// with EAGAIN.
    pub max_connections: usize,
    /// Upper bound of the per-connection message size a client may ask for.
    pub max_msg_size: u32,
    /// How long a new client may take to send its connection request.
    pub handshake_timeout: Duration,
}

impl Config {
    pub fn new(name: &str, www_data_gid: u32) -> Config {
        Config {
            name: name.to_owned(),
            shm_dir: PathBuf::from("/dev/shm"),
            www_data_gid,
            max_connections: 1024,
            max_msg_size: 16 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on IPC socket @{name}: {source}")]
    Listen { name: String, source: io::Error },
    #[error("cannot start IPC server thread: {0}")]
    Spawn(io::Error),
    #[error("cannot create IPC shutdown signal: {0}")]
    Signal(io::Error),
}

/// State shared by the accept thread and the connection threads.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) stop: Signal,
    slots: Arc<Slots>,
    ids: AtomicU64,
}

impl Shared {
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running IPC service; stops (and removes every ring file) on drop.
pub struct Server {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds the socket now (so errors reach the caller) and serves in the
    /// background.
    pub fn start(config: Config, backend: Arc<dyn Backend>) -> Result<Server, ServerError> {
        let listener = socket::listen(&config.name).map_err(|source| ServerError::Listen {
            name: config.name.clone(),
            source,
        })?;
        let slots = Slots::new(
            format!("IPC socket @{}", config.name),
            Policy::new(config.max_connections),
        );
        let shared = Arc::new(Shared {
            config,
            backend,
            stop: Signal::new().map_err(ServerError::Signal)?,
            slots,
            ids: AtomicU64::new(0),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("ipc-accept".into())
            .spawn(move || accept_loop(listener, &s))
            .map_err(ServerError::Spawn)?;
        info!(name = %shared.config.name, "IPC server listening");
        Ok(Server {
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Connections currently being served (including handshakes).
    pub fn active_connections(&self) -> usize {
        self.shared.slots.held()
    }

    /// Stops accepting, ends every connection and waits for their threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.fire();
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Refused clients waiting for their EAGAIN. The refusals are answered by
/// one thread of their own so that clients that connect and never send
/// cannot hold up the accept loop (which waits for nobody); past this many
/// queued, a refused client is simply closed.
const REFUSALS_QUEUED: usize = 32;

fn accept_loop(listener: OwnedFd, shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let (refusals, queued) = mpsc::sync_channel::<OwnedFd>(REFUSALS_QUEUED);
    let s = shared.clone();
    let refuser = std::thread::Builder::new()
        .name("ipc-refuse".into())
        .spawn(move || refuse_loop(&queued, &s));
    if let Err(e) = &refuser {
        warn!("IPC refusal thread not started, refused clients are closed unanswered: {e}");
    }
    loop {
        let ev = match poll(
            &[
                (listener.as_raw_fd(), libc::POLLIN),
                (shared.stop.raw(), libc::POLLIN),
            ],
            None,
        ) {
            Ok(ev) => ev,
            Err(e) => {
                warn!("IPC accept poll failed: {e}");
                break;
            }
        };
        if ev[1] != 0 {
            break;
        }
        loop {
            let fd = match socket::accept(&listener) {
                Ok(Some(fd)) => fd,
                Ok(None) => break,
                Err(e) => {
                    // e.g. EMFILE: back off briefly instead of spinning
                    warn!("IPC accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    break;
                }
            };
            workers.retain(|w| !w.is_finished());
            admit(fd, shared, &refusals, &mut workers);
        }
    }
    drop(listener);
    drop(refusals);
    if let Ok(r) = refuser {
        let _ = r.join();
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Starts a connection thread holding a slot, or queues the refusal.
fn admit(
    fd: OwnedFd,
    shared: &Arc<Shared>,
    refusals: &SyncSender<OwnedFd>,
    workers: &mut Vec<JoinHandle<()>>,
) {
    // A socket without peer credentials is not a local client we can
    // account for: it gets no slot.
    let slot = match socket::peer_uid(&fd) {
        Ok(uid) => shared.slots.admit(uid).ok(),
        Err(e) => {
            warn!("IPC client without peer credentials: {e}");
            None
        }
    };
    let Some(slot) = slot else {
        // a full queue drops (closes) the fd: that client sees a hang-up
        let _ = refusals.try_send(fd);
        return;
    };
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("ipc-conn".into())
        .stack_size(1024 * 1024)
        .spawn(move || {
            let _slot = slot;
            connection::serve(fd, &s);
        });
    match spawned {
        // a thread not started drops its closure: the fd and the slot go
        Ok(w) => workers.push(w),
        Err(e) => warn!("IPC connection thread not started: {e}"),
    }
}

fn refuse_loop(queued: &Receiver<OwnedFd>, shared: &Shared) {
    while let Ok(fd) = queued.recv() {
        connection::refuse_over_limit(&fd, &shared.stop);
    }
}
