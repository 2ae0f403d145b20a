//! The history of files through writes, renames, directory renames and
//! deletes, on real files in a tempdir, and after reopening.

mod common;

use ccfs_journal::{EntryKind, OpKind, Origin};
use common::*;

#[test]
fn one_file_over_many_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    let p = "nodes/n1/qemu-server/100.conf";
    j.append(&[
        mkdir(1, "nodes"),
        mkdir(2, "nodes/n1"),
        mkdir(3, "nodes/n1/qemu-server"),
    ])
    .unwrap();
    j.append(&[create(4, p, &vm_config(100, 0))]).unwrap();
    for v in 5..=60 {
        j.append(&[write(v, p, &vm_config(100, v))]).unwrap();
    }
    let log = j.log(Some(p), 1000, None);
    assert_eq!(versions(&log), (4..=60).rev().collect::<Vec<_>>());
    assert_eq!(log[0].op, OpKind::Write);
    assert_eq!(log.last().unwrap().op, OpKind::Create);
    assert_eq!(log[0].size, Some(vm_config(100, 60).len() as u64));
    assert_eq!(log[0].hash, Some(ccfs_journal::sha256(&vm_config(100, 60))));
    assert_eq!(log[0].node, "n1");
    assert_eq!(log[0].time, T0 + 60);
    // Paging: the 10 before 30.
    assert_eq!(
        versions(&j.log(Some(p), 10, Some(30))),
        (20..30).rev().collect::<Vec<_>>()
    );
    assert_eq!(j.content_at(p, 3).unwrap(), None, "before the create");
    assert_eq!(j.content_at(p, 4).unwrap(), Some(vm_config(100, 0)));
    for v in 5..=60 {
        assert_eq!(j.content_at(p, v).unwrap(), Some(vm_config(100, v)), "v{v}");
    }
    assert_eq!(j.content_at(p, 1000).unwrap(), Some(vm_config(100, 60)));
    assert_eq!(j.previous_version(p, 60), Some(59));
    assert_eq!(j.previous_version(p, 5), Some(4));
    assert_eq!(j.previous_version(p, 4), None);
    assert_eq!(
        j.content_at("nodes", 10).unwrap(),
        None,
        "a directory has no content"
    );
    // A directory's log holds everything below it.
    // (nodes/n1 itself, qemu-server, 57 records of the file)
    assert_eq!(j.log(Some("nodes/n1"), 1000, None).len(), 59);
    assert_eq!(versions(&j.log(None, 3, None)), [60, 59, 58]);
    assert_eq!(
        (j.oldest_version(), j.newest_version(), j.len()),
        (Some(1), Some(60), 60)
    );
}

#[test]
fn proxmox_tmp_file_renamed_over_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    let p = "nodes/n1/qemu-server/100.conf";
    j.append(&[
        mkdir(1, "nodes"),
        mkdir(2, "nodes/n1"),
        mkdir(3, "nodes/n1/qemu-server"),
    ])
    .unwrap();
    let mut v = 4;
    let mut renames = Vec::new();
    for rev in 0..5u64 {
        j.append(&proxmox_write(
            v,
            p,
            4000 + rev as u32,
            &vm_config(100, rev),
        ))
        .unwrap();
        renames.push(v + 2);
        v += 3;
    }
    let log = j.log(Some(p), 100, None);
    assert_eq!(
        versions(&log),
        renames.iter().rev().copied().collect::<Vec<_>>()
    );
    for r in &log {
        assert_eq!(r.op, OpKind::Rename);
        assert_eq!(r.to.as_deref(), Some(p));
        assert!(r.path.starts_with("nodes/n1/qemu-server/100.conf.tmp."));
    }
    for (rev, &at) in renames.iter().enumerate() {
        assert_eq!(
            j.content_at(p, at).unwrap(),
            Some(vm_config(100, rev as u64))
        );
        // Between the write of the tmp file and its rename: the old one.
        let before = (rev > 0).then(|| vm_config(100, rev as u64 - 1));
        assert_eq!(j.content_at(p, at - 1).unwrap(), before);
        let tmp = &log[log.len() - 1 - rev].path;
        assert_eq!(
            j.content_at(tmp, at - 1).unwrap(),
            Some(vm_config(100, rev as u64))
        );
        assert_eq!(j.content_at(tmp, at).unwrap(), None, "the tmp file is gone");
    }
    assert_eq!(j.previous_version(p, renames[4]), Some(renames[3]));
    // The last tree holds the config and no tmp file.
    let tree = j.tree_at(v).unwrap();
    let paths: Vec<&str> = tree.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["nodes", "nodes/n1", "nodes/n1/qemu-server", p]);
    assert_eq!(tree[3].content.as_deref(), Some(&vm_config(100, 4)[..]));
    assert_eq!(tree[3].version, renames[4]);
}

