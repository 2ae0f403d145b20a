//! Exports and snapshot trees: parts of the tree served as FUSE mounts of
//! their own, for virtiofsd (or any other server) to share into a guest,
//! and every snapshot of the journal served read-only like ZFS's
//! `.zfs/snapshot`.
//!
//! - `config`: the exports file in the replicated tree (`ccfs/exports.cfg`).
//! - `scope`: what of the tree an export shows (no way out of its subtree,
//!   no `priv/` unless asked for, no control files, no plugins).
//! - `look`: owner and modes inside an export or a snapshot tree.
//! - `live`, `live_io`, `live_fs`: the file system of a live export;
//!   changes go through the node's one writer path.
//! - `frozen`: the file system of a snapshot (read-only).
//! - `space`: `df` inside an export shows its quota.
//! - `follow`: live exports forget what any change touched.
//! - `mounts`: the mounts of this node, kept in step with the tree and
//!   the journal.
//! - `admin`: `ccfs export add/remove/list/show` on the daemon's side.

pub mod admin;
pub mod config;
mod dirs;
mod follow;
pub mod frozen;
pub mod live;
mod live_fs;
mod live_io;
pub mod look;
pub mod mounts;
mod owed;
pub mod scope;
pub mod space;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::history::History;
use crate::node::{Interest, Node};
pub use mounts::Dirs;

/// How often the mount thread looks at the journal's snapshots (and the
/// quorum, and mounts to retry) when no change arrives.
const TICK: Duration = Duration::from_millis(250);
const SNAPSHOT_POLL: Duration = Duration::from_secs(1);
/// Change sets handled as one batch of invalidations at most, and how
/// long a batch may wait for more: invalidations come this much later,
/// far within the kernel's cache lifetime (`TREE_TTL`).
const MAX_BATCH: usize = 256;
const BATCH_WINDOW: Duration = Duration::from_millis(5);

#[derive(Debug, Error)]
pub enum ExportsError {
    #[error("directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("mount at {path} failed: {source}")]
    Mount {
        path: String,
        source: std::io::Error,
    },
    #[error("snapshot {name}: {source}")]
    Snapshot {
        name: String,
        source: ccfs_journal::JournalError,
    },
    #[error("unable to start the export mount thread: {0}")]
    Thread(std::io::Error),
}

/// The running mounts; [`Exports::stop`] unmounts them all.
pub struct Exports {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exports {
    /// Mount what the tree and journal hold now (before this returns, so
    /// a daemon that reports ready serves its exports), then follow them.
    pub fn start(
        node: Arc<Node>,
        history: Arc<History>,
        dirs: Dirs,
        www_data_gid: u32,
    ) -> Result<Exports, ExportsError> {
        // Subscribed before the first look: nothing falls in between.
        let changes = node.stream().subscribe_lossless(Interest::Records);
        let mut table = mounts::Table::new(node, history, dirs, www_data_gid);
        table.refresh();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ccfs-exports".into())
            .spawn(move || {
                let mut last_poll = Instant::now();
                while !stopping.load(Ordering::Relaxed) {
                    match changes.recv_timeout(TICK) {
                        Ok(set) => {
                            // With what else comes within the window, as
                            // one batch: a kernel forgets a file once for a
                            // burst of writes to it.
                            let mut sets = vec![set];
                            let until = Instant::now() + BATCH_WINDOW;
                            while sets.len() < MAX_BATCH {
                                let left = until.saturating_duration_since(Instant::now());
                                match changes.recv_timeout(left) {
                                    Ok(set) => sets.push(set),
                                    Err(_) => break,
                                }
                            }
                            table.changed(&sets);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if last_poll.elapsed() >= SNAPSHOT_POLL || !table.is_current() {
                        last_poll = Instant::now();
                        table.refresh();
                    }
                }
                table.clear();
            })
            .map_err(ExportsError::Thread)?;
        Ok(Exports {
            stop,
            thread: Some(thread),
        })
    }

    /// Unmount every export and snapshot tree and end the thread.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Exports {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
