//! The public face of the kvstore service: start it on the daemon's
//! status, hand it local SET_STATUS / LOG_CLUSTER_MSG requests from any
//! thread, read its state, stop it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ccfs_corosync::{CpgGroup, KVSTORE_GROUP};
use ccfs_dfsm::{Action, Member, Mode};
use ccfs_kvstore::{Event, KvstoreNode};
use ccfs_status::Status;

use super::event_loop;
use crate::core::unix_now;
use crate::cpg_link::merge_leave;
use crate::service::lock;
use crate::wake::Wake;
use crate::Error;

/// Tunables; the defaults are pmxcfs's.
#[derive(Clone, Debug)]
pub struct KvstoreOptions {
    /// `cfs.ip`: announced as `nodeip` when no IP is known for our name
    /// (kvstore.md §5.3).
    pub startup_ip: String,
    /// Wait before re-initializing after a leave or a failed attempt
    /// (dfsm.md §11: more than 5 s).
    pub restart_delay: Duration,
    /// Period of the restart checks.
    pub tick: Duration,
    /// Track quorum into `Status::set_quorate` with an own handle.
    pub track_quorum: bool,
    /// Read cmap's cluster info into `Status::set_cluster_info` with an
    /// own handle (at start and after each tracked change).
    pub track_cmap: bool,
}

impl KvstoreOptions {
    pub fn new(startup_ip: &str) -> KvstoreOptions {
        KvstoreOptions {
            startup_ip: startup_ip.to_owned(),
            restart_delay: Duration::from_secs(5),
            tick: Duration::from_secs(1),
            track_quorum: true,
            track_cmap: true,
        }
    }
}

/// A snapshot of the group's state, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvstoreState {
    /// Our corosync nodeid; 0 until the first `cpg_initialize`.
    pub nodeid: u32,
    pub pid: u32,
    /// `None` until the first successful join created the dfsm.
    pub mode: Option<Mode>,
    /// Members of the last membership with their synced flag.
    pub members: Vec<(Member, bool)>,
    pub joined: bool,
    /// Re-initialize attempts after a leave or a lost corosync.
    pub restarts: u64,
    /// Messages this node multicast and messages delivered to it (every
    /// member's, its own included) since the start.
    pub sent: u64,
    pub delivered: u64,
}

pub(crate) struct KvShared {
    pub status: Arc<Mutex<Status>>,
    pub cpg: Arc<CpgGroup>,
    /// The dfsm, once the first `cpg_initialize` told us who we are.
    pub node: Mutex<Option<KvstoreNode>>,
    pub stop: AtomicBool,
    pub wake: Wake,
    /// A `Leave` produced outside the loop (a failed send of a request):
    /// the loop executes it. `Some(rejoin)`.
    pub leave: Mutex<Option<bool>>,
    pub restarts: AtomicU64,
}

impl KvShared {
    /// One event into the node (status locked for the call only), then its
    /// actions; a failed multicast is fed back as the next event. Returns
    /// the `Leave` to execute, if any. The caller holds the node lock, so
    /// frames go out in their count order.
    pub fn feed(&self, node: &mut KvstoreNode, event: Event) -> Option<bool> {
        let mut queue = vec![event];
        let mut leave = None;
        while let Some(ev) = queue.pop() {
            let actions = {
                let mut st = lock(&self.status);
                node.handle(&mut st, unix_now(), ev)
            };
            leave = merge_leave(leave, self.execute(actions, &mut queue));
        }
        leave
    }

    /// Runs `actions` in order: multicasts now (failures appended to
    /// `failed` as events, in order), mode changes logged, leaves returned.
    pub fn execute(&self, actions: Vec<Action>, failed: &mut Vec<Event>) -> Option<bool> {
        let mut leave = None;
        let mut fails = Vec::new();
        for action in actions {
            match action {
                Action::Multicast { bytes, purpose } => {
                    if let Err(e) = self.cpg.mcast(&bytes) {
                        tracing::warn!("kvstore cpg_mcast_joined failed: {e}");
                        fails.push(Event::MulticastFailed { purpose });
                    }
                }
                Action::ModeChanged(m) => tracing::info!("kvstore mode: {m:?}"),
                Action::Leave { rejoin } => leave = merge_leave(leave, Some(rejoin)),
                other => tracing::warn!("kvstore: unexpected action {other:?}"),
            }
        }
        failed.extend(fails.into_iter().rev());
        leave
    }