#[test]
fn rename_over_an_existing_file_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[
        create(1, "a", b"A"),
        create(2, "b", b"B"),
        rename(3, EntryKind::File, "a", "b"),
    ])
    .unwrap();
    assert_eq!(j.content_at("b", 2).unwrap(), Some(b"B".to_vec()));
    assert_eq!(j.content_at("b", 3).unwrap(), Some(b"A".to_vec()));
    assert_eq!(j.content_at("a", 3).unwrap(), None);
    assert_eq!(versions(&j.log(Some("b"), 10, None)), [3, 2]);
    assert_eq!(versions(&j.log(Some("a"), 10, None)), [3, 1]);
    let tree = j.tree_at(3).unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!(
        (tree[0].path.as_str(), tree[0].content.as_deref()),
        ("b", Some(&b"A"[..]))
    );
}

#[test]
fn directory_rename_moves_everything_below() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[
        mkdir(1, "old"),
        mkdir(2, "old/sub"),
        create(3, "old/a.conf", b"alpha"),
        create(4, "old/sub/b.conf", b"beta"),
        write(5, "old/sub/b.conf", b"beta 2"),
        create(6, "other", b"x"),
    ])
    .unwrap();
    j.append(&[rename(7, EntryKind::Dir, "old", "new")])
        .unwrap();
    assert_eq!(
        j.content_at("new/sub/b.conf", 7).unwrap(),
        Some(b"beta 2".to_vec())
    );
    assert_eq!(
        j.content_at("new/a.conf", 7).unwrap(),
        Some(b"alpha".to_vec())
    );
    assert_eq!(j.content_at("old/sub/b.conf", 7).unwrap(), None);
    assert_eq!(
        j.content_at("old/sub/b.conf", 6).unwrap(),
        Some(b"beta 2".to_vec())
    );
    let log = j.log(Some("new/sub/b.conf"), 10, None);
    assert_eq!(versions(&log), [7]);
    assert_eq!(log[0].path, "old/sub/b.conf");
    // Writing at the new name continues its history.
    j.append(&[write(8, "new/sub/b.conf", b"beta 3")]).unwrap();
    assert_eq!(versions(&j.log(Some("new/sub/b.conf"), 10, None)), [8, 7]);
    assert_eq!(j.previous_version("new/sub/b.conf", 8), Some(7));
    let paths: Vec<String> = j.tree_at(8).unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        ["new", "new/a.conf", "new/sub", "new/sub/b.conf", "other"]
    );
    // The old directory's log shows its history and the move.
    assert_eq!(
        versions(&j.log(Some("old"), 100, None)),
        [7, 7, 7, 7, 5, 4, 3, 2, 1]
    );
}

#[test]
fn records_from_pages_oldest_first_in_whole_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[
        mkdir(1, "d"),
        create(2, "d/a", b"a"),
        create(3, "d/b", b"b"),
    ])
    .unwrap();
    // one change, three records at version 4
    j.append(&[rename(4, EntryKind::Dir, "d", "e")]).unwrap();
    j.append(&[write(5, "e/a", b"a2")]).unwrap();
    assert_eq!(
        versions(&j.records_from(0, 100).unwrap()),
        [1, 2, 3, 4, 4, 4, 5]
    );
    // a page that would end inside version 4 takes all of it
    assert_eq!(versions(&j.records_from(3, 2).unwrap()), [3, 4, 4, 4]);
    assert_eq!(versions(&j.records_from(5, 2).unwrap()), [5]);
    assert!(j.records_from(6, 10).unwrap().is_empty());
    assert!(j.records_from(2, 0).unwrap().is_empty());
    let page = j.records_from(4, 1).unwrap();
    assert_eq!(page[0].path, "d");
    assert_eq!(page[1].to.as_deref(), Some("e/a"));
}

#[test]
fn delete_then_content_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[
        mkdir(1, "d"),
        create(2, "d/f", b"one"),
        write(3, "d/f", b"two"),
    ])
    .unwrap();
    j.append(&[
        delete(4, EntryKind::File, "d/f"),
        delete(5, EntryKind::Dir, "d"),
    ])
    .unwrap();
    assert_eq!(j.content_at("d/f", 4).unwrap(), None);
    assert_eq!(j.content_at("d/f", 3).unwrap(), Some(b"two".to_vec()));
    assert_eq!(j.content_at("d/f", 2).unwrap(), Some(b"one".to_vec()));
    let log = j.log(Some("d/f"), 10, None);
    assert_eq!(log[0].op, OpKind::Delete);
    assert_eq!((log[0].size, log[0].hash), (None, None));
    assert!(j.tree_at(5).unwrap().is_empty());
    assert_eq!(j.tree_at(3).unwrap().len(), 2);
    assert_eq!(j.previous_version("d/f", 4), Some(3));
}

