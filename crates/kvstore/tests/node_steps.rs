//! One event into a `KvstoreNode`, the exact actions out (kvstore.md §2,
//! §5; dfsm.md §7–§9 for the framing).

use ccfs_dfsm::{Action, Member, Mode, Purpose};
use ccfs_kvstore::{Event, KvstoreNode};
use ccfs_proto::header::{encode_normal, encode_state};
use ccfs_proto::{Epoch, MessageType};
use ccfs_status::kvstore::encode_update;
use ccfs_status::{ClusterInfo, ClusterNode, Status};

const T0: u64 = 1_800_000_000;
const IP: &str = "192.0.2.1";

fn m(nodeid: u32) -> Member {
    Member {
        nodeid,
        pid: 1000 + nodeid,
    }
}

fn status(nodeid: u32) -> Status {
    let mut s = Status::new(&format!("node{nodeid}"), T0 as u32 - 10, m(nodeid).pid);
    s.set_cluster_info(ClusterInfo {
        name: "c".into(),
        config_version: 1,
        nodes: (1..=3)
            .map(|i| ClusterNode {
                name: format!("node{i}"),
                nodeid: i,
                votes: 1,
            })
            .collect(),
    });
    s
}

struct Node {
    node: KvstoreNode,
    status: Status,
    now: u64,
}

impl Node {
    fn new(nodeid: u32) -> Node {
        Node {
            node: KvstoreNode::new(m(nodeid), IP),
            status: status(nodeid),
            now: T0,
        }
    }

    fn handle(&mut self, e: Event) -> Vec<Action> {
        self.node.handle(&mut self.status, self.now, e)
    }

    fn members(&mut self, ids: &[u32], joined: &[u32]) -> Vec<Action> {
        self.handle(Event::Membership {
            members: ids.iter().map(|&i| m(i)).collect(),
            left: vec![],
            joined: joined.iter().map(|&i| m(i)).collect(),
        })
    }

    fn deliver(&mut self, from: u32, bytes: Vec<u8>) -> Vec<Action> {
        self.handle(Event::Deliver {
            sender: m(from),
            bytes,
        })
    }

    fn set(&mut self, key: &str, value: &[u8]) -> (ccfs_status::Result<()>, Vec<Action>) {
        self.node.set_status(&mut self.status, self.now, key, value)
    }
}

fn update(count: u64, time: u64, key: &str, value: &[u8]) -> Vec<u8> {
    encode_normal(0, 1, time as u32, count, &encode_update(key, value))
}

fn mcast(bytes: Vec<u8>) -> Action {
    Action::Multicast {
        bytes,
        purpose: Purpose::BestEffort,
    }
}

fn protocol(bytes: Vec<u8>) -> Action {
    Action::Multicast {
        bytes,
        purpose: Purpose::Protocol,
    }
}

fn epoch(counter: u32, time: u64, coordinator: u32) -> Epoch {
    Epoch {
        epoch: counter,
        time: time as u32,
        nodeid: coordinator,
        pid: m(coordinator).pid,
    }
}

fn sync_start(e: Epoch) -> Vec<u8> {
    encode_state(0, MessageType::SyncStart, e.time, e, &[])
}

fn state(e: Epoch, time: u64, blob: &[u8]) -> Vec<u8> {
    encode_state(0, MessageType::State, time as u32, e, blob)
}

/// Node 1 and 2 synced together; returns node 1 (count 2 used: the alone
/// nodeip, then the nodeip after the exchange).
fn synced_pair() -> (Node, Node) {
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    a.members(&[1, 2], &[1, 2]);
    b.members(&[1, 2], &[1, 2]);
    let e = epoch(1, T0, 1);
    a.deliver(1, sync_start(e));
    b.deliver(1, sync_start(e));
    let sa = state(e, T0, &a.status.kvstore_state());
    let sb = state(e, T0, &b.status.kvstore_state());
    for n in [&mut a, &mut b] {
        n.deliver(1, sa.clone());
        n.deliver(2, sb.clone());
        assert_eq!(n.node.mode(), Mode::Synced);
    }
    (a, b)
}

#[test]
fn alone_enters_synced_and_announces_the_startup_ip() {
    let mut n = Node::new(1);
    let acts = n.members(&[1], &[1]);
    assert_eq!(
        acts,
        vec![
            Action::ModeChanged(Mode::Synced),
            mcast(update(1, T0, "nodeip", b"192.0.2.1\0")),
        ]
    );
    assert_eq!(n.status.node_ip("node1"), Some(IP));
    // confchg: online = kvstore members; clinfo: cmap, own ip, confchg
    assert!(n
        .status
        .members_text()
        .contains("\"node1\": { \"id\": 1, \"online\": 1"));
    assert!(n
        .status
        .members_text()
        .contains("\"node2\": { \"id\": 2, \"online\": 0"));
    assert_eq!(n.status.clinfo_version(), 3);
}

