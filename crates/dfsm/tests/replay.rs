//! Replays the dcdb messages captured from a real 3-node C cluster
//! (vectors/dfsm) into ccfs dfsm instances playing node1, the restarted
//! node2 and the restarted node3. Every message our instances send must be
//! byte-identical to what the C daemon sent at that point, and the trees
//! must end with the C nodes' index and checksum (vectors/db).

use std::path::PathBuf;

use ccfs_dfsm::{Action, DcdbAction, DcdbNode, Event, Member, Mode, Request};
use ccfs_memdb::mem_store::version_row;
use ccfs_memdb::{Limits, Memdb, Op, Root, Row, Store};
use ccfs_proto::dcdb::{DcdbType, FuseMessage, UnlockMessage};
use ccfs_proto::{Message, MessageType};
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

fn manifest() -> Vec<Value> {
    let raw = std::fs::read(vectors().join("dfsm/manifest.json")).unwrap();
    let m: Value = serde_json::from_slice(&raw).unwrap();
    m["groups"]["pve_dcdb_v1"]["sequence_seen_by_node1"]
        .as_array()
        .unwrap()
        .clone()
}

fn parse_members(list: &str) -> Vec<Member> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|m| {
            let f: Vec<u32> = m.split('/').map(|x| x.parse().unwrap()).collect();
            Member {
                nodeid: f[0],
                pid: f[1],
            }
        })
        .collect()
}

/// "members=… left=… joined=…" → the membership event.
fn membership(text: &str) -> Event {
    let mut parts = text.split(' ').map(|p| p.split_once('=').unwrap().1);
    let members = parse_members(parts.next().unwrap());
    let left = parse_members(parts.next().unwrap());
    let joined = parse_members(parts.next().unwrap());
    Event::Membership {
        members,
        left,
        joined,
    }
}

/// node2's database as the C daemon left it (it never changes corosync.conf).
fn final_rows() -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("config.db");
    std::fs::copy(vectors().join("db/cluster3-node2/config.db"), &db).unwrap();
    let mut store =
        ccfs_store::SqliteStore::open(&db, &ccfs_store::StoreOptions::default()).unwrap();
    store.load().unwrap()
}

/// Every node's tree at first start: the imported corosync.conf, version 3.
fn initial_tree() -> Memdb {
    let conf = final_rows()
        .into_iter()
        .find(|r| r.name == "corosync.conf")
        .unwrap();
    assert_eq!((conf.inode, conf.version, conf.writer), (2, 3, 0));
    let root = Root {
        version: 3,
        writer: 0,
        mtime: conf.mtime as u32,
    };
    Memdb::from_rows(vec![version_row(root), conf], Limits::default(), 0).unwrap()
}

fn snapshot(db: &Memdb) -> Memdb {
    let mut rows = db.rows();
    rows.push(version_row(db.root()));
    Memdb::from_rows(rows, Limits::default(), 0).unwrap()
}

fn read_msg(rec: &Value) -> Vec<u8> {
    std::fs::read(
        vectors()
            .join("dfsm/dcdb")
            .join(rec["file"].as_str().unwrap()),
    )
    .unwrap()
}

fn op_of(subtype: u16, m: FuseMessage) -> Op {
    let path = String::from_utf8(m.path.unwrap()).unwrap();
    match DcdbType::from_code(subtype).unwrap() {
        DcdbType::Write => Op::Write {
            path,
            offset: m.offset.into(),
            data: m.data,
            truncate: m.flags != 0,
        },
        DcdbType::Mkdir => Op::Mkdir { path },
        DcdbType::Delete => Op::Delete { path },
        DcdbType::Create => Op::Create { path },
        DcdbType::Rename => Op::Rename {
            from: path,
            to: String::from_utf8(m.to.unwrap()).unwrap(),
        },
        DcdbType::Mtime => Op::Mtime {
            path,
            mtime: m.offset,
        },
        other => panic!("not a fuse message: {other:?}"),
    }
}

/// One ccfs node fed with the captured sequence.
struct Replayer {
    me: Member,
    node: DcdbNode,
    db: Memdb,
    /// Messages we multicast that the capture has not shown yet.
    sent: Vec<Vec<u8>>,
    /// Writer replies: (order of the request, result).
    replies: Vec<(u64, Result<u32, i32>)>,
    resyncs: usize,
}

impl Replayer {
    fn new(me: Member, db: Memdb, timer_start: u64) -> Replayer {
        let mut r = Replayer {
            me,
            node: DcdbNode::new(me, timer_start),
            db,
            sent: Vec::new(),
            replies: Vec::new(),
            resyncs: 0,
        };
        r.feed(timer_start, Event::Quorum { quorate: true });
        r
    }

    fn feed(&mut self, now: u64, event: Event) {
        for a in self.node.handle(&mut self.db, now, event) {
            match a {
                Action::Multicast { bytes, .. } => self.sent.push(bytes),
                Action::Reply { id, result } => self.replies.push((id, result)),
                Action::App(DcdbAction::Resynced { .. }) => self.resyncs += 1,
                Action::Leave { .. } => panic!("{:?} left the group", self.me),
                _ => {}
            }
        }
    }

    /// Takes a message we sent out of `sent`; UPDATEs may come in any
    /// order (C sends them in hash order), everything else in order.
    fn expect_sent(&mut self, order: u64, bytes: &[u8]) {
        let is_update = matches!(
            Message::decode(bytes).unwrap(),
            Message::State { base, .. } if base.msg_type == MessageType::Update.code()
        );
        let pos = if is_update {
            self.sent.iter().position(|s| s == bytes)
        } else {
            self.sent.first().filter(|s| *s == bytes).map(|_| 0)
        };
        match pos {
            Some(i) => {
                self.sent.remove(i);
            }
            None => panic!(
                "{:?}: order {order}: captured {} not among our sends {:?}",
                self.me,
                hex(bytes),
                self.sent.iter().map(|s| hex(s)).collect::<Vec<_>>()
            ),
        }
    }