#[test]
fn same_content_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let big: Vec<u8> = (0..200_000)
        .map(|_| {
            // xorshift: bytes LZ4 cannot shrink
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    j.append(&[create(1, "a", &big)]).unwrap();
    let after_one = j.bytes_on_disk();
    assert!(
        after_one > big.len() as u64,
        "incompressible content is stored whole"
    );
    j.append(&[
        create(2, "b", &big),
        write(3, "a", b"small"),
        write(4, "a", &big),
    ])
    .unwrap();
    let growth = j.bytes_on_disk() - after_one;
    assert!(
        growth < 1000,
        "the second and third copy added {growth} bytes"
    );
    assert_eq!(j.content_at("b", 4).unwrap(), Some(big.clone()));
    assert_eq!(j.content_at("a", 3).unwrap(), Some(b"small".to_vec()));
    assert_eq!(j.content_at("a", 4).unwrap(), Some(big));
}

#[test]
fn an_overwrite_of_a_vm_config_costs_little() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    let p = "nodes/n1/qemu-server/100.conf";
    j.append(&[create(1, p, &vm_config(100, 0))]).unwrap();
    let start = j.bytes_on_disk();
    for v in 2..=21 {
        j.append(&[write(v, p, &vm_config(100, v))]).unwrap();
    }
    let per_write = (j.bytes_on_disk() - start) / 20;
    // A compressed copy alone would be several hundred bytes.
    assert!(per_write < 300, "{per_write} bytes per overwrite");
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = "nodes/n1/lxc/200.conf";
    let before = {
        let (mut j, _) = open(dir.path());
        j.append(&[
            mkdir(1, "nodes"),
            mkdir(2, "nodes/n1"),
            mkdir(3, "nodes/n1/lxc"),
        ])
        .unwrap();
        for rev in 0..10u64 {
            j.append(&proxmox_write(4 + rev * 3, p, 77, &vm_config(200, rev)))
                .unwrap();
        }
        j.append(&[rename(40, EntryKind::Dir, "nodes/n1/lxc", "nodes/n1/lxc2")])
            .unwrap();
        j.sync().unwrap();
        (
            j.log(None, 1000, None),
            j.tree_at(40).unwrap(),
            j.bytes_on_disk(),
        )
    };
    let (j, report) = open(dir.path());
    assert!(report.cuts.is_empty());
    assert_eq!(report.records, before.0.len());
    assert_eq!(report.missing_contents, 0);
    assert_eq!(j.log(None, 1000, None), before.0);
    assert_eq!(j.tree_at(40).unwrap(), before.1);
    assert_eq!(j.bytes_on_disk(), before.2);
    for rev in 0..10u64 {
        let at = 6 + rev * 3;
        assert_eq!(j.content_at(p, at).unwrap(), Some(vm_config(200, rev)));
    }
    let moved = "nodes/n1/lxc2/200.conf";
    assert_eq!(j.content_at(moved, 40).unwrap(), Some(vm_config(200, 9)));
    assert_eq!(j.log(Some(moved), 5, None)[0].origin, Origin::Local);
}

#[test]
fn bad_changes_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = open(dir.path());
    j.append(&[create(5, "a", b"1")]).unwrap();
    let bytes = j.bytes_on_disk();
    let out_of_order = j.append(&[create(6, "b", b"2"), create(4, "c", b"3")]);
    assert!(matches!(
        out_of_order,
        Err(ccfs_journal::JournalError::OutOfOrder {
            version: 4,
            newest: 6
        })
    ));
    for bad in [
        create(7, "/abs", b""),
        create(7, "", b""),
        create(7, "trailing/", b""),
        change(7, OpKind::Rename, EntryKind::File, "a"),
        change(7, OpKind::Mkdir, EntryKind::File, "m"),
    ] {
        let r = j.append(&[create(7, "ok", b"fine"), bad.clone()]);
        assert!(
            matches!(r, Err(ccfs_journal::JournalError::InvalidChange { .. })),
            "{bad:?}"
        );
    }
    assert_eq!((j.len(), j.bytes_on_disk()), (1, bytes));
    assert_eq!(j.content_at("ok", 7).unwrap(), None);
}
