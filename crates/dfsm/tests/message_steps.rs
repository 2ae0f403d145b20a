//! One event in, the exact actions out: NORMAL messages, writers' results,
//! queues, verification and unlock (dfsm.md §8, §9, §12; dcdb.md §4, §5, §9).

mod common;

use ccfs_dfsm::{DcdbAction, Event, Mode, Purpose, Request};
use ccfs_memdb::{Batch, Op, Root, Stamp};
use ccfs_proto::dcdb::{DcdbType, UnlockMessage};
use ccfs_proto::header::encode_normal;
use ccfs_proto::{verify, MessageType};
use common::*;

#[test]
fn not_quorate_writers_get_eacces_without_a_send() {
    let mut n = Node::new(1);
    n.alone();
    n.handle(Event::Quorum { quorate: false });
    let acts = n.handle(Event::Request {
        id: 4,
        request: Request::Op(mkdir("d")),
    });
    assert_eq!(
        acts,
        [Action::Reply {
            id: 4,
            result: Err(13)
        }]
    );
}

#[test]
fn a_request_is_one_normal_message_and_its_delivery_answers_the_writer() {
    let mut n = Node::new(1);
    n.alone();
    let acts = n.handle(Event::Request {
        id: 4,
        request: Request::Op(mkdir("d")),
    });
    let bytes = mkdir_msg("d", 1, T0);
    assert_eq!(acts, [multicast(bytes.clone(), Purpose::Request(4))]);
    let acts = n.deliver(1, bytes);
    let inode = n.db.lookup("d").unwrap().clone();
    assert_eq!(inode.writer, 1);
    assert_eq!(inode.mtime, T0 as u32);
    assert_eq!(
        acts,
        [
            Action::App(DcdbAction::Persist(Batch {
                deletes: vec![],
                upserts: vec![ccfs_memdb::row_of(&inode)],
                root: Some(Root {
                    version: 2,
                    writer: 1,
                    mtime: T0 as u32
                }),
            })),
            Action::Reply {
                id: 4,
                result: Ok(0)
            },
        ]
    );
}

#[test]
fn failing_operations_return_their_errno_and_do_not_leave() {
    let mut n = Node::new(1);
    n.alone();
    n.handle(Event::Request {
        id: 1,
        request: Request::Op(mkdir("a/b")),
    });
    let acts = n.deliver(1, mkdir_msg("a/b", 1, T0));
    assert_eq!(
        acts,
        [Action::Reply {
            id: 1,
            result: Err(2)
        }]
    );
    assert_eq!(n.node.mode(), Mode::Synced);
}

#[test]
fn a_write_delivered_while_not_quorate_leaves_and_the_writer_gets_eperm() {
    let mut n = Node::new(1);
    n.alone();
    n.handle(Event::Request {
        id: 1,
        request: Request::Op(mkdir("a")),
    });
    n.handle(Event::Quorum { quorate: false });
    let mut want = vec![Action::Reply {
        id: 1,
        result: Err(1),
    }];
    want.extend(leave());
    assert_eq!(n.deliver(1, mkdir_msg("a", 1, T0)), want);
}

#[test]
fn malformed_and_unknown_messages_leave() {
    let mut n = Node::new(1);
    n.alone();
    assert_eq!(n.deliver(2, encode_normal(1, 9, 0, 1, &[])), leave());
    let mut n = Node::new(1);
    n.alone();
    assert_eq!(n.deliver(2, encode_normal(1, 2, 0, 1, &[0; 19])), leave());
    let mut n = Node::new(1);
    n.alone();
    assert_eq!(n.deliver(2, vec![0; 15]), leave());
    // Lower protocol versions are dropped silently.
    let mut n = Node::new(1);
    n.alone();
    assert_eq!(n.deliver(2, encode_normal(0, 1, 0, 1, &[])), []);
    // Before any membership, every message is a violation.
    assert_eq!(Node::new(1).deliver(2, mkdir_msg("a", 1, T0)), leave());
}

#[test]
fn send_failures() {
    let mut n = Node::new(1);
    n.alone();
    n.handle(Event::Request {
        id: 3,
        request: Request::Op(mkdir("a")),
    });
    assert_eq!(
        n.handle(Event::MulticastFailed {
            purpose: Purpose::Request(3)
        }),
        [Action::Reply {
            id: 3,
            result: Err(16)
        }]
    );
    // The writer is gone: its message, if delivered later, answers nobody.
    assert_eq!(n.deliver(1, mkdir_msg("a", 1, T0)).len(), 1);
    assert_eq!(
        n.handle(Event::MulticastFailed {
            purpose: Purpose::Protocol
        }),
        leave()
    );
}

#[test]
fn queued_messages_are_applied_by_count_after_the_sync() {
    let mut n = Node::new(2);
    n.members(&[1, 2, 3], &[1, 2, 3]);
    // In START_SYNC everything waits, sorted by count across senders.
    assert_eq!(n.deliver(1, mkdir_msg("x/y", 2, T0)), []);
    assert_eq!(n.deliver(3, mkdir_msg("x", 1, T0)), []);
    n.synced_with(&[1, 2, 3]);
    assert!(
        n.db.lookup("x/y").is_some(),
        "x (count 1) applied before x/y"
    );
    assert_eq!(n.db.lookup("x").unwrap().writer, 3);
}