    /// Feeds one record of the capture.
    fn step(&mut self, rec: &Value) {
        let order = rec["order"].as_u64().unwrap();
        if rec["event"] == "confchg" {
            let now = rec["wall_time"].as_f64().unwrap() as u64;
            self.feed(now, membership(rec["membership"].as_str().unwrap()));
            return;
        }
        let bytes = read_msg(rec);
        let sender = Member {
            nodeid: rec["sender"]["nodeid"].as_u64().unwrap() as u32,
            pid: rec["sender"]["pid"].as_u64().unwrap() as u32,
        };
        let now = rec["wall_time_delivered_node1"].as_f64().unwrap() as u64;
        if sender == self.me {
            let msg = Message::decode(&bytes).unwrap();
            let time = u64::from(msg.base().time);
            match msg {
                // What a local writer asked for: inject the request at the
                // time C built the message; ours must be the same bytes.
                Message::Normal { base, payload, .. } if base.subtype <= 7 => {
                    let request = if base.subtype == 7 {
                        let u = UnlockMessage::decode(payload).unwrap();
                        Request::UnlockRequest {
                            path: String::from_utf8(u.path).unwrap(),
                        }
                    } else {
                        Request::Op(op_of(base.subtype, FuseMessage::decode(payload).unwrap()))
                    };
                    self.feed(time, Event::Request { id: order, request });
                }
                // The hourly timer (forced with gdb in the capture).
                Message::State { base, .. }
                    if base.msg_type == MessageType::VerifyRequest.code() =>
                {
                    self.feed(time, Event::Tick)
                }
                _ => {}
            }
            self.expect_sent(order, &bytes);
        }
        self.feed(now, Event::Deliver { sender, bytes });
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn records(seq: &[Value], from: u64, to: u64) -> impl Iterator<Item = &Value> {
    seq.iter().filter(move |r| {
        let o = r["order"].as_u64().unwrap();
        o >= from && o <= to
    })
}

fn state_payload(seq: &[Value], order: u64) -> Vec<u8> {
    let rec = records(seq, order, order).next().unwrap();
    Message::decode(&read_msg(rec)).unwrap().payload().to_vec()
}

#[test]
fn ccfs_nodes_replay_the_c_cluster_to_the_same_trees() {
    let seq = manifest();
    let db_manifest: Value = serde_json::from_slice(
        &std::fs::read(vectors().join("db/cluster3-node2/manifest.json")).unwrap(),
    )
    .unwrap();
    let final_checksum = db_manifest["c_tree_checksum"].as_str().unwrap();
    let final_index = std::fs::read(vectors().join("db/cluster3-node2/index.bin")).unwrap();

    // The verify request (order 36) was forced; start the hourly timer so
    // that it is due exactly then.
    let verify_time = records(&seq, 36, 36).next().unwrap()["header"]["time"]
        .as_u64()
        .unwrap();
    let node1 = Member {
        nodeid: 1,
        pid: 24241,
    };
    let mut n1 = Replayer::new(node1, initial_tree(), verify_time - 3600);
    assert_eq!(n1.db.encode_index(), state_payload(&seq, 4));

    for rec in records(&seq, 1, 42) {
        n1.step(rec);
    }
    // node2 and node3 stopped here with this tree (their STATEs 54 and 67).
    let at_stop = snapshot(&n1.db);
    assert_eq!(at_stop.encode_index(), state_payload(&seq, 54));
    assert_eq!(at_stop.encode_index(), state_payload(&seq, 67));

    let node2 = Member {
        nodeid: 2,
        pid: 25598,
    };
    let mut n2 = Replayer::new(node2, snapshot(&at_stop), 0);
    let node3 = Member {
        nodeid: 3,
        pid: 25801,
    };
    let mut n3 = Replayer::new(node3, at_stop, 0);
    for rec in records(&seq, 43, 84) {
        let order = rec["order"].as_u64().unwrap();
        n1.step(rec);
        if order >= 51 {
            n2.step(rec);
        }
        if (63..80).contains(&order) {
            n3.step(rec);
        }
    }
    n1.step(records(&seq, 85, 85).next().unwrap());

    for (who, r) in [("node1", &n1), ("node2", &n2), ("node3", &n3)] {
        assert!(r.sent.is_empty(), "{who} sent more than C: {:?}", r.sent);
    }
    // The two syncs that made node2 and node3 current went through commit.
    assert_eq!((n1.resyncs, n2.resyncs, n3.resyncs), (0, 1, 1));
    assert_eq!(n1.node.mode(), Mode::Synced);
    assert_eq!(n2.node.mode(), Mode::Synced);

    // node2's final tree is the C node2's database, byte for byte.
    assert_eq!(n2.db.encode_index(), final_index);
    assert_eq!(hex(&n2.db.checksum()), final_checksum);
    assert_eq!(n1.db.encode_index(), final_index);
    assert_eq!(n3.db.encode_index(), final_index);
    assert_eq!(hex(&n1.db.checksum()), final_checksum);

    // Writers got C's results: byte counts for writes, EEXIST for the
    // duplicate VMID (order 29), EACCES for the mtime-0 on a lock (76).
    let r1: Vec<_> = n1.replies.iter().filter(|(_, r)| r.is_err()).collect();
    assert_eq!(r1, [&(29, Err(17))]);
    assert!(n1.replies.contains(&(26, Ok(4097))));
    assert!(n1.replies.contains(&(11, Ok(12))));
    assert_eq!(n1.replies.len(), 35);
    assert_eq!(n2.replies, [(76, Err(13))]);
}
