//! The control socket: a unix listener (mode 0660, group www-data), one
//! accepting thread, one thread per connection up to a limit shared out by
//! `ccfs_admission` (slots kept for root, a share per uid, so no client can
//! take them all), and a stop that wakes every blocked connection by
//! shutting its socket down.
//!
//! What one client can hold is bounded: a request has `request_timeout`
//! to arrive whole (a client that connects and never sends, or trickles a
//! head that never ends, is answered 408 and closed), a head 16 KiB and a
//! body 2 MiB (431, 413, read no further), no chunked bodies (501); a
//! response write blocks at most that long on a client that does not read,
//! a watch stream's at most `watch_route::WRITE_TIMEOUT`, and a watcher
//! that falls behind is cut off by the change stream.

use std::collections::HashMap;
use std::io::Write;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccfs_admission::{Policy, Slot, Slots};

use crate::backend::Backend;
use crate::http::{self, Limits, Response};
use crate::observe;
use crate::rights::{peer_credentials, Access};
use crate::routes::{self, Context};
use crate::watch_route;

/// How the control socket is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// e.g. `/run/pve-cluster/ccfs.sock`.
    pub socket: PathBuf,
    /// Clients with this primary gid get read-only access.
    pub www_data_gid: u32,
    /// The FUSE mount point, accepted as a path prefix (`/etc/pve`).
    pub mount: PathBuf,
    /// Connections served at once; one more, or one beyond a non-root
    /// client's share (`ccfs_admission::Policy::new`), gets 503.
    pub max_connections: usize,
    /// Time a client has to send its whole request.
    pub request_timeout: Duration,
    /// An idle watch stream gets a comment line this often.
    pub watch_keepalive: Duration,
}