#[test]
fn lowest_member_sends_sync_start_with_its_epoch() {
    let mut n = Node::new(1);
    n.now = T0 + 7;
    let acts = n.members(&[1, 2], &[2]);
    assert_eq!(
        acts,
        vec![
            Action::ModeChanged(Mode::StartSync),
            protocol(sync_start(epoch(1, T0 + 7, 1))),
        ]
    );
    let mut other = Node::new(2);
    assert_eq!(
        other.members(&[1, 2], &[2]),
        vec![Action::ModeChanged(Mode::StartSync)]
    );
}

#[test]
fn sync_start_is_answered_with_the_sorted_log() {
    let mut n = Node::new(2);
    n.members(&[1, 2], &[2]);
    let e = epoch(4, T0 - 1, 1);
    let blob = status(2).kvstore_state();
    assert_eq!(blob.len(), 131_072);
    assert_eq!(
        n.deliver(1, sync_start(e)),
        vec![protocol(state(e, T0, &blob))]
    );
}

#[test]
fn all_states_in_reannounce_local_keys_then_nodeip() {
    let mut n = Node::new(1);
    assert_eq!(n.set("kv/a", b"1\0").0, Ok(()));
    assert_eq!(n.set("rrd/pve2-storage/node1/s", b"1:2:3\0").0, Ok(()));
    assert_eq!(n.set("tasklist", b"[]\0").0, Ok(()));
    n.members(&[1, 2], &[2]);
    let e = epoch(1, T0, 1);
    n.deliver(1, sync_start(e));
    let own = state(e, T0, &n.status.kvstore_state());
    n.deliver(1, own);
    n.now = T0 + 1;
    let peer = state(e, T0, &status(2).kvstore_state());
    let acts = n.deliver(2, peer);
    // counts 1..3 were the local sets (sent with a CPG handle in START)
    assert_eq!(
        acts,
        vec![
            mcast(update(4, T0 + 1, "kv/a", b"1\0")),
            mcast(update(5, T0 + 1, "tasklist", b"[]\0")),
            Action::ModeChanged(Mode::Synced),
            mcast(update(6, T0 + 1, "nodeip", b"192.0.2.1\0")),
        ]
    );
    // the merged log holds both start entries
    let log = String::from_utf8(n.status.clusterlog_text(50, None)).unwrap();
    assert!(log.contains("\"node\": \"node1\"") && log.contains("\"node\": \"node2\""));
}

#[test]
fn remote_updates_apply_own_are_skipped() {
    let (mut a, _) = synced_pair();
    assert_eq!(a.deliver(2, update(9, T0, "kv/x", b"v\0")), vec![]);
    assert_eq!(a.status.get_status("node2", "kv/x"), Some(&b"v\0"[..]));
    assert_eq!(
        a.deliver(2, update(10, T0, "nodeip", b"192.0.2.2\0")),
        vec![]
    );
    assert_eq!(a.status.node_ip("node2"), Some("192.0.2.2"));
    // our own message is not applied again on delivery (kvstore.md §2)
    assert_eq!(a.deliver(1, update(3, T0, "kv/own", b"v\0")), vec![]);
    assert_eq!(a.status.get_status("", "kv/own"), None);
    // a node outside the node list is ignored
    assert_eq!(a.deliver(7, update(1, T0, "kv/x", b"w\0")), vec![]);
    assert_eq!(a.status.get_status("node2", "kv/x"), Some(&b"v\0"[..]));
}

#[test]
fn bad_payloads_and_unknown_subtypes_do_not_stop_the_group() {
    let (mut a, _) = synced_pair();
    for bytes in [
        encode_normal(0, 7, T0 as u32, 11, b"whatever"),
        encode_normal(0, 1, T0 as u32, 12, &[b'k'; 100]),
        encode_normal(0, 1, T0 as u32, 13, &[b'k'; 300]),
        encode_normal(0, 3, T0 as u32, 14, &[0; 47]),
        encode_normal(0, 2, T0 as u32, 15, &[]),
    ] {
        assert_eq!(a.deliver(2, bytes), vec![]);
        assert_eq!(a.node.mode(), Mode::Synced);
    }
}

#[test]
fn remote_log_entries_are_inserted() {
    let (mut a, mut b) = synced_pair();
    b.now = T0 + 3;
    let acts = b
        .node
        .log(&mut b.status, T0 + 3, b"root@pam", b"tag", 42, 5, b"hello");
    let [Action::Multicast { bytes, .. }] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(a.deliver(2, bytes.clone()), vec![]);
    let log = String::from_utf8(a.status.clusterlog_text(1, None)).unwrap();
    assert!(log
        .contains("\"pid\": 42, \"node\": \"node2\", \"user\": \"root@pam\", \"msg\": \"hello\""));
}

