//! The group's bytes: every message round-trips, every cut and most
//! mutations are typed errors, random input never panics, large bodies
//! go as fragments that come back whole.

use ccfs_history_group::codec::{encode_message, frames, FRAGMENT_HEAD, FRAME_HEAD};
use ccfs_history_group::fragment::Reassembly;
use ccfs_history_group::{
    decode, decode_message, Bundle, Frame, Have, Member, Message, SnapshotId, WireError,
};
use ccfs_journal::{EntryKind, OpKind, Origin, Record, Tombstone};

fn record(version: u64, path: &str, content: Option<&[u8]>) -> (Record, Option<Vec<u8>>) {
    let r = Record {
        version,
        time: 1_700_000_000 + version as u32,
        writer: 2,
        node: "node2".into(),
        op: if content.is_some() {
            OpKind::Write
        } else {
            OpKind::Mkdir
        },
        kind: if content.is_some() {
            EntryKind::File
        } else {
            EntryKind::Dir
        },
        path: path.into(),
        to: None,
        size: content.map(|c| c.len() as u64),
        hash: content.map(ccfs_journal::sha256),
        origin: Origin::Cluster,
    };
    (r, content.map(<[u8]>::to_vec))
}

fn tomb(name: &str, d: u8) -> Tombstone {
    Tombstone {
        name: name.into(),
        digest: [d; 32],
        time: 1_700_000_123,
    }
}

pub fn every_message() -> Vec<Message> {
    vec![
        Message::Have(Have::default()),
        Message::Have(Have {
            floor: 3,
            newest: 99,
            gaps: vec![(10, 20), (30, 31)],
            snapshots: vec![
                SnapshotId {
                    name: "a".into(),
                    version: 7,
                    digest: [1; 32],
                },
                SnapshotId {
                    name: "before-upgrade_2.0".into(),
                    version: 90,
                    digest: [2; 32],
                },
            ],
            tombstones: vec![tomb("old", 3)],
        }),
        Message::SnapshotWant {
            name: "a".into(),
            digest: [9; 32],
            source: 1,
        },
        Message::Snapshot {
            bundle: Bundle {
                name: "a".into(),
                version: 7,
                digest: [1; 32],
                file: b"CCFSJSNP file bytes".to_vec(),
                contents: vec![b"one".to_vec(), Vec::new(), vec![0xff; 300]],
            },
            announce: true,
        },
        Message::SnapshotDelete(tomb("a", 1)),
        Message::GapRequest {
            from: 10,
            to: 20,
            answerer: 1,
        },
        Message::GapRecords {
            from: 10,
            to: 20,
            requester: 3,
            done: false,
            records: vec![
                record(11, "nodes", None),
                record(12, "nodes/a.conf", Some(b"cores: 2\n")),
                record(20, "nodes/b.conf", Some(b"")),
            ],
        },
        Message::GapRecords {
            from: 20,
            to: 20,
            requester: 3,
            done: true,
            records: Vec::new(),
        },
        Message::GapDecline {
            from: 10,
            to: 20,
            requester: 3,
        },
    ]
}

fn whole(msg: &Message) -> Vec<u8> {
    let body = encode_message(msg).unwrap();
    let f = frames(&body, 1, 1 << 20);
    assert_eq!(f.len(), 1);
    f.into_iter().next().unwrap()
}

#[test]
fn every_message_round_trips_and_every_cut_is_an_error() {
    for msg in every_message() {
        let bytes = whole(&msg);
        assert_eq!(decode(&bytes).unwrap(), Frame::Message(msg.clone()));
        let body = encode_message(&msg).unwrap();
        assert_eq!(decode_message(&body).unwrap(), msg);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "{msg:?} cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(WireError::Trailing(1)), "{msg:?}");
    }
}

