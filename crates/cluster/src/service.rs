//! The public face of the cluster service: start it with a [`Host`], submit
//! writers' requests from any thread, read the quorate flag, the cluster
//! configuration and the dfsm status.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use ccfs_corosync::{ClusterConfig, CpgGroup, DCDB_GROUP};
use ccfs_dfsm::{Event, Member, Mode, Request, RequestId};

use crate::core::{Core, Effects, Io};
use crate::corosync_conf::ConfSync;
use crate::event_loop;
use crate::host::Host;
use crate::resync_clock::ResyncTotals;
use crate::wake::Wake;
use crate::Error;

/// errnos a writer can get from the service itself (dcdb.md §4).
pub const EACCES: i32 = libc::EACCES;
pub const EBUSY: i32 = libc::EBUSY;

/// How far a local writer's change must have come before the writer hears
/// back (after it was delivered and applied here, in the total order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Committed to this node's store ([`Host::commit`]; for SQLite in WAL
    /// mode, in the page cache): survives the death of every daemon at
    /// once, as in pmxcfs, which commits inside its delivery callback.
    #[default]
    Commit,
    /// Committed and synced to disk ([`Host::sync`] after the commit):
    /// survives a power loss of every node too.
    Sync,
}

/// Tunables; the defaults are pmxcfs's.
#[derive(Clone, Debug)]
pub struct Options {
    pub conf_sync: ConfSync,
    /// Wait before re-initializing a service that failed or left
    /// (dfsm.md §11: pmxcfs re-initializes after more than 5 s).
    pub restart_delay: Duration,
    /// Period of `Event::Tick` and of the restart checks.
    pub tick: Duration,
    /// Longest time a delivered change nobody here waits for (another
    /// node's) may wait for `Host::commit` while deliveries keep coming
    /// (it is committed at once when the loop idles). Local writers do not
    /// wait for it: their commit comes at the end of the loop round that
    /// delivered their change, before their reply.
    pub commit_delay: Duration,
    /// What a local writer's reply waits for.
    pub durability: Durability,
    /// Period of the checksum verification (dfsm.md §12; C: an hour).
    pub verify_interval: Duration,
    /// The tree stands in for a database that could not be read: take a
    /// peer's and never be the sync source until then
    /// (`DcdbNode::healing`; [`Host::healed`] says when it is over).
    pub healing: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            conf_sync: ConfSync::default(),
            restart_delay: Duration::from_secs(5),
            tick: Duration::from_secs(1),
            commit_delay: Duration::from_millis(100),
            durability: Durability::Commit,
            verify_interval: Duration::from_secs(ccfs_dfsm::VERIFY_INTERVAL_SECS),
            healing: false,
        }
    }
}

/// A snapshot of the dcdb group's state, for `.members`, logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Our corosync nodeid; 0 until the first `cpg_initialize`.
    pub nodeid: u32,
    pub pid: u32,
    /// `None` until the dfsm exists (first successful join).
    pub mode: Option<Mode>,
    /// Members of the last membership, sorted, with their synced flag.
    pub members: Vec<(Member, bool)>,
    pub joined: bool,
    pub quorate: bool,
    /// Re-initialize attempts after leaving or losing corosync (dfsm.md §11
    /// restart), successful or not.
    pub restarts: u64,
    /// Messages this node multicast and messages delivered to it (every
    /// member's, its own included) since the start.
    pub sent: u64,
    pub delivered: u64,
    /// Completed state exchanges (START_SYNC to SYNCED) and their summed
    /// duration.
    pub resyncs: u64,
    pub resync_time: Duration,
}

/// What writer threads hand to the loop after running their request.
pub(crate) enum Input {
    Effects(Effects),
}

/// The reply slot of one waiting writer, and whether the changes of its
/// request are kept from `Host::changed` (see `submit_quiet`).
struct Waiter {
    tx: SyncSender<Result<u32, i32>>,
    quiet: bool,
}

pub(crate) struct Shared {
    pub quorate: AtomicBool,
    pub stop: AtomicBool,
    /// The dfsm; taken by the loop for each event and by each writer for
    /// framing and sending its request.
    pub core: Mutex<Core>,
    pub io: Io,
    next_id: AtomicU64,
    inbox: Mutex<VecDeque<Input>>,
    /// `None` once the service stopped: no new waiters.
    waiters: Mutex<Option<HashMap<RequestId, Waiter>>>,
    pub wake: Wake,
    pub config: Mutex<Option<ClusterConfig>>,
    pub status: Mutex<Status>,
    /// Written under the dfsm lock, read without it.
    pub resyncs: ResyncTotals,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn post(&self, input: Input) {
        lock(&self.inbox).push_back(input);
        self.wake.notify();
    }

    pub fn take_inputs(&self) -> VecDeque<Input> {
        std::mem::take(&mut *lock(&self.inbox))
    }

    /// Answer the writer waiting for `id` (if it still waits).
    pub fn reply(&self, id: RequestId, result: Result<u32, i32>) {
        let w = lock(&self.waiters).as_mut().and_then(|w| w.remove(&id));
        if let Some(w) = w {
            let _ = w.tx.try_send(result);
        }
    }

    /// Whether `id` is a waiting request submitted with `submit_quiet`.
    pub fn is_quiet(&self, id: RequestId) -> bool {
        lock(&self.waiters)
            .as_ref()
            .and_then(|w| w.get(&id))
            .is_some_and(|w| w.quiet)
    }

