//! Helpers for feeding one event to a dcdb node and building the exact
//! messages we expect it to send.
#![allow(dead_code)]

use ccfs_dfsm::{DcdbAction, DcdbNode, Event, Member, Mode, Purpose};

/// What the database group emits.
pub type Action = ccfs_dfsm::Action<DcdbAction>;
use ccfs_memdb::{Limits, Memdb, Op};
use ccfs_proto::dcdb::{DcdbType, FuseMessage};
use ccfs_proto::header::{encode_normal, encode_state};
use ccfs_proto::{Epoch, MessageType};

pub const T0: u64 = 1_800_000_000;

pub fn m(nodeid: u32) -> Member {
    Member {
        nodeid,
        pid: 100 + nodeid,
    }
}

pub struct Node {
    pub node: DcdbNode,
    pub db: Memdb,
    pub now: u64,
}

impl Node {
    pub fn new(nodeid: u32) -> Node {
        let mut n = Node {
            node: DcdbNode::new(m(nodeid), T0),
            db: Memdb::new(Limits::default(), T0 as u32),
            now: T0,
        };
        let _ = n.db.take_batch();
        n.handle(Event::Quorum { quorate: true });
        n
    }

    pub fn me(&self) -> Member {
        self.node.dfsm().me()
    }

    pub fn handle(&mut self, e: Event) -> Vec<Action> {
        self.node.handle(&mut self.db, self.now, e)
    }

    pub fn members(&mut self, members: &[u32], joined: &[u32]) -> Vec<Action> {
        self.handle(Event::Membership {
            members: members.iter().map(|&n| m(n)).collect(),
            left: Vec::new(),
            joined: joined.iter().map(|&n| m(n)).collect(),
        })
    }

    pub fn deliver(&mut self, from: u32, bytes: Vec<u8>) -> Vec<Action> {
        self.handle(Event::Deliver {
            sender: m(from),
            bytes,
        })
    }

    /// Alone in the group: SYNCED.
    pub fn alone(&mut self) {
        let me = self.me().nodeid;
        assert_eq!(
            self.members(&[me], &[me]),
            [Action::ModeChanged(Mode::Synced)]
        );
    }

    /// Synced in a group of `members` whose states equal ours (no data
    /// leader work except the always-sent UPDATE_COMPLETE).
    pub fn synced_with(&mut self, members: &[u32]) {
        self.members(members, &[]);
        let lowest = *members.iter().min().unwrap();
        let epoch = self.node.dfsm().sync_epoch();
        let epoch = if lowest == self.me().nodeid {
            epoch
        } else {
            Epoch {
                epoch: 1,
                time: self.now as u32,
                nodeid: lowest,
                pid: 100 + lowest,
            }
        };
        self.deliver(
            lowest,
            state_msg(MessageType::SyncStart, self.now, epoch, &[]),
        );
        let index = self.db.encode_index();
        for &n in members {
            self.deliver(n, state_msg(MessageType::State, self.now, epoch, &index));
        }
        self.deliver(
            lowest,
            state_msg(MessageType::UpdateComplete, self.now, epoch, &[]),
        );
        assert_eq!(self.node.mode(), Mode::Synced);
    }
}

pub fn state_msg(kind: MessageType, now: u64, epoch: Epoch, payload: &[u8]) -> Vec<u8> {
    encode_state(1, kind, now as u32, epoch, payload)
}

pub fn mkdir_msg(path: &str, count: u64, time: u64) -> Vec<u8> {
    let payload = FuseMessage {
        offset: 0,
        flags: 0,
        path: Some(path.as_bytes().to_vec()),
        to: None,
        data: Vec::new(),
    }
    .encode();
    encode_normal(1, DcdbType::Mkdir.code(), time as u32, count, &payload)
}

pub fn mkdir(path: &str) -> Op {
    Op::Mkdir {
        path: path.to_string(),
    }
}

pub fn multicast(bytes: Vec<u8>, purpose: Purpose) -> Action {
    Action::Multicast { bytes, purpose }
}

pub fn leave() -> Vec<Action> {
    vec![
        Action::ModeChanged(Mode::Leave),
        Action::Leave { rejoin: true },
    ]
}
