//! Replay of the captured 3-node C cluster (vectors/dfsm, group
//! `pve_kvstore_v1`): every daemon process is rebuilt as a `KvstoreNode`
//! over a fresh `Status`, fed the memberships and deliveries it saw (node1's
//! total order, cut to the process's lifetime) and the local requests that
//! made it send. Everything it multicasts must equal the captured bytes,
//! except the bytes C leaves uninitialised (dfsm/README point 2). At the
//! time vectors/plugins/cluster3 was captured, the first three processes
//! must show the captured `.members`, `.clusterlog`, `.rrd` and the kvstore
//! part of `.version`.

mod common;

use std::collections::VecDeque;

use ccfs_dfsm::{Action, Member, Mode};
use ccfs_kvstore::{Event, KvstoreNode};
use ccfs_status::kvstore::decode_update;
use ccfs_status::Status;
use common::*;
use serde_json::Value;

struct Replay {
    me: Member,
    node: KvstoreNode,
    status: Status,
    /// What we multicast and have not yet seen delivered, in send order.
    sent: VecDeque<Vec<u8>>,
    logs: VecDeque<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    checked: usize,
    reordered: usize,
}

impl Replay {
    fn new(m: &Value, nodeid: u32, pid: u32) -> Replay {
        let me = Member { nodeid, pid };
        let name = format!("node{nodeid}");
        let mut status = Status::new(&name, start_entry(m, &name, pid), pid);
        status.set_cluster_info(info());
        status.set_quorate(true);
        Replay {
            me,
            node: KvstoreNode::new(me, &format!("10.99.72.{nodeid}")),
            status,
            sent: VecDeque::new(),
            logs: ipc_logs(),
            checked: 0,
            reordered: 0,
        }
    }

