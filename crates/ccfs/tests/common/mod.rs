//! Test harness: runs the real `ccfs` binary on a real FUSE mount.
//!
//! Every node lives in a fresh directory (mount point, database, run dir,
//! lock and pid files, a unique IPC name), is started with `-f -l` and is
//! stopped by a drop guard that signals exactly the PID it started. Nothing
//! is skipped: a missing prerequisite (not root, no /dev/fuse, no www-data
//! group) fails the test with a message saying what is missing.
#![allow(dead_code)]

pub mod json;
pub mod user;

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const NODENAME: &str = "node1";
pub const NODE_IP: &str = "192.0.2.1";
pub const WWW_DATA: u32 = 33;
pub const NOBODY: u32 = 65534;
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// The shared vectors produced by the C daemon (`../shared/vectors`).
pub fn vectors() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors");
    assert!(
        p.is_dir(),
        "shared vectors not found at {} (the repo must have ../shared beside it)",
        p.display()
    );
    p
}

/// Fails loudly when the machine cannot run mount tests.
pub fn require_environment() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests mount FUSE and must run as root"
    );
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: load the fuse module (modprobe fuse) or give the container the device"
    );
    let group = fs::read_to_string("/etc/group").expect("read /etc/group");
    assert!(
        group.lines().any(|l| l.starts_with("www-data:")),
        "group www-data is missing (ccfs reports files as root:www-data)"
    );
}

/// A directory holding every path one node uses.
pub struct Workdir {
    pub root: PathBuf,
    pub mount: PathBuf,
    pub db: PathBuf,
    pub run_dir: PathBuf,
    pub lock_file: PathBuf,
    pub pid_file: PathBuf,
    pub rrd_dir: PathBuf,
    pub corosync_conf: PathBuf,
    pub ipc_name: String,
    /// Where the daemon mounts exports and snapshot trees.
    pub export_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    starts: u32,
}

impl Workdir {
    pub fn new() -> Workdir {
        Self::new_in(&std::env::temp_dir())
    }

    pub fn new_in(base: &Path) -> Workdir {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let name = format!("ccfs-test-{}-{}", std::process::id(), id);
        let root = base.join(&name);
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create test dir");
        let w = Workdir {
            mount: root.join("mnt"),
            db: root.join("db/config.db"),
            run_dir: root.join("run"),
            lock_file: root.join("db/.pmxcfs.lockfile"),
            pid_file: root.join("ccfs.pid"),
            rrd_dir: root.join("rrd"),
            corosync_conf: root.join("corosync.conf"), // never created: local mode
            ipc_name: format!("ccfs-t{}-{}", std::process::id(), id),
            export_dir: root.join("exports"),
            snapshot_dir: root.join("snapshots"),
            root,
            starts: 0,
        };
        fs::create_dir_all(&w.mount).unwrap();
        fs::create_dir_all(w.db.parent().unwrap()).unwrap();
        fs::create_dir_all(&w.rrd_dir).unwrap();
        w
    }

    /// Copies `config.db` (and its `-wal`/`-shm` if present) from `src_dir`.
    pub fn install_db(&self, src: &Path) {
        fs::copy(src, &self.db)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", src.display(), self.db.display()));
        for suffix in ["-wal", "-shm"] {
            let mut s = src.as_os_str().to_owned();
            s.push(suffix);
            let s = PathBuf::from(s);
            if s.exists() {
                let mut d = self.db.as_os_str().to_owned();
                d.push(suffix);
                fs::copy(&s, PathBuf::from(d)).unwrap();
            }
        }
    }

