//! Test support: a mock backend (the backend is not what these tests test),
//! the real libqb client process (`client/qbclient.c`), request builders and
//! /dev/shm inspection.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ccfs_ipc::{Backend, ClusterLogMsg, Config, Errno, GuestConfig, Server};

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

/// (priority, ident, tag, message, pid) of a logged message.
pub type LogEntry = (u8, Vec<u8>, Vec<u8>, Vec<u8>, u32);
/// (inode, parent, type, name, data) of a `tree` row.
type TreeRow = (i64, i64, i64, String, Option<Vec<u8>>);

/// A backend with small real state (files, key table, log) and canned
/// texts for the generated documents. `block_path` makes GET_CONFIG of that
/// path wait until `release` (to catch a client mid-request).
#[derive(Default)]
pub struct Mock {
    pub files: Mutex<HashMap<String, Vec<u8>>>,
    pub dirs: Mutex<Vec<String>>,
    pub kv: Mutex<HashMap<String, Vec<u8>>>,
    pub rrd: Mutex<HashMap<String, Vec<u8>>>,
    pub log: Mutex<Vec<LogEntry>>,
    pub calls: Mutex<Vec<String>>,
    pub canned: Mutex<Vec<u8>>,
    /// vmid → (node, config dir), in VM-list order.
    pub guests: Mutex<Vec<(u32, String, &'static str)>>,
    pub block_path: Mutex<Option<String>>,
    gate: (Mutex<(bool, bool)>, Condvar),
}

impl Mock {
    pub fn new() -> Arc<Mock> {
        Arc::new(Mock::default())
    }

    fn call(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }

