//! The pure decoders on hostile input: random bytes and mutations of valid
//! encodings give a value or a DecodeError, never a panic; and `open` on a
//! file full of such bytes cuts it and goes on. A few thousand cases, not a
//! fuzzer run (the project fuzzes these functions separately).

mod common;

use ccfs_journal::{
    decode_blob, decode_blob_head, decode_frame, decode_header, decode_record,
    decode_snapshot_file, decode_tombstones, encode_record, FileKind, Journal, Record, Tombstone,
};
use common::*;
use std::fs;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `valid` with a few bytes changed, cut, or extended.
    fn mutate(&mut self, valid: &[u8]) -> Vec<u8> {
        let mut b = valid.to_vec();
        match self.next() % 4 {
            0 if !b.is_empty() => {
                let at = self.next() as usize % b.len();
                b[at] = self.next() as u8;
            }
            1 => b.truncate(self.next() as usize % (b.len() + 1)),
            2 => {
                let n = self.next() as usize % 16;
                let extra = self.bytes(n);
                b.extend(extra);
            }
            _ if b.len() > 4 => {
                // A length field made huge.
                let at = self.next() as usize % (b.len() - 3);
                b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            }
            _ => {}
        }
        b
    }
}

fn all_decoders(bytes: &[u8]) -> usize {
    let mut ok = 0;
    ok += usize::from(decode_record(bytes).is_ok());
    if let Ok(f) = decode_blob(bytes) {
        ok += 1;
        let _ = f.content(None);
        let _ = f.content(Some(b"some base"));
    }
    ok += usize::from(decode_blob_head(bytes).is_ok());
    ok += usize::from(decode_snapshot_file(bytes).is_ok());
    ok += usize::from(decode_tombstones(bytes).is_ok());
    for kind in [
        FileKind::Records,
        FileKind::Blobs,
        FileKind::Snapshot,
        FileKind::Tombstones,
    ] {
        ok += usize::from(decode_frame(bytes, kind).is_ok());
        ok += usize::from(decode_header(bytes, kind).is_ok());
    }
    ok
}

/// Valid encodings to start mutations from, taken from a real journal.
fn samples() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[
        mkdir(1, "d"),
        create(2, "d/a", &vm_config(1, 0)),
        write(3, "d/a", &vm_config(1, 3)),
    ])
    .unwrap();
    j.append(&[rename(4, ccfs_journal::EntryKind::File, "d/a", "d/b")])
        .unwrap();
    let tree = j.tree_at(4).unwrap();
    j.snapshot_create("s", 4, T0, "n1", &tree).unwrap();
    j.snapshot_create("t", 4, T0, "n1", &tree).unwrap();
    let digest = j.snapshot_digest("t").unwrap();
    j.bury_snapshot(Tombstone {
        name: "t".into(),
        digest,
        time: T0,
    })
    .unwrap();
    drop(j);
    let mut out = Vec::new();
    for name in ["records.jnl", "blobs.jnl"] {
        let file = fs::read(dir.path().join(name)).unwrap();
        out.push(file[..32].to_vec());
        let mut at = 32;
        while at + 8 <= file.len() {
            let len = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            out.push(file[at..at + 8 + len].to_vec());
            out.push(file[at + 8..at + 8 + len].to_vec());
            at += 8 + len;
        }
    }
    out.push(fs::read(dir.path().join("snapshots/s.snap")).unwrap());
    out.push(fs::read(dir.path().join("tombstones")).unwrap());
    out
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let samples = samples();
    let mut accepted = 0;
    for s in &samples {
        accepted += all_decoders(s);
    }
    assert!(accepted >= samples.len(), "the samples decode ({accepted})");
    for _ in 0..3000 {
        let n = rng.next() as usize % 200;
        all_decoders(&rng.bytes(n));
        let s = &samples[rng.next() as usize % samples.len()];
        all_decoders(&rng.mutate(s));
    }
}

#[test]
fn every_encoded_record_decodes_to_itself() {
    let mut rng = Rng(7);
    let ops = [
        ccfs_journal::OpKind::Create,
        ccfs_journal::OpKind::Write,
        ccfs_journal::OpKind::Mtime,
        ccfs_journal::OpKind::Delete,
    ];
    for i in 0..500u64 {
        let op = ops[(rng.next() % 4) as usize];
        let content = op != ccfs_journal::OpKind::Delete && rng.next() & 1 == 0;
        let r = Record {
            version: rng.next(),
            time: rng.next() as u32,
            writer: rng.next() as u32,
            node: "n".repeat((rng.next() % 40) as usize),
            op,
            kind: ccfs_journal::EntryKind::File,
            path: format!("p/{i}/f{}", "x".repeat((rng.next() % 300) as usize)),
            to: None,
            size: content.then(|| rng.next()),
            hash: content.then(|| [rng.next() as u8; 32]),
            origin: ccfs_journal::Origin::Peer,
        };
        assert_eq!(decode_record(&encode_record(&r).unwrap()).unwrap(), r);
    }
}

#[test]
fn open_survives_random_bytes_after_a_valid_prefix() {
    let mut rng = Rng(99);
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = open(dir.path());
            j.append(&[create(1, "keep", b"kept")]).unwrap();
        }
        for name in ["records.jnl", "blobs.jnl"] {
            let mut bytes = fs::read(dir.path().join(name)).unwrap();
            let n = 1 + rng.next() as usize % 300;
            bytes.extend(rng.bytes(n));
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        let (mut j, report) = Journal::open(dir.path(), ccfs_journal::Options::default()).unwrap();
        assert_eq!(report.cuts.len(), 2, "round {round}");
        assert_eq!(j.content_at("keep", 1).unwrap(), Some(b"kept".to_vec()));
        j.append(&[write(2, "keep", b"still")]).unwrap();
    }
}

#[test]
fn journal_can_be_shared_behind_a_mutex() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Journal>();
}