    /// Wake every waiting writer with EBUSY: their messages will never be
    /// delivered (the group stopped for good). pmxcfs leaves them blocked
    /// until the daemon restarts; a FUSE request hanging forever helps
    /// nobody.
    pub fn abort_waiters(&self) {
        let waiting: Vec<Waiter> = lock(&self.waiters)
            .as_mut()
            .map(|w| w.drain().map(|(_, w)| w).collect())
            .unwrap_or_default();
        for w in waiting {
            let _ = w.tx.try_send(Err(EBUSY));
        }
    }

    /// Wake every waiting writer with EBUSY and refuse new ones.
    pub fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.waiters).take();
    }
}

/// The cluster service of one daemon: one event-loop thread and one
/// sending thread. Dropping it shuts it down (leaves the group).
pub struct ClusterService {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ClusterService {
    /// Start the threads; they connect to corosync (and keep retrying
    /// every `restart_delay` while it is not there).
    pub fn start<H: Host>(host: Arc<H>, options: Options) -> Result<ClusterService, Error> {
        let cpg = Arc::new(CpgGroup::new(DCDB_GROUP)?);
        let shared = Arc::new(Shared {
            quorate: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            core: Mutex::new(Core::default()),
            io: Io {
                host,
                cpg,
                conf: options.conf_sync.clone(),
            },
            next_id: AtomicU64::new(1),
            inbox: Mutex::new(VecDeque::new()),
            waiters: Mutex::new(Some(HashMap::new())),
            wake: Wake::new().map_err(Error::Wake)?,
            config: Mutex::new(None),
            status: Mutex::new(Status::default()),
            resyncs: ResyncTotals::default(),
        });
        let thread = event_loop::spawn(Arc::clone(&shared), options)?;
        Ok(ClusterService {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The quorate flag (false until corosync's first notification).
    pub fn is_quorate(&self) -> bool {
        self.shared.quorate.load(Ordering::SeqCst)
    }

    /// Cluster name, config version and node list from cmap, once read.
    pub fn cluster_config(&self) -> Option<ClusterConfig> {
        lock(&self.shared.config).clone()
    }

    pub fn status(&self) -> Status {
        let mut s = lock(&self.shared.status).clone();
        s.quorate = self.is_quorate();
        s.sent = self.shared.io.cpg.messages_sent();
        s.delivered = self.shared.io.cpg.messages_delivered();
        (s.resyncs, s.resync_time) = self.shared.resyncs.get();
        s
    }

    /// Run a writer's request through the cluster (dcdb.md §4). For an
    /// operation: EACCES without quorum (nothing sent), otherwise frame and
    /// multicast it in this thread, then block until the own message was
    /// delivered, applied and committed here (see [`Durability`]; EIO if
    /// the commit failed), and return its result (bytes written or 0,
    /// or a positive errno; EBUSY when the send failed or the wait was
    /// aborted by a restart). An unlock request is fire and forget: `Ok(0)`
    /// once sent. Never call this from a [`Host`] callback or while
    /// holding the host's tree lock (it takes the dfsm lock, then the
    /// tree lock).
    pub fn submit(&self, request: Request) -> Result<u32, i32> {
        self.submit_with(request, false)
    }

    /// Like [`ClusterService::submit`], but the changes the delivery of
    /// this request makes on this node are not handed to `Host::changed`:
    /// for front ends that know them already (the kernel, for a FUSE
    /// operation, like `Origin::Kernel` in local mode).
    pub fn submit_quiet(&self, request: Request) -> Result<u32, i32> {
        self.submit_with(request, true)
    }

    fn submit_with(&self, request: Request, quiet: bool) -> Result<u32, i32> {
        let is_op = matches!(request, Request::Op(_));
        if !self.is_quorate() {
            return if is_op { Err(EACCES) } else { Ok(0) };
        }
        if self.shared.stop.load(Ordering::SeqCst) {
            return if is_op { Err(EBUSY) } else { Ok(0) };
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let rx = if is_op {
            let (tx, rx) = sync_channel(1);
            match lock(&self.shared.waiters).as_mut() {
                Some(w) => w.insert(id, Waiter { tx, quiet }),
                None => return Err(EBUSY),
            };
            Some(rx)
        } else {
            None
        };
        let mut fx = {
            let mut core = lock(&self.shared.core);
            if core.node.is_none() {
                drop(core);
                self.shared.reply(id, Err(EBUSY));
                Effects::default()
            } else {
                self.shared.feed(&mut core, Event::Request { id, request })
            }
        };
        // A request applies nothing by itself (its delivery does): its
        // replies are refusals and may go at once, unless rows were
        // persisted after all; then the loop answers after the commit.
        if !fx.persisted {
            for (id, result) in std::mem::take(&mut fx.replies) {
                self.shared.reply(id, result);
            }
        }
        if fx.for_the_loop() {
            self.shared.post(Input::Effects(fx));
        }
        match rx {
            // A dropped sender means the service stopped: the wait is aborted.
            Some(rx) => rx.recv().unwrap_or(Err(EBUSY)),
            None => Ok(0),
        }
    }

    /// Leave the group, disconnect from corosync, stop the threads (the
    /// loop drops its `Host` then). Waiting writers get EBUSY. Idempotent;
    /// must not be called from a `Host` callback.
    pub fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
        self.shared.close();
    }
}

impl Drop for ClusterService {
    fn drop(&mut self) {
        self.shutdown();
    }
}
