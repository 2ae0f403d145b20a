//! What every API test needs: a real server on a socket in a temporary
//! directory over the fake backend, raw and typed requests, and running a
//! client as another user (a forked child that drops to that uid/gid).
#![allow(dead_code)]

pub mod fake;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccfs_api::client::{parse_reply, Reply};
use ccfs_api::{Client, Server, ServerConfig};
pub use fake::Fake;

pub const NOBODY: u32 = 65534;
pub const NOGROUP: u32 = 65534;

/// The gid of group `www-data` from the system's group database.
pub fn www_data_gid() -> u32 {
    let name = std::ffi::CString::new("www-data").unwrap();
    // SAFETY: getgrnam returns NULL or a pointer to static storage; the
    // tests read it at once.
    let grp = unsafe { libc::getgrnam(name.as_ptr()) };
    assert!(!grp.is_null(), "group www-data is missing on this machine");
    // SAFETY: not NULL, checked above.
    unsafe { (*grp).gr_gid }
}

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub fake: Arc<Fake>,
    pub server: Option<Server>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    pub fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        // other users must reach the socket inside
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("ccfs.sock");
        let fake = Arc::new(standard_tree());
        let mut cfg = ServerConfig::new(&socket, www_data_gid(), "/etc/pve");
        tune(&mut cfg);
        let server = Server::start(cfg, fake.clone()).unwrap();
        TestServer {
            dir,
            socket,
            fake,
            server: Some(server),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }

    /// GET/POST/... as root, whatever the status.
    pub fn req(&self, method: &str, target: &str) -> Reply {
        self.client().request(method, target).unwrap()
    }

    pub fn get(&self, target: &str) -> Reply {
        self.req("GET", target)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

/// versions: 1 datacenter.cfg, 2 storage.cfg, 3 priv/token.cfg,
/// 4 nodes/n1/qemu-server/100.conf, 5 nodes/n1/priv/key.pem,
/// 6 datacenter.cfg again, 7 rename 100.conf -> 101.conf, 8 delete storage.cfg,
/// 9 user.cfg
pub fn standard_tree() -> Fake {
    let f = Fake::default();
    f.write("datacenter.cfg", b"keyboard: en-us\n");
    f.write("storage.cfg", b"dir: local\n\tpath /var/lib/vz\n");
    f.write("priv/token.cfg", b"root@pam!t secret\n");
    f.write("nodes/n1/qemu-server/100.conf", b"memory: 512\ncores: 1\n");
    f.write("nodes/n1/priv/key.pem", b"PRIVATE KEY\n");
    f.write("datacenter.cfg", b"keyboard: de\n");
    f.rename(
        "nodes/n1/qemu-server/100.conf",
        "nodes/n1/qemu-server/101.conf",
    );
    f.delete("storage.cfg");
    f.write("user.cfg", b"user:root@pam:1:0:::\n");
    f
}

/// Send raw bytes, read the whole answer (a reset after the answer, from
/// bytes the server did not read, is not an error).
pub fn raw(socket: &Path, bytes: &[u8]) -> Vec<u8> {
    exchange(UnixStream::connect(socket).unwrap(), bytes)
}

/// Send `bytes` on a connected stream and read until the server closes.
pub fn exchange(mut s: UnixStream, bytes: &[u8]) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the answer: {e}"),
        }
    }
    out
}

pub fn raw_reply(socket: &Path, bytes: &[u8]) -> Reply {
    parse_reply(&raw(socket, bytes)).unwrap()
}

pub fn json(r: &Reply) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&r.body)))
}

/// Run `f` in a forked child as uid/gid (with these supplementary groups)
/// and return what it returned. The child only talks to the socket.
pub fn as_user(uid: u32, gid: u32, groups: &[u32], f: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let (mut parent_end, mut child_end) = UnixStream::pair().unwrap();
    // SAFETY: the child only drops privileges, runs `f` (socket I/O and
    // allocation, which glibc keeps fork-safe) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(parent_end);
        // SAFETY: plain syscalls on valid arguments.
        let ok = unsafe {
            libc::setgroups(groups.len(), groups.as_ptr()) == 0
                && libc::setgid(gid) == 0
                && libc::setuid(uid) == 0
        };
        let out = if ok {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| b"CHILD PANICKED".to_vec())
        } else {
            b"CHILD COULD NOT DROP PRIVILEGES".to_vec()
        };
        let _ = child_end.write_all(&out);
        // SAFETY: leave without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    drop(child_end);
    let mut out = Vec::new();
    parent_end.read_to_end(&mut out).unwrap();
    let mut status = 0;
    // SAFETY: our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        !out.starts_with(b"CHILD "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    out
}

/// A request made by another user: the raw answer, or `ERR <io error kind>`
/// if the connect failed.
pub fn request_as(
    uid: u32,
    gid: u32,
    groups: &[u32],
    socket: &Path,
    method: &str,
    target: &str,
) -> Result<Reply, String> {
    let socket = socket.to_path_buf();
    let target = target.to_string();
    let method = method.to_string();
    let out = as_user(uid, gid, groups, move || {
        match UnixStream::connect(&socket) {
            Err(e) => format!("ERR {:?}", e.kind()).into_bytes(),
            Ok(s) => exchange(
                s,
                format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            ),
        }
    });
    if let Some(err) = out.strip_prefix(b"ERR ") {
        return Err(String::from_utf8_lossy(err).into_owned());
    }
    Ok(parse_reply(&out).unwrap())
}
