//! The status group `pve_kvstore_v1` in its [`GroupLoop`]: CPG events go
//! to the kvstore node, leaves from local requests are executed here, and,
//! when tracked, the quorate flag and cmap's cluster info go to the status
//! (kvstore.md, quorum.md §2, §5). The CPG events of one dispatch are fed
//! under one node lock, so no local request comes between them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use ccfs_corosync::{ClusterConfig, Error as CsError};
use ccfs_kvstore::{Event, KvstoreNode};
use ccfs_status::{ClusterInfo, ClusterNode};

use super::service::{KvShared, KvstoreOptions};
use crate::cpg_link::{merge_leave, CpgLink};
use crate::group_loop::{Group, GroupLoop};
use crate::quorum_cmap::QuorumCmap;
use crate::service::lock;
use crate::wake::Wake;
use crate::Error;

struct Kvstore {
    shared: Arc<KvShared>,
    startup_ip: String,
}

pub(crate) fn spawn(
    shared: Arc<KvShared>,
    options: KvstoreOptions,
) -> Result<JoinHandle<()>, Error> {
    GroupLoop {
        link: CpgLink::new(Arc::clone(&shared.cpg), "kvstore"),
        services: QuorumCmap::new("kvstore", options.track_quorum, options.track_cmap),
        restart_delay: options.restart_delay,
        tick: options.tick,
        group: Kvstore {
            shared,
            startup_ip: options.startup_ip,
        },
    }
    .spawn("kvstore-loop")
}

/// cmap's view as the status layer keeps it (config_version as 32 bits,
/// like C, quorum.md §5.1): for `Status::set_cluster_info`.
pub fn cluster_info(c: &ClusterConfig) -> ClusterInfo {
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

impl Group for Kvstore {
    type Event = Event;

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn wake(&self) -> &Wake {
        &self.shared.wake
    }

    /// Only the outcome counts: the status keeps no history of the flag.
    fn quorum(&mut self, _link: &mut CpgLink, notes: Vec<bool>) {
        if let Some(&quorate) = notes.last() {
            lock(&self.shared.status).set_quorate(quorate);
        }
    }

    fn cluster_config(&mut self, config: ClusterConfig) {
        lock(&self.shared.status).set_cluster_info(cluster_info(&config));
    }

    /// dfsm.md §11: back to START (if the node exists), then join. The
    /// node is created after the first successful join, with the nodeid
    /// it reported. The node stays locked throughout, so a local request
    /// sees it either before the restart or joined (or failed).
    fn join(&mut self, link: &mut CpgLink) {
        let mut guard = lock(&self.shared.node);
        if guard.as_ref().is_some_and(|n| !n.mode().is_restartable()) {
            link.stop();
            return;
        }
        let mut leave = None;
        if let Some(node) = guard.as_mut() {
            self.shared.restarts.fetch_add(1, Ordering::SeqCst);
            leave = self.shared.feed(node, Event::Restart);
        }
        match link.join() {
            Some(me) if guard.is_none() => {
                tracing::info!("joined the kvstore group as {}/{}", me.nodeid, me.pid);
                *guard = Some(KvstoreNode::new(me, &self.startup_ip));
            }
            Some(_) => {}
            None => {
                if let Some(node) = guard.as_mut() {
                    leave = merge_leave(leave, self.shared.feed(node, Event::Disconnected));
                }
            }
        }
        drop(guard);
        if let Some(rejoin) = leave {
            link.leave(rejoin);
        }
    }

    fn deliver(&mut self, link: &mut CpgLink, events: Vec<Event>, result: Result<(), CsError>) {
        let mut leave = None;
        let mut guard = lock(&self.shared.node);
        if let Some(node) = guard.as_mut() {
            for event in events {
                leave = merge_leave(leave, self.shared.feed(node, event));
            }
        }
        if link.lost(result) {
            if let Some(node) = guard.as_mut() {
                leave = merge_leave(leave, self.shared.feed(node, Event::Disconnected));
            }
        }
        drop(guard);
        if let Some(rejoin) = leave {
            link.leave(rejoin);
        }
    }

    /// A leave produced by a local request (a failed send).
    fn inputs(&mut self, link: &mut CpgLink) {
        let leave = lock(&self.shared.leave).take();
        if let Some(rejoin) = leave {
            link.leave(rejoin);
        }
    }

    /// Shutdown: C bumps `clinfo`, then the group is left and the handles
    /// closed; the node keeps serving local requests without sending.
    fn finish(&mut self, link: &mut CpgLink) {
        lock(&self.shared.status).bump_clinfo();
        let mut guard = lock(&self.shared.node);
        link.finalize();
        if let Some(node) = guard.as_mut() {
            let _ = self.shared.feed(node, Event::Disconnected);
        }
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
            quorum_beyond_majority: Vec::new(),
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
}
