//! One event in, the exact actions out: membership changes, the state
//! exchange and restarts (dfsm.md §7, §8.4, §11).

mod common;

use ccfs_dfsm::{DcdbAction, Event, Mode, Purpose, Request};
use ccfs_proto::{Epoch, MessageType};
use common::*;

#[test]
fn alone_means_synced() {
    let mut n = Node::new(1);
    assert_eq!(n.members(&[1], &[1]), [Action::ModeChanged(Mode::Synced)]);
}

#[test]
fn lowest_member_starts_the_sync_with_a_fresh_epoch() {
    let mut n = Node::new(1);
    n.alone();
    let acts = n.members(&[1, 2], &[2]);
    let epoch = Epoch {
        epoch: 2, // one per membership change
        time: T0 as u32,
        nodeid: 1,
        pid: 101,
    };
    assert_eq!(
        acts,
        [
            Action::ModeChanged(Mode::StartSync),
            multicast(
                state_msg(MessageType::SyncStart, T0, epoch, &[]),
                Purpose::Protocol
            ),
        ]
    );
}

#[test]
fn other_members_wait_for_sync_start_and_answer_with_their_index() {
    let mut n = Node::new(2);
    assert_eq!(
        n.members(&[1, 2], &[1, 2]),
        [Action::ModeChanged(Mode::StartSync)]
    );
    let epoch = Epoch {
        epoch: 7,
        time: 5,
        nodeid: 1,
        pid: 101,
    };
    n.now += 3;
    let acts = n.deliver(1, state_msg(MessageType::SyncStart, 5, epoch, &[]));
    let index = n.db.encode_index();
    assert_eq!(
        acts,
        [multicast(
            state_msg(MessageType::State, T0 + 3, epoch, &index),
            Purpose::Protocol
        )]
    );
}

#[test]
fn leader_with_equal_states_sends_only_update_complete() {
    let mut n = Node::new(1);
    n.members(&[1, 2], &[2]);
    let epoch = n.node.dfsm().sync_epoch();
    assert_eq!(
        n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]))
            .len(),
        1
    );
    let index = n.db.encode_index();
    assert_eq!(
        n.deliver(1, state_msg(MessageType::State, T0, epoch, &index)),
        []
    );
    let acts = n.deliver(2, state_msg(MessageType::State, T0, epoch, &index));
    assert_eq!(
        acts,
        [
            multicast(
                state_msg(MessageType::UpdateComplete, T0, epoch, &[]),
                Purpose::Protocol
            ),
            Action::ModeChanged(Mode::Synced),
        ]
    );
}

#[test]
fn a_second_state_from_one_member_or_one_from_a_stranger_leaves() {
    let mut n = Node::new(1);
    n.members(&[1, 2], &[2]);
    let epoch = n.node.dfsm().sync_epoch();
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    let index = n.db.encode_index();
    n.deliver(1, state_msg(MessageType::State, T0, epoch, &index));
    assert_eq!(
        n.deliver(1, state_msg(MessageType::State, T0, epoch, &index)),
        leave()
    );

    let mut n = Node::new(1);
    n.members(&[1, 2], &[2]);
    let epoch = n.node.dfsm().sync_epoch();
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    assert_eq!(
        n.deliver(3, state_msg(MessageType::State, T0, epoch, &index)),
        leave()
    );
}

#[test]
fn stale_epochs_are_ignored_but_sync_start_bypasses_the_check() {
    let mut n = Node::new(2);
    n.members(&[1, 2], &[1, 2]);
    let old = Epoch {
        epoch: 99,
        time: 1,
        nodeid: 1,
        pid: 101,
    };
    // A STATE of another exchange: dropped silently.
    assert_eq!(
        n.deliver(1, state_msg(MessageType::State, T0, old, &[1; 32])),
        []
    );
    // UPDATE in START_SYNC with the right epoch is a violation.
    let cur = n.node.dfsm().sync_epoch();
    assert_eq!(
        n.deliver(1, state_msg(MessageType::Update, T0, cur, &[])),
        leave()
    );
}

#[test]
fn seeing_ourselves_removed_leaves() {
    let mut n = Node::new(2);
    n.synced_with(&[1, 2]);
    assert_eq!(n.members(&[1], &[]), leave());
    // In an error mode a membership change only counts the epoch.
    assert_eq!(n.members(&[1, 2], &[2]), []);
}

#[test]
fn update_mode_rules() {
    // node2 is behind: node1's index has a higher version.
    let mut n = Node::new(2);
    n.members(&[1, 2], &[1, 2]);
    let epoch = Epoch {
        epoch: 1,
        time: 9,
        nodeid: 1,
        pid: 101,
    };
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    let mut ahead = ccfs_memdb::Memdb::new(ccfs_memdb::Limits::default(), T0 as u32);
    ahead
        .mkdir(
            "x",
            ccfs_memdb::Stamp {
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
    assert_eq!(
        n.deliver(2, state_msg(MessageType::State, T0, epoch, &own)),
        [Action::ModeChanged(Mode::Update)]
    );
    // Verify messages are ignored while outdated, SYNC_START is fatal.
    assert_eq!(
        n.deliver(1, state_msg(MessageType::VerifyRequest, T0, epoch, &[0; 8])),
        []
    );
    assert_eq!(
        n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[])),
        leave()
    );
}

