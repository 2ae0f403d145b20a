//! Process-level chores of the daemon: the instance lock, the pid file,
//! the run directory, daemonising, stale mounts (fuse.md §1.2, §1.3).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::cli::Options;

#[derive(Debug, Error)]
pub enum ProcessError {
    #[error("{what} '{path}': {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("unable to acquire lock '{0}' - another instance is running")]
    Locked(PathBuf),
    #[error("database '{0}' is in use by another ccfs instance")]
    DatabaseInUse(PathBuf),
    #[error("fork failed: {0}")]
    Fork(io::Error),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ProcessError + 'a {
    move |source| ProcessError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// An exclusive `flock` held for the life of the process.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Open/create `path` (0600) and take an exclusive flock without
    /// blocking; retry once per second, `retries` times (C: 10 retries,
    /// one "trying again" message), then fail. `on_busy` runs after each
    /// failed try (the daemon frees a holder that cannot finish dying).
    pub fn acquire(
        path: &Path,
        retries: u32,
        mut on_busy: impl FnMut(),
    ) -> Result<InstanceLock, ProcessError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_err("unable to open lock file", path))?;
        for attempt in 0..=retries {
            // SAFETY: flock on a valid open fd.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(InstanceLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_err("unable to lock", path)(err));
            }
            if attempt == 0 && retries > 0 {
                tracing::error!("unable to acquire pmxcfs lock - trying again");
            }
            if attempt < retries {
                on_busy();
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Err(ProcessError::Locked(path.to_path_buf()))
    }
}

/// An exclusive `flock` on the database file itself, so that two daemons
/// given different lock files still cannot share one database. (flock and
/// SQLite's POSIX locks do not interact on Linux; the descriptor stays
/// open for the life of the process, so closing it cannot drop SQLite's
/// locks either.)
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
}

impl DatabaseLock {
    /// Lock (and create, empty, if missing: SQLite takes an empty file as
    /// a new database) the database file before anyone opens it.
    pub fn acquire(path: &Path) -> Result<DatabaseLock, ProcessError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(dir)
                    .map_err(io_err("unable to create directory", dir))?;
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_err("unable to open database", path))?;
        // SAFETY: flock on a valid open fd.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(ProcessError::DatabaseInUse(path.to_path_buf()));
            }
            return Err(io_err("unable to lock database", path)(err));
        }
        Ok(DatabaseLock { _file: file })
    }
}

/// Write `pid` to `path` atomically (temp file + rename), mode 0644.
pub fn write_pid_file(path: &Path, pid: u32) -> Result<(), ProcessError> {
    let tmp = path.with_extension("tmp.ccfs");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io_err("unable to create pid file", &tmp))?;
        writeln!(f, "{pid}").map_err(io_err("unable to write pid file", &tmp))?;
        // The umask (027) would leave 0640; clients read it as any user.
        f.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err("unable to chmod pid file", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err("unable to rename pid file", path))
}

/// Create `dir` with `mode` if it is missing, and any missing parents
/// with 0755 (as `mkdir -p` under the usual umask: others must still pass
/// through to the pid file and the run dir). The modes are set
/// explicitly, the daemon's umask (027) would narrow them. An existing
/// directory is left as it is.
fn create_dir(dir: &Path, mode: u32) -> Result<(), ProcessError> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty()) {
        match fs::symlink_metadata(d) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(d),
            Err(e) => return Err(io_err("unable to create directory", d)(e)),
        }
        at = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            // another process made it meanwhile
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("unable to create directory", d)(e)),
        }
        let m = if d == dir { mode } else { 0o755 };
        fs::set_permissions(d, fs::Permissions::from_mode(m))
            .map_err(io_err("unable to chmod directory", d))?;
    }
    Ok(())
}

fn parent(file: &Path) -> Option<&Path> {
    file.parent().filter(|d| !d.as_os_str().is_empty())
}

/// The directories the daemon needs before it takes its lock, made as C
/// makes them at start (after umask 027): the directory of the database
/// and of the lock file 0750 root (C: /var/lib/pve-cluster), the run dir
/// 0750 root:www-data (C: /run/pve-cluster). Beyond C, for scratch trees
/// whose parents do not exist yet: the directory of the pid file and the
/// parent of the mount point (0755; the mount point itself is made just
/// before mounting).
pub fn create_dirs(opts: &Options, gid: u32) -> Result<(), ProcessError> {
    for file in [&opts.db, &opts.lock_file] {
        if let Some(dir) = parent(file) {
            create_dir(dir, 0o750)?;
        }
    }
    make_dir(&opts.run_dir, Some(gid))?;
    for dir in [parent(&opts.pid_file), parent(&opts.mount)]
        .into_iter()
        .flatten()
    {
        create_dir(dir, 0o755)?;
    }
    Ok(())
}

/// Create `dir` (0750) if missing and give it group `gid`; an existing
/// one gets the same mode and group (C chowns its run dir every start).
pub fn make_dir(dir: &Path, gid: Option<u32>) -> Result<(), ProcessError> {
    create_dir(dir, 0o750)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
        .map_err(io_err("unable to chmod directory", dir))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(dir, Some(0), Some(gid))
            .map_err(io_err("unable to chown directory", dir))?;
    }
    Ok(())
}

