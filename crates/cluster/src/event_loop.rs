//! The event-loop thread (corosync-bindings.md §8): polls the quorum, cmap
//! and `pve_dcdb_v1` fds, feeds every event to the dcdb dfsm with the tree
//! borrowed from the host, and executes the returned actions in order.
//! Lost services are re-initialized like pmxcfs's 1-second restart job
//! (dfsm.md §11, quorum.md §2, §4–§5).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use ccfs_corosync::{Cmap, CpgEvent, CpgGroup, Dispatch, Quorum};
use ccfs_dfsm::{DcdbNode, Event, Member};

use crate::core::{unix_now, Effects};
use crate::host::Host;
use crate::service::{lock, Input, Options, Shared};
use crate::wake::poll_readable;
use crate::Error;

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

struct Loop {
    host: Arc<dyn Host>,
    shared: Arc<Shared>,
    options: Options,
    cpg: Arc<CpgGroup>,
    quorum: Quorum,
    cmap: Cmap,
    /// The dfsm exists (in `shared.core`): we joined once.
    have_node: bool,
    cpg_state: CpgState,
    /// When something was first handed to `Tree::persist` since the last
    /// flush.
    unflushed: Option<Instant>,
    quorum_attempt: Option<Instant>,
    cmap_attempt: Option<Instant>,
}

pub(crate) fn spawn(shared: Arc<Shared>, options: Options) -> Result<JoinHandle<()>, Error> {
    let mut lp = Loop {
        host: Arc::clone(&shared.io.host),
        cpg: Arc::clone(&shared.io.cpg),
        shared,
        options,
        quorum: Quorum::new(),
        cmap: Cmap::new(),
        have_node: false,
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

impl Loop {
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
        if let Err(e) = self.host.flush() {
            tracing::error!("database commit failed: {e}");
        }
    }

    fn publish_status(&self) {
        let mut s = lock(&self.shared.status);
        s.nodeid = self.cpg.local_nodeid();
        s.pid = self.cpg.pid();
        s.joined = self.cpg.is_joined();
        if let Some(n) = &lock(&self.shared.core).node {
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
        let restartable = lock(&self.shared.core)
            .node
            .as_ref()
            .is_none_or(|n| n.mode().is_restartable());
        if !restartable {
            self.shared.abort_waiters();
            self.cpg_state = CpgState::Stopped;
            return;
        }
        if self.have_node {
            self.feed(Event::Restart);
            lock(&self.shared.status).restarts += 1;
        }
        self.cpg_state = CpgState::Out {
            since: Some(Instant::now()),
        };
        match self.cpg.initialize() {
            Ok(_) => {
                self.cpg_state = CpgState::Joined;
                if !self.have_node {
                    let me = Member {
                        nodeid: self.cpg.local_nodeid(),
                        pid: self.cpg.pid(),
                    };
                    tracing::info!("joined the dcdb group as {}/{}", me.nodeid, me.pid);
                    lock(&self.shared.core).node = Some(DcdbNode::new(me, unix_now()));
                    self.have_node = true;
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
                // Retry counted from the last initialize attempt, as pmxcfs.
                self.cpg_state = CpgState::Out { since: None };
                self.publish_status();
            } else {
                tracing::warn!("cpg dispatch: {e}");
            }
        }
    }

    /// Effects of writers' requests that are the loop's business.
    fn handle_inputs(&mut self) {
        for input in self.shared.take_inputs() {
            match input {
                Input::Effects(fx) => self.apply(fx),
            }
        }
    }

    /// One event into the dfsm (see `Shared::feed`).
    fn feed(&mut self, event: Event) {
        let fx = {
            let mut core = lock(&self.shared.core);
            self.shared.feed(&mut core, event)
        };
        let joined = self.cpg_state == CpgState::Joined;
        let publish = fx.mode_changed || joined;
        self.apply(fx);
        if publish {
            self.publish_status();
        }
    }

    fn apply(&mut self, fx: Effects) {
        if fx.persisted && self.unflushed.is_none() {
            self.unflushed = Some(Instant::now());
        }
        if let Some(rejoin) = fx.leave {
            self.leave(rejoin);
        }
        if fx.mode_changed {
            self.publish_status();
        }
    }

    /// `Action::Leave`: cpg_leave now; rejoin after the restart delay.
    fn leave(&mut self, rejoin: bool) {
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
            self.shared.abort_waiters();
            CpgState::Stopped
        };
    }

    fn finish(&mut self) {
        self.flush();
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
