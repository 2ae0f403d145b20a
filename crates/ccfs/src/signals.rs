//! SIGTERM, SIGINT and SIGHUP end the daemon cleanly (fuse.md §1.3): they
//! are blocked in every thread, and one thread waits for them and tells
//! the main thread, which unmounts and tears down.

use std::io;
use std::path::Path;
use std::sync::mpsc::Sender;

use fuser::SessionUnmounter;

use crate::process::lazy_unmount;

/// Why the daemon stops.
#[derive(Debug)]
pub enum Stop {
    /// A shutdown signal arrived.
    Signal(i32),
    /// The FUSE loop ended (unmounted from outside, or an error).
    LoopEnded(io::Result<()>),
}

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

/// Wait for the first shutdown signal and report it.
pub fn spawn_waiter(
    signals: ShutdownSignals,
    tx: Sender<Stop>,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ccfs-signals".into())
        .spawn(move || {
            let sig = signals.wait();
            let _ = tx.send(Stop::Signal(sig));
        })
}

/// Unmount; returns false when the mount is busy (a process sits in it or
/// holds a file open) and had to be detached instead. A detached mount's
/// connection lives on until this process exits, so the caller must not
/// wait for the request loop to end.
pub fn unmount(unmounter: &mut SessionUnmounter, mount: &Path) -> bool {
    match unmounter.unmount() {
        Ok(()) => true,
        Err(e) => {
            // libfuse unmounts lazily too (MNT_DETACH).
            tracing::warn!("unmount of {} failed ({e}); detaching it", mount.display());
            lazy_unmount(mount);
            false
        }
    }
}