    pub fn last_call(&self) -> Option<String> {
        self.calls.lock().unwrap().last().cloned()
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Waits until a GET_CONFIG of `block_path` is inside the backend.
    pub fn wait_blocked(&self) {
        let (m, cv) = &self.gate;
        let g = m.lock().unwrap();
        let (g, t) = cv.wait_timeout_while(g, TIMEOUT, |s| !s.0).unwrap();
        assert!(!t.timed_out() && g.0, "backend was never entered");
    }

    pub fn release(&self) {
        let (m, cv) = &self.gate;
        m.lock().unwrap().1 = true;
        cv.notify_all();
    }

    fn canned(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.canned.lock().unwrap().clone())
    }
}

impl Backend for Mock {
    fn fs_version(&self) -> Result<Vec<u8>, Errno> {
        self.call("fs_version".into());
        self.canned()
    }
    fn cluster_info(&self) -> Result<Vec<u8>, Errno> {
        self.call("cluster_info".into());
        self.canned()
    }
    fn guest_list(&self) -> Result<Vec<u8>, Errno> {
        self.call("guest_list".into());
        self.canned()
    }
    fn set_status(&self, name: &str, data: &[u8]) -> Result<(), Errno> {
        self.call(format!("set_status {name} {}", data.len()));
        // the rules of C's cfs_status_set, enough for the vectors
        if let Some(key) = name.strip_prefix("rrd/") {
            if data.is_empty() || data.len() >= 4096 || data.last() != Some(&0) {
                return Err(Errno::ENOMEM);
            }
            self.rrd.lock().unwrap().insert(key.into(), data.into());
        } else if data.is_empty() {
            self.kv.lock().unwrap().remove(name);
        } else {
            self.kv.lock().unwrap().insert(name.into(), data.into());
        }
        Ok(())
    }
    fn get_status(&self, name: &str, node: &str) -> Result<Vec<u8>, Errno> {
        self.call(format!("get_status {name} {node}"));
        if !node.is_empty() && node != "node1" {
            return Err(Errno::ENOENT);
        }
        self.kv
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or(Errno::ENOENT)
    }
    fn get_config(&self, path: &str) -> Result<Vec<u8>, Errno> {
        self.call(format!("get_config {path}"));
        if self.block_path.lock().unwrap().as_deref() == Some(path) {
            let (m, cv) = &self.gate;
            let mut g = m.lock().unwrap();
            g.0 = true;
            cv.notify_all();
            let _ = cv.wait_timeout_while(g, TIMEOUT, |s| !s.1).unwrap();
        }
        if self.dirs.lock().unwrap().iter().any(|d| d == path) {
            return Err(Errno::ENOENT);
        }
        self.files
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .ok_or(Errno::ENOENT)
    }
    fn log_cluster_msg(&self, m: &ClusterLogMsg<'_>) -> Result<(), Errno> {
        self.call("log_cluster_msg".into());
        self.log.lock().unwrap().push((
            m.priority,
            m.ident.into(),
            m.tag.into(),
            m.message.into(),
            m.pid,
        ));
        Ok(())
    }
    fn cluster_log(&self, max_entries: u32, user: &str) -> Result<Vec<u8>, Errno> {
        self.call(format!("cluster_log {max_entries} {user}"));
        self.canned()
    }
    fn rrd_dump(&self) -> Result<Vec<u8>, Errno> {
        self.call("rrd_dump".into());
        self.canned()
    }
    fn guest_ids(&self) -> Vec<u32> {
        self.guests.lock().unwrap().iter().map(|g| g.0).collect()
    }
    fn guest_config(&self, vmid: u32) -> GuestConfig {
        let guests = self.guests.lock().unwrap();
        let Some((_, node, dir)) = guests.iter().find(|g| g.0 == vmid) else {
            return GuestConfig::NotListed;
        };
        match self
            .files
            .lock()
            .unwrap()
            .get(&format!("nodes/{node}/{dir}/{vmid}.conf"))
        {
            Some(t) if !t.is_empty() => GuestConfig::Text(t.clone()),
            _ => GuestConfig::Unreadable,
        }
    }
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

/// The files of `vectors/db/local-rich` (path → content; dirs listed apart).
pub fn local_rich_tree() -> (HashMap<String, Vec<u8>>, Vec<String>) {
    let src = vectors().join("db/local-rich/config.db");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("config.db");
    std::fs::copy(&src, &db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT inode, parent, type, name, data FROM tree")
        .unwrap();
    let rows: Vec<TreeRow> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let by_inode: HashMap<i64, (i64, String)> =
        rows.iter().map(|r| (r.0, (r.1, r.3.clone()))).collect();
    let path_of = |mut inode: i64| {
        let mut parts = Vec::new();
        while inode != 0 {
            let (parent, name) = &by_inode[&inode];
            parts.push(name.clone());
            inode = *parent;
        }
        parts.reverse();
        parts.join("/")
    };
    let mut files = HashMap::new();
    let mut dirs = vec![String::new()];
    for (inode, _, kind, name, data) in &rows {
        if name == "__version__" {
            continue;
        }
        if *kind == 4 {
            dirs.push(path_of(*inode));
        } else {
            files.insert(path_of(*inode), data.clone().unwrap_or_default());
        }
    }
    (files, dirs)
}

pub fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// One captured call of `vectors/ipc/local`.
pub struct Call {
    pub name: String,
    pub op: i32,
    pub request: Vec<u8>,
    pub response: Option<Vec<u8>>,
    pub client_return: Option<i64>,
}

pub fn local_calls() -> Vec<Call> {
    let dir = vectors().join("ipc/local");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    manifest["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            let resp = dir.join(format!("{name}.resp.bin"));
            Call {
                op: c["op"].as_i64().unwrap() as i32,
                request: std::fs::read(dir.join(format!("{name}.req.bin"))).unwrap(),
                response: resp.exists().then(|| std::fs::read(resp).unwrap()),
                client_return: c["client_return"].as_i64(),
                name,
            }
        })
        .collect()
}

pub fn local_rich_mock() -> std::sync::Arc<Mock> {
    let mock = Mock::new();
    let (files, dirs) = local_rich_tree();
    *mock.files.lock().unwrap() = files;
    *mock.dirs.lock().unwrap() = dirs;
    // The VM list of local-rich, in the C daemon's hash order (vector rw-57).
    *mock.guests.lock().unwrap() = vec![
        (301, "other-node".into(), "lxc"),
        (100, "node1".into(), "qemu-server"),
        (300, "other-node".into(), "qemu-server"),
        (200, "node1".into(), "lxc"),
        (101, "node1".into(), "qemu-server"),
    ];
    mock
}