    /// The command line of the contract (BRIEF.md), without `-f`/`-l`.
    pub fn args_for(&self, mount: &Path) -> Vec<String> {
        let s = |p: &Path| p.to_str().unwrap().to_string();
        vec![
            "--mount".into(),
            s(mount),
            "--db".into(),
            s(&self.db),
            "--run-dir".into(),
            s(&self.run_dir),
            "--lock-file".into(),
            s(&self.lock_file),
            "--pid-file".into(),
            s(&self.pid_file),
            "--nodename".into(),
            NODENAME.into(),
            "--node-ip".into(),
            NODE_IP.into(),
            "--rrd-dir".into(),
            s(&self.rrd_dir),
            "--corosync-conf".into(),
            s(&self.corosync_conf),
            "--ipc-name".into(),
            self.ipc_name.clone(),
            "--export-dir".into(),
            s(&self.export_dir),
            "--snapshot-dir".into(),
            s(&self.snapshot_dir),
        ]
    }

    fn next_log(&mut self) -> PathBuf {
        self.starts += 1;
        self.root.join(format!("daemon-{}.log", self.starts))
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // Never recurse into a live mount (exports and snapshot trees a
        // killed daemon left behind included).
        for m in fuse_mounts_under(&self.root) {
            lazy_umount(&m);
        }
        if fuse_mounts_under(&self.root).is_empty() {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

pub fn ccfs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ccfs")
}

/// Whether `path` is currently a FUSE mount point (per /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    mount_fstype(path).is_some_and(|t| t.starts_with("fuse"))
}

/// The file system type of the mount exactly at `path`, if any (the last
/// one wins, as with stacked mounts).
pub fn mount_fstype(path: &Path) -> Option<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.to_str()?;
    let mut found = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 5 || unescape_mountinfo(fields[4]) != want {
            continue;
        }
        let sep = fields.iter().position(|f| *f == "-")?;
        found = fields.get(sep + 1).map(|s| s.to_string());
    }
    found
}

/// Every FUSE mount point at or below `dir`.
pub fn fuse_mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fuse = fields.get(sep + 1)?.starts_with("fuse");
            let point = PathBuf::from(unescape_mountinfo(fields.get(4)?));
            (fuse && point.starts_with(dir)).then_some(point)
        })
        .collect()
}

/// Mount ids (first field of mountinfo) of the FUSE mounts at `path`.
pub fn fuse_mount_ids(path: &Path) -> Vec<u64> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let want = path.to_str().unwrap_or("");
    info.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fuse = fields.get(sep + 1)?.starts_with("fuse");
            (fields.len() > 4 && unescape_mountinfo(fields[4]) == want && fuse)
                .then(|| fields[0].parse().ok())
                .flatten()
        })
        .collect()
}

/// Whether statfs at `path` is answered by a FUSE daemon (f_type "FUSE")
/// within `timeout`. A dead mount answers ENOTCONN, a plain directory has
/// another type. Mount ids cannot tell a new mount from a dead one: the
/// kernel reuses the id of the mount a lazy unmount freed. The probe runs
/// in a thread so a hung daemon cannot hang the test; that thread ends when
/// the daemon is stopped.
pub fn is_live_fuse(path: &Path, timeout: Duration) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let c = cstr(path);
    std::thread::spawn(move || {
        let mut s: libc::statfs = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::statfs(c.as_ptr(), &mut s) };
        let _ = tx.send(r == 0 && s.f_type as u32 == 0x6573_5546);
    });
    rx.recv_timeout(timeout).unwrap_or(false)
}

/// The mount options (per-mount and super-block) of the mount at `path`.
pub fn mount_options(path: &Path) -> Option<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.to_str()?;
    let mut found = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 6 || unescape_mountinfo(fields[4]) != want {
            continue;
        }
        let sep = fields.iter().position(|f| *f == "-")?;
        found = Some(format!(
            "{},{}",
            fields[5],
            fields.get(sep + 3).copied().unwrap_or("")
        ));
    }
    found
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\134", "\\")
}

pub fn lazy_umount(path: &Path) {
    let _ = Command::new("umount")
        .arg("-l")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); look at the state too.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A running daemon. Dropping it stops it (SIGTERM, then SIGKILL).
pub struct Daemon {
    pub pid: i32,
    child: Option<Child>,
    pub log: PathBuf,
    mount: PathBuf,
}