impl ServerConfig {
    /// 64 connections (watchers among them; 8 kept for root, 16 at most
    /// per other uid), 10 s per request, a watch keep-alive every 15 s.
    pub fn new(socket: impl Into<PathBuf>, www_data_gid: u32, mount: impl Into<PathBuf>) -> Self {
        ServerConfig {
            socket: socket.into(),
            www_data_gid,
            mount: mount.into(),
            max_connections: 64,
            request_timeout: http::DEFAULT_LIMITS.timeout,
            watch_keepalive: Duration::from_secs(15),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{path}: {op}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: another daemon is listening on this socket")]
    InUse(PathBuf),
    #[error("{0}: exists and is not a socket")]
    NotASocket(PathBuf),
}

/// State shared by the accepting thread and the connections.
struct Shared {
    cfg: ServerConfig,
    ctx: Context,
    stopping: AtomicBool,
    next_id: AtomicU64,
    slots: Arc<Slots>,
    /// A clone of every open connection, so stop() can shut them down.
    open: Mutex<HashMap<u64, UnixStream>>,
}

/// A running control socket; [`Server::stop`] ends it.
pub struct Server {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ApiError + 'a {
    move |source| ApiError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Bind `path`, replacing a stale socket file but never a live one (a second
/// daemon) nor anything that is not a socket.
fn bind(path: &Path, gid: u32) -> Result<UnixListener, ApiError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(ApiError::NotASocket(path.to_path_buf()));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(ApiError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io_err("remove stale socket", path))?;
    }
    let listener = UnixListener::bind(path).map_err(io_err("bind", path))?;
    // Until these two calls the mode comes from the umask; a client that
    // connects in between still faces the peer-credential check.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io_err("chmod 0660", path))?;
    std::os::unix::fs::chown(path, None, Some(gid)).map_err(io_err("chown to www-data", path))?;
    listener
        .set_nonblocking(true)
        .map_err(io_err("set non-blocking", path))?;
    Ok(listener)
}

impl Server {
    pub fn start(cfg: ServerConfig, backend: Arc<dyn Backend>) -> Result<Server, ApiError> {
        let listener = bind(&cfg.socket, cfg.www_data_gid)?;
        let shared = Arc::new(Shared {
            ctx: Context {
                backend,
                mount: cfg.mount.clone(),
            },
            slots: Slots::new("control socket", Policy::new(cfg.max_connections)),
            cfg,
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("ccfs-api".into())
            .spawn(move || accept_loop(&s, listener))
            .map_err(io_err("spawn accept thread", &shared.cfg.socket))?;
        tracing::info!(socket = %shared.cfg.socket.display(), "control socket listening");
        Ok(Server {
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.shared.cfg.socket
    }

    /// Stop accepting, wake and join every connection, remove the socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            // First the path, so no new client queues up while we join.
            if let Err(e) = std::fs::remove_file(&self.shared.cfg.socket) {
                tracing::warn!(socket = %self.shared.cfg.socket.display(), "remove: {e}");
            }
            if acceptor.join().is_err() {
                tracing::error!("control socket accept thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How often the acceptor looks at the stop flag.
const POLL_MS: i32 = 50;

fn accept_loop(shared: &Arc<Shared>, listener: UnixListener) {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        if ready <= 0 {
            continue;
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("control socket accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        if let Some(t) = admit(shared, stream) {
            threads.push(t);
        }
    }
    drop(listener);
    // Wake every connection still blocked in a read or write.
    for stream in lock(&shared.open).values() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for t in threads {
        if t.join().is_err() {
            tracing::error!("control socket connection thread panicked");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Register and start a connection, or answer 503 when at the limit.
fn admit(shared: &Arc<Shared>, mut stream: UnixStream) -> Option<JoinHandle<()>> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let refuse = |stream: &mut UnixStream, why: &str| {
        // Small enough for the socket buffer: this never blocks for long.
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = Response::error(503, why, None).write_to(stream);
    };
    // The slot is taken on the kernel's uid before a byte is read: a client
    // that never sends holds one of its own share, not one of root's.
    let slot: Slot = match peer_credentials(&stream) {
        Ok(cred) => match shared.slots.admit(cred.uid) {
            Ok(slot) => slot,
            Err(_) => {
                // Slots::admit logged it (one line per burst).
                refuse(&mut stream, "too many connections");
                return None;
            }
        },
        Err(e) => {
            tracing::warn!("control socket: no peer credentials: {e}");
            refuse(&mut stream, "cannot serve: no peer credentials");
            return None;
        }
    };
    match stream.try_clone() {
        Ok(clone) => lock(&shared.open).insert(id, clone),
        Err(e) => {
            refuse(&mut stream, &format!("cannot serve: {e}"));
            return None;
        }
    };
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("ccfs-api-conn".into())
        .spawn(move || {
            let _slot = slot;
            serve(&s, stream);
            lock(&s.open).remove(&id);
        });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            if let Some(mut stream) = lock(&shared.open).remove(&id) {
                refuse(&mut stream, &format!("cannot serve: {e}"));
            }
            None
        }
    }
}

/// One connection: one request, one response (or a watch stream), close.
fn serve(shared: &Shared, mut stream: UnixStream) {
    // Linux does not pass the listener's O_NONBLOCK on; be sure anyway.
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let cred = match peer_credentials(&stream) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("control socket: no peer credentials: {e}");
            return;
        }
    };
    let access = Access::of(&cred, shared.cfg.www_data_gid);
    let limits = Limits {
        timeout: shared.cfg.request_timeout,
        ..http::DEFAULT_LIMITS
    };
    let _ = stream.set_write_timeout(Some(http::DEFAULT_LIMITS.timeout));
    let started = Instant::now();
    let (route, response) = match http::read_request(&mut stream, &limits) {
        Ok(req) if watch_route::wanted(&req) => {
            let run = watch_route::Stream {
                stop: &shared.stopping,
                keepalive: shared.cfg.watch_keepalive,
            };
            tracing::debug!(uid = cred.uid, pid = cred.pid, target = %req.target,
                "control socket watch");
            let ended = watch_route::serve(&shared.ctx, access, &req, &mut stream, &run);
            if let Err(e) = &ended {
                tracing::debug!(uid = cred.uid, "control socket watch ended: {e}");
            }
            // Counted when the stream ends: its duration is the watch's.
            let errno = ended.map_or_else(|e| e.raw_os_error().unwrap_or(libc::EIO), |()| 0);
            shared
                .ctx
                .backend
                .request_done("watch", errno, started.elapsed());
            let _ = stream.flush();
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
        Ok(req) => {
            let r = routes::handle(&shared.ctx, access, &req);
            tracing::debug!(uid = cred.uid, pid = cred.pid, method = %req.method,
                target = %req.target, status = r.status, "control socket request");
            (observe::route_of(&req), r)
        }
        Err(e) => match e.status() {
            Some(status) => {
                tracing::debug!(uid = cred.uid, pid = cred.pid, "control socket: {e}");
                ("other", Response::error(status, &e.to_string(), None))
            }
            None => return,
        },
    };
    let errno = observe::errno_of(&response);
    shared
        .ctx
        .backend
        .request_done(route, errno, started.elapsed());
    if let Err(e) = response.write_to(&mut stream) {
        tracing::debug!(uid = cred.uid, "control socket: writing the response: {e}");
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}
