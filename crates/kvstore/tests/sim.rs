//! Three `KvstoreNode`s on an in-memory CPG with virtual synchrony
//! (messages of a configuration are delivered, in one total order, to the
//! members of that configuration before the next change): status set on
//! one node is visible on all, logs from all nodes merge identically, a
//! restarted node gets the log and the keys back, `.members` follows a
//! partition and its heal, and RRD samples land in files on every node.

use std::collections::VecDeque;
use std::path::Path;

use ccfs_dfsm::{Action, Member, Mode};
use ccfs_kvstore::{Event, KvstoreNode, RrdFiles};
use ccfs_status::{ClusterInfo, ClusterNode, Status};

struct Host {
    me: Member,
    node: KvstoreNode,
    status: Status,
}

struct World {
    hosts: Vec<Host>,
    /// Messages multicast and not yet delivered: (sender, bytes).
    wire: VecDeque<(Member, Vec<u8>)>,
    /// The partitions: each a list of member processes.
    parts: Vec<Vec<Member>>,
    now: u64,
}

fn info() -> ClusterInfo {
    ClusterInfo {
        name: "sim".into(),
        config_version: 1,
        nodes: (1..=3)
            .map(|i| ClusterNode {
                name: format!("node{i}"),
                nodeid: i,
                votes: 1,
            })
            .collect(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl World {
    fn host(nodeid: u32, pid: u32, t: u64, rrd: &Path) -> Host {
        let me = Member { nodeid, pid };
        let mut status = Status::new(&format!("node{nodeid}"), t as u32, pid);
        status.set_cluster_info(info());
        status.set_quorate(true);
        let dir = rrd.join(format!("node{nodeid}"));
        status.set_rrd_sink(Box::new(RrdFiles::new(dir).with_rrdcached(None)));
        Host {
            me,
            node: KvstoreNode::new(me, &format!("10.0.0.{nodeid}")),
            status,
        }
    }

    fn idx(&self, m: Member) -> usize {
        self.hosts.iter().position(|h| h.me == m).unwrap()
    }

    fn take(&mut self, from: Member, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Multicast { bytes, .. } => self.wire.push_back((from, bytes)),
                Action::ModeChanged(_) => {}
                other => panic!("{from:?}: {other:?}"),
            }
        }
    }

    fn feed(&mut self, m: Member, e: Event) {
        let t = self.now;
        let i = self.idx(m);
        let h = &mut self.hosts[i];
        let acts = h.node.handle(&mut h.status, t, e);
        self.take(m, acts);
    }

    /// Delivers everything in flight, including what deliveries trigger.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let Some((from, bytes)) = self.wire.pop_front() else {
                return;
            };
            let Some(part) = self.parts.iter().find(|p| p.contains(&from)).cloned() else {
                continue; // the sender is gone
            };
            for m in part {
                self.feed(
                    m,
                    Event::Deliver {
                        sender: from,
                        bytes: bytes.clone(),
                    },
                );
            }
        }
        panic!("no quiescence");
    }

    /// New partitions: pending messages first, then one confchg per member.
    fn reconfigure(&mut self, parts: Vec<Vec<Member>>) {
        self.settle();
        let old = std::mem::replace(&mut self.parts, parts.clone());
        for p in &parts {
            for &m in p {
                let before = old
                    .iter()
                    .find(|o| o.contains(&m))
                    .cloned()
                    .unwrap_or_default();
                self.feed(
                    m,
                    Event::Membership {
                        members: p.clone(),
                        left: before.iter().filter(|x| !p.contains(x)).copied().collect(),
                        joined: p.iter().filter(|x| !before.contains(x)).copied().collect(),
                    },
                );
            }
        }
        self.settle();
    }

    fn set(&mut self, m: Member, key: &str, value: &[u8]) {
        let t = self.now;
        let i = self.idx(m);
        let h = &mut self.hosts[i];
        let (r, acts) = h.node.set_status(&mut h.status, t, key, value);
        assert_eq!(r, Ok(()));
        self.take(m, acts);
    }

    fn log(&mut self, m: Member, msg: &str) {
        let t = self.now;
        let i = self.idx(m);
        let h = &mut self.hosts[i];
        let acts = h.node.log(
            &mut h.status,
            t,
            b"root@pam",
            b"sim",
            4242,
            6,
            msg.as_bytes(),
        );
        self.take(m, acts);
    }

    fn status(&self, m: Member) -> &Status {
        &self.hosts[self.idx(m)].status
    }

    fn clusterlog(&self, m: Member) -> String {
        String::from_utf8(self.status(m).clusterlog_text(50, None)).unwrap()
    }
}

fn lines(text: &str) -> Vec<&str> {
    let mut l: Vec<&str> = text.lines().map(|l| l.trim_end_matches(',')).collect();
    l.sort_unstable();
    l
}

