//! The event-loop thread (corosync-bindings.md §8): polls the quorum, cmap
//! and `pve_dcdb_v1` fds, feeds every event to the dcdb dfsm with the tree
//! borrowed from the host, and executes the returned actions in order.
//! Lost services are re-initialized like pmxcfs's 1-second restart job
//! (dfsm.md §11, quorum.md §2, §4–§5).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ccfs_corosync::{Cmap, CpgEvent, CpgGroup, Dispatch, Quorum, DCDB_GROUP};
use ccfs_dfsm::{Action, DcdbNode, Event, Member, Purpose, Request};
use ccfs_memdb::Change;

use crate::corosync_conf::TREE_PATH;
use crate::host::{Host, Tree};
use crate::sender::{self, Outgoing};
use crate::service::{lock, Input, Options, Shared, EBUSY};
use crate::wake::poll_readable;
use crate::Error;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where the CPG side stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CpgState {
    Joined,
    /// Not joined (never, left, or corosync gone); retry after the delay
    /// counted from the last attempt (or from the leave).
    Out {
        since: Option<Instant>,
    },
    /// The dfsm is in ERROR or VERSION_ERROR: out until the process restarts.
    Stopped,
}

struct Loop<H: Host> {
    host: Arc<H>,
    shared: Arc<Shared>,
    options: Options,
    cpg: Arc<CpgGroup>,
    quorum: Quorum,
    cmap: Cmap,
    node: Option<DcdbNode>,
    outgoing: Option<Sender<Outgoing>>,
    sender: Option<JoinHandle<()>>,
    cpg_state: CpgState,
    /// When something was first handed to `Tree::persist` since the last
    /// flush.
    unflushed: Option<Instant>,
    quorum_attempt: Option<Instant>,
    cmap_attempt: Option<Instant>,
}

pub(crate) fn spawn<H: Host>(
    host: Arc<H>,
    shared: Arc<Shared>,
    options: Options,
) -> Result<JoinHandle<()>, Error> {
    let cpg = Arc::new(CpgGroup::new(DCDB_GROUP).map_err(Error::Corosync)?);
    let (tx, rx) = mpsc::channel();
    let sender = {
        let (cpg, shared) = (Arc::clone(&cpg), Arc::clone(&shared));
        std::thread::Builder::new()
            .name("cluster-send".into())
            .spawn(move || sender::run(cpg, shared, rx))
            .map_err(Error::Thread)?
    };
    let mut lp = Loop {
        host,
        shared,
        options,
        cpg,
        quorum: Quorum::new(),
        cmap: Cmap::new(),
        node: None,
        outgoing: Some(tx),
        sender: Some(sender),
        cpg_state: CpgState::Out { since: None },
        unflushed: None,
        quorum_attempt: None,
        cmap_attempt: None,
    };
    std::thread::Builder::new()
        .name("cluster-loop".into())
        .spawn(move || lp.run())
        .map_err(Error::Thread)
}

/// No event for this long means the loop is idle: commit now.
const IDLE: std::time::Duration = std::time::Duration::from_millis(2);

fn due(last: Option<Instant>, delay: std::time::Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= delay)
}