    fn take(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Multicast { bytes, .. } => self.sent.push_back(bytes),
                Action::ModeChanged(_) => {}
                other => panic!("{:?}: unexpected {other:?}", self.me),
            }
        }
    }

    fn feed(&mut self, now: u64, e: Event) {
        let acts = self.node.handle(&mut self.status, now, e);
        self.take(acts);
    }

    /// The local request that made us send `rec` (nothing was pending).
    fn local_request(&mut self, rec: &Value, bytes: &[u8]) {
        let h = &rec["header"];
        let now = h["time"].as_u64().unwrap();
        let payload = &bytes[24..];
        let acts = match h["subtype"].as_u64().unwrap() {
            1 => {
                let u = decode_update(payload).unwrap();
                let (result, acts) = self.node.set_status(&mut self.status, now, u.key, u.value);
                // the empty RRD value is refused locally but still sent
                assert_eq!(
                    result.is_err(),
                    u.key.starts_with("rrd/") && u.value.is_empty()
                );
                acts
            }
            3 => {
                let p = &rec["payload"];
                let s = |k: &str| p[k].as_str().unwrap().as_bytes().to_vec();
                let (ident, tag, msg) = if p["pid"] == 24824 {
                    let (i, t, msg) = self.logs.pop_front().unwrap();
                    assert_eq!((i.clone(), t.clone()), (s("ident"), s("tag")));
                    (i, t, msg)
                } else {
                    let msg = s("msg");
                    assert!(!msg.contains(&b'\\') && !msg.contains(&b'#'));
                    (s("ident"), s("tag"), msg)
                };
                let pid = p["pid"].as_u64().unwrap() as u32;
                let pri = p["priority"].as_u64().unwrap() as u8;
                self.node
                    .log(&mut self.status, now, &ident, &tag, pid, pri, &msg)
            }
            other => panic!("no local request sends subtype {other}"),
        };
        assert_eq!(acts.len(), 1, "one multicast per local request");
        self.take(acts);
    }

    /// One record of node1's sequence, as this process saw it.
    fn step(&mut self, rec: &Value, file: &str, sender: Option<Member>) {
        if let Some(text) = rec["membership"].as_str() {
            let now = rec["wall_time"].as_f64().unwrap() as u64;
            return self.feed(now, membership(text));
        }
        let bytes = read(&format!("dfsm/kvstore/{file}"));
        let sender = sender.unwrap();
        if sender == self.me {
            if self.sent.is_empty() {
                self.local_request(rec, &bytes);
            }
            self.hash_order(&bytes);
            let ours = self.sent.pop_front().unwrap();
            assert_eq!(ours.len(), bytes.len(), "{file}: length");
            assert!(
                masked(&ours, rec) == masked(&bytes, rec),
                "{file}: our bytes differ from C's"
            );
            self.checked += 1;
        }
        let now = rec["wall_time_delivered_node1"]
            .as_f64()
            .or(rec["wall_time_delivered"].as_f64())
            .unwrap() as u64;
        self.feed(
            now,
            Event::Deliver {
                sender,
                bytes: bytes.clone(),
            },
        );
    }

    /// C re-announces its keys in glib hash order, ours come in insertion
    /// order (kvstore.md §5.2 does not fix one). If the captured UPDATE is
    /// a later one of our pending UPDATEs, swap the payloads so that the
    /// counts stay in send order.
    fn hash_order(&mut self, bytes: &[u8]) {
        let is_update = |b: &[u8]| b.len() >= 280 && b[0] == 0 && b[2] == 1;
        if !is_update(bytes) || self.sent.front().is_none_or(|f| !is_update(f)) {
            return;
        }
        let key = |b: &[u8]| decode_update(&b[24..]).map(|u| u.key.to_owned()).ok();
        let want = key(bytes);
        let Some(j) = self
            .sent
            .iter()
            .position(|b| is_update(b) && key(b) == want)
        else {
            return;
        };
        if j == 0 {
            return;
        }
        let front = self.sent[0][24..].to_vec();
        let later = self.sent[j][24..].to_vec();
        let mut a = self.sent[0][..24].to_vec();
        a.extend_from_slice(&later);
        let mut b = self.sent[j][..24].to_vec();
        b.extend_from_slice(&front);
        self.sent[0] = a;
        self.sent[j] = b;
        self.reordered += 1;
    }

    /// The alone start of nodes 2 and 3 (their `x-…` nodeip).
    fn alone(&mut self, m: &Value) {
        let x = m["groups"]["pve_kvstore_v1"]["messages_not_seen_by_node1"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sender"]["pid"] == self.me.pid)
            .unwrap()
            .clone();
        let now = x["header"]["time"].as_u64().unwrap();
        self.feed(
            now,
            Event::Membership {
                members: vec![self.me],
                left: vec![],
                joined: vec![self.me],
            },
        );
        assert_eq!(self.node.mode(), Mode::Synced);
        self.step(&x, x["file"].as_str().unwrap(), Some(self.me));
    }

    /// Replays node1's orders `from..=to`.
    fn run(&mut self, m: &Value, from: u64, to: u64) {
        for rec in sequence(m) {
            let order = rec["order"].as_u64().unwrap();
            if order < from || order > to {
                continue;
            }
            let sender = rec["sender"].as_object().map(|s| Member {
                nodeid: s["nodeid"].as_u64().unwrap() as u32,
                pid: s["pid"].as_u64().unwrap() as u32,
            });
            self.step(rec, rec["file"].as_str().unwrap_or(""), sender);
        }
    }

    fn done(&self) {
        assert!(self.sent.is_empty(), "{:?} sent more than C", self.me);
        assert_eq!(self.node.mode(), Mode::Synced);
    }
}

// ---- the status files at the capture time (vectors/plugins) -----------

fn plugin(node: &str, file: &str) -> String {
    String::from_utf8(read(&format!("plugins/cluster3/{node}/{file}"))).unwrap()
}

/// The kvstore part of `.version` as (node, sorted key lines) in block
/// order: C lists the keys of a block in hash order (plugins README).
fn kvstore_blocks(version: &str) -> Vec<(String, Vec<String>)> {
    let tail = &version[version.find("\"kvstore\": {\n").unwrap() + 13..];
    let body = tail.strip_suffix("}\n}\n").unwrap();
    body.split("}\n,\n")
        .map(|block| {
            let (node, keys) = block.split_once(": {\n").unwrap();
            let mut keys: Vec<String> = keys
                .trim_end_matches("}\n")
                .split(",\n")
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect();
            keys.sort();
            (node.to_owned(), keys)
        })
        .collect()
}

