//! The dcdb group `pve_dcdb_v1` in its [`GroupLoop`]: every event goes to
//! the dcdb dfsm with the tree borrowed from the host (`Shared::feed`),
//! quorum changes too; cmap's configuration goes to the host (dfsm.md
//! §9–§11, quorum.md §4–§5).
//!
//! Group commit: a loop round handles everything that is ready (one
//! `cpg_dispatch` of all pending callbacks, then what writer threads
//! posted) and holds back the replies it produces. At the end of the round,
//! if any reply is held, it commits once through [`Host::commit`] (and
//! [`Host::sync`] in [`Durability::Sync`]) and only then answers the
//! writers: nothing is acknowledged that is not in this node's store.
//! Rows no local writer waits for (other nodes' changes) are committed
//! when the loop idles or `commit_delay` after the first of them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccfs_corosync::{ClusterConfig, CpgGroup, Error as CsError};
use ccfs_dfsm::{DcdbNode, Event, RequestId, Votes};
use ccfs_memdb::StoreError;

use crate::core::{unix_now, Core, Effects};
use crate::cpg_link::CpgLink;
use crate::group_loop::{Group, GroupLoop};
use crate::host::Host;
use crate::quorum_cmap::QuorumCmap;
use crate::service::{lock, Durability, Input, Options, Shared};
use crate::wake::Wake;
use crate::Error;

struct Dcdb {
    host: Arc<dyn Host>,
    shared: Arc<Shared>,
    cpg: Arc<CpgGroup>,
    commit_delay: Duration,
    durability: Durability,
    verify_interval: Duration,
    healing: bool,
    /// The dfsm exists (in `shared.core`): we joined once.
    have_node: bool,
    /// When something was first handed to `Tree::persist` since the last
    /// commit.
    uncommitted: Option<Instant>,
    /// Replies of this round, sent after its commit (`settle`).
    replies: Vec<(RequestId, Result<u32, i32>)>,
    /// What `Host::writable_changed` was told last.
    writable: bool,
}

pub(crate) fn spawn(shared: Arc<Shared>, options: Options) -> Result<JoinHandle<()>, Error> {
    let cpg = Arc::clone(&shared.io.cpg);
    GroupLoop {
        link: CpgLink::new(Arc::clone(&cpg), "dcdb"),
        services: QuorumCmap::new("dcdb", true, true),
        restart_delay: options.restart_delay,
        tick: options.tick,
        group: Dcdb {
            host: Arc::clone(&shared.io.host),
            cpg,
            shared,
            commit_delay: options.commit_delay,
            durability: options.durability,
            verify_interval: options.verify_interval,
            healing: options.healing,
            have_node: false,
            uncommitted: None,
            replies: Vec::new(),
            writable: false,
        },
    }
    .spawn("cluster-loop")
}

/// No event for this long means the loop is idle: commit now.
const IDLE: Duration = Duration::from_millis(2);

impl Group for Dcdb {
    type Event = Event;

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn wake(&self) -> &Wake {
        &self.shared.wake
    }

    fn poll_timeout(&self, until_tick: Duration) -> Duration {
        match self.uncommitted {
            Some(_) => until_tick.min(IDLE),
            None => until_tick,
        }
    }

    fn quorum(&mut self, link: &mut CpgLink, notes: Vec<bool>) {
        for quorate in notes {
            let old = self.shared.quorate.swap(quorate, Ordering::SeqCst);
            if old != quorate {
                self.host.quorum_changed(quorate);
            }
            self.feed(link, Event::Quorum { quorate });
        }
    }

    fn cluster_config(&mut self, config: ClusterConfig) {
        self.host.cluster_config(&config);
        let beyond = &config.quorum_beyond_majority;
        let known = lock(&self.shared.config)
            .as_ref()
            .map(|c| c.quorum_beyond_majority.clone());
        if !beyond.is_empty() && known.as_ref() != Some(beyond) {
            tracing::info!(
                "corosync quorum settings {} go beyond a plain majority: this node keeps C's quorum rules (no group quorum)",
                beyond.join(", ")
            );
        }
        // No action comes of it (no link needed): the next exchange
        // announces these votes, and the writer's gate uses them at once,
        // before anyone can read the new configuration.
        let writable = {
            let mut core = lock(&self.shared.core);
            let _ = self.shared.feed(&mut core, Event::Votes(votes_of(&config)));
            writable(&core)
        };
        *lock(&self.shared.config) = Some(config);
        self.note_writable(writable);
    }

    /// dfsm.md §11 initialize: restart the dfsm (abort waiters, START),
    /// then join; the dfsm is created at the first join.
    fn join(&mut self, link: &mut CpgLink) {
        let restartable = lock(&self.shared.core)
            .node
            .as_ref()
            .is_none_or(|n| n.mode().is_restartable());
        if !restartable {
            self.settle();
            self.shared.abort_waiters();
            link.stop();
            return;
        }
        if self.have_node {
            self.feed(link, Event::Restart);
            lock(&self.shared.status).restarts += 1;
        }
        if let Some(me) = link.join() {
            if !self.have_node {
                tracing::info!("joined the dcdb group as {}/{}", me.nodeid, me.pid);
                let node = DcdbNode::new(me, unix_now())
                    .with_verify_interval(self.verify_interval.as_secs());
                let node = if self.healing { node.healing() } else { node };
                lock(&self.shared.core).node = Some(node);
                self.have_node = true;
                let quorate = self.shared.quorate.load(Ordering::SeqCst);
                self.feed(link, Event::Quorum { quorate });
                let votes = lock(&self.shared.config).as_ref().map(votes_of);
                if let Some(votes) = votes {
                    self.feed(link, Event::Votes(votes));
                }
            }
        }
        self.publish_status();
    }

