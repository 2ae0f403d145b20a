//! One event in, the exact actions out: a healing node (its database could
//! not be read, the tree it holds is a stand-in) takes a peer's tree and is
//! never the source of a sync, alone or not.

mod common;

use ccfs_dfsm::{DcdbAction, DcdbNode, Event, Mode};
use ccfs_memdb::{Limits, Memdb, Stamp};
use ccfs_proto::dcdb::UpdateInode;
use ccfs_proto::{Epoch, MessageType};
use common::*;

fn healing(nodeid: u32) -> Node {
    let mut n = Node::new(nodeid);
    n.node = DcdbNode::new(m(nodeid), T0).healing();
    n.handle(Event::Quorum { quorate: true });
    assert!(n.node.is_healing());
    n
}

fn refused() -> Vec<Action> {
    let mut want = vec![Action::App(DcdbAction::NotTheSource)];
    want.extend(leave());
    want
}

fn epoch_of(nodeid: u32) -> Epoch {
    Epoch {
        epoch: 1,
        time: 9,
        nodeid,
        pid: 100 + nodeid,
    }
}

fn tree_with(dirs: &[&str]) -> Memdb {
    let mut db = Memdb::new(Limits::default(), T0 as u32);
    for d in dirs {
        let stamp = Stamp {
            writer: 1,
            mtime: 7,
        };
        db.mkdir(d, stamp).unwrap();
    }
    let _ = db.take_batch();
    db
}

fn update_of(db: &Memdb, inode: u64) -> Vec<u8> {
    let e = db.get(inode).unwrap();
    UpdateInode {
        parent: e.parent,
        inode: e.inode,
        version: e.version,
        writer: e.writer,
        mtime: e.mtime,
        kind: e.kind.code(),
        name: e.name.as_bytes().to_vec(),
        data: e.data.clone(),
    }
    .encode()
}

#[test]
fn alone_it_leaves_instead_of_serving_its_tree_and_tries_again_after_the_restart() {
    let mut n = healing(2);
    assert_eq!(n.members(&[2], &[2]), refused());
    assert!(n.node.is_healing());
    assert_eq!(n.handle(Event::Restart), [Action::ModeChanged(Mode::Start)]);
    assert_eq!(n.members(&[2], &[2]), refused());
    assert!(n.node.is_healing(), "still waiting for a peer");
}

#[test]
fn it_takes_the_tree_of_a_newer_peer_and_is_healed() {
    let mut n = healing(2);
    n.members(&[1, 2], &[1, 2]);
    let epoch = epoch_of(1);
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    let ahead = tree_with(&["x", "y"]);
    n.deliver(
        1,
        state_msg(MessageType::State, T0, epoch, &ahead.encode_index()),
    );
    let own = n.db.encode_index();
    assert_eq!(
        n.deliver(2, state_msg(MessageType::State, T0, epoch, &own)),
        [Action::ModeChanged(Mode::Update)]
    );
    assert!(n.node.is_healing(), "not before the tree is in");
    for e in ahead.sorted() {
        let u = update_of(&ahead, e.inode);
        n.deliver(1, state_msg(MessageType::Update, T0, epoch, &u));
    }
    let acts = n.deliver(1, state_msg(MessageType::UpdateComplete, T0, epoch, &[]));
    assert!(
        matches!(acts[0], Action::App(DcdbAction::Resynced { .. })),
        "{acts:?}"
    );
    assert_eq!(
        acts[1..],
        [
            Action::App(DcdbAction::Healed),
            Action::App(DcdbAction::CorosyncConf { reload: false }),
            Action::ModeChanged(Mode::Synced),
        ]
    );
    assert!(!n.node.is_healing());
    assert_eq!(n.db.encode_index(), ahead.encode_index());
    // Healed, it is an ordinary member: alone it serves its tree.
    n.handle(Event::Restart);
    n.alone();
}

#[test]
fn chosen_as_the_leader_it_sends_no_update_and_leaves() {
    // Node 1 heals on a tree newer than node 2's (which has nothing): the
    // leader rule picks node 1, whose tree must not reach node 2.
    let mut n = healing(1);
    n.db = tree_with(&["stand-in"]);
    let acts = n.members(&[1, 2], &[1, 2]);
    let epoch = n.node.dfsm().sync_epoch();
    assert_eq!(acts.len(), 2, "START_SYNC sent: {acts:?}");
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    let own = n.db.encode_index();
    n.deliver(1, state_msg(MessageType::State, T0, epoch, &own));
    let empty = tree_with(&[]).encode_index();
    assert_eq!(
        n.deliver(2, state_msg(MessageType::State, T0, epoch, &empty)),
        refused(),
        "no UPDATE, no UPDATE_COMPLETE"
    );
    assert!(n.node.is_healing());
}

#[test]
fn a_peer_with_the_same_tree_heals_it_without_updates() {
    let mut n = healing(2);
    n.synced_with(&[1, 2]);
    assert!(!n.node.is_healing());
}

#[test]
fn a_short_verify_interval_is_honoured() {
    let mut n = Node::new(1);
    n.node = DcdbNode::new(m(1), T0).with_verify_interval(5);
    n.handle(Event::Quorum { quorate: true });
    n.alone();
    n.now += 4;
    assert_eq!(n.handle(Event::Tick), []);
    n.now += 1;
    let acts = n.handle(Event::Tick);
    assert!(
        matches!(&acts[..], [Action::Multicast { .. }]),
        "VERIFY_REQUEST after 5 s: {acts:?}"
    );
}
