//! Reconciling the journal with a whole tree after a resync and at start.

mod common;

use ccfs_journal::{EntryKind, OpKind, Origin, TreeEntry};
use common::*;

fn seed(j: &mut ccfs_journal::Journal) {
    j.append(&[
        mkdir(1, "nodes"),
        create(2, "nodes/a", b"a1"),
        create(3, "nodes/b", b"b1"),
        create(4, "nodes/c", b"c1"),
        write(5, "nodes/a", b"a2"),
    ])
    .unwrap();
}

fn state_at_5() -> Vec<TreeEntry> {
    vec![
        dir_entry("nodes", 1),
        TreeEntry {
            writer: 1,
            node: "n1".into(),
            ..file_entry("nodes/a", 5, b"a2")
        },
        TreeEntry {
            writer: 1,
            node: "n1".into(),
            ..file_entry("nodes/b", 3, b"b1")
        },
        TreeEntry {
            writer: 1,
            node: "n1".into(),
            ..file_entry("nodes/c", 4, b"c1")
        },
    ]
}

#[test]
fn resync_differences_become_records() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    seed(&mut j);
    let mut tree = state_at_5();
    tree[1] = file_entry("nodes/a", 9, b"a from the cluster");
    tree.remove(3); // nodes/c deleted
    tree.push(dir_entry("nodes/sub", 10));
    tree.push(file_entry("nodes/sub/e", 11, b"e"));
    let made = j.reconcile(&tree, 12, Origin::Resync).unwrap();
    let got: Vec<(u64, OpKind, &str)> = made
        .iter()
        .map(|r| (r.version, r.op, r.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (9, OpKind::Write, "nodes/a"),
            (10, OpKind::Mkdir, "nodes/sub"),
            (11, OpKind::Create, "nodes/sub/e"),
            (12, OpKind::Delete, "nodes/c"),
        ]
    );
    assert!(made.iter().all(|r| r.origin == Origin::Resync));
    assert_eq!(
        (made[0].writer, made[0].node.as_str(), made[0].time),
        (2, "n2", T0 + 9)
    );
    assert_eq!(made[3].kind, EntryKind::File);
    assert_eq!(
        j.log(None, 100, None)[..4],
        made.iter().rev().cloned().collect::<Vec<_>>()[..]
    );
    assert_eq!(j.content_at("nodes/a", 8).unwrap(), Some(b"a2".to_vec()));
    assert_eq!(
        j.content_at("nodes/a", 9).unwrap(),
        Some(b"a from the cluster".to_vec())
    );
    assert_eq!(j.content_at("nodes/c", 11).unwrap(), Some(b"c1".to_vec()));
    assert_eq!(j.content_at("nodes/c", 12).unwrap(), None);
    // The journal's tree now is the tree it was given.
    let now = j.tree_at(12).unwrap();
    let mut want = tree.clone();
    want.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(now, want);
    // Nothing differs any more, also after reopening.
    assert!(j.reconcile(&tree, 12, Origin::Resync).unwrap().is_empty());
    drop(j);
    let (mut j, _) = open(dir.path());
    assert!(j.reconcile(&tree, 12, Origin::Startup).unwrap().is_empty());
    assert_eq!(j.len(), 9);
}

#[test]
fn records_the_database_never_committed_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    seed(&mut j);
    j.append(&[
        write(6, "nodes/b", b"b lost"),
        create(7, "nodes/lost", b"x"),
    ])
    .unwrap();
    let made = j.reconcile(&state_at_5(), 5, Origin::Startup).unwrap();
    assert!(made.is_empty(), "{made:?}");
    assert_eq!(j.newest_version(), Some(5));
    assert_eq!(j.content_at("nodes/b", 7).unwrap(), Some(b"b1".to_vec()));
    assert_eq!(j.content_at("nodes/lost", 7).unwrap(), None);
    assert!(j.log(Some("nodes/lost"), 10, None).is_empty());
    j.append(&[write(6, "nodes/b", b"b real")]).unwrap();
    drop(j);
    let (j, report) = open(dir.path());
    assert!(report.cuts.is_empty());
    assert_eq!(
        j.content_at("nodes/b", 6).unwrap(),
        Some(b"b real".to_vec())
    );
    assert_eq!(j.len(), 6);
}

#[test]
fn start_up_finds_mtime_and_kind_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    seed(&mut j);
    let mut tree = state_at_5();
    // Same content, new version and mtime (a touch while we were down).
    tree[2] = TreeEntry {
        mtime: T0 + 50,
        ..file_entry("nodes/b", 6, b"b1")
    };
    // nodes/c became a directory.
    tree[3] = dir_entry("nodes/c", 7);
    let made = j.reconcile(&tree, 7, Origin::Startup).unwrap();
    let got: Vec<(u64, OpKind, EntryKind, &str)> = made
        .iter()
        .map(|r| (r.version, r.op, r.kind, r.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (6, OpKind::Mtime, EntryKind::File, "nodes/b"),
            (7, OpKind::Delete, EntryKind::File, "nodes/c"),
            (7, OpKind::Mkdir, EntryKind::Dir, "nodes/c"),
        ]
    );
    assert_eq!(made[0].time, T0 + 50);
    assert_eq!(made[0].hash, Some(ccfs_journal::sha256(b"b1")));
    assert_eq!(j.content_at("nodes/c", 7).unwrap(), None);
    assert_eq!(j.content_at("nodes/c", 6).unwrap(), Some(b"c1".to_vec()));
}

#[test]
fn entries_older_than_the_newest_record_are_merged_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    seed(&mut j);
    j.append(&[create(20, "nodes/late", b"late")]).unwrap();
    let mut tree = state_at_5();
    tree.push(file_entry("nodes/late", 20, b"late"));
    // The journal missed version 15 for nodes/b.
    tree[2] = file_entry("nodes/b", 15, b"b at 15");
    let made = j.reconcile(&tree, 20, Origin::Startup).unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(ccfs_journal_versions(&j), [20, 15, 5, 4, 3, 2, 1]);
    drop(j);
    // Loading refuses a file whose versions go back: this one is in order.
    let (j, report) = open(dir.path());
    assert!(report.cuts.is_empty());
    assert_eq!(ccfs_journal_versions(&j), [20, 15, 5, 4, 3, 2, 1]);
    assert_eq!(
        j.content_at("nodes/b", 15).unwrap(),
        Some(b"b at 15".to_vec())
    );
    assert_eq!(j.content_at("nodes/b", 14).unwrap(), Some(b"b1".to_vec()));
}

fn ccfs_journal_versions(j: &ccfs_journal::Journal) -> Vec<u64> {
    versions(&j.log(None, 100, None))
}
