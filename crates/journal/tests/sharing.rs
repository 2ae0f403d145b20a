//! What peers exchange: a snapshot as its file's bytes and contents,
//! tombstones of deleted snapshots, and the ranges known only from a
//! resync.

mod common;

use ccfs_journal::{Journal, JournalError, Origin, Tombstone};
use common::*;
use std::fs;
use std::sync::Arc;

fn journal_with_tree(dir: &std::path::Path) -> Journal {
    let (mut j, _) = open(dir);
    j.append(&[
        mkdir(1, "nodes"),
        create(2, "nodes/a.conf", &vm_config(100, 0)),
        create(3, "nodes/b.conf", &vm_config(100, 0)),
        create(4, "nodes/empty", b""),
        write(5, "nodes/a.conf", &vm_config(100, 5)),
    ])
    .unwrap();
    j
}

/// The file and contents a peer would send.
fn bundle(j: &Journal, name: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let bytes = j.snapshot_file_bytes(name).unwrap();
    let contents = j
        .snapshot_contents(name)
        .unwrap()
        .iter()
        .map(|c| c.to_vec())
        .collect();
    (bytes, contents)
}

#[test]
fn a_snapshot_travels_byte_for_byte_with_its_contents() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = journal_with_tree(da.path());
    let mut tree = a.tree_at(5).unwrap();
    tree.push(file_entry("only/in-snapshot", 5, b"never in a record"));
    tree.push(dir_entry("only", 5));
    let info = a.snapshot_create("pre", 5, T0 + 9, "n1", &tree).unwrap();
    let (bytes, contents) = bundle(&a, "pre");
    // a.conf and b.conf share a content at version 2 but not at 5: three
    // distinct contents (a@5, b, empty) plus the one only in the snapshot.
    assert_eq!(contents.len(), 4, "distinct contents once each");

    let (mut b, _) = open(db.path());
    let got = b.import_snapshot_file(&bytes, &contents).unwrap();
    assert_eq!(got, info);
    assert_eq!(b.snapshots(), vec![info.clone()]);
    assert_eq!(b.snapshot("pre").unwrap(), a.snapshot("pre").unwrap());
    assert_eq!(b.snapshot_digest("pre"), a.snapshot_digest("pre"));
    assert_eq!(
        fs::read(db.path().join("snapshots/pre.snap")).unwrap(),
        bytes
    );
    assert!(matches!(
        b.import_snapshot_file(&bytes, &contents),
        Err(JournalError::Exists(n)) if n == "pre"
    ));
    drop(b);
    let (b, report) = open(db.path());
    assert_eq!(report.snapshots, 1);
    assert_eq!(b.snapshot("pre").unwrap(), a.snapshot("pre").unwrap());
    assert_eq!(b.snapshot_digest("pre"), a.snapshot_digest("pre"));

    // A journal that has some contents already needs only the others.
    let dc = tempfile::tempdir().unwrap();
    let mut c = journal_with_tree(dc.path());
    let only: Vec<Vec<u8>> = contents
        .iter()
        .filter(|x| x.as_slice() == b"never in a record")
        .cloned()
        .collect();
    c.import_snapshot_file(&bytes, &only).unwrap();
    assert_eq!(c.snapshot("pre").unwrap(), a.snapshot("pre").unwrap());
}

#[test]
fn a_bad_or_incomplete_snapshot_changes_nothing() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = journal_with_tree(da.path());
    let tree = a.tree_at(5).unwrap();
    a.snapshot_create("s", 5, T0, "n1", &tree).unwrap();
    let (bytes, contents) = bundle(&a, "s");
    let (mut b, _) = open(db.path());
    let before = b.bytes_on_disk();

    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(matches!(
        b.import_snapshot_file(&flipped, &contents),
        Err(JournalError::BadSnapshot(_))
    ));
    assert!(matches!(
        b.import_snapshot_file(&bytes[..bytes.len() / 2], &contents),
        Err(JournalError::BadSnapshot(_))
    ));
    // One content missing, one replaced by other bytes.
    assert!(matches!(
        b.import_snapshot_file(&bytes, &contents[1..]),
        Err(JournalError::MissingContent { .. })
    ));
    let mut wrong = contents.clone();
    wrong[0] = b"other bytes".to_vec();
    assert!(matches!(
        b.import_snapshot_file(&bytes, &wrong),
        Err(JournalError::MissingContent { .. })
    ));
    assert!(b.snapshots().is_empty());
    assert_eq!(b.bytes_on_disk(), before, "no content was stored");
    drop(b);
    let (b, report) = open(db.path());
    assert_eq!((report.snapshots, report.blobs), (0, 0));
    assert!(b.snapshots().is_empty());
}

