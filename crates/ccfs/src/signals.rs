//! SIGTERM, SIGINT and SIGHUP end the daemon cleanly (fuse.md §1.3): they
//! are blocked in every thread and one thread waits for them and unmounts,
//! which ends the FUSE loop.

use std::io;
use std::path::PathBuf;

use fuser::SessionUnmounter;

use crate::process::lazy_unmount;

pub struct ShutdownSignals {
    set: libc::sigset_t,
}

impl ShutdownSignals {
    /// Block the shutdown signals in the calling thread (and in every
    /// thread it starts afterwards).
    pub fn block() -> io::Result<ShutdownSignals> {
        // SAFETY: sigset manipulation on a local set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(ShutdownSignals { set })
        }
    }

    fn wait(&self) -> i32 {
        let mut sig = 0;
        // SAFETY: the set is initialised; sig is a valid out pointer.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        sig
    }
}

/// The connection number of the FUSE mount at `mount` (minor device),
/// from /proc/self/mountinfo; stat would ask our own file system.
fn fuse_connection(mount: &std::path::Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = mount.to_str()?;
    info.lines()
        .rev()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 4 && f[4] == want).then(|| f[2].to_string())
        })
        .next()
        .and_then(|dev| dev.split_once(':').map(|(_, minor)| minor.to_string()))
}

pub fn spawn_waiter(
    signals: ShutdownSignals,
    mut unmounter: SessionUnmounter,
    mount: PathBuf,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ccfs-signals".into())
        .spawn(move || {
            let sig = signals.wait();
            tracing::info!("received signal {sig}, shutting down");
            let conn = fuse_connection(&mount);
            if let Err(e) = unmounter.unmount() {
                // Busy (a process sits inside): detach it and cut the
                // connection so the request loop ends anyway.
                tracing::warn!("unmount failed ({e}); detaching and aborting the connection");
                lazy_unmount(&mount);
                if let Some(c) = conn {
                    let abort = format!("/sys/fs/fuse/connections/{c}/abort");
                    if let Err(e) = std::fs::write(&abort, b"1") {
                        tracing::warn!("{abort}: {e}");
                    }
                }
            }
        })
}