    fn deliver(&mut self, link: &mut CpgLink, events: Vec<Event>, result: Result<(), CsError>) {
        for event in events {
            if let Event::Membership { members, .. } = &event {
                let mut ids: Vec<u32> = members.iter().map(|m| m.nodeid).collect();
                ids.sort_unstable();
                ids.dedup();
                self.host.membership(&ids);
            }
            self.feed(link, event);
        }
        if link.lost(result) {
            self.publish_status();
        }
    }

    /// Effects of writers' requests that are the loop's business.
    fn inputs(&mut self, link: &mut CpgLink) {
        for input in self.shared.take_inputs() {
            match input {
                Input::Effects(fx) => self.apply(link, fx),
            }
        }
    }

    fn tick(&mut self, link: &mut CpgLink) {
        self.feed(link, Event::Tick);
    }

    /// Group commit: before this round's replies; otherwise when the loop
    /// is idle or the oldest change waited `commit_delay`.
    fn round_done(&mut self, idle: bool) {
        let overdue = self
            .uncommitted
            .is_some_and(|t| t.elapsed() >= self.commit_delay);
        if !self.replies.is_empty() || idle || overdue {
            self.settle();
        }
    }

    fn finish(&mut self, link: &mut CpgLink) {
        self.settle();
        link.finalize();
        if self.shared.quorate.swap(false, Ordering::SeqCst) {
            self.host.quorum_changed(false);
        }
        self.shared.close();
        self.note_writable(false);
        self.publish_status();
    }
}

/// Whether the dfsm accepts a writer's request now.
fn writable(core: &Core) -> bool {
    core.node.as_ref().is_some_and(|n| n.dfsm().may_write())
}

/// The group quorum's votes (ccfs-dfsm `votes.rs`): the node list's
/// `quorum_votes`, where a missing key (read as 0) is votequorum's default
/// of 1 vote. None (C's rules, no announcement) when the quorum section
/// makes partitions quorate other than by a majority of these votes: with
/// a quorum device or `two_node` a lone node may be quorate, and the group
/// rule would make it read-only where C (and an admin) expects it to write.
fn votes_of(config: &ClusterConfig) -> Votes {
    if !config.quorum_beyond_majority.is_empty() {
        return Votes::default();
    }
    Votes::new(
        config
            .nodes
            .iter()
            .map(|n| (n.nodeid, n.quorum_votes.max(1))),
    )
}

impl Dcdb {
    /// Commit everything persisted since the last commit (and, if a
    /// writer waits, sync it in `Durability::Sync`), then send the replies
    /// held back. If that failed, no writer hears of success: EIO instead
    /// (as pmxcfs answers when its commit in the delivery fails); the
    /// memdb is in error mode.
    fn settle(&mut self) {
        let sync = self.durability == Durability::Sync && !self.replies.is_empty();
        let stored = match self.uncommitted.take() {
            Some(_) => self.store(sync),
            None => Ok(()),
        };
        let failed = match stored {
            Ok(()) => false,
            Err(e) => {
                tracing::error!("database commit failed: {e}; committed replies fail with EIO");
                true
            }
        };
        for (id, result) in std::mem::take(&mut self.replies) {
            let result = match result {
                Ok(_) if failed => Err(libc::EIO),
                r => r,
            };
            self.shared.reply(id, result);
        }
    }

    fn store(&self, sync: bool) -> Result<(), StoreError> {
        self.host.commit()?;
        if sync {
            if let Err(e) = self.host.sync() {
                // What the disk lost cannot be told apart: stop writing.
                self.host
                    .with_tree(&mut |tree| tree.memdb().enter_error_mode());
                return Err(e);
            }
        }
        Ok(())
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

    /// One event into the dfsm (see `Shared::feed`).
    fn feed(&mut self, link: &mut CpgLink, event: Event) {
        let (fx, writable) = {
            let mut core = lock(&self.shared.core);
            let fx = self.shared.feed(&mut core, event);
            (fx, writable(&core))
        };
        self.note_writable(writable);
        let publish = fx.mode_changed || link.is_joined();
        self.apply(link, fx);
        if publish {
            self.publish_status();
        }
    }

    fn note_writable(&mut self, writable: bool) {
        if writable != self.writable {
            self.writable = writable;
            self.host.writable_changed(writable);
        }
    }

    fn apply(&mut self, link: &mut CpgLink, fx: Effects) {
        if fx.persisted && self.uncommitted.is_none() {
            self.uncommitted = Some(Instant::now());
        }
        self.replies.extend(fx.replies);
        if let Some(rejoin) = fx.leave {
            link.leave(rejoin);
            if !rejoin {
                // Writers whose change is applied get their answer first.
                self.settle();
                self.shared.abort_waiters();
            }
        }
        if fx.mode_changed {
            self.publish_status();
        }
    }
}
