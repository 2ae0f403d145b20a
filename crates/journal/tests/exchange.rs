//! Filling a gap from a peer: export on one journal, import on another,
//! the resync's stand-in records replaced by the real ones.

mod common;

use ccfs_journal::{Change, EntryKind, Journal, JournalError, Options, Origin, Record};
use common::*;

/// Versions 1..=30 as the cluster applied them, 31..=35 after.
fn history() -> Vec<Vec<Change>> {
    let mut h = vec![vec![mkdir(1, "nodes")], vec![mkdir(2, "nodes/n1")]];
    h.push(vec![create(3, "nodes/n1/a.conf", &vm_config(1, 0))]);
    h.push(vec![create(4, "nodes/n1/b.conf", b"b")]);
    let mut v = 5;
    while v < 26 {
        h.push(proxmox_write(
            v,
            "nodes/n1/a.conf",
            v as u32,
            &vm_config(1, v),
        ));
        v += 3;
    }
    h.push(vec![mkdir(26, "nodes/n1/sub")]);
    h.push(vec![create(27, "nodes/n1/sub/c", b"c")]);
    h.push(vec![rename(
        28,
        EntryKind::Dir,
        "nodes/n1/sub",
        "nodes/n1/moved",
    )]);
    h.push(vec![delete(29, EntryKind::File, "nodes/n1/b.conf")]);
    h.push(vec![write(30, "nodes/n1/moved/c", b"c2")]);
    for v in 31..=35 {
        h.push(vec![write(v, "nodes/n1/a.conf", &vm_config(1, v))]);
    }
    h
}

fn in_range(j: &Journal, from: u64, to: u64) -> Vec<Record> {
    let mut r: Vec<Record> = j.log(None, 10_000, None);
    r.retain(|r| r.version > from && r.version <= to);
    r
}

#[test]
fn a_resync_gap_is_filled_from_a_peer() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = open(da.path());
    let (mut b, _) = open(db.path());
    for batch in history() {
        let upto = batch[0].version;
        a.append(&batch).unwrap();
        if upto <= 10 && batch.iter().all(|c| c.version <= 10) {
            b.append(&batch).unwrap();
        }
    }
    // b was away from 11 to 30, then resynced to a's tree at 30.
    let b_newest = b.newest_version().unwrap();
    assert!(b_newest <= 10);
    let made = b
        .reconcile(&a.tree_at(30).unwrap(), 30, Origin::Resync)
        .unwrap();
    assert!(!made.is_empty());
    for batch in history().into_iter().filter(|b| b[0].version > 30) {
        b.append(&batch).unwrap();
    }
    assert_eq!(b.tree_at(35).unwrap(), a.tree_at(35).unwrap());
    // Filled in small pieces, as a peer would serve them.
    let mut from = b_newest;
    let mut pieces = 0;
    while from < 30 {
        let piece = a.export(from, 30, 3000).unwrap();
        assert!(!piece.is_empty());
        let next = piece.last().unwrap().0.version;
        let piece: Vec<_> = piece
            .into_iter()
            .map(|(r, c)| {
                (
                    Record {
                        origin: Origin::Peer,
                        ..r
                    },
                    c,
                )
            })
            .collect();
        b.import(from, next, piece).unwrap();
        from = next;
        pieces += 1;
    }
    assert!(pieces > 2, "{pieces}");
    let want: Vec<Record> = in_range(&a, b_newest, 30)
        .into_iter()
        .map(|r| Record {
            origin: Origin::Peer,
            ..r
        })
        .collect();
    let check = |b: &Journal| {
        assert_eq!(in_range(b, b_newest, 30), want);
        assert!(b
            .log(None, 10_000, None)
            .iter()
            .all(|r| r.origin != Origin::Resync));
        for v in 1..=35 {
            assert_eq!(b.tree_at(v).unwrap(), a.tree_at(v).unwrap(), "tree at {v}");
        }
        assert_eq!(
            b.content_at("nodes/n1/moved/c", 28).unwrap(),
            Some(b"c".to_vec()),
            "the directory rename came with its child records"
        );
    };
    check(&b);
    // Importing again adds nothing.
    assert_eq!(
        b.import(b_newest, 30, a.export(b_newest, 30, usize::MAX).unwrap())
            .unwrap(),
        0
    );
    drop(b);
    let (b, report) = open(db.path());
    assert!(report.cuts.is_empty() && report.missing_contents == 0);
    check(&b);
}

#[test]
fn bad_imports_change_nothing() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = open(da.path());
    let (mut b, _) = open(db.path());
    for batch in history() {
        a.append(&batch).unwrap();
    }
    let good = a.export(0, 10, usize::MAX).unwrap();
    let mut wrong = good.clone();
    let i = wrong.iter().position(|(_, c)| c.is_some()).unwrap();
    wrong[i].1 = Some(b"not the content the hash names".to_vec());
    assert!(matches!(
        b.import(0, 10, wrong),
        Err(JournalError::Import { .. })
    ));
    assert!(
        matches!(
            b.import(0, 5, good.clone()),
            Err(JournalError::Import { .. })
        ),
        "outside the range"
    );
    let mut missing = good.clone();
    missing[i].1 = None;
    assert!(matches!(
        b.import(0, 10, missing),
        Err(JournalError::Import { .. })
    ));
    assert!(b.is_empty());
    assert_eq!(b.import(0, 10, good).unwrap(), in_range(&a, 0, 10).len());
    assert_eq!(b.tree_at(10).unwrap(), a.tree_at(10).unwrap());
}

#[test]
fn export_refuses_a_pruned_range() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        keep_days: 1,
        max_bytes: u64::MAX,
    };
    let (mut a, _) = Journal::open(dir.path(), opts).unwrap();
    for batch in history() {
        a.append(&batch).unwrap();
    }
    a.retain(u64::from(T0) + 5 * 86_400).unwrap();
    let through = a.pruned().unwrap().through;
    assert!(matches!(
        a.export(0, 35, usize::MAX),
        Err(JournalError::Pruned { .. })
    ));
    let rest = a.export(through, 35, usize::MAX).unwrap();
    assert!(rest.iter().all(|(r, _)| r.version > through));
    // Records of the forgotten range are not taken back in.
    let other = tempfile::tempdir().unwrap();
    let (mut full, _) = open(other.path());
    for batch in history() {
        full.append(&batch).unwrap();
    }
    let len = a.len();
    assert_eq!(
        a.import(0, 35, full.export(0, 35, usize::MAX).unwrap())
            .unwrap(),
        0
    );
    assert_eq!(a.len(), len);
}
