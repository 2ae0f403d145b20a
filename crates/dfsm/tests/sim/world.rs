//! An in-process fake CPG with virtual synchrony, driving ccfs dfsm nodes.
//!
//! The network is split into components (partitions). Each component has
//! one queue: the total order of its group. A delivery step hands the next
//! message to every member of the component's view at the same point. A
//! view change first delivers the old view's pending messages to all of
//! its surviving members, then installs the new view with one membership
//! event per member, so survivors see it at the same place of the order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ccfs_dfsm::{Action, DcdbAction, DcdbNode, Event, Member, Mode, Votes};
use ccfs_memdb::mem_store::MemStore;
use ccfs_memdb::{Limits, Memdb, Store};

use crate::trace::{describe, describe_action};

/// xorshift64*: the simulation's only source of randomness.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A running ccfs process on a host.
pub struct Proc {
    pub member: Member,
    pub node: DcdbNode,
    pub db: Memdb,
    /// In the CPG group (joined and not yet left).
    pub joined: bool,
    /// Entered LEAVE: the daemon leaves the group after this delivery.
    pub leaving: bool,
    /// The last membership this process was told.
    pub view: Vec<Member>,
    /// A new daemon learns the quorum state once at start.
    pub told_quorum: bool,
}

pub struct Host {
    /// The host's config.db; survives crashes.
    pub store: MemStore,
    pub proc: Option<Proc>,
    pub next_pid: u32,
    /// When to start the daemon again (after a crash) or rejoin (LEAVE).
    pub due: Option<u64>,
    /// Writer requests waiting for their reply: id → unique path.
    pub waiting: BTreeMap<u64, String>,
}

pub struct Component {
    pub hosts: BTreeSet<usize>,
    pub queue: VecDeque<(Member, Vec<u8>)>,
}

pub struct World {
    pub hosts: Vec<Host>,
    pub comps: Vec<Component>,
    pub now: u64,
    /// Unique paths whose creation a writer saw succeed.
    pub acked: Vec<String>,
    pub failure: Option<String>,
    /// Quorum counts the hosts whose daemon is in the group (a daemon that
    /// crashed or left takes its node's vote with it) instead of every host
    /// whose corosync is reachable (as in PVE: the vote stays).
    pub quorum_follows_group: bool,
    /// Hosts whose daemon behaves as C pmxcfs: never told the votes, so
    /// it keeps C's rules alone (and ignores ccfs announcements, as C).
    pub c_hosts: BTreeSet<usize>,
    pub stats: Stats,
    /// What the members did with the message being delivered.
    applied_now: usize,
    left_now: usize,
}

/// What a run exercised, to show the simulation reaches the hard paths.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub deliveries: u64,
    pub memberships: u64,
    pub resyncs: u64,
    pub leaves: u64,
    pub acked: u64,
    pub refused: u64,
    pub verifies: u64,
    pub lost_acked: u64,
    pub unlocks: u64,
    /// Deliveries where some members applied a NORMAL message while
    /// others LEFT (not quorate): a fork of the tree (mechanism 1).
    pub forks: u64,
    /// NORMAL messages applied in a view whose members hold no majority
    /// of the hosts' votes (mechanism 2).
    pub minority_applies: u64,
    /// Seeds that lost acknowledged writes, and of those, the ones that saw
    /// forks only, minority applies only, or both.
    pub seeds_lost: u64,
    pub seeds_lost_fork: u64,
    pub seeds_lost_minority: u64,
    pub seeds_lost_both: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.deliveries += o.deliveries;
        self.memberships += o.memberships;
        self.resyncs += o.resyncs;
        self.leaves += o.leaves;
        self.acked += o.acked;
        self.refused += o.refused;
        self.verifies += o.verifies;
        self.lost_acked += o.lost_acked;
        self.unlocks += o.unlocks;
        self.forks += o.forks;
        self.minority_applies += o.minority_applies;
        if o.lost_acked > 0 {
            self.seeds_lost += 1;
            match (o.forks > 0, o.minority_applies > 0) {
                (true, false) => self.seeds_lost_fork += 1,
                (false, true) => self.seeds_lost_minority += 1,
                (true, true) => self.seeds_lost_both += 1,
                (false, false) => {}
            }
        }
        self.seeds_lost += o.seeds_lost;
        self.seeds_lost_fork += o.seeds_lost_fork;
        self.seeds_lost_minority += o.seeds_lost_minority;
        self.seeds_lost_both += o.seeds_lost_both;
    }
}

