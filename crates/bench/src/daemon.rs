//! Starting the file system under test and stopping it again, by PID.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mounted daemon; dropping it stops that process and unmounts.
pub struct Mounted {
    pub pid: i32,
    pub mount: PathBuf,
    child: Child,
    /// Removed when the daemon is gone and unmounted.
    pub workdir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot run {cmd}: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{0} did not mount within 10 s (exit: {1:?}); output in {2}")]
    NoMount(String, Option<std::process::ExitStatus>, String),
    #[error("cannot prepare {0}: {1}")]
    Prepare(String, std::io::Error),
}

pub fn is_fuse_mount(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-");
        f.len() > 4
            && f[4] == want
            && sep
                .and_then(|s| f.get(s + 1))
                .is_some_and(|t| t.starts_with("fuse"))
    })
}

/// The IPC service name of the ccfs started here (not C's `pve2`, so a
/// bench never answers for, or collides with, a running daemon).
pub fn ccfs_ipc_name() -> String {
    format!("ccfs-bench-{}", std::process::id())
}

/// Runs ccfs in local mode with every path inside `workdir` (on a real
/// disk, so /proc/PID/io write_bytes sees the database writes), with
/// `extra` options at the end.
pub fn start_ccfs(bin: &Path, extra: &[String], workdir: &Path) -> Result<Mounted, StartError> {
    let prep = |p: &Path| {
        fs::create_dir_all(p).map_err(|e| StartError::Prepare(p.display().to_string(), e))
    };
    let mount = workdir.join("mnt");
    for d in [
        &mount,
        &workdir.join("db"),
        &workdir.join("run"),
        &workdir.join("rrd"),
    ] {
        prep(d)?;
    }
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    let mut args = vec![
        "-f".to_string(),
        "-l".into(),
        "--mount".into(),
        s(mount.clone()),
        "--db".into(),
        s(workdir.join("db/config.db")),
        "--run-dir".into(),
        s(workdir.join("run")),
        "--lock-file".into(),
        s(workdir.join("db/.pmxcfs.lockfile")),
        "--pid-file".into(),
        s(workdir.join("ccfs.pid")),
        "--rrd-dir".into(),
        s(workdir.join("rrd")),
        "--corosync-conf".into(),
        s(workdir.join("corosync.conf")),
        "--nodename".into(),
        "bench".into(),
        "--node-ip".into(),
        "192.0.2.1".into(),
        "--ipc-name".into(),
        ccfs_ipc_name(),
        "--export-dir".into(),
        s(workdir.join("exports")),
        "--snapshot-dir".into(),
        s(workdir.join("snapshots")),
    ];
    args.extend(extra.iter().cloned());
    start(
        &bin.to_string_lossy(),
        &args,
        &mount,
        &workdir.join("daemon.log"),
    )
}

/// Runs an arbitrary command line (e.g. `pmxcfs -f -l`) that mounts `mount`.
pub fn start(
    program: &str,
    args: &[String],
    mount: &Path,
    log: &Path,
) -> Result<Mounted, StartError> {
    let out =
        fs::File::create(log).map_err(|e| StartError::Prepare(log.display().to_string(), e))?;
    let err = out
        .try_clone()
        .map_err(|e| StartError::Prepare(log.display().to_string(), e))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|source| StartError::Spawn {
            cmd: program.to_string(),
            source,
        })?;
    let mut m = Mounted {
        pid: child.id() as i32,
        mount: mount.to_path_buf(),
        child,
        workdir: None,
    };
    let start = Instant::now();
    while !is_fuse_mount(mount) {
        if let Ok(Some(st)) = m.child.try_wait() {
            return Err(StartError::NoMount(
                program.into(),
                Some(st),
                log.display().to_string(),
            ));
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(StartError::NoMount(
                program.into(),
                None,
                log.display().to_string(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(m)
}

impl Drop for Mounted {
    fn drop(&mut self) {
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if is_fuse_mount(&self.mount) {
            let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
        }
        if let Some(w) = &self.workdir {
            // A daemon killed before its shutdown ended leaves its export
            // and snapshot mounts behind (dead): detach those too.
            for sub in ["exports", "snapshots"] {
                for e in fs::read_dir(w.join(sub)).into_iter().flatten().flatten() {
                    if is_fuse_mount(&e.path()) {
                        let _ = Command::new("umount").arg("-l").arg(e.path()).status();
                    }
                }
            }
            if !is_fuse_mount(&self.mount) {
                let _ = fs::remove_dir_all(w);
            }
        }
    }
}