impl Daemon {
    /// Waits (bounded) for the process to end; returns its status if it is
    /// our child, `None` for a forked daemon that ended.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, ()> {
        let start = Instant::now();
        loop {
            match &mut self.child {
                Some(c) => {
                    if let Some(st) = c.try_wait().expect("try_wait") {
                        self.child = None;
                        self.pid = 0;
                        return Ok(Some(st));
                    }
                }
                None => {
                    if self.pid == 0 || !pid_alive(self.pid) {
                        self.pid = 0;
                        return Ok(None);
                    }
                }
            }
            if start.elapsed() > timeout {
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        if self.pid > 0 {
            unsafe { libc::kill(self.pid, sig) };
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn shutdown(&mut self) {
        if self.pid == 0 {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.wait_exit(STOP_TIMEOUT).is_err() {
            self.signal(libc::SIGKILL);
            let _ = self.wait_exit(STOP_TIMEOUT);
        }
        if is_mounted(&self.mount) {
            lazy_umount(&self.mount);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Spawns the daemon with the given extra flags and arguments.
pub fn spawn(work: &mut Workdir, flags: &[&str], mount: &Path) -> Daemon {
    spawn_with_env(work, flags, mount, &[])
}

/// `spawn` with environment changes: `Some` sets a variable, `None`
/// removes it.
pub fn spawn_with_env(
    work: &mut Workdir,
    flags: &[&str],
    mount: &Path,
    env: &[(&str, Option<&str>)],
) -> Daemon {
    spawn_program(Path::new(ccfs_bin()), work, flags, mount, env)
}

/// `spawn_with_env` of another `ccfs` binary (an installed one).
pub fn spawn_program(
    program: &Path,
    work: &mut Workdir,
    flags: &[&str],
    mount: &Path,
    env: &[(&str, Option<&str>)],
) -> Daemon {
    require_environment();
    let log = work.next_log();
    let out = fs::File::create(&log).expect("create log");
    let err = out.try_clone().unwrap();
    let mut cmd = Command::new(program);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let child = cmd
        .args(flags)
        .args(work.args_for(mount))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn ccfs");
    Daemon {
        pid: child.id() as i32,
        child: Some(child),
        log,
        mount: mount.to_path_buf(),
    }
}

/// Why a start did not produce a mount.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub log: String,
    pub timed_out: bool,
}

/// Waits (bounded) until `d` has mounted `mount`; reports an early exit.
pub fn wait_mounted(d: &mut Daemon, mount: &Path) -> Result<(), StartFailure> {
    let start = Instant::now();
    loop {
        if is_mounted(mount) && is_live_fuse(mount, Duration::from_secs(2)) {
            return Ok(());
        }
        if let Some(c) = &mut d.child {
            if let Some(st) = c.try_wait().expect("try_wait") {
                d.child = None;
                d.pid = 0;
                return Err(StartFailure {
                    status: Some(st),
                    log: d.log_text(),
                    timed_out: false,
                });
            }
        }
        if start.elapsed() > MOUNT_TIMEOUT {
            return Err(StartFailure {
                status: None,
                log: d.log_text(),
                timed_out: true,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A node: its directory and (while running) its daemon. Field order makes
/// the daemon stop before the directory is removed.
pub struct Node {
    pub daemon: Option<Daemon>,
    pub work: Workdir,
}

impl Node {
    /// A local-mode node on a fresh database.
    pub fn start() -> Node {
        Self::start_on(Workdir::new())
    }

    /// A local-mode node on a copy of the given `config.db`.
    pub fn start_with_db(db: &Path) -> Node {
        let w = Workdir::new();
        w.install_db(db);
        Self::start_on(w)
    }

    pub fn start_on(work: Workdir) -> Node {
        let mut n = Node { daemon: None, work };
        n.restart();
        n
    }

    /// Tries to start on this workdir; the failure is returned, not raised.
    pub fn try_start(work: Workdir) -> (Node, Result<(), StartFailure>) {
        let mut n = Node { daemon: None, work };
        let r = n.try_restart();
        (n, r)
    }

    pub fn try_restart(&mut self) -> Result<(), StartFailure> {
        assert!(self.daemon.is_none(), "daemon already running");
        let mount = self.work.mount.clone();
        let mut d = spawn(&mut self.work, &["-f", "-l"], &mount);
        let r = wait_mounted(&mut d, &mount);
        self.daemon = Some(d);
        r
    }

    /// Starts the daemon (again) on the same directory and database.
    pub fn restart(&mut self) {
        if let Err(f) = self.try_restart() {
            panic!(
                "ccfs did not mount {} within {:?}: exit {:?}, timed out {}\n--- daemon output ---\n{}",
                self.work.mount.display(),
                MOUNT_TIMEOUT,
                f.status,
                f.timed_out,
                f.log
            );
        }
    }

    /// SIGTERM and wait; asserts a clean exit and that the mount is gone.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut d = self.daemon.take().expect("daemon not running");
        d.signal(libc::SIGTERM);
        let st = d
            .wait_exit(STOP_TIMEOUT)
            .unwrap_or_else(|_| panic!("ccfs did not exit within {STOP_TIMEOUT:?} of SIGTERM"));
        assert!(
            !is_mounted(&self.work.mount),
            "mount still present after the daemon exited"
        );
        st
    }

    /// SIGKILL: leaves a dead mount behind, as a crash would.
    pub fn kill9(&mut self) {
        let mut d = self.daemon.take().expect("daemon not running");
        d.signal(libc::SIGKILL);
        d.wait_exit(STOP_TIMEOUT)
            .expect("SIGKILLed daemon did not exit");
    }

    pub fn pid(&self) -> i32 {
        self.daemon.as_ref().map(|d| d.pid).unwrap_or(0)
    }

    pub fn log(&self) -> String {
        self.daemon
            .as_ref()
            .map(|d| d.log_text())
            .unwrap_or_default()
    }

    /// Absolute path of `rel` under the mount.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.work.mount.join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.p(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn read_string(&self, rel: &str) -> String {
        String::from_utf8(self.read(rel)).unwrap_or_else(|e| panic!("{rel} is not UTF-8: {e}"))
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        fs::write(self.p(rel), data).unwrap_or_else(|e| panic!("write {rel}: {e}"))
    }

    pub fn mkdir_p(&self, rel: &str) {
        fs::create_dir_all(self.p(rel)).unwrap_or_else(|e| panic!("mkdir -p {rel}: {e}"))
    }
}

/// Runs a command with a bounded wait; returns (status, stdout+stderr).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let out_path = std::env::temp_dir().join(format!(
        "ccfs-cmd-{}-{}.log",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::SeqCst)
    ));
    let out = fs::File::create(&out_path).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(&out_path) {
        let _ = f.read_to_string(&mut text);
    }
    let _ = fs::remove_file(&out_path);
    (status, text)
}

/// sha256 of a byte string, via coreutils (no hashing crate needed here).
pub fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils) must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// The errno of the last failed libc call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `Err(errno)` of an io::Result, for asserting error codes.
pub fn err_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("error without errno: {e}")),
    }
}

/// Asserts that `r` failed with `want` (an errno constant from libc).
#[track_caller]
pub fn assert_errno<T: std::fmt::Debug>(r: std::io::Result<T>, want: i32, what: &str) {
    let got = err_of(r);
    assert_eq!(
        got,
        want,
        "{what}: expected {} got {}",
        std::io::Error::from_raw_os_error(want),
        std::io::Error::from_raw_os_error(got)
    );
}

/// utimensat with explicit atime/mtime seconds (no follow of the last link).
pub fn set_times(path: &Path, atime: i64, mtime: i64) -> std::io::Result<()> {
    let c = cstr(path);
    let ts = [
        libc::timespec {
            tv_sec: atime,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
    ];
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
