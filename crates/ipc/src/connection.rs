//! One client connection, run on its own thread: the handshake (ipc.md
//! §2.2), the shared-memory rings, the request loop (§2.4) and the cleanup
//! of every file in /dev/shm when the client goes away (§2.5).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use tracing::{debug, warn};

use crate::access::{access_for, Access, Credentials};
use crate::dispatch::{self, Outcome, Peer};
use crate::frame::{
    ConnectionRequest, ConnectionResponse, CONNECTION_REQUEST_SIZE, CONNECTION_RESPONSE_SIZE,
    CONNECTION_TYPE_SHM,
};
use crate::ring::Ring;
use crate::server::Shared;
use crate::socket::{self, poll, Signal};

/// The rings of one client and their private directory; dropping it
/// removes all six files and the directory.
struct Rings {
    dir: PathBuf,
    request: Option<Ring>,
    response: Option<Ring>,
    event: Option<Ring>,
}

impl Drop for Rings {
    fn drop(&mut self) {
        self.request.take();
        self.response.take();
        self.event.take();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Runs one connection to its end.
pub(crate) fn serve(fd: OwnedFd, shared: &Shared) {
    let Some((request, cred)) = read_connection_request(&fd, shared) else {
        return;
    };
    let access = access_for(&cred, shared.config.www_data_gid);
    if access == Access::Refused {
        warn!(
            uid = cred.uid,
            gid = cred.gid,
            pid = cred.pid,
            "IPC connection from bad user refused"
        );
        refuse(&fd, -libc::EACCES, shared);
        return;
    }
    // libqb: max(client's wish, server minimum); we also cap it so that one
    // client cannot make us map gigabytes.
    let max_msg_size = request
        .max_msg_size
        .clamp(CONNECTION_RESPONSE_SIZE as u32, shared.config.max_msg_size);
    let rings = match create_rings(&fd, &cred, max_msg_size, shared) {
        Ok(r) => r,
        Err(e) => {
            warn!("IPC connection setup failed: {e}");
            refuse(&fd, -e.raw_os_error().unwrap_or(libc::EIO), shared);
            return;
        }
    };
    let paths = |r: &Option<Ring>| {
        r.as_ref()
            .map(|r| {
                r.header_path()
                    .to_string_lossy()
                    .trim_end_matches("-header")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let response = ConnectionResponse {
        error: 0,
        connection_type: CONNECTION_TYPE_SHM,
        max_msg_size,
        connection: shared.next_id(),
        request: paths(&rings.request),
        response: paths(&rings.response),
        event: paths(&rings.event),
    };
    let sent = response
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        .and_then(|bytes| {
            socket::send_all(
                &fd,
                &bytes,
                Instant::now() + shared.config.handshake_timeout,
            )
        });
    if let Err(e) = sent {
        debug!("IPC connection response not sent: {e}");
        return;
    }
    debug!(
        pid = cred.pid,
        uid = cred.uid,
        gid = cred.gid,
        ?access,
        "IPC client connected"
    );
    let peer = Peer { cred, access };
    if let Err(e) = request_loop(&fd, &rings, &peer, max_msg_size as usize, shared) {
        debug!(pid = cred.pid, "IPC connection ended: {e}");
    }
    drop(rings);
    // libqb closes with shutdown(2) so the client sees the hang-up at once.
    // SAFETY: shutting down our own socket.
    unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) };
}

/// Reads the 24-byte connection request with its kernel credentials.
fn read_connection_request(
    fd: &OwnedFd,
    shared: &Shared,
) -> Option<(ConnectionRequest, Credentials)> {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    socket::set_passcred(fd, true).ok()?;
    let mut buf = [0u8; CONNECTION_REQUEST_SIZE];
    let mut have = 0;
    let mut cred = None;
    while have < buf.len() {
        match socket::recv_with_credentials(fd, &mut buf[have..]) {
            Ok(Some((0, _))) | Err(_) => return None,
            Ok(Some((n, c))) => {
                have += n;
                cred = cred.or(c);
            }
            Ok(None) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    debug!("IPC handshake timed out");
                    return None;
                }
                let ev = poll(
                    &[
                        (fd.as_raw_fd(), libc::POLLIN),
                        (shared.stop.raw(), libc::POLLIN),
                    ],
                    Some(left),
                )
                .ok()?;
                if ev[1] != 0 {
                    return None;
                }
            }
        }
    }
    let _ = socket::set_passcred(fd, false);
    match ConnectionRequest::decode(&buf) {
        // libqb closes silently on a bad id or missing credentials.
        Ok(req) => Some((req, cred?)),
        Err(e) => {
            debug!("IPC garbage on setup socket: {e}");
            None
        }
    }
}

/// Sends a refusal (error ≠ 0, everything else zero); the caller then closes.
pub(crate) fn refuse(fd: &OwnedFd, error: i32, shared: &Shared) {
    if let Ok(bytes) = ConnectionResponse::refused(error).encode() {
        let _ = socket::send_all(fd, &bytes, Instant::now() + shared.config.handshake_timeout);
    }
}

/// Refuses a client over the connection limit (from the refusal thread).
/// The request is read first (waiting briefly: a libqb client sends it
/// right after connecting) so that the client sees our EAGAIN rather than
/// a broken pipe on its send.
pub(crate) fn refuse_over_limit(fd: &OwnedFd, stop: &Signal) {
    let wait = std::time::Duration::from_millis(100);
    let ev = poll(
        &[(fd.as_raw_fd(), libc::POLLIN), (stop.raw(), libc::POLLIN)],
        Some(wait),
    );
    match ev {
        Ok(ev) if ev[1] != 0 => return,
        Ok(ev) if ev[0] & libc::POLLIN != 0 => {
            let mut request = [0u8; CONNECTION_REQUEST_SIZE];
            let _ = socket::recv_some(fd, &mut request);
        }
        _ => {}
    }
    if let Ok(bytes) = ConnectionResponse::refused(-libc::EAGAIN).encode() {
        let _ = socket::send_all(fd, &bytes, Instant::now() + wait);
    }
}

fn create_rings(fd: &OwnedFd, cred: &Credentials, max: u32, shared: &Shared) -> io::Result<Rings> {
    let template = shared.config.shm_dir.join(format!(
        "qb-{}-{}-{}-XXXXXX",
        std::process::id(),
        cred.pid,
        fd.as_raw_fd()
    ));
    let template = CString::new(template.into_os_string().into_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let raw = template.into_raw();
    // SAFETY: mkdtemp rewrites the XXXXXX of the NUL-terminated template in place.
    let made = unsafe { libc::mkdtemp(raw) };
    // SAFETY: `raw` came from `into_raw` above.
    let template = unsafe { CString::from_raw(raw) };
    if made.is_null() {
        return Err(io::Error::last_os_error());
    }
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(template.as_bytes()));
    let mut rings = Rings {
        dir,
        request: None,
        response: None,
        event: None,
    };
    // SAFETY: plain syscalls on the directory we just made.
    unsafe {
        if libc::chmod(template.as_ptr(), 0o770) != 0 {
            return Err(io::Error::last_os_error());
        }
        // as libqb: an unprivileged server may not chown (EPERM) and goes on
        if libc::chown(template.as_ptr(), cred.uid, cred.gid) != 0
            && io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
        {
            return Err(io::Error::last_os_error());
        }
    }
    let base = |kind: &str| format!("{}/qb-{kind}-{}", rings.dir.display(), shared.config.name);
    let owner = (cred.uid, cred.gid);
    let to_io = |e: crate::ring::RingError| io::Error::other(e.to_string());
    let (req, resp, ev) = (base("request"), base("response"), base("event"));
    rings.request = Some(Ring::create(&req, max, owner).map_err(to_io)?);
    rings.response = Some(Ring::create(&resp, max, owner).map_err(to_io)?);
    rings.event = Some(Ring::create(&ev, max, owner).map_err(to_io)?);
    Ok(rings)
}

/// Serves requests until the client hangs up, misbehaves or we shut down.
fn request_loop(
    fd: &OwnedFd,
    rings: &Rings,
    peer: &Peer,
    max: usize,
    shared: &Shared,
) -> io::Result<()> {
    let (Some(request), Some(response)) = (&rings.request, &rings.response) else {
        return Ok(());
    };
    let mut wake = [0u8; 64];
    loop {
        let ev = poll(
            &[
                (fd.as_raw_fd(), libc::POLLIN),
                (shared.stop.raw(), libc::POLLIN),
            ],
            None,
        )?;
        if ev[1] != 0 {
            return Ok(());
        }
        if ev[0] & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Ok(());
        }
        if ev[0] & libc::POLLIN != 0 {
            // The wake-up bytes only say "look at the ring"; their values
            // do not matter (ipc.md §2.4).
            match socket::recv_some(fd, &mut wake) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        while let Some(msg) = request.try_read(max).map_err(io::Error::other)? {
            match dispatch::handle(shared.backend.as_ref(), peer, &msg) {
                Outcome::Reply(bytes) => response.write(&bytes).map_err(io::Error::other)?,
                Outcome::Disconnect => return Ok(()),
            }
        }
    }
}