/// Create the restart flag (`cfs-restart-flag`, 0440 root:www-data) that
/// tells IPC clients a restart is in progress (fuse.md §1.3).
pub fn create_restart_flag(run_dir: &Path, gid: u32) -> Result<(), ProcessError> {
    let path = run_dir.join("cfs-restart-flag");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o440)
        .open(&path)
        .map_err(io_err("unable to create restart flag", &path))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o440))
        .map_err(io_err("unable to chmod restart flag", &path))?;
    std::os::unix::fs::chown(&path, Some(0), Some(gid))
        .map_err(io_err("unable to chown restart flag", &path))
}

pub fn remove_restart_flag(run_dir: &Path) {
    let _ = fs::remove_file(run_dir.join("cfs-restart-flag"));
}

/// A FUSE daemon killed hard leaves a mount whose every access fails with
/// ENOTCONN; a lazy unmount clears it (DESIGN.md, "Running a cluster").
/// `stat` may still succeed for a few seconds from the kernel's attribute
/// cache (entries are cached with a TTL), so `statfs`, which always asks
/// the daemon, decides.
pub fn clear_dead_mount(mount: &Path) {
    if is_dead_mount(mount) {
        tracing::warn!("clearing dead mount at {}", mount.display());
        lazy_unmount(mount);
    }
}

fn is_dead_mount(mount: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into the zeroed struct we own; the path is a
    // valid NUL-terminated string.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut buf) };
    let statfs_dead =
        rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOTCONN);
    let stat_dead =
        matches!(fs::metadata(mount), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN));
    statfs_dead || stat_dead
}

pub fn lazy_unmount(mount: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: valid NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// The parent's end of the readiness pipe.
pub struct Parent {
    pub child: u32,
    ready: File,
}

impl Parent {
    /// Wait for the child's readiness byte; false if it died first.
    pub fn wait_ready(mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.ready.read(&mut byte), Ok(1) if byte[0] == b'1')
    }
}

/// The child's end: written once the file system is up.
pub struct Readiness(File);

impl Readiness {
    pub fn signal(mut self) {
        let _ = self.0.write_all(b"1");
    }
}

pub enum Forked {
    Parent(Parent),
    Child(Readiness),
}

/// fork(2). Must run before any thread exists: a forked child keeps only
/// the calling thread (DESIGN.md pitfall: fork after the runtime started).
pub fn fork_with_pipe() -> Result<Forked, ProcessError> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ProcessError::Fork(io::Error::last_os_error()));
    }
    // SAFETY: pipe2 returned two fresh descriptors that we now own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: single-threaded at this point (see above).
    match unsafe { libc::fork() } {
        -1 => Err(ProcessError::Fork(io::Error::last_os_error())),
        0 => {
            drop(rd);
            // SAFETY: setsid in the fresh child.
            unsafe { libc::setsid() };
            Ok(Forked::Child(Readiness(File::from(wr))))
        }
        pid => {
            drop(wr);
            Ok(Forked::Parent(Parent {
                child: pid as u32,
                ready: File::from(rd),
            }))
        }
    }
}

/// Point stdin/stdout/stderr at /dev/null (the detached daemon).
pub fn detach_stdio() {
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_without_retries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = InstanceLock::acquire(&path, 0, || ()).unwrap();
        assert!(matches!(
            InstanceLock::acquire(&path, 0, || ()),
            Err(ProcessError::Locked(_))
        ));
        drop(first);
        assert!(InstanceLock::acquire(&path, 0, || ()).is_ok());
    }

    #[test]
    fn a_database_is_locked_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.db");
        let first = DatabaseLock::acquire(&path).unwrap();
        assert!(matches!(
            DatabaseLock::acquire(&path),
            Err(ProcessError::DatabaseInUse(_))
        ));
        drop(first);
        assert!(DatabaseLock::acquire(&path).is_ok());
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn missing_directories_are_made_with_cs_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("fresh");
        let opts = Options {
            db: root.join("lib/pve-cluster/config.db"),
            lock_file: root.join("lib/pve-cluster/.pmxcfs.lockfile"),
            run_dir: root.join("run/pve-cluster"),
            pid_file: root.join("var/run/ccfs.pid"),
            mount: root.join("etc/pve"),
            ..Options::default()
        };
        // (the daemon's umask 027 is covered by tests/start_dirs.rs: the
        // umask is process-wide, so a unit test must not change it)
        create_dirs(&opts, 0).unwrap();
        let mode = |p: &str| fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(""), 0o755, "a missing parent");
        assert_eq!(mode("lib"), 0o755);
        assert_eq!(mode("lib/pve-cluster"), 0o750);
        assert_eq!(mode("run/pve-cluster"), 0o750);
        assert_eq!(mode("var/run"), 0o755);
        assert_eq!(mode("etc"), 0o755);
        assert!(
            !root.join("etc/pve").exists(),
            "the mount point is made later"
        );
        assert!(!opts.db.exists() && !opts.lock_file.exists());

        // existing directories keep their mode; the run dir is fixed up
        fs::set_permissions(
            root.join("lib/pve-cluster"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        fs::set_permissions(
            root.join("run/pve-cluster"),
            fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        create_dirs(&opts, 0).unwrap();
        assert_eq!(mode("lib/pve-cluster"), 0o700);
        assert_eq!(mode("run/pve-cluster"), 0o750);
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("file"), b"").unwrap();
        let opts = Options {
            db: dir.path().join("file/sub/config.db"),
            ..Options::default()
        };
        let e = create_dirs(&opts, 0).unwrap_err().to_string();
        assert!(e.contains("unable to create directory"), "{e}");
        assert!(e.contains("file/sub"), "{e}");
    }

    #[test]
    fn pid_file_is_written_atomically_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid");
        write_pid_file(&path, 4242).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "4242\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