impl<H: Host> Loop<H> {
    fn run(&mut self) {
        self.restart_services();
        let mut next_tick = Instant::now() + self.options.tick;
        let mut cpg_events = Vec::new();
        let mut quorum_events = Vec::new();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let mut timeout = next_tick.saturating_duration_since(Instant::now());
            if self.unflushed.is_some() {
                timeout = timeout.min(IDLE);
            }
            // Priorities as pmxcfs: quorum first, then cmap, then dcdb.
            let fds = [
                self.shared.wake.fd(),
                self.quorum.fd().unwrap_or(-1),
                self.cmap.fd().unwrap_or(-1),
                self.cpg.fd().unwrap_or(-1),
            ];
            let ready = poll_readable(&fds, timeout);
            let idle = !ready.contains(&true);
            if ready[1] {
                self.dispatch_quorum(&mut quorum_events);
            }
            if ready[2] {
                self.dispatch_cmap();
            }
            if ready[3] {
                self.dispatch_cpg(&mut cpg_events);
            }
            if ready[0] {
                self.shared.wake.clear();
            }
            // Always drain: a post may race with the clear above.
            self.handle_inputs();
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + self.options.tick;
                self.feed(Event::Tick);
                self.restart_services();
            }
            let overdue = self
                .unflushed
                .is_some_and(|t| t.elapsed() >= self.options.commit_delay);
            if idle || overdue {
                self.flush();
            }
        }
        self.finish();
    }

    /// Group commit of everything persisted since the last one; runs when
    /// the loop is idle or the oldest change waited `commit_delay`.
    fn flush(&mut self) {
        if self.unflushed.take().is_none() {
            return;
        }
        self.host.with_tree(&mut |tree: &mut dyn Tree| {
            if let Err(e) = tree.flush() {
                tracing::error!("database commit failed: {e}; entering error mode");
                tree.memdb().enter_error_mode();
            }
        });
    }

    fn publish_status(&self) {
        let mut s = lock(&self.shared.status);
        s.nodeid = self.cpg.local_nodeid();
        s.pid = self.cpg.pid();
        s.joined = self.cpg.is_joined();
        if let Some(n) = &self.node {
            s.mode = Some(n.mode());
            s.members = n.dfsm().members();
        }
    }

    /// pmxcfs's `service_start_job`: (re)initialize what is not running.
    fn restart_services(&mut self) {
        let delay = self.options.restart_delay;
        if !self.quorum.is_connected() && due(self.quorum_attempt, delay) {
            self.quorum_attempt = Some(Instant::now());
            if let Err(e) = self.quorum.initialize() {
                tracing::warn!("quorum initialize failed: {e}");
            }
        }
        if !self.cmap.is_connected() && due(self.cmap_attempt, delay) {
            self.cmap_attempt = Some(Instant::now());
            match self.cmap.initialize() {
                Ok(_) => self.read_cmap(),
                Err(e) => tracing::warn!("cmap initialize failed: {e}"),
            }
        }
        if let CpgState::Out { since } = self.cpg_state {
            if due(since, delay) {
                self.join_cpg();
            }
        }
    }

    fn read_cmap(&mut self) {
        match self.cmap.read_config() {
            Ok(c) => {
                self.host.cluster_config(&c);
                *lock(&self.shared.config) = Some(c);
            }
            Err(e) => {
                tracing::warn!("cmap read failed: {e}");
                self.cmap.finalize();
            }
        }
    }

    /// dfsm.md §11 initialize: restart the dfsm (abort waiters, START),
    /// then `cpg_initialize` if needed and `cpg_join`.
    fn join_cpg(&mut self) {
        if let Some(node) = &self.node {
            if !node.mode().is_restartable() {
                self.cpg_state = CpgState::Stopped;
                return;
            }
        }
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        if self.node.is_some() {
            self.feed(Event::Restart);
            lock(&self.shared.status).restarts += 1;
        }
        self.cpg_state = CpgState::Out {
            since: Some(Instant::now()),
        };
        match self.cpg.initialize() {
            Ok(_) => {
                self.cpg_state = CpgState::Joined;
                if self.node.is_none() {
                    let me = Member {
                        nodeid: self.cpg.local_nodeid(),
                        pid: self.cpg.pid(),
                    };
                    tracing::info!("joined the dcdb group as {}/{}", me.nodeid, me.pid);
                    self.node = Some(DcdbNode::new(me, unix_now()));
                    let quorate = self.shared.quorate.load(Ordering::SeqCst);
                    self.feed(Event::Quorum { quorate });
                }
            }
            Err(e) => tracing::warn!("cpg initialize failed: {e}"),
        }
        self.publish_status();
    }

    fn dispatch_quorum(&mut self, events: &mut Vec<ccfs_corosync::QuorumEvent>) {
        let result = self.quorum.dispatch(events);
        let notes: Vec<bool> = events.drain(..).map(|e| e.quorate).collect();
        for q in notes {
            self.set_quorate(q);
        }
        if let Err(e) = result {
            tracing::warn!("quorum dispatch failed: {e}");
            self.set_quorate(false);
        }
    }

    fn set_quorate(&mut self, quorate: bool) {
        let old = self.shared.quorate.swap(quorate, Ordering::SeqCst);
        if old != quorate {
            self.host.quorum_changed(quorate);
        }
        self.feed(Event::Quorum { quorate });
    }

    /// quorum.md §5: re-read after a tracked change; any other outcome
    /// finalizes the service, to be re-initialized (and re-read) later.
    fn dispatch_cmap(&mut self) {
        match self.cmap.dispatch() {
            Ok(true) => self.read_cmap(),
            Ok(false) => self.cmap.finalize(),
            Err(e) => {
                tracing::warn!("cmap dispatch failed: {e}");
                self.cmap.finalize();
            }
        }
    }

    fn dispatch_cpg(&mut self, events: &mut Vec<CpgEvent>) {
        let result = self.cpg.dispatch(Dispatch::All, events);
        let list: Vec<CpgEvent> = std::mem::take(events);
        for ev in list {
            let ev = match ev {
                CpgEvent::Deliver { nodeid, pid, data } => Event::Deliver {
                    sender: Member { nodeid, pid },
                    bytes: data,
                },
                CpgEvent::ConfChange {
                    members,
                    left,
                    joined,
                } => {
                    let conv = |l: Vec<ccfs_corosync::Member>| -> Vec<Member> {
                        l.into_iter()
                            .map(|m| Member {
                                nodeid: m.nodeid,
                                pid: m.pid,
                            })
                            .collect()
                    };
                    let mut ids: Vec<u32> = members.iter().map(|m| m.nodeid).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    self.host.membership(&ids);
                    Event::Membership {
                        members: conv(members),
                        left: conv(left),
                        joined: conv(joined),
                    }
                }
            };
            self.feed(ev);
        }
        if let Err(e) = result {
            if e.is_disconnect() && self.cpg_state == CpgState::Joined {
                tracing::warn!("lost corosync: {e}");
                self.shared.generation.fetch_add(1, Ordering::SeqCst);
                // Retry counted from the last initialize attempt, as pmxcfs.
                self.cpg_state = CpgState::Out { since: None };
                self.publish_status();
            } else {
                tracing::warn!("cpg dispatch: {e}");
            }
        }
    }

    fn handle_inputs(&mut self) {
        for input in self.shared.take_inputs() {
            match input {
                Input::Request { id, request } => {
                    if self.node.is_none() {
                        if matches!(request, Request::Op(_)) {
                            self.shared.reply(id, Err(EBUSY));
                        }
                        continue;
                    }
                    self.feed(Event::Request { id, request });
                }
                Input::MulticastFailed {
                    purpose,
                    generation,
                } => {
                    if generation == self.shared.generation.load(Ordering::SeqCst) {
                        self.feed(Event::MulticastFailed { purpose });
                    } else if let Purpose::Request(id) = purpose {
                        self.shared.reply(id, Err(EBUSY));
                    }
                }
            }
        }
    }

    /// One event into the dfsm with the tree locked; the actions run in
    /// order under that lock, except leaving the group (it may wait for
    /// corosync), which follows right after.
    fn feed(&mut self, event: Event) {
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let now = unix_now();
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let shared = &self.shared;
        let outgoing = &self.outgoing;
        let conf = &self.options.conf_sync;
        let mut event = Some(event);
        let mut changes: Vec<Change> = Vec::new();
        let mut leave: Option<bool> = None;
        let mut mode_changed = false;
        let mut persisted = false;
        self.host.with_tree(&mut |tree: &mut dyn Tree| {
            let Some(ev) = event.take() else { return };
            let actions = node.handle(tree.memdb(), now, ev);
            for action in actions {
                match action {
                    Action::Multicast { bytes, purpose } => {
                        let msg = Outgoing {
                            bytes,
                            purpose,
                            generation,
                        };
                        if outgoing.as_ref().is_none_or(|o| o.send(msg).is_err()) {
                            if let Purpose::Request(id) = purpose {
                                shared.reply(id, Err(EBUSY));
                            }
                        }
                    }
                    Action::Reply { id, result } => shared.reply(id, result),
                    Action::Persist(batch) => {
                        persisted = true;
                        if let Err(e) = tree.persist(batch) {
                            tracing::error!("database commit failed: {e}; entering error mode");
                            tree.memdb().enter_error_mode();
                        }
                    }
                    Action::Resynced { rows, root } => {
                        persisted = true;
                        if let Err(e) = tree.replace_all(&rows, root) {
                            tracing::error!("writing the resynced tree failed: {e}");
                            tree.memdb().enter_error_mode();
                        }
                    }
                    Action::CorosyncConf { reload } => {
                        let data = tree.memdb().lookup(TREE_PATH).map(|e| e.data.clone());
                        conf.run(data.as_deref(), reload);
                    }
                    Action::ModeChanged(m) => {
                        tracing::info!("dcdb mode: {m:?}");
                        mode_changed = true;
                    }
                    Action::Leave { rejoin } => leave = Some(rejoin),
                }
            }
            changes = tree.memdb().take_changes();
        });
        if persisted && self.unflushed.is_none() {
            self.unflushed = Some(Instant::now());
        }
        if !changes.is_empty() {
            self.host.changed(changes);
        }
        if let Some(rejoin) = leave {
            self.leave(rejoin);
        }
        if mode_changed || matches!(self.cpg_state, CpgState::Joined) {
            self.publish_status();
        }
    }

    /// `Action::Leave`: cpg_leave now; rejoin after the restart delay.
    fn leave(&mut self, rejoin: bool) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        if self.cpg.is_joined() {
            if let Err(e) = self.cpg.leave() {
                tracing::warn!("cpg_leave: {e}");
            }
        }
        self.cpg_state = if rejoin {
            tracing::warn!("dcdb left the group; rejoining later");
            CpgState::Out {
                since: Some(Instant::now()),
            }
        } else {
            tracing::error!("dcdb stopped until the daemon restarts");
            CpgState::Stopped
        };
    }

    fn finish(&mut self) {
        self.flush();
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.outgoing = None;
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
        self.cpg.finalize();
        self.quorum.finalize();
        self.cmap.finalize();
        if self.shared.quorate.swap(false, Ordering::SeqCst) {
            self.host.quorum_changed(false);
        }
        self.shared.close();
        self.publish_status();
    }
}