    /// Actions of a local request (IPC thread): executed here; a failure
    /// is fed back here too; a leave goes to the loop.
    fn run_local(&self, node: &mut KvstoreNode, actions: Vec<Action>) {
        let mut failed = Vec::new();
        let mut leave = self.execute(actions, &mut failed);
        while let Some(ev) = failed.pop() {
            leave = merge_leave(leave, self.feed(node, ev));
        }
        if leave.is_some() {
            let mut l = lock(&self.leave);
            *l = merge_leave(*l, leave);
            drop(l);
            self.wake.notify();
        }
    }
}

/// The kvstore group of one daemon: one event-loop thread. Dropping it
/// shuts it down (leaves the group).
pub struct KvstoreService {
    shared: Arc<KvShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl KvstoreService {
    /// Start the loop thread on `status` (shared with the IPC server and
    /// the status files); it connects to corosync and keeps retrying every
    /// `restart_delay` while corosync is not there.
    pub fn start(
        status: Arc<Mutex<Status>>,
        options: KvstoreOptions,
    ) -> Result<KvstoreService, Error> {
        let shared = Arc::new(KvShared {
            status,
            cpg: Arc::new(CpgGroup::new(KVSTORE_GROUP)?),
            node: Mutex::new(None),
            stop: AtomicBool::new(false),
            wake: Wake::new().map_err(Error::Wake)?,
            leave: Mutex::new(None),
            restarts: AtomicU64::new(0),
        });
        let thread = event_loop::spawn(Arc::clone(&shared), options)?;
        Ok(KvstoreService {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// IPC SET_STATUS (kvstore.md §3.2): stored locally and, with a CPG
    /// handle, multicast without waiting. `Err` is a positive errno for
    /// the client (EFBIG for a value over 32 KiB, ...).
    pub fn set_status(&self, key: &str, value: &[u8], now: u64) -> Result<(), i32> {
        let mut guard = lock(&self.shared.node);
        let result = match guard.as_mut() {
            // C: no CPG handle yet, the value is only stored.
            None => lock(&self.shared.status).set_status(key, value, now).result,
            Some(node) => {
                let (result, actions) = {
                    let mut st = lock(&self.shared.status);
                    node.set_status(&mut st, now, key, value)
                };
                self.shared.run_local(node, actions);
                result
            }
        };
        result.map_err(|e| e.errno())
    }

    /// LOG_CLUSTER_MSG and the daemon's own cluster log lines
    /// (clusterlog.md §4): inserted locally, multicast with a CPG handle.
    #[allow(clippy::too_many_arguments)]
    pub fn log(&self, ident: &[u8], tag: &[u8], pid: u32, priority: u8, msg: &[u8], now: u64) {
        let mut guard = lock(&self.shared.node);
        match guard.as_mut() {
            None => {
                let _ = lock(&self.shared.status).log(ident, tag, pid, priority, msg, now as u32);
            }
            Some(node) => {
                let actions = {
                    let mut st = lock(&self.shared.status);
                    node.log(&mut st, now, ident, tag, pid, priority, msg)
                };
                self.shared.run_local(node, actions);
            }
        }
    }

    /// The status this service updates.
    pub fn status(&self) -> &Arc<Mutex<Status>> {
        &self.shared.status
    }

    pub fn state(&self) -> KvstoreState {
        let node = lock(&self.shared.node);
        KvstoreState {
            nodeid: self.shared.cpg.local_nodeid(),
            pid: self.shared.cpg.pid(),
            mode: node.as_ref().map(KvstoreNode::mode),
            members: node
                .as_ref()
                .map(|n| n.dfsm().members())
                .unwrap_or_default(),
            joined: self.shared.cpg.is_joined(),
            restarts: self.shared.restarts.load(Ordering::SeqCst),
            sent: self.shared.cpg.messages_sent(),
            delivered: self.shared.cpg.messages_delivered(),
        }
    }

    /// Bump `clinfo` (as C does at shutdown), leave the group, disconnect,
    /// stop the thread. Later requests only change the local status.
    /// Idempotent.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for KvstoreService {
    fn drop(&mut self) {
        self.shutdown();
    }
}
