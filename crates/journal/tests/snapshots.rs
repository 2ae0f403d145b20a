//! Snapshots: create, list, read, delete, names, and what survives reopen.

mod common;

use ccfs_journal::JournalError;
use common::*;
use std::fs;

fn journal_with_tree(dir: &std::path::Path) -> ccfs_journal::Journal {
    let (mut j, _) = open(dir);
    j.append(&[
        mkdir(1, "nodes"),
        create(2, "nodes/a.conf", &vm_config(100, 0)),
        create(3, "nodes/empty", b""),
        mkdir(4, "priv"),
    ])
    .unwrap();
    j
}

#[test]
fn create_list_read_delete() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = journal_with_tree(dir.path());
    let tree = j.tree_at(4).unwrap();
    let before = j.bytes_on_disk();
    let info = j
        .snapshot_create("pre-upgrade_1.0", 4, T0 + 99, "n1", &tree)
        .unwrap();
    assert_eq!(
        (
            info.name.as_str(),
            info.version,
            info.time,
            info.node.as_str(),
            info.entries
        ),
        ("pre-upgrade_1.0", 4, T0 + 99, "n1", 4)
    );
    assert_eq!(info.bytes, vm_config(100, 0).len() as u64);
    assert!(j.bytes_on_disk() > before, "the snapshot file counts");
    assert_eq!(j.snapshots(), std::slice::from_ref(&info));
    assert_eq!(j.snapshot("pre-upgrade_1.0").unwrap(), tree);
    // A tree with contents the journal has never seen.
    let mut other = tree.clone();
    other.push(file_entry("nodes/new", 9, b"only in the snapshot"));
    j.snapshot_create("b", 9, T0, "n2", &other).unwrap();
    assert_eq!(j.snapshot("b").unwrap(), other);
    let names: Vec<String> = j.snapshots().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b", "pre-upgrade_1.0"]);
    assert!(matches!(
        j.snapshot_create("b", 9, T0, "n2", &other),
        Err(JournalError::Exists(n)) if n == "b"
    ));
    drop(j);
    let (mut j, report) = open(dir.path());
    assert_eq!(report.snapshots, 2);
    assert_eq!(j.snapshot("b").unwrap(), other);
    assert_eq!(j.snapshots()[1], info);
    j.snapshot_delete("b").unwrap();
    assert!(matches!(j.snapshot("b"), Err(JournalError::NotFound(_))));
    assert!(matches!(
        j.snapshot_delete("b"),
        Err(JournalError::NotFound(_))
    ));
    assert!(!dir.path().join("snapshots/b.snap").exists());
    assert_eq!(j.snapshots().len(), 1);
}

#[test]
fn names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = journal_with_tree(dir.path());
    let tree = j.tree_at(4).unwrap();
    let long = "x".repeat(65);
    for bad in [
        "",
        ".hidden",
        "a/b",
        "../up",
        "sp ace",
        "ümlaut",
        long.as_str(),
        "nul\0",
    ] {
        let r = j.snapshot_create(bad, 4, T0, "n1", &tree);
        assert!(
            matches!(r, Err(JournalError::InvalidName(_))),
            "{bad:?}: {r:?}"
        );
    }
    assert!(j.snapshots().is_empty());
    assert_eq!(
        fs::read_dir(dir.path().join("snapshots")).unwrap().count(),
        0
    );
    j.snapshot_create(&"x".repeat(64), 4, T0, "n1", &tree)
        .unwrap();
}

#[test]
fn a_damaged_snapshot_file_is_reported_and_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = journal_with_tree(dir.path());
    let tree = j.tree_at(4).unwrap();
    j.snapshot_create("good", 4, T0, "n1", &tree).unwrap();
    j.snapshot_create("bad", 4, T0, "n1", &tree).unwrap();
    drop(j);
    let bad = dir.path().join("snapshots/bad.snap");
    let mut bytes = fs::read(&bad).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0xff;
    fs::write(&bad, &bytes).unwrap();
    // A crash while writing a snapshot leaves a tmp file; it goes.
    let tmp = dir.path().join("snapshots/half.snap.tmp");
    fs::write(&tmp, b"CCFSJSNP").unwrap();
    let (j, report) = open(dir.path());
    assert_eq!(report.snapshots, 1);
    assert_eq!(report.bad_snapshots, std::slice::from_ref(&bad));
    assert!(bad.exists());
    assert!(!tmp.exists());
    assert_eq!(j.snapshot("good").unwrap(), tree);
}
