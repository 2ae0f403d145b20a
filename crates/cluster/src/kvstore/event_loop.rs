//! The kvstore loop thread: polls its quorum, cmap and `pve_kvstore_v1`
//! fds (pmxcfs's priorities: quorum, cmap, then the kvstore group, LOW),
//! feeds the kvstore node, and re-initializes lost services like pmxcfs's
//! 1-second restart job (dfsm.md §11, quorum.md §2, §5).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccfs_corosync::{ClusterConfig, Cmap, CpgEvent, Dispatch, Quorum, QuorumEvent};
use ccfs_dfsm::Member;
use ccfs_kvstore::{Event, KvstoreNode};
use ccfs_status::{ClusterInfo, ClusterNode};

use super::service::{lock, merge_leave, KvShared, KvstoreOptions};
use crate::wake::poll_readable;
use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CpgState {
    Joined,
    /// Not joined; retry `restart_delay` after `since` (at once if `None`).
    Out {
        since: Option<Instant>,
    },
    /// ERROR / VERSION_ERROR: out until the process restarts.
    Stopped,
}

struct Loop {
    shared: Arc<KvShared>,
    options: KvstoreOptions,
    quorum: Quorum,
    cmap: Cmap,
    cpg_state: CpgState,
    quorum_attempt: Option<Instant>,
    cmap_attempt: Option<Instant>,
}

pub(crate) fn spawn(
    shared: Arc<KvShared>,
    options: KvstoreOptions,
) -> Result<JoinHandle<()>, Error> {
    let mut lp = Loop {
        shared,
        options,
        quorum: Quorum::new(),
        cmap: Cmap::new(),
        cpg_state: CpgState::Out { since: None },
        quorum_attempt: None,
        cmap_attempt: None,
    };
    std::thread::Builder::new()
        .name("kvstore-loop".into())
        .spawn(move || lp.run())
        .map_err(Error::Thread)
}

fn due(last: Option<Instant>, delay: Duration) -> bool {
    last.is_none_or(|t| t.elapsed() >= delay)
}

/// cmap's view as the status layer keeps it (config_version as 32 bits,
/// like C, quorum.md §5.1).
fn cluster_info(c: &ClusterConfig) -> ClusterInfo {
    ClusterInfo {
        name: c.cluster_name.clone(),
        config_version: c.config_version as u32,
        nodes: c
            .nodes
            .iter()
            .map(|n| ClusterNode {
                name: n.name.clone(),
                nodeid: n.nodeid,
                votes: n.quorum_votes,
            })
            .collect(),
    }
}

fn members(list: Vec<ccfs_corosync::Member>) -> Vec<Member> {
    list.into_iter()
        .map(|m| Member {
            nodeid: m.nodeid,
            pid: m.pid,
        })
        .collect()
}

