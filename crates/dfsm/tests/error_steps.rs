//! One event in, the exact actions out: resync commits and the error modes
//! (dcdb.md §6.6, §5 step 6; dfsm.md §11).

mod common;

use ccfs_dfsm::{DcdbAction, Event, Mode};
use ccfs_memdb::{Limits, Memdb, Stamp};
use ccfs_proto::dcdb::UpdateInode;
use ccfs_proto::{Epoch, MessageType};
use common::*;

/// node2 behind node1 (one extra directory `x` on node1): the exchange up
/// to the UPDATE phase. Returns node2, the epoch and node1's tree.
fn behind() -> (Node, Epoch, Memdb) {
    let mut n = Node::new(2);
    n.members(&[1, 2], &[1, 2]);
    let epoch = Epoch {
        epoch: 1,
        time: 9,
        nodeid: 1,
        pid: 101,
    };
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    let mut ahead = Memdb::new(Limits::default(), T0 as u32);
    ahead
        .mkdir(
            "x",
            Stamp {
                writer: 1,
                mtime: 7,
            },
        )
        .unwrap();
    n.deliver(
        1,
        state_msg(MessageType::State, T0, epoch, &ahead.encode_index()),
    );
    let own = n.db.encode_index();
    n.deliver(2, state_msg(MessageType::State, T0, epoch, &own));
    assert_eq!(n.node.mode(), Mode::Update);
    (n, epoch, ahead)
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
fn commit_installs_the_leaders_tree() {
    let (mut n, epoch, ahead) = behind();
    let x = ahead.lookup("x").unwrap().inode;
    for inode in [0, x] {
        let u = update_of(&ahead, inode);
        assert_eq!(
            n.deliver(1, state_msg(MessageType::Update, T0, epoch, &u)),
            []
        );
    }
    let acts = n.deliver(1, state_msg(MessageType::UpdateComplete, T0, epoch, &[]));
    let Action::App(DcdbAction::Resynced { rows, root }) = &acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(root.version, 2);
    assert_eq!(
        acts[1..],
        [
            Action::App(DcdbAction::CorosyncConf { reload: false }),
            Action::ModeChanged(Mode::Synced),
        ]
    );
    assert_eq!(n.db.encode_index(), ahead.encode_index());
}

#[test]
fn a_commit_that_does_not_reproduce_the_leaders_index_fails_for_good() {
    let (mut n, epoch, ahead) = behind();
    // Only the root arrives: the result lacks `x`.
    let u = update_of(&ahead, 0);
    n.deliver(1, state_msg(MessageType::Update, T0, epoch, &u));
    let acts = n.deliver(1, state_msg(MessageType::UpdateComplete, T0, epoch, &[]));
    assert_eq!(acts, leave());
    assert!(n.db.is_error_mode());
    assert!(n.db.lookup("x").is_none(), "the old tree stays");
    // After the restart the sticky error flag stops the group for good.
    n.handle(Event::Restart);
    n.alone();
    assert_eq!(
        n.deliver(1, mkdir_msg("y", 1, T0)),
        [
            Action::ModeChanged(Mode::Error),
            Action::Leave { rejoin: false },
        ]
    );
    assert_eq!(n.handle(Event::Restart), []);
}

#[test]
fn a_malformed_update_leaves() {
    let (mut n, epoch, _) = behind();
    assert_eq!(
        n.deliver(1, state_msg(MessageType::Update, T0, epoch, &[0; 40])),
        leave()
    );
}

#[test]
fn a_store_failure_reported_by_the_daemon_stops_the_group_at_the_next_message() {
    let mut n = Node::new(1);
    n.alone();
    n.db.enter_error_mode();
    assert_eq!(
        n.deliver(2, mkdir_msg("d", 1, T0)),
        [
            Action::ModeChanged(Mode::Error),
            Action::Leave { rejoin: false },
        ]
    );
    // An ERROR instance ignores everything.
    assert_eq!(n.deliver(2, mkdir_msg("e", 2, T0)), []);
}