#[test]
fn foreign_bytes_are_told_apart() {
    let good = whole(&Message::Have(Have::default()));
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(decode(&b), Err(WireError::BadMagic));
    let mut b = good.clone();
    b[4] = 2;
    assert_eq!(decode(&b), Err(WireError::BadVersion(2)));
    let mut b = good.clone();
    b[5] = b'?';
    assert_eq!(decode(&b), Err(WireError::BadKind(b'?')));
    let mut b = good;
    b[6] = b'?';
    assert_eq!(decode(&b), Err(WireError::BadTag(b'?')));
    // A dcdb or kvstore message of pmxcfs is not ours.
    assert_eq!(decode(&[0u8; 16]), Err(WireError::BadMagic));
}

#[test]
fn invalid_fields_are_refused() {
    // a record outside its batch
    let msg = Message::GapRecords {
        from: 10,
        to: 20,
        requester: 3,
        done: true,
        records: vec![record(21, "x", Some(b"y"))],
    };
    assert!(matches!(
        decode(&whole(&msg)),
        Err(WireError::Invalid {
            field: "records",
            ..
        })
    ));
    // a bad snapshot name
    let msg = Message::SnapshotWant {
        name: "../etc".into(),
        digest: [0; 32],
        source: 1,
    };
    assert!(matches!(
        decode(&whole(&msg)),
        Err(WireError::Invalid { field: "name", .. })
    ));
    // a range going backwards, an empty gap
    let msg = Message::GapRequest {
        from: 5,
        to: 4,
        answerer: 1,
    };
    assert!(matches!(
        decode(&whole(&msg)),
        Err(WireError::Invalid { field: "range", .. })
    ));
    let msg = Message::Have(Have {
        gaps: vec![(4, 4)],
        ..Have::default()
    });
    assert!(matches!(
        decode(&whole(&msg)),
        Err(WireError::Invalid { field: "gaps", .. })
    ));
    // a count larger than the bytes
    let mut b = whole(&Message::Have(Have::default()));
    let at = FRAME_HEAD + 1 + 16;
    b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(WireError::Invalid { field: "gaps", .. })
    ));
}

#[test]
fn a_large_body_goes_as_fragments_within_the_limit() {
    let big = Message::Snapshot {
        bundle: Bundle {
            name: "big".into(),
            version: 1,
            digest: [5; 32],
            file: vec![7; 1000],
            contents: (0..20).map(|i| vec![i as u8; 50_000]).collect(),
        },
        announce: false,
    };
    let body = encode_message(&big).unwrap();
    let max = 64 * 1024;
    let f = frames(&body, 42, max);
    assert_eq!(
        f.len(),
        body.len().div_ceil(max - FRAME_HEAD - FRAGMENT_HEAD)
    );
    assert!(f.iter().all(|x| x.len() <= max));
    let mut r = Reassembly::default();
    let from = Member { nodeid: 1, pid: 1 };
    let mut out = None;
    for (i, x) in f.iter().enumerate() {
        let Ok(Frame::Fragment(frag)) = decode(x) else {
            panic!("fragment {i}");
        };
        assert_eq!((frag.transfer, frag.index as usize), (42, i));
        out = r.push(from, frag).unwrap();
        assert_eq!(out.is_some(), i + 1 == f.len());
    }
    assert_eq!(decode_message(&out.unwrap()).unwrap(), big);
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_and_mutated_input_never_panics_and_valid_input_decodes() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let samples: Vec<Vec<u8>> = every_message().iter().map(whole).collect();
    let mut decoded = 0;
    for _ in 0..20_000 {
        let s = &samples[rng.next() as usize % samples.len()];
        let mut b = s.clone();
        match rng.next() % 4 {
            0 => {
                let at = rng.next() as usize % b.len();
                b[at] = rng.next() as u8;
            }
            1 => b.truncate(rng.next() as usize % (b.len() + 1)),
            2 => {
                let at = FRAME_HEAD + rng.next() as usize % (b.len() - FRAME_HEAD);
                let end = (at + 4).min(b.len());
                b[at..end].fill(0xff);
            }
            _ => b = (0..rng.next() % 200).map(|_| rng.next() as u8).collect(),
        }
        decoded += usize::from(decode(&b).is_ok());
        let _ = decode_message(&b);
    }
    // Some mutations hit content bytes and still decode: the success paths run too.
    assert!(decoded > 100, "{decoded}");
}
