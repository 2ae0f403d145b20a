//! The database group's state machine (`DcdbNode`) fed arbitrary events:
//! deliveries of any bytes from any member, membership changes, quorum,
//! local writers, failed multicasts, timer ticks and restarts. Our own
//! multicasts come back to us when the input says so, as corosync would
//! deliver them.
//!
//! Checked: nothing panics; everything we multicast is a well-formed
//! message; every writer gets exactly one reply; error modes that forbid a
//! restart are never left; the tree stays consistent, and a store that
//! executes the `Persist` and `Resynced` actions holds exactly the tree.
//!
//! Input: one byte picks our process from `POOL`, then events, each a tag
//! byte (low 3 bits) and its fields; see `fuzz/README.md`.
#![no_main]

use std::collections::BTreeSet;

use ccfs_dfsm::{Action, DcdbAction, DcdbNode, Event, Mode, Request, DCDB_PROTOCOL_VERSION};
use ccfs_fuzz::{check_tree, op, pool_member, pool_members, stored_rows, tracing, Input, Loopback};
use ccfs_memdb::mem_store::MemStore;
use ccfs_memdb::{Limits, Memdb, Stamp, Store};
use libfuzzer_sys::fuzz_target;

const START: u64 = 1_795_281_000;

/// A small tree like a real node's: a VM config, a lock, corosync.conf.
fn initial_tree() -> Memdb {
    let mut db = Memdb::new(
        Limits {
            max_file_size: 1 << 20,
            max_total_bytes: 4 << 20,
            max_entries: 4096,
        },
        START as u32,
    );
    let s = Stamp {
        writer: 1,
        mtime: START as u32,
    };
    for d in [
        "nodes",
        "nodes/node1",
        "nodes/node1/qemu-server",
        "priv",
        "priv/lock",
    ] {
        db.mkdir(d, s).expect("fresh tree");
    }
    db.mkdir("priv/lock/storage", s).expect("fresh tree");
    db.create("nodes/node1/qemu-server/100.conf", s)
        .expect("fresh tree");
    db.write(
        "nodes/node1/qemu-server/100.conf",
        0,
        b"memory: 512\n",
        false,
        s,
    )
    .expect("fresh tree");
    db.create("corosync.conf", s).expect("fresh tree");
    db.write(
        "corosync.conf",
        0,
        b"totem {\n config_version: 3\n}\n",
        false,
        s,
    )
    .expect("fresh tree");
    db
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let me = pool_member(input.u8());
    let mut db = initial_tree();
    let _ = db.take_batch();
    let _ = db.take_changes();
    let mut store = MemStore::with_rows(stored_rows(&db));
    let mut node = DcdbNode::new(me, START);
    let mut net = Loopback::default();
    let mut now = START;
    let mut members = Vec::new();
    let mut waiting = BTreeSet::new();
    let mut next_id = 1u64;

    for _ in 0..96 {
        if input.is_empty() {
            break;
        }
        let tag = input.u8();
        let event = match tag & 7 {
            0 => {
                let sender = pool_member(input.u8());
                let bytes = input.long().to_vec();
                if sender == me {
                    net.delivered_as_ours(&bytes);
                }
                Event::Deliver { sender, bytes }
            }
            1 => {
                let new = pool_members(input.u8());
                let joined = new
                    .iter()
                    .filter(|m| !members.contains(*m))
                    .copied()
                    .collect();
                let left = members
                    .iter()
                    .filter(|m| !new.contains(*m))
                    .copied()
                    .collect();
                members = new.clone();
                Event::Membership {
                    members: new,
                    left,
                    joined,
                }
            }
            2 => Event::Quorum {
                quorate: input.u8() & 1 != 0,
            },
            3 => match net.pop() {
                Some((bytes, _)) => Event::Deliver { sender: me, bytes },
                None => continue,
            },
            4 => {
                let id = next_id;
                next_id += 1;
                waiting.insert(id);
                let request = if tag & 8 != 0 {
                    Request::UnlockRequest {
                        path: String::from_utf8_lossy(input.short()).into_owned(),
                    }
                } else {
                    Request::Op(op(&mut input))
                };
                if matches!(request, Request::UnlockRequest { .. }) {
                    waiting.remove(&id); // no reply for unlock requests
                }
                Event::Request { id, request }
            }
            5 => match net.fail_recent() {
                Some(purpose) => Event::MulticastFailed { purpose },
                None => continue,
            },
            6 => {
                now += u64::from(input.u16()) * 8;
                Event::Tick
            }
            _ => {
                net.clear();
                Event::Restart
            }
        };
        let before = node.mode();
        if tracing() {
            eprintln!("event {event:?}");
        }
        let actions = node.handle(&mut db, now, event);
        if tracing() {
            eprintln!("  -> {actions:?}");
        }
        for action in net.take(actions, DCDB_PROTOCOL_VERSION) {
            match action {
                Action::Reply { id, .. } => {
                    assert!(waiting.remove(&id), "reply to {id}, which is not waiting");
                }
                Action::App(DcdbAction::Persist(batch)) => {
                    store.commit(&batch).expect("memory store")
                }
                Action::App(DcdbAction::Resynced { rows, root }) => {
                    store.replace_all(&rows, root).expect("memory store")
                }
                Action::ModeChanged(_)
                | Action::App(DcdbAction::CorosyncConf { .. })
                | Action::App(DcdbAction::Healed)
                | Action::App(DcdbAction::NotTheSource)
                | Action::App(DcdbAction::ChecksumMismatch)
                | Action::Leave { .. } => {}
                Action::Multicast { .. } => unreachable!("kept by the loopback"),
            }
        }
        if matches!(before, Mode::Error | Mode::VersionError) {
            assert_eq!(node.mode(), before, "left {before:?}");
        }
        let _ = db.take_changes();
    }
    // Writers whose message is still in flight may wait; nobody else.
    check_tree(&db);
    if !db.is_error_mode() {
        let reloaded = Memdb::from_rows(store.load().unwrap(), db.limits(), 1)
            .expect("the store's rows do not load");
        assert_eq!(
            reloaded.checksum(),
            db.checksum(),
            "store and memory disagree"
        );
    }
});
