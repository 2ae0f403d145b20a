//! The running group as the daemon holds it: started with a
//! [`LocalHistory`], told of local snapshots and gaps, shut down. The
//! thread behind it is `event_loop.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ccfs_corosync::CpgGroup;

use crate::error::GroupError;
use crate::event_loop::Loop;
use crate::local::LocalHistory;
use crate::machine::{Config, Local};
use crate::wake::Wake;
use crate::GROUP;

/// How the service runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The CPG group name, byte for byte ([`GROUP`]).
    pub group: String,
    pub machine: Config,
    /// Wait before joining again after corosync went away.
    pub restart_delay: Duration,
    pub tick: Duration,
    /// Largest CPG message sent; bigger messages go as fragments.
    pub max_message: usize,
    /// Records exported per `GapRecords` batch (about).
    pub export_batch: usize,
    /// Frames sent per loop round, between two dispatches.
    pub frames_per_round: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            group: GROUP.to_string(),
            machine: Config::default(),
            restart_delay: Duration::from_secs(5),
            tick: Duration::from_secs(1),
            max_message: 256 * 1024,
            export_batch: 1 << 20,
            frames_per_round: 8,
        }
    }
}

/// The running group. Requests are queued to its thread and never block.
pub struct HistoryGroup {
    inbox: Mutex<Sender<Local>>,
    wake: Arc<Wake>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl HistoryGroup {
    pub fn start(
        history: Arc<dyn LocalHistory>,
        opts: Options,
    ) -> Result<HistoryGroup, GroupError> {
        let cpg = CpgGroup::new(&opts.group)?;
        let wake = Arc::new(Wake::new().map_err(GroupError::Wake)?);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let mut l = Loop::new(cpg, history, opts, rx, wake.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ccfs-history-group".into())
            .spawn(move || l.run())
            .map_err(GroupError::Thread)?;
        Ok(HistoryGroup {
            inbox: Mutex::new(tx),
            wake,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    fn post(&self, l: Local) {
        let sent = self.inbox.lock().unwrap_or_else(|p| p.into_inner()).send(l);
        if sent.is_ok() {
            self.wake.notify();
        }
    }

    /// A snapshot was made here: the others get it.
    pub fn snapshot_created(&self, name: &str) {
        self.post(Local::SnapshotCreated { name: name.into() });
    }

    /// A snapshot was deleted here (its tombstone is recorded).
    pub fn snapshot_deleted(&self, t: ccfs_journal::Tombstone) {
        self.post(Local::SnapshotDeleted(t));
    }

    /// The ranges this node lacks changed (a resync).
    pub fn gaps_changed(&self) {
        self.post(Local::GapsChanged);
    }

    /// Leave the group and end the thread.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for HistoryGroup {
    fn drop(&mut self) {
        self.shutdown();
    }
}
