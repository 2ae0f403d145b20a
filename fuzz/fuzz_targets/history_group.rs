//! The ccfs-only history group (crates/history-group): what another
//! group member may send, and the protocol machine fed with it. Decoding
//! never panics and every decoded message re-encodes to the same message;
//! the machine never panics, and everything it asks to multicast encodes
//! and decodes back to itself; the records it asks to import lie in the
//! range it names.
#![no_main]

use ccfs_fuzz::Input;
use ccfs_history_group::codec::{encode_message, frames};
use ccfs_history_group::{
    decode, decode_message, Action, Config, Event, Frame, Have, Local, Machine, Member, Message,
};
use libfuzzer_sys::fuzz_target;

const NODES: [Member; 3] = [
    Member { nodeid: 1, pid: 11 },
    Member { nodeid: 2, pid: 22 },
    Member { nodeid: 3, pid: 33 },
];

/// A message survives encode, fragmenting and decode unchanged.
fn round_trip(msg: &Message) {
    let body = encode_message(msg).expect("a decoded or machine-made message encodes");
    assert_eq!(decode_message(&body).as_ref(), Ok(msg));
    let mut reassembly = ccfs_history_group::fragment::Reassembly::default();
    let mut whole = None;
    for f in frames(&body, 7, 64) {
        match decode(&f).expect("a frame decodes") {
            Frame::Message(m) => whole = Some(m),
            Frame::Fragment(frag) => {
                if let Some(b) = reassembly.push(NODES[0], frag).expect("in order") {
                    whole = Some(decode_message(&b).expect("reassembled body decodes"));
                }
            }
        }
    }
    assert_eq!(whole.as_ref(), Some(msg));
}

fn check(actions: &[Action]) {
    for a in actions {
        match a {
            Action::Send(msg) => round_trip(msg),
            Action::ImportRecords { from, to, records } => {
                assert!(from <= to, "range ({from}, {to}]");
                assert!(records
                    .iter()
                    .all(|(r, _)| r.version > *from && r.version <= *to));
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Frame::Message(m)) = decode(data) {
        round_trip(&m);
    }
    let mut input = Input::new(data);
    let mut m = Machine::new(Config {
        round_timeout_ms: 1_000,
        retry_ms: 10_000,
        import_batch_bytes: 4096,
    });
    let me = NODES[usize::from(input.u8()) % 3];
    let mut now = 0u64;
    check(&m.handle(Event::Joined { me }));
    check(&m.handle(Event::Membership {
        members: NODES.to_vec(),
        now,
    }));
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let tag = input.u8();
        let actions = match tag % 6 {
            0 => {
                let from = NODES[usize::from(input.u8()) % 3];
                let bytes = input.long().to_vec();
                m.handle(Event::Deliver { from, bytes })
            }
            1 => {
                let mask = input.u8();
                let members: Vec<Member> = NODES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, n)| *n)
                    .collect();
                m.handle(Event::Membership { members, now })
            }
            2 => {
                now += u64::from(input.u16()) * 10;
                m.handle(Event::Tick { now })
            }
            3 => {
                // our own facts: a Have from the input, or none
                let have = match decode_message(input.long()) {
                    Ok(Message::Have(h)) => h,
                    _ => Have::default(),
                };
                m.reconcile(&have)
            }
            4 => {
                let local = match input.u8() % 3 {
                    0 => Local::GapsChanged,
                    1 => Local::SnapshotCreated { name: "s".into() },
                    _ => Local::SnapshotDeleted(ccfs_journal::Tombstone {
                        name: "s".into(),
                        digest: [input.u8(); 32],
                        time: input.u32(),
                    }),
                };
                m.handle(Event::Local(local))
            }
            _ => m.handle(Event::Left),
        };
        check(&actions);
        if tag % 6 == 5 {
            check(&m.handle(Event::Joined { me }));
        }
    }
});