impl Loop {
    fn run(&mut self) {
        self.restart_services();
        let mut next_tick = Instant::now() + self.options.tick;
        let mut cpg_events = Vec::new();
        let mut quorum_events = Vec::new();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let fds = [
                self.shared.wake.fd(),
                self.quorum.fd().unwrap_or(-1),
                self.cmap.fd().unwrap_or(-1),
                self.shared.cpg.fd().unwrap_or(-1),
            ];
            let ready = poll_readable(&fds, timeout);
            if ready[0] {
                self.shared.wake.clear();
            }
            if ready[1] {
                self.dispatch_quorum(&mut quorum_events);
            }
            if ready[2] {
                self.dispatch_cmap();
            }
            if ready[3] {
                self.dispatch_cpg(&mut cpg_events);
            }
            // Always look: a post may race with the clear above.
            let leave = lock(&self.shared.leave).take();
            if let Some(rejoin) = leave {
                self.leave(rejoin);
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + self.options.tick;
                self.restart_services();
            }
        }
        self.finish();
    }

    /// pmxcfs's `service_start_job`: (re)initialize what is not running.
    fn restart_services(&mut self) {
        let delay = self.options.restart_delay;
        if self.options.track_quorum
            && !self.quorum.is_connected()
            && due(self.quorum_attempt, delay)
        {
            self.quorum_attempt = Some(Instant::now());
            if let Err(e) = self.quorum.initialize() {
                tracing::warn!("kvstore: quorum initialize failed: {e}");
            }
        }
        if self.options.track_cmap && !self.cmap.is_connected() && due(self.cmap_attempt, delay) {
            self.cmap_attempt = Some(Instant::now());
            match self.cmap.initialize() {
                Ok(_) => self.read_cmap(),
                Err(e) => tracing::warn!("kvstore: cmap initialize failed: {e}"),
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
            Ok(c) => lock(&self.shared.status).set_cluster_info(cluster_info(&c)),
            Err(e) => {
                tracing::warn!("kvstore: cmap read failed: {e}");
                self.cmap.finalize();
            }
        }
    }

    /// dfsm.md §11: back to START (if the node exists), `cpg_initialize`
    /// if needed, `cpg_join`. The node is created after the first
    /// successful initialize, with the nodeid it reported.
    fn join_cpg(&mut self) {
        let mut guard = lock(&self.shared.node);
        if guard.as_ref().is_some_and(|n| !n.mode().is_restartable()) {
            self.cpg_state = CpgState::Stopped;
            return;
        }
        self.cpg_state = CpgState::Out {
            since: Some(Instant::now()),
        };
        let mut leave = None;
        if let Some(node) = guard.as_mut() {
            self.shared.restarts.fetch_add(1, Ordering::SeqCst);
            leave = self.shared.feed(node, Event::Restart);
        }
        match self.shared.cpg.initialize() {
            Ok(_) => {
                self.cpg_state = CpgState::Joined;
                if guard.is_none() {
                    let me = Member {
                        nodeid: self.shared.cpg.local_nodeid(),
                        pid: self.shared.cpg.pid(),
                    };
                    tracing::info!("joined the kvstore group as {}/{}", me.nodeid, me.pid);
                    *guard = Some(KvstoreNode::new(me, &self.options.startup_ip));
                }
            }
            Err(e) => {
                tracing::warn!("kvstore: cpg initialize failed: {e}");
                if let Some(node) = guard.as_mut() {
                    leave = merge_leave(leave, self.shared.feed(node, Event::Disconnected));
                }
            }
        }
        drop(guard);
        if let Some(rejoin) = leave {
            self.leave(rejoin);
        }
    }

    fn dispatch_quorum(&mut self, events: &mut Vec<QuorumEvent>) {
        let result = self.quorum.dispatch(events);
        let last = events.drain(..).next_back().map(|e| e.quorate);
        let quorate = match result {
            Ok(()) => last,
            Err(e) => {
                tracing::warn!("kvstore: quorum dispatch failed: {e}");
                Some(false)
            }
        };
        if let Some(q) = quorate {
            lock(&self.shared.status).set_quorate(q);
        }
    }

    /// quorum.md §5: re-read after a tracked change; any other outcome
    /// finalizes the service, to be re-initialized (and re-read) later.
    fn dispatch_cmap(&mut self) {
        match self.cmap.dispatch() {
            Ok(true) => self.read_cmap(),
            Ok(false) => self.cmap.finalize(),
            Err(e) => {
                tracing::warn!("kvstore: cmap dispatch failed: {e}");
                self.cmap.finalize();
            }
        }
    }

    fn dispatch_cpg(&mut self, events: &mut Vec<CpgEvent>) {
        let result = self.shared.cpg.dispatch(Dispatch::All, events);
        let list = std::mem::take(events);
        let mut leave = None;
        {
            let mut guard = lock(&self.shared.node);
            if let Some(node) = guard.as_mut() {
                for ev in list {
                    let ev = match ev {
                        CpgEvent::Deliver { nodeid, pid, data } => Event::Deliver {
                            sender: Member { nodeid, pid },
                            bytes: data,
                        },
                        CpgEvent::ConfChange {
                            members: m,
                            left,
                            joined,
                        } => Event::Membership {
                            members: members(m),
                            left: members(left),
                            joined: members(joined),
                        },
                    };
                    leave = merge_leave(leave, self.shared.feed(node, ev));
                }
                if let Err(e) = &result {
                    if e.is_disconnect() && self.cpg_state == CpgState::Joined {
                        tracing::warn!("kvstore: lost corosync: {e}");
                        leave = merge_leave(leave, self.shared.feed(node, Event::Disconnected));
                        // Retry counted from the last initialize attempt, as pmxcfs.
                        self.cpg_state = CpgState::Out { since: None };
                    }
                }
            }
        }
        if let Err(e) = &result {
            if !e.is_disconnect() {
                tracing::warn!("kvstore: cpg dispatch: {e}");
            }
        }
        if let Some(rejoin) = leave {
            self.leave(rejoin);
        }
    }

    /// `Action::Leave`: `cpg_leave` now; rejoin after the restart delay,
    /// or stay out for good.
    fn leave(&mut self, rejoin: bool) {
        if self.shared.cpg.is_joined() {
            if let Err(e) = self.shared.cpg.leave() {
                tracing::warn!("kvstore: cpg_leave: {e}");
            }
        }
        self.cpg_state = if rejoin {
            tracing::warn!("kvstore left the group; rejoining later");
            CpgState::Out {
                since: Some(Instant::now()),
            }
        } else {
            tracing::error!("kvstore stopped until the daemon restarts");
            CpgState::Stopped
        };
    }

    /// Shutdown: C bumps `clinfo`, then the group is left and the handles
    /// closed; the node keeps serving local requests without sending.
    fn finish(&mut self) {
        lock(&self.shared.status).bump_clinfo();
        {
            let mut guard = lock(&self.shared.node);
            self.shared.cpg.finalize();
            if let Some(node) = guard.as_mut() {
                let _ = self.shared.feed(node, Event::Disconnected);
            }
        }
        self.quorum.finalize();
        self.cmap.finalize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmap_config_becomes_status_cluster_info() {
        let c = ClusterConfig {
            cluster_name: "clu".into(),
            config_version: (1u64 << 32) + 7,
            nodes: vec![ccfs_corosync::ClusterNode {
                name: "n1".into(),
                nodeid: 4,
                ring0_addr: Some("10.0.0.4".into()),
                quorum_votes: 2,
            }],
        };
        let info = cluster_info(&c);
        assert_eq!(info.name, "clu");
        assert_eq!(info.config_version, 7, "kept as 32 bits like C");
        assert_eq!(
            info.nodes,
            vec![ClusterNode {
                name: "n1".into(),
                nodeid: 4,
                votes: 2
            }]
        );
    }

    #[test]
    fn a_stop_for_good_wins_over_a_rejoin() {
        assert_eq!(merge_leave(None, None), None);
        assert_eq!(merge_leave(Some(true), None), Some(true));
        assert_eq!(merge_leave(None, Some(false)), Some(false));
        assert_eq!(merge_leave(Some(true), Some(false)), Some(false));
        assert_eq!(merge_leave(Some(true), Some(true)), Some(true));
    }
}