impl World {
    pub fn new(n: usize, now: u64) -> World {
        let hosts = (0..n)
            .map(|_| {
                let mut store = MemStore::new();
                let mut db = Memdb::new(Limits::default(), now as u32);
                // Every node starts with the same tree, lock directory
                // included (as after a cluster-wide `pvecm create`).
                let stamp = ccfs_memdb::Stamp {
                    writer: 0,
                    mtime: now as u32,
                };
                db.mkdir("priv", stamp).unwrap();
                db.mkdir("priv/lock", stamp).unwrap();
                store.commit(&db.take_batch()).unwrap();
                Host {
                    store,
                    proc: None,
                    next_pid: 1000,
                    due: Some(now),
                    waiting: BTreeMap::new(),
                }
            })
            .collect();
        World {
            hosts,
            comps: vec![Component {
                hosts: (0..n).collect(),
                queue: VecDeque::new(),
            }],
            now,
            acked: Vec::new(),
            failure: None,
            quorum_follows_group: true,
            c_hosts: BTreeSet::new(),
            stats: Stats::default(),
            applied_now: 0,
            left_now: 0,
        }
    }

    pub fn comp_of(&self, h: usize) -> usize {
        self.comps
            .iter()
            .position(|c| c.hosts.contains(&h))
            .unwrap()
    }

    pub fn quorate(&self, ci: usize) -> bool {
        let votes = self.comps[ci]
            .hosts
            .iter()
            .filter(|&&h| !self.quorum_follows_group || self.in_group(h))
            .count();
        votes * 2 > self.hosts.len()
    }

    pub fn in_group(&self, h: usize) -> bool {
        self.hosts[h].proc.as_ref().is_some_and(|p| p.joined)
    }

    /// Hosts whose process is in the group of component `ci`.
    pub fn view(&self, ci: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self.comps[ci]
            .hosts
            .iter()
            .copied()
            .filter(|&h| self.hosts[h].proc.as_ref().is_some_and(|p| p.joined))
            .collect();
        v.sort_by_key(|&h| self.hosts[h].proc.as_ref().map(|p| p.member));
        v
    }

    fn members(&self, hosts: &[usize]) -> Vec<Member> {
        hosts
            .iter()
            .filter_map(|&h| self.hosts[h].proc.as_ref().map(|p| p.member))
            .collect()
    }