fn online(members: &str, node: &str) -> bool {
    let line = members
        .lines()
        .find(|l| l.contains(&format!("\"{node}\": {{")))
        .unwrap();
    line.contains("\"online\": 1")
}

#[test]
fn three_nodes_status_log_restart_partition_rrd() {
    let tmp = tempfile::tempdir().unwrap();
    let t0 = now() - 1000;
    let (a, b, c) = (
        Member { nodeid: 1, pid: 11 },
        Member { nodeid: 2, pid: 22 },
        Member { nodeid: 3, pid: 33 },
    );
    let mut w = World {
        hosts: vec![
            World::host(1, 11, t0, tmp.path()),
            World::host(2, 22, t0, tmp.path()),
            World::host(3, 33, t0, tmp.path()),
        ],
        wire: VecDeque::new(),
        parts: vec![],
        now: t0,
    };
    // each alone first, then one configuration of three
    w.reconfigure(vec![vec![a], vec![b], vec![c]]);
    w.now += 3;
    w.reconfigure(vec![vec![a, b, c]]);
    for h in &w.hosts {
        assert_eq!(h.node.mode(), Mode::Synced);
    }
    // status set on one node is visible on all
    w.set(b, "kv/x", b"from node2\0");
    w.set(b, "tasklist", b"[]\0");
    w.settle();
    for m in [a, c] {
        assert_eq!(
            w.status(m).get_status("node2", "kv/x"),
            Some(&b"from node2\0"[..])
        );
    }
    assert_eq!(w.status(c).node_ip("node1"), Some("10.0.0.1"));
    // log entries from all nodes reach all nodes; the order is insertion
    // order (own entries first, clusterlog.md §7) until the next merge
    w.now += 1;
    w.log(a, "one");
    w.log(c, "three");
    w.log(b, "two");
    w.settle();
    let log = w.clusterlog(a);
    assert_eq!(lines(&log), lines(&w.clusterlog(b)));
    assert_eq!(lines(&log), lines(&w.clusterlog(c)));
    assert_ne!(log, w.clusterlog(b));
    assert!(
        log.contains("\"msg\": \"three\"") && log.contains("\"msg\": \"starting cluster log\"")
    );
    // RRD samples of node1 produce files on all nodes
    let t = now() - 10;
    let sample = format!("100:0:{t}:0.1:4:0.0:0.0:8:2:1:0:50:10:1:2\0");
    w.set(a, "rrd/pve2-node/node1", sample.as_bytes());
    w.settle();
    let received = w.now;
    for (n, h) in w.hosts.iter_mut().enumerate() {
        let file = tmp.path().join(format!("node{}/pve-node-9.0/node1", n + 1));
        assert!(file.is_file(), "{}", file.display());
        assert!(h.status.rrd_dump(received).starts_with(b"pve2-node/node1:"));
    }

    // node3 restarts: a new process with a fresh status joins again
    w.now += 5;
    w.reconfigure(vec![vec![a, b]]);
    let members = w.status(a).members_text();
    assert!(!online(&members, "node3") && online(&members, "node2"));
    let c2 = Member { nodeid: 3, pid: 34 };
    w.hosts.retain(|h| h.me != c);
    w.hosts.push(World::host(3, 34, w.now, tmp.path()));
    w.now += 2;
    w.reconfigure(vec![vec![a, b, c2]]);
    // it got the whole log back, and node2's keys through the re-announce;
    // after the merge every node shows the same log, byte for byte
    let log = w.clusterlog(a);
    assert_eq!(w.clusterlog(c2), log);
    assert_eq!(w.clusterlog(b), log);
    assert!(log.contains("\"msg\": \"two\""));
    assert_eq!(
        w.status(c2).get_status("node2", "kv/x"),
        Some(&b"from node2\0"[..])
    );
    assert_eq!(
        w.status(c2).get_status("node2", "tasklist"),
        Some(&b"[]\0"[..])
    );

    // a partition and its heal
    w.now += 10;
    w.reconfigure(vec![vec![a, b], vec![c2]]);
    let m1 = w.status(a).members_text();
    let m3 = w.status(c2).members_text();
    assert!(online(&m1, "node1") && online(&m1, "node2") && !online(&m1, "node3"));
    assert!(!online(&m3, "node1") && online(&m3, "node3"));
    // written on both sides while apart
    w.log(a, "left side");
    w.log(c2, "right side");
    w.set(c2, "kv/y", b"apart\0");
    w.settle();
    w.now += 10;
    w.reconfigure(vec![vec![a, b, c2]]);
    for m in [a, b, c2] {
        let members = w.status(m).members_text();
        assert!(["node1", "node2", "node3"]
            .iter()
            .all(|n| online(&members, n)));
        let log = w.clusterlog(m);
        assert!(log.contains("left side") && log.contains("right side"));
    }
    assert_eq!(w.clusterlog(a), w.clusterlog(c2));
    assert_eq!(
        w.status(a).get_status("node3", "kv/y"),
        Some(&b"apart\0"[..])
    );
}