#[test]
fn hourly_verification_round_trip() {
    let mut n = Node::new(1);
    n.alone();
    n.now += 3599;
    assert_eq!(n.handle(Event::Tick), []);
    n.now += 1;
    let epoch = n.node.dfsm().sync_epoch();
    let req = state_msg(
        MessageType::VerifyRequest,
        n.now,
        epoch,
        &verify::encode_verify_request(1),
    );
    assert_eq!(
        n.handle(Event::Tick),
        [multicast(req.clone(), Purpose::BestEffort)]
    );
    let csum = n.db.checksum();
    let answer = state_msg(
        MessageType::Verify,
        n.now,
        epoch,
        &verify::encode_verify(1, &csum),
    );
    assert_eq!(
        n.deliver(1, req),
        [multicast(answer.clone(), Purpose::Protocol)]
    );
    // Our own checksum matches: nothing happens.
    assert_eq!(n.deliver(1, answer), []);
    // A different checksum for the same request: say so, leave and resync.
    let wrong = state_msg(
        MessageType::Verify,
        n.now,
        epoch,
        &verify::encode_verify(1, &[0; 32]),
    );
    let mut want = vec![Action::App(DcdbAction::ChecksumMismatch)];
    want.extend(leave());
    assert_eq!(n.deliver(1, wrong), want);
}

#[test]
fn only_the_lowest_member_sends_verify_requests() {
    let mut n = Node::new(2);
    n.synced_with(&[1, 2]);
    n.now += 7200;
    assert_eq!(n.handle(Event::Tick), []);
}

#[test]
fn unlock_request_is_answered_by_the_coordinator_once_expired() {
    let mut n = Node::new(1);
    n.alone();
    let stamp = Stamp {
        writer: 1,
        mtime: T0 as u32,
    };
    for p in ["priv", "priv/lock", "priv/lock/l"] {
        n.db.apply(&Op::Mkdir { path: p.into() }, stamp).unwrap();
    }
    let csum =
        n.db.entry_csum(n.db.lookup("priv/lock/l").unwrap().inode)
            .unwrap();
    let _ = n.db.take_batch();
    let msg = UnlockMessage {
        csum,
        path: b"priv/lock/l".to_vec(),
    }
    .encode();
    let request = |count| encode_normal(1, DcdbType::UnlockRequest.code(), T0 as u32, count, &msg);
    // First sight starts the lock clock: not expired.
    n.db.set_now(T0);
    assert_eq!(n.deliver(2, request(1)), []);
    n.now += 121;
    let unlock = encode_normal(1, DcdbType::Unlock.code(), n.now as u32, 1, &msg);
    assert_eq!(
        n.deliver(2, request(2)),
        [multicast(unlock.clone(), Purpose::BestEffort)]
    );
    // The UNLOCK removes the directory on delivery.
    let acts = n.deliver(1, unlock);
    assert!(matches!(&acts[..], [Action::App(DcdbAction::Persist(b))] if b.deletes.len() == 1));
    assert!(n.db.lookup("priv/lock/l").is_none());
}

#[test]
fn unlock_request_from_a_local_writer() {
    let mut n = Node::new(1);
    n.alone();
    let stamp = Stamp {
        writer: 1,
        mtime: 5,
    };
    for p in ["priv", "priv/lock", "priv/lock/l"] {
        n.db.apply(&Op::Mkdir { path: p.into() }, stamp).unwrap();
    }
    let csum =
        n.db.entry_csum(n.db.lookup("priv/lock/l").unwrap().inode)
            .unwrap();
    let path = "priv/lock/l".to_string();
    let want = encode_normal(
        1,
        DcdbType::UnlockRequest.code(),
        T0 as u32,
        1,
        &UnlockMessage {
            csum,
            path: path.clone().into_bytes(),
        }
        .encode(),
    );
    let acts = n.handle(Event::Request {
        id: 1,
        request: Request::UnlockRequest { path: path.clone() },
    });
    assert_eq!(acts, [multicast(want, Purpose::BestEffort)]);
    n.handle(Event::Quorum { quorate: false });
    let acts = n.handle(Event::Request {
        id: 2,
        request: Request::UnlockRequest { path },
    });
    assert_eq!(acts, []);
}

#[test]
fn corosync_conf_changes_ask_for_the_config_sync() {
    let mut n = Node::new(1);
    n.alone();
    let create = |count| {
        let payload = ccfs_proto::dcdb::FuseMessage {
            offset: 0,
            flags: 0,
            path: Some(b"corosync.conf".to_vec()),
            to: None,
            data: vec![],
        }
        .encode();
        encode_normal(1, DcdbType::Create.code(), T0 as u32, count, &payload)
    };
    let acts = n.deliver(2, create(1));
    assert_eq!(
        acts.last(),
        Some(&Action::App(DcdbAction::CorosyncConf { reload: false }))
    );
}