    /// Feeds one event to host `h`'s process and executes its actions.
    pub fn feed(&mut self, h: usize, event: Event) {
        let now = self.now;
        let Some(p) = self.hosts[h].proc.as_mut() else {
            return;
        };
        let trace = std::env::var("CCFS_SIM_TRACE").is_ok();
        let shown = if trace {
            describe(&event)
        } else {
            String::new()
        };
        match &event {
            Event::Deliver { bytes, .. } => {
                self.stats.deliveries += 1;
                if bytes.first() == Some(&6) {
                    self.stats.verifies += 1;
                }
                // A NORMAL message of subtype 8: the coordinator's UNLOCK.
                if bytes.get(..4) == Some(&[0, 0, 8, 0]) {
                    self.stats.unlocks += 1;
                }
            }
            Event::Membership { .. } => self.stats.memberships += 1,
            _ => {}
        }
        let acts = p.node.handle(&mut p.db, now, event);
        if trace {
            println!(
                "t={now} h{h} {:?} v{} {shown} -> {}",
                p.node.mode(),
                p.db.version(),
                acts.iter()
                    .map(describe_action)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for a in acts {
            self.execute(h, a);
        }
    }

    fn execute(&mut self, h: usize, a: Action<DcdbAction>) {
        let ci = self.comp_of(h);
        let Some(p) = self.hosts[h].proc.as_mut() else {
            return;
        };
        match a {
            Action::Multicast { bytes, purpose } => {
                if p.joined {
                    let m = p.member;
                    self.comps[ci].queue.push_back((m, bytes));
                } else {
                    self.feed(h, Event::MulticastFailed { purpose });
                }
            }
            Action::Leave { rejoin } => {
                if !rejoin {
                    self.failure = Some(format!("host {h} stopped for good ({:?})", p.node.mode()));
                }
                p.leaving = true;
                self.stats.leaves += 1;
                self.left_now += 1;
            }
            Action::Reply { id, result } => {
                if let Some(path) = self.hosts[h].waiting.remove(&id) {
                    if result.is_ok() {
                        self.acked.push(path);
                        self.stats.acked += 1;
                    } else {
                        self.stats.refused += 1;
                    }
                }
            }
            Action::App(DcdbAction::Persist(batch)) => {
                self.applied_now += 1;
                self.hosts[h].store.commit(&batch).unwrap()
            }
            Action::App(DcdbAction::Resynced { rows, root }) => {
                self.stats.resyncs += 1;
                self.hosts[h].store.replace_all(&rows, root).unwrap()
            }
            // No node of the world heals; a mismatch leaves (its own
            // action), which the invariants judge.
            Action::ModeChanged(_)
            | Action::App(
                DcdbAction::CorosyncConf { .. }
                | DcdbAction::Healed
                | DcdbAction::NotTheSource
                | DcdbAction::ChecksumMismatch,
            ) => {}
        }
    }

    /// Delivers the next message of component `ci` to its whole view.
    pub fn deliver_next(&mut self, ci: usize) {
        let Some((sender, bytes)) = self.comps[ci].queue.pop_front() else {
            return;
        };
        if std::env::var("CCFS_SIM_TRACE").is_ok() {
            println!("deliver_next c{ci} from {sender:?} to {:?}", self.view(ci));
        }
        self.deliver_to_view(ci, sender, &bytes);
        self.process_leaves();
    }

    /// One message to every member of component `ci`'s view, counting
    /// forks and applies in minority views.
    fn deliver_to_view(&mut self, ci: usize, sender: Member, bytes: &[u8]) {
        self.applied_now = 0;
        self.left_now = 0;
        let view = self.view(ci);
        for &h in &view {
            self.feed(
                h,
                Event::Deliver {
                    sender,
                    bytes: bytes.to_vec(),
                },
            );
        }
        if self.applied_now > 0 && self.left_now > 0 {
            self.stats.forks += 1;
        }
        if self.applied_now > 0 && view.len() * 2 <= self.hosts.len() {
            self.stats.minority_applies += 1;
        }
    }

    /// The daemons that entered LEAVE call `cpg_leave`.
    pub fn process_leaves(&mut self) {
        while let Some(h) = (0..self.hosts.len()).find(|&h| {
            self.hosts[h]
                .proc
                .as_ref()
                .is_some_and(|p| p.leaving && p.joined)
        }) {
            let now = self.now;
            self.change_views(|w| {
                let host = &mut w.hosts[h];
                if let Some(p) = host.proc.as_mut() {
                    p.joined = false;
                    p.leaving = false;
                    p.view.clear();
                }
                host.due = Some(now + 6);
            });
        }
    }

    /// Flushes every component's pending messages to its current view,
    /// applies `change`, then tells every process whose view changed.
    pub fn change_views(&mut self, change: impl FnOnce(&mut World)) {
        for ci in 0..self.comps.len() {
            let old = std::mem::take(&mut self.comps[ci].queue);
            for (sender, bytes) in old {
                self.deliver_to_view(ci, sender, &bytes);
            }
        }
        // What the flush made members send was sent before they learned of
        // the change: corosync delivers it after the new view, to it.
        let carried: Vec<(Member, Vec<u8>)> = self
            .comps
            .iter_mut()
            .flat_map(|c| std::mem::take(&mut c.queue))
            .collect();
        let quorate_before: Vec<bool> = (0..self.hosts.len())
            .map(|h| self.quorate(self.comp_of(h)))
            .collect();
        change(self);
        for (sender, bytes) in carried {
            let host = (0..self.hosts.len()).find(|&h| {
                self.hosts[h]
                    .proc
                    .as_ref()
                    .is_some_and(|p| p.joined && p.member == sender)
            });
            if let Some(h) = host {
                let ci = self.comp_of(h);
                self.comps[ci].queue.push_back((sender, bytes));
            }
        }
        for (h, before) in quorate_before.into_iter().enumerate() {
            let q = self.quorate(self.comp_of(h));
            let fresh = self.hosts[h].proc.as_ref().is_some_and(|p| !p.told_quorum);
            if q != before || fresh {
                if let Some(p) = self.hosts[h].proc.as_mut() {
                    p.told_quorum = true;
                }
                self.feed(h, Event::Quorum { quorate: q });
            }
        }
        for ci in 0..self.comps.len() {
            let view = self.view(ci);
            let members = self.members(&view);
            for &h in &view {
                let Some(p) = self.hosts[h].proc.as_mut() else {
                    continue;
                };
                if p.view == members {
                    continue;
                }
                let joined: Vec<Member> = members
                    .iter()
                    .copied()
                    .filter(|m| !p.view.contains(m))
                    .collect();
                let left: Vec<Member> = p
                    .view
                    .iter()
                    .copied()
                    .filter(|m| !members.contains(m))
                    .collect();
                p.view = members.clone();
                self.feed(
                    h,
                    Event::Membership {
                        members: members.clone(),
                        left,
                        joined,
                    },
                );
            }
        }
        self.process_leaves();
    }

    /// Starts the daemon on `h` from its store and joins the group.
    pub fn start(&mut self, h: usize) {
        self.hosts[h].due = None;
        if self.hosts[h].proc.is_some() {
            // Rejoin after LEAVE: re-initialize, then join.
            self.feed(h, Event::Restart);
            self.change_views(|w| {
                if let Some(p) = w.hosts[h].proc.as_mut() {
                    p.joined = true;
                }
            });
            return;
        }
        let now = self.now;
        let rows = self.hosts[h].store.load().unwrap();
        let mut db = Memdb::from_rows(rows, Limits::default(), now as u32).unwrap();
        // One vote per host, as in corosync.conf's node list.
        let votes = (!self.c_hosts.contains(&h))
            .then(|| Votes::new((0..self.hosts.len()).map(|o| (o as u32 + 1, 1))));
        self.change_views(|w| {
            let host = &mut w.hosts[h];
            host.next_pid += 1;
            let member = Member {
                nodeid: h as u32 + 1,
                pid: host.next_pid,
            };
            host.waiting.clear();
            let mut node = DcdbNode::new(member, now);
            if let Some(votes) = votes {
                node.handle(&mut db, now, Event::Votes(votes));
            }
            host.proc = Some(Proc {
                member,
                node,
                db,
                joined: true,
                leaving: false,
                view: Vec::new(),
                told_quorum: false,
            });
        });
    }

    /// The daemon on `h` dies (SIGKILL).
    pub fn crash(&mut self, h: usize, restart_in: u64) {
        let due = self.now + restart_in;
        self.change_views(|w| {
            w.hosts[h].proc = None;
            w.hosts[h].waiting.clear();
            w.hosts[h].due = Some(due);
        });
    }

    /// Splits the network: each host goes to side 0 or 1 of `sides`.
    /// With `quorum_early`, the quorum service reports the new state before
    /// the group's last messages and membership arrive (separate channels
    /// in corosync), so writes may reach members that just lost quorum.
    pub fn partition_with(&mut self, sides: &[bool], quorum_early: bool) {
        if quorum_early {
            for h in 0..self.hosts.len() {
                let votes = (0..sides.len())
                    .filter(|&o| sides[o] == sides[h])
                    .filter(|&o| !self.quorum_follows_group || self.in_group(o))
                    .count();
                let q = votes * 2 > self.hosts.len();
                if q != self.quorate(self.comp_of(h)) {
                    self.feed(h, Event::Quorum { quorate: q });
                }
            }
        }
        self.partition(sides);
    }

    pub fn partition(&mut self, sides: &[bool]) {
        self.change_views(|w| {
            let a: BTreeSet<usize> = (0..sides.len()).filter(|&h| !sides[h]).collect();
            let b: BTreeSet<usize> = (0..sides.len()).filter(|&h| sides[h]).collect();
            w.comps = [a, b]
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|hosts| Component {
                    hosts,
                    queue: VecDeque::new(),
                })
                .collect();
        });
    }

    pub fn heal(&mut self) {
        let n = self.hosts.len();
        self.partition(&vec![false; n]);
    }

    pub fn synced(&self, h: usize) -> bool {
        self.hosts[h]
            .proc
            .as_ref()
            .is_some_and(|p| p.joined && p.node.mode() == Mode::Synced)
    }
}