#[test]
fn log_multicasts_the_packed_entry() {
    let mut n = Node::new(1);
    let mut twin = status(1);
    let entry = twin
        .log(b"root@pam", b"tag", 42, 5, b"hello", T0 as u32)
        .unwrap();
    let acts = n
        .node
        .log(&mut n.status, T0, b"root@pam", b"tag", 42, 5, b"hello");
    assert_eq!(acts, vec![mcast(encode_normal(0, 3, T0 as u32, 1, &entry))]);
    // priority 8: nothing logged, nothing sent
    assert_eq!(
        n.node
            .log(&mut n.status, T0, b"root@pam", b"tag", 42, 8, b"x"),
        vec![]
    );
}

#[test]
fn local_sets_are_sent_only_with_a_cpg_handle() {
    let mut n = Node::new(1);
    let (r, acts) = n.set("kv/a", b"1\0");
    assert_eq!(r, Ok(()));
    assert_eq!(acts, vec![mcast(update(1, T0, "kv/a", b"1\0"))]);
    assert_eq!(n.handle(Event::Disconnected), vec![]);
    assert!(!n.node.is_connected());
    let (r, acts) = n.set("kv/b", b"2\0");
    assert_eq!((r, acts), (Ok(()), vec![]));
    assert_eq!(n.status.get_status("", "kv/b"), Some(&b"2\0"[..]));
    assert_eq!(
        n.node
            .log(&mut n.status, T0, b"root@pam", b"t", 1, 6, b"kept locally"),
        vec![]
    );
    n.now = T0 + 5;
    assert_eq!(n.handle(Event::Restart), vec![]);
    let (_, acts) = n.set("kv/c", b"3\0");
    // the count goes on across restarts of the same process
    assert_eq!(acts, vec![mcast(update(2, T0 + 5, "kv/c", b"3\0"))]);
}

#[test]
fn refused_values_are_still_multicast_except_oversized_ones() {
    let mut n = Node::new(1);
    let (r, acts) = n.set("rrd/pve2-node/node1", b"");
    assert_eq!(r.unwrap_err().errno(), 12);
    assert_eq!(acts, vec![mcast(update(1, T0, "rrd/pve2-node/node1", b""))]);
    let (r, acts) = n.set("kv/big", &vec![b'x'; 32_769]);
    assert_eq!(r.unwrap_err().errno(), 27);
    assert_eq!(acts, vec![]);
    // removal: value length 0, still sent
    let (r, acts) = n.set("kv/big", b"");
    assert_eq!(r, Ok(()));
    assert_eq!(acts, vec![mcast(update(2, T0, "kv/big", b""))]);
}

#[test]
fn newer_protocol_version_stops_the_group() {
    let (mut a, _) = synced_pair();
    assert_eq!(
        a.deliver(
            2,
            encode_normal(1, 1, T0 as u32, 5, &encode_update("k", b"v"))
        ),
        vec![
            Action::ModeChanged(Mode::VersionError),
            Action::Leave { rejoin: false }
        ]
    );
    // older versions (none exist below 0) cannot happen; the group is out
    assert_eq!(a.deliver(2, update(6, T0, "kv/y", b"v\0")), vec![]);
    assert_eq!(a.status.get_status("node2", "kv/y"), None);
    // no restart out of VERSION_ERROR: local values stay local
    assert_eq!(a.handle(Event::Restart), vec![]);
    assert_eq!(a.node.mode(), Mode::VersionError);
    assert!(!a.node.is_connected());
    assert_eq!(a.set("kv/z", b"1\0"), (Ok(()), vec![]));
}

#[test]
fn membership_without_us_leaves() {
    let (mut a, _) = synced_pair();
    assert_eq!(
        a.members(&[2], &[]),
        vec![
            Action::ModeChanged(Mode::Leave),
            Action::Leave { rejoin: true }
        ]
    );
}

#[test]
fn queued_own_messages_are_resent_unchanged_on_a_join() {
    let mut a = Node::new(1);
    a.members(&[1, 2], &[1, 2]);
    let (_, acts) = a.set("kv/q", b"1\0");
    let [Action::Multicast { bytes, .. }] = &acts[..] else {
        panic!("{acts:?}")
    };
    // delivered while START_SYNC: queued
    assert_eq!(a.deliver(1, bytes.clone()), vec![]);
    a.now = T0 + 9;
    let acts = a.members(&[1, 2, 3], &[3]);
    assert_eq!(
        acts,
        vec![
            protocol(bytes.clone()),
            protocol(sync_start(epoch(2, T0 + 9, 1))),
        ]
    );
}

#[test]
fn startup_ip_is_used_only_while_no_ip_is_known() {
    let mut n = Node::new(1);
    assert_eq!(n.set("nodeip", b"198.51.100.7\0").0, Ok(()));
    let acts = n.members(&[1], &[1]);
    assert_eq!(acts[1], mcast(update(2, T0, "nodeip", b"198.51.100.7\0")));
}