#[test]
fn a_tombstone_kills_that_very_snapshot_and_survives_reopen() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = journal_with_tree(da.path());
    let tree = a.tree_at(5).unwrap();
    a.snapshot_create("x", 5, T0, "n1", &tree).unwrap();
    let (bytes, contents) = bundle(&a, "x");
    let digest = a.snapshot_digest("x").unwrap();
    let mut b = journal_with_tree(db.path());
    b.snapshot_create("x", 4, T0, "n2", &tree).unwrap();
    let other = b.snapshot_digest("x").unwrap();
    assert_ne!(digest, other, "a different snapshot of the same name");

    let t = Tombstone {
        name: "x".into(),
        digest,
        time: T0 + 50,
    };
    assert!(a.bury_snapshot(t.clone()).unwrap(), "deleted where it is");
    assert!(a.snapshots().is_empty());
    assert!(!b.bury_snapshot(t.clone()).unwrap(), "b's x is another one");
    assert_eq!(b.snapshot_digest("x"), Some(other));
    assert!(a.is_buried("x", &digest) && b.is_buried("x", &digest));
    assert!(!b.is_buried("x", &other));
    // Burying twice records it once.
    assert!(!a.bury_snapshot(t.clone()).unwrap());
    assert_eq!(a.tombstones(), std::slice::from_ref(&t));
    drop(a);
    let (mut a, report) = open(da.path());
    assert_eq!(a.tombstones(), std::slice::from_ref(&t));
    assert!(report.bad_tombstones.is_none());

    // The same file sent again after the delete (a peer's explicit
    // announcement) lives again, and its tombstone goes.
    a.import_snapshot_file(&bytes, &contents).unwrap();
    assert!(!a.is_buried("x", &digest));
    assert!(a.tombstones().is_empty());
    // So does the same file made anew (same tree, second and node).
    a.bury_snapshot(t.clone()).unwrap();
    a.snapshot_create("x", 5, T0, "n1", &tree).unwrap();
    assert_eq!(a.snapshot_digest("x"), Some(digest));
    assert!(a.tombstones().is_empty());
}

#[test]
fn an_unreadable_tombstone_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("tombstones"), b"CCFSJTMB garbage").unwrap();
    let (mut j, report) = open(dir.path());
    let bad = dir.path().join("tombstones.bad");
    assert_eq!(report.bad_tombstones.as_deref(), Some(bad.as_path()));
    assert_eq!(fs::read(&bad).unwrap(), b"CCFSJTMB garbage");
    assert!(j.tombstones().is_empty());
    let t = Tombstone {
        name: "y".into(),
        digest: [7; 32],
        time: T0,
    };
    j.bury_snapshot(t.clone()).unwrap();
    drop(j);
    let (j, _) = open(dir.path());
    assert_eq!(j.tombstones(), [t]);
    assert_eq!(fs::read(&bad).unwrap(), b"CCFSJTMB garbage", "kept");
}

#[test]
fn resync_ranges_name_what_a_peer_can_fill_in() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = journal_with_tree(da.path());
    let mut b = journal_with_tree(db.path());
    assert!(b.resync_ranges().is_empty());
    // b was away for 6..=9: a wrote, created and deleted meanwhile.
    a.append(&[
        write(6, "nodes/a.conf", b"six"),
        create(7, "nodes/gone", b"short-lived"),
        delete(8, ccfs_journal::EntryKind::File, "nodes/gone"),
        write(9, "nodes/b.conf", b"nine"),
    ])
    .unwrap();
    let found = b
        .reconcile(&a.tree_at(9).unwrap(), 9, Origin::Resync)
        .unwrap();
    assert_eq!(found.len(), 2, "only the net differences: {found:?}");
    assert_eq!(b.resync_ranges(), [(5, 9)]);
    b.append(&[write(10, "nodes/a.conf", b"ten")]).unwrap();
    a.append(&[write(10, "nodes/a.conf", b"ten")]).unwrap();
    assert_eq!(b.resync_ranges(), [(5, 9)], "later records leave it");

    let (from, to) = b.resync_ranges()[0];
    let records = a.export(from, to, usize::MAX).unwrap();
    assert_eq!(b.import(from, to, records).unwrap(), 4);
    assert!(b.resync_ranges().is_empty());
    let versions: Vec<u64> = b.log(None, 100, None).iter().map(|r| r.version).collect();
    assert_eq!(versions, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(
        b.content_at("nodes/gone", 7).unwrap().as_deref(),
        Some(&b"short-lived"[..])
    );

    // Two separate resyncs are two ranges.
    let dc = tempfile::tempdir().unwrap();
    let mut c = journal_with_tree(dc.path());
    let mut t = c.tree_at(5).unwrap();
    t.iter_mut()
        .filter(|e| e.path == "nodes/b.conf")
        .for_each(|e| {
            e.version = 7;
            e.content = Some(Arc::from(&b"seven"[..]));
        });
    c.reconcile(&t, 7, Origin::Resync).unwrap();
    c.append(&[write(8, "nodes/a.conf", b"eight")]).unwrap();
    t.iter_mut()
        .filter(|e| e.path == "nodes/b.conf")
        .for_each(|e| {
            e.version = 12;
            e.content = Some(Arc::from(&b"twelve"[..]));
        });
    t.iter_mut()
        .filter(|e| e.path == "nodes/a.conf")
        .for_each(|e| {
            e.version = 8;
            e.content = Some(Arc::from(&b"eight"[..]));
        });
    c.reconcile(&t, 12, Origin::Resync).unwrap();
    assert_eq!(c.resync_ranges(), [(5, 7), (8, 12)]);
}
