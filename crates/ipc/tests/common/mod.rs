//! Test support: a mock backend (the backend is not what these tests test),
//! the real libqb client process (`client/qbclient.c`), request builders and
//! /dev/shm inspection.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccfs_ipc::{Backend, Config, Server};

mod mock;
mod tree;
#[allow(unused_imports)]
pub use mock::*;
#[allow(unused_imports)]
pub use tree::*;

pub const WWW_DATA: u32 = 33;
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A service name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ccfs-t{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Starts a server for `name` with `mock`, read-only group www-data.
pub fn start(name: &str, mock: &Arc<Mock>) -> Server {
    start_with(Config::new(name, WWW_DATA), mock)
}

pub fn start_with(config: Config, mock: &Arc<Mock>) -> Server {
    let backend: Arc<dyn Backend> = mock.clone();
    Server::start(config, backend).expect("server starts")
}

/// A request message: header (id, size) + payload, as Perl builds it.
pub fn req(op: i32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    m.extend_from_slice(&op.to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(payload);
    m
}

/// (id, size, error, payload) of a response message.
pub fn parse_resp(r: &[u8]) -> (i32, i32, i32, Vec<u8>) {
    assert!(r.len() >= 24, "short response {r:?}");
    let i = |at: usize| i32::from_le_bytes(r[at..at + 4].try_into().unwrap());
    (i(0), i(8), i(16), r[24..].to_vec())
}

pub fn qbclient_path() -> PathBuf {
    let p = PathBuf::from(env!("CCFS_IPC_QBCLIENT"));
    assert!(
        p.exists(),
        "libqb test client {} was not built (libqb-dev missing?)",
        p.display()
    );
    p
}

/// One real libqb client process (`qbclient NAME script`).
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Result of `qb_ipcc_connect`: 0 or -errno.
    pub connect: i32,
}

impl Client {
    pub fn spawn(name: &str, ids: Option<(u32, u32)>) -> Client {
        let mut cmd = Command::new(qbclient_path());
        cmd.arg(name)
            .arg("script")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let Some((uid, gid)) = ids {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().expect("spawn qbclient");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let mut c = Client {
            child,
            stdin,
            stdout,
            connect: 0,
        };
        c.connect = c.read_i32();
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn read_exact(&mut self, buf: &mut [u8]) {
        let deadline = Instant::now() + TIMEOUT;
        let mut have = 0;
        while have < buf.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "client reply timed out");
            let ev = ccfs_ipc::socket::poll(&[(self.stdout.as_raw_fd(), libc::POLLIN)], Some(left))
                .unwrap();
            if ev[0] == 0 {
                continue;
            }
            let n = self.stdout.read(&mut buf[have..]).unwrap();
            assert!(n > 0, "client exited early");
            have += n;
        }
    }

    fn read_i32(&mut self) -> i32 {
        let mut b = [0u8; 4];
        self.read_exact(&mut b);
        i32::from_le_bytes(b)
    }

    pub fn send(&mut self, msg: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(&(msg.len() as u32).to_le_bytes()).unwrap();
        stdin.write_all(msg).unwrap();
        stdin.flush().unwrap();
    }

    /// (qb_ipcc_sendv_recv result, response bytes).
    pub fn reply(&mut self) -> (i32, Vec<u8>) {
        let ret = self.read_i32();
        let mut buf = vec![0u8; ret.max(0) as usize];
        self.read_exact(&mut buf);
        (ret, buf)
    }

    pub fn call(&mut self, msg: &[u8]) -> (i32, Vec<u8>) {
        self.send(msg);
        self.reply()
    }

    /// Closes stdin: the client disconnects and exits.
    pub fn finish(mut self) -> std::process::ExitStatus {
        self.stdin.take();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "client did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Every ring file of service `name` left in our connection directories.
pub fn ring_files(name: &str) -> Vec<PathBuf> {
    let prefix = format!("qb-{}-", std::process::id());
    let mut found = Vec::new();
    for d in std::fs::read_dir("/dev/shm").unwrap().flatten() {
        if !d.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        if let Ok(files) = std::fs::read_dir(d.path()) {
            for f in files.flatten() {
                let n = f.file_name().to_string_lossy().into_owned();
                if n.ends_with(&format!("-{name}-header")) || n.ends_with(&format!("-{name}-data"))
                {
                    found.push(f.path());
                }
            }
        }
    }
    found
}

/// Connection directories made for client process `pid`.
pub fn client_dirs(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("qb-{}-{}-", std::process::id(), pid);
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with(&prefix))
        .map(|d| d.path())
        .collect()
}

/// Polls `cond` until it holds or the test timeout passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until no ring file of `name` is left and asserts it.
pub fn assert_no_ring_files(name: &str) {
    wait_until("ring files to be removed", || ring_files(name).is_empty());
}