fn clinfo(version: &str) -> &str {
    let i = version.find("\"clinfo\": ").unwrap();
    &version[i..i + version[i..].find('\n').unwrap()]
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut l: Vec<&str> = text.lines().collect();
    l.sort_unstable();
    l
}

fn assert_plugins(r: &mut Replay, node: &str) {
    let captured: u64 = plugin(node, "../captured-at.txt").trim().parse().unwrap();
    // .members: exact (line order is C's hash order, which ours matches here)
    assert_eq!(r.status.members_text(), plugin(node, "members"), "{node}");
    // .clusterlog: byte-exact, identical on all nodes
    assert_eq!(
        String::from_utf8(r.status.clusterlog_text(50, None)).unwrap(),
        plugin(node, "clusterlog"),
        "{node}"
    );
    // .rrd: FUSE strips the NUL; lines in hash order
    let mut rrd = r.status.rrd_dump(captured);
    assert_eq!(rrd.pop(), Some(0));
    let rrd = String::from_utf8(rrd).unwrap();
    let want = plugin(node, "rrd");
    assert_eq!(sorted_lines(&rrd), sorted_lines(&want), "{node}");
    assert_eq!(rrd.len(), want.len());
    // .version: clinfo and the kvstore part
    let ours = r.status.version_text(0, std::iter::empty());
    let theirs = plugin(node, "version");
    assert_eq!(clinfo(&ours), clinfo(&theirs), "{node}");
    assert_eq!(kvstore_blocks(&ours), kvstore_blocks(&theirs), "{node}");
    assert!(kvstore_blocks(&theirs).len() >= 2);
}

/// Last order seen before vectors/plugins/cluster3 was read.
const CAPTURE_ORDER: u64 = 27;

#[test]
fn node1_whole_run() {
    let m = manifest();
    let mut r = Replay::new(&m, 1, 24241);
    r.run(&m, 1, CAPTURE_ORDER);
    assert_plugins(&mut r, "node1");
    r.run(&m, CAPTURE_ORDER + 1, 71);
    r.done();
    // node1 sent 43 of the 63 messages it saw
    assert_eq!(r.checked, 43);
}

#[test]
fn node2_first_process() {
    let m = manifest();
    let mut r = Replay::new(&m, 2, 24269);
    r.alone(&m);
    r.run(&m, 3, CAPTURE_ORDER);
    assert_plugins(&mut r, "node2");
    r.run(&m, CAPTURE_ORDER + 1, 38);
    r.done();
    // x-nodeip, STATE, nodeip, 3 local SET_STATUS, STATE, 2 keys + nodeip
    assert_eq!(r.checked, 10);
}

#[test]
fn node3_first_process() {
    let m = manifest();
    let mut r = Replay::new(&m, 3, 24297);
    r.alone(&m);
    r.run(&m, 3, CAPTURE_ORDER);
    assert_plugins(&mut r, "node3");
    r.done();
    assert_eq!(r.checked, 3);
}

#[test]
fn node2_restarted_process() {
    let m = manifest();
    let mut r = Replay::new(&m, 2, 25598);
    r.run(&m, 41, 70);
    r.done();
    // STATE ×3, nodeip ×3, LOG
    assert_eq!(r.checked, 7);
    // it got node1's keys back through the re-announcement
    assert_eq!(
        r.status.get_status("node1", "kv/foo"),
        Some(&b"hello2\0"[..])
    );
    assert_eq!(r.status.node_ip("node3"), Some("10.99.72.3"));
}

#[test]
fn node3_restarted_process() {
    let m = manifest();
    let mut r = Replay::new(&m, 3, 25801);
    r.run(&m, 51, 61);
    r.done();
    assert_eq!(r.checked, 2);
    // the merged log it received holds every entry of the run so far
    let log = String::from_utf8(r.status.clusterlog_text(50, None)).unwrap();
    assert!(log.contains("logged on node2 while node3 down"));
    assert!(log.contains("logged while node1 alone"));
}