#[test]
fn restart_aborts_waiting_writers_with_ebusy() {
    let mut n = Node::new(1);
    n.alone();
    n.handle(Event::Request {
        id: 9,
        request: Request::Op(mkdir("d")),
    });
    assert_eq!(n.members(&[2], &[2]), leave());
    assert_eq!(
        n.handle(Event::Restart),
        [
            Action::Reply {
                id: 9,
                result: Err(16)
            },
            Action::ModeChanged(Mode::Start),
        ]
    );
}

#[test]
fn version_error_is_permanent() {
    let mut n = Node::new(1);
    n.alone();
    let newer = ccfs_proto::header::encode_normal(2, 1, 0, 1, &[]);
    assert_eq!(
        n.deliver(2, newer),
        [
            Action::ModeChanged(Mode::VersionError),
            Action::Leave { rejoin: false },
        ]
    );
    assert_eq!(n.handle(Event::Restart), []);
    assert_eq!(n.node.mode(), Mode::VersionError);
}

#[test]
fn resend_own_queued_messages_on_join_and_drop_the_rest() {
    let mut n = Node::new(1);
    n.alone();
    n.members(&[1, 2], &[2]);
    // Own request while syncing: sent, delivered, queued.
    let acts = n.handle(Event::Request {
        id: 1,
        request: Request::Op(mkdir("a")),
    });
    let Action::Multicast { bytes: own, .. } = acts[0].clone() else {
        panic!("{acts:?}")
    };
    assert_eq!(n.deliver(1, own.clone()), []);
    assert_eq!(n.deliver(2, mkdir_msg("b", 1, T0)), []);
    // Another node joins: only our message goes out again, unchanged.
    let acts = n.members(&[1, 2, 3], &[3]);
    let epoch = n.node.dfsm().sync_epoch();
    assert_eq!(
        acts,
        [
            multicast(own, Purpose::Protocol),
            multicast(
                state_msg(MessageType::SyncStart, T0, epoch, &[]),
                Purpose::Protocol
            ),
        ]
    );
    // The queue was emptied: after the new exchange nothing is applied.
    n.synced_with(&[1, 2, 3]);
    assert!(n.db.lookup("a").is_none() && n.db.lookup("b").is_none());
}

/// dfsm.md §8.5: a SYNCED member applies a new message of a member that is
/// still being updated at once, while that member's older message waits in
/// the queue until UPDATE_COMPLETE (Y1). Reproduced, not fixed.
#[test]
fn synced_leader_applies_an_unsynced_members_new_message_before_its_queued_one() {
    let mut n = Node::new(1);
    n.db.mkdir(
        "x",
        ccfs_memdb::Stamp {
            writer: 1,
            mtime: 5,
        },
    )
    .unwrap();
    let _ = n.db.take_batch();
    n.members(&[1, 2], &[1, 2]);
    let epoch = n.node.dfsm().sync_epoch();
    n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    // node2's first message arrives during the exchange: queued.
    assert_eq!(n.deliver(2, mkdir_msg("q1", 1, T0)), []);
    let behind = ccfs_memdb::Memdb::new(ccfs_memdb::Limits::default(), T0 as u32);
    n.deliver(
        1,
        state_msg(MessageType::State, T0, epoch, &n.db.encode_index()),
    );
    let acts = n.deliver(
        2,
        state_msg(MessageType::State, T0, epoch, &behind.encode_index()),
    );
    // Leader: the root and `x` differ, then UPDATE_COMPLETE; node1 is
    // synced, node2's queued message stays (its sender is not synced).
    assert_eq!(acts.len(), 4, "{acts:?}");
    assert_eq!(acts[3], Action::ModeChanged(Mode::Synced));
    assert!(n.db.lookup("q1").is_none());
    // node2's second message is applied at once by the synced leader.
    let acts = n.deliver(2, mkdir_msg("q2", 2, T0));
    assert!(
        matches!(&acts[..], [Action::App(DcdbAction::Persist(_))]),
        "{acts:?}"
    );
    assert!(n.db.lookup("q2").is_some() && n.db.lookup("q1").is_none());
    // Y1: UPDATE_COMPLETE marks everyone synced and releases q1.
    let acts = n.deliver(1, state_msg(MessageType::UpdateComplete, T0, epoch, &[]));
    assert!(
        matches!(&acts[..], [Action::App(DcdbAction::Persist(_))]),
        "{acts:?}"
    );
    assert!(n.db.lookup("q1").is_some());
}
