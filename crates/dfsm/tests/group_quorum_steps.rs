//! One event in, the exact actions out: the group quorum rule of views
//! whose members are all ccfs (crates/dfsm/GROUP-QUORUM.md, votes.rs).

mod common;

use ccfs_dfsm::votes::encode_announce;
use ccfs_dfsm::{DcdbAction, Event, Mode, Purpose, Request, Votes};
use ccfs_proto::{Epoch, MessageType};
use common::*;

fn votes(n: u32) -> Votes {
    Votes::new((1..=n).map(|id| (id, 1)))
}

fn epoch_of(lowest: u32) -> Epoch {
    Epoch {
        epoch: 1,
        time: T0 as u32,
        nodeid: lowest,
        pid: 100 + lowest,
    }
}

/// Node `me` with `total` configured votes, synced in `members`; those
/// in `ccfs` announced the same votes in the exchange.
fn synced(me: u32, total: u32, members: &[u32], ccfs: &[u32]) -> Node {
    let mut n = Node::new(me);
    n.handle(Event::Votes(votes(total)));
    n.members(members, members);
    let lowest = *members.iter().min().unwrap();
    let epoch = if lowest == me {
        n.node.dfsm().sync_epoch()
    } else {
        epoch_of(lowest)
    };
    n.deliver(lowest, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    for &c in ccfs {
        n.deliver(c, encode_announce(T0 as u32, epoch, &votes(total)));
    }
    let index = n.db.encode_index();
    for &o in members {
        n.deliver(o, state_msg(MessageType::State, T0, epoch, &index));
    }
    n.deliver(
        lowest,
        state_msg(MessageType::UpdateComplete, T0, epoch, &[]),
    );
    assert_eq!(n.node.mode(), Mode::Synced);
    n
}

#[test]
fn a_member_with_votes_announces_itself_before_its_state() {
    let mut n = Node::new(2);
    n.handle(Event::Votes(votes(3)));
    n.members(&[1, 2], &[1, 2]);
    let epoch = epoch_of(1);
    let acts = n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
    let index = n.db.encode_index();
    assert_eq!(
        acts,
        [
            multicast(
                encode_announce(T0 as u32, epoch, &votes(3)),
                Purpose::BestEffort
            ),
            multicast(
                state_msg(MessageType::State, T0, epoch, &index),
                Purpose::Protocol
            ),
        ]
    );
}

#[test]
fn without_votes_nothing_is_announced() {
    let mut n = Node::new(2);
    n.members(&[1, 2], &[1, 2]);
    let acts = n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch_of(1), &[]));
    assert_eq!(acts.len(), 1);
}

#[test]
fn a_majority_view_applies_even_after_corosync_reported_quorum_loss() {
    let mut n = synced(1, 3, &[1, 2], &[1, 2]);
    n.handle(Event::Quorum { quorate: false });
    let acts = n.deliver(2, mkdir_msg("a", 1, T0));
    assert!(
        matches!(acts.as_slice(), [Action::App(DcdbAction::Persist(_))]),
        "{acts:?}"
    );
    assert!(n.db.lookup("a").is_some());
}

#[test]
fn a_minority_view_skips_writes_alike_without_leaving() {
    // Two daemons of five nodes: corosync is quorate (the dead daemons'
    // nodes vote), the group is not.
    let mut n = synced(1, 5, &[1, 2], &[1, 2]);
    assert_eq!(n.deliver(2, mkdir_msg("a", 1, T0)), []);
    assert!(n.db.lookup("a").is_none());
    assert_eq!(n.node.mode(), Mode::Synced);
    // The local writer is refused before anything is sent.
    let request = Request::Op(mkdir("b"));
    assert_eq!(
        n.handle(Event::Request { id: 7, request }),
        [Action::Reply {
            id: 7,
            result: Err(13)
        }]
    );
}

#[test]
fn a_lone_member_of_three_may_not_write() {
    let mut n = Node::new(1);
    n.handle(Event::Votes(votes(3)));
    n.alone();
    let request = Request::Op(mkdir("a"));
    assert_eq!(
        n.handle(Event::Request { id: 1, request }),
        [Action::Reply {
            id: 1,
            result: Err(13)
        }]
    );
}

#[test]
fn a_view_with_a_c_member_keeps_the_c_rules() {
    // Node 2 never announced: C pmxcfs. Not quorate at delivery: LEAVE,
    // exactly as the C member does.
    let mut n = synced(1, 3, &[1, 2], &[1]);
    n.handle(Event::Quorum { quorate: false });
    assert_eq!(n.deliver(2, mkdir_msg("a", 1, T0)), leave());
    // And a quorate minority view applies, as C does.
    let mut n = synced(1, 5, &[1, 2], &[1]);
    let acts = n.deliver(2, mkdir_msg("a", 1, T0));
    assert!(
        matches!(acts.as_slice(), [Action::App(DcdbAction::Persist(_))]),
        "{acts:?}"
    );
}

#[test]
fn announcements_of_another_exchange_or_with_other_votes_do_not_count() {
    for (their_epoch, their_votes) in [(Some(epoch_of(9)), votes(5)), (None, votes(4))] {
        let mut n = Node::new(1);
        n.handle(Event::Votes(votes(5)));
        n.members(&[1, 2], &[2]);
        let epoch = n.node.dfsm().sync_epoch();
        n.deliver(1, state_msg(MessageType::SyncStart, T0, epoch, &[]));
        n.deliver(1, encode_announce(T0 as u32, epoch, &votes(5)));
        let theirs = their_epoch.unwrap_or(epoch);
        n.deliver(2, encode_announce(T0 as u32, theirs, &their_votes));
        let index = n.db.encode_index();
        for o in [1, 2] {
            n.deliver(o, state_msg(MessageType::State, T0, epoch, &index));
        }
        // The view counts as mixed, so C's rule: quorate by corosync, a
        // minority view applies.
        let acts = n.deliver(2, mkdir_msg("a", 1, T0));
        assert!(
            matches!(acts.as_slice(), [Action::App(DcdbAction::Persist(_))]),
            "{acts:?}"
        );
    }
}
